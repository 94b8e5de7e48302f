//! Export's HTTP client: one POST per batch through `ureq` (rustls with
//! ring; HTTPS, proxies from `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`), with the
//! whole request under one deadline, so a collector that trickles its answer
//! cannot hold an export. The trust roots are the system's CA bundle (or the
//! one `OTEL_EXPORTER_OTLP_CERTIFICATE` names); a client certificate and key
//! for mutual TLS when given. None of it runs on the hook's path.

use std::path::{Path, PathBuf};
use std::time::Duration;
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

/// Largest response body read: collectors answer with a few bytes.
const RESPONSE_CAP: u64 = 1 << 20;
/// Where Linux distributions keep the system's CA bundle.
const SYSTEM_BUNDLES: [&str; 5] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Url {
    /// `http[s]://host[:port][/path]`; anything else is refused with the reason.
    pub fn parse(text: &str) -> Result<Url, String> {
        let bad = |why: &str| format!("{text:?} is not an endpoint URL: {why}");
        let (https, rest) = match (text.strip_prefix("https://"), text.strip_prefix("http://")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            _ => return Err(bad("expected http://host:port or https://host:port")),
        };
        if rest.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(bad("it contains spaces or control characters"));
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], &rest[i..]),
            Some(i) => (&rest[..i], ""),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad("credentials in the URL are not supported; use OTEL_EXPORTER_OTLP_HEADERS"));
        }
        let (host, port) = split_port(authority, if https { 443 } else { 80 }).ok_or_else(|| bad("bad port"))?;
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let path = if path.is_empty() { "/" } else { path };
        Ok(Url { https, host: host.to_string(), port, path: path.to_string() })
    }

    pub fn with_path(&self, path: &str) -> Url {
        Url { path: path.to_string(), ..self.clone() }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        write!(f, "{scheme}://{host}:{}{}", self.port, self.path)
    }
}

fn split_port(authority: &str, default: u16) -> Option<(&str, u16)> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']')?;
        (&v6[..end], v6[end + 1..].strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok().filter(|&p| p != 0)?,
        None => default,
    };
    Some((host, port))
}

/// Files for TLS: the CA to trust instead of the system's, and a client
/// certificate and key for mutual TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: Option<PathBuf>,
    pub client_certificate: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

/// Why a request failed: `retry` when trying again may help (the network,
/// a collector restarting), not when it cannot (a certificate, a bad file).
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub retry: bool,
}

/// A client for one destination: its trust roots, client certificate,
/// proxy and deadline.
pub struct Client {
    agent: ureq::Agent,
}

impl Client {
    pub fn new(tls: &TlsFiles, timeout: Duration) -> Result<Client, String> {
        let roots = match &tls.ca {
            Some(ca) => RootCerts::new_with_certs(&certificates(ca)?),
            None => system_roots().unwrap_or(RootCerts::WebPki),
        };
        let client_cert = match (&tls.client_certificate, &tls.client_key) {
            (Some(cert), Some(key)) => Some(ClientCert::new_with_certs(&certificates(cert)?, private_key(key)?)),
            (None, None) => None,
            _ => return Err("mutual TLS needs both a client certificate and its key".into()),
        };
        let config = ureq::Agent::config_builder()
            .tls_config(TlsConfig::builder().root_certs(roots).client_cert(client_cert).build())
            .proxy(ureq::Proxy::try_from_env())
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("kaizen-hook/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client { agent: config.into() })
    }

    pub fn post(&self, url: &Url, headers: &[(String, String)], body: &[u8]) -> Result<Response, Failure> {
        let mut request = self.agent.post(url.to_string());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut answer = request.send(body).map_err(failure)?;
        let header = |name: &str| answer.headers().get(name).and_then(|v| v.to_str().ok()).map(String::from);
        let content_type = header("content-type").unwrap_or_default();
        let retry_after = header("retry-after").and_then(|v| v.trim().parse().ok()).map(Duration::from_secs);
        let status = answer.status().as_u16();
        let body = answer.body_mut().with_config().limit(RESPONSE_CAP).read_to_vec().unwrap_or_default();
        Ok(Response { status, content_type, retry_after, body })
    }
}

/// What went wrong, said for a person; certificate problems first.
fn failure(e: ureq::Error) -> Failure {
    let text = e.to_string();
    // rustls reports a handshake's failure through the I/O error it returns.
    let lower = text.to_lowercase();
    let certificate = matches!(e, ureq::Error::Tls(_) | ureq::Error::Rustls(_))
        || lower.contains("certificate")
        || lower.contains("fatal alert");
    if certificate {
        return Failure {
            message: format!(
                "TLS failed ({text}): the collector's certificate is not trusted, or it refused ours; \
                 OTEL_EXPORTER_OTLP_CERTIFICATE names the CA to trust, \
                 OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and _CLIENT_KEY our own"
            ),
            retry: false,
        };
    }
    // A collector that did not answer within the deadline is not asked again
    // in this run: the next run (or `--follow`'s next pass) will.
    if let ureq::Error::Timeout(_) = e {
        return Failure {
            message: format!("no answer within the deadline ({text}; OTEL_EXPORTER_OTLP_TIMEOUT)"),
            retry: false,
        };
    }
    let retry = matches!(e, ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::HostNotFound);
    Failure { message: text, retry }
}

fn read_pem(path: &Path) -> Result<Vec<PemItem<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    ureq::tls::parse_pem(&bytes).collect::<Result<Vec<_>, _>>().map_err(|e| format!("{}: {e}", path.display()))
}

fn certificates(path: &Path) -> Result<Vec<Certificate<'static>>, String> {
    let certs: Vec<Certificate<'static>> = read_pem(path)?
        .into_iter()
        .filter_map(|item| match item {
            PemItem::Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKey<'static>, String> {
    read_pem(path)?
        .into_iter()
        .find_map(|item| match item {
            PemItem::PrivateKey(k) => Some(k),
            _ => None,
        })
        .ok_or_else(|| format!("{}: no PEM private key in it", path.display()))
}

/// The system's CA bundle: `SSL_CERT_FILE`, else the first of the usual places.
fn system_roots() -> Option<RootCerts> {
    let named = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    let bundle = named.into_iter().chain(SYSTEM_BUNDLES.iter().map(PathBuf::from)).find(|p| p.is_file())?;
    certificates(&bundle).ok().map(|certs| RootCerts::new_with_certs(&certs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_scheme_host_port_path() {
        let u = Url::parse("http://127.0.0.1:4318/v1/logs").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.path.as_str(), u.https), ("127.0.0.1", 4318, "/v1/logs", false));
        let u = Url::parse("http://collector").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("collector", 80, "/"));
        let u = Url::parse("https://collector/otlp").unwrap();
        assert_eq!((u.port, u.https, u.to_string().as_str()), (443, true, "https://collector:443/otlp"));
        let u = Url::parse("http://[::1]:4318").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.to_string().as_str()), ("::1", 4318, "http://[::1]:4318/"));
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        for bad in [
            "",
            "localhost:4318",
            "not a url",
            "http://",
            "http://h:0",
            "http://h:99999",
            "http://h:x",
            "ftp://h",
            "http://u:p@h",
            "http://h /x",
        ] {
            let err = Url::parse(bad).unwrap_err();
            assert!(err.contains("is not an endpoint URL"), "{bad}: {err}");
        }
    }

    #[test]
    fn mutual_tls_needs_both_files() {
        let half = TlsFiles { client_certificate: Some("/nonexistent".into()), ..TlsFiles::default() };
        assert!(Client::new(&half, Duration::from_secs(1)).err().unwrap().contains("both"));
        let missing = TlsFiles { ca: Some("/nonexistent/ca.pem".into()), ..TlsFiles::default() };
        assert!(Client::new(&missing, Duration::from_secs(1)).err().unwrap().contains("/nonexistent/ca.pem"));
    }
}
