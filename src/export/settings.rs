//! Where and how to export each signal: the command's flags first, then the
//! standard `OTEL_EXPORTER_OTLP_*` variables as every OpenTelemetry exporter
//! reads them (the `_LOGS_` and `_TRACES_` variants win over the general ones).

use super::http::{TlsFiles, Url};
use clap::ValueEnum;
use std::path::PathBuf;
use std::time::Duration;

/// `export --protocol`'s values, spelled as `OTEL_EXPORTER_OTLP_PROTOCOL`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    #[value(name = "http/protobuf")]
    Protobuf,
    #[value(name = "http/json")]
    Json,
}

impl Protocol {
    pub fn content_type(self) -> &'static str {
        match self {
            Protocol::Protobuf => "application/x-protobuf",
            Protocol::Json => "application/json",
        }
    }
}

/// What is exported: events as log records, turns as traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Signal {
    Logs,
    Traces,
}

impl Signal {
    /// The word in the signal's variables: `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`.
    fn var_part(self) -> &'static str {
        match self {
            Signal::Logs => "LOGS",
            Signal::Traces => "TRACES",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Logs => "logs",
            Signal::Traces => "traces",
        }
    }

    /// The path added to a base URL.
    fn path(self) -> &'static str {
        match self {
            Signal::Logs => "/v1/logs",
            Signal::Traces => "/v1/traces",
        }
    }

    /// Whether `OTEL_LOGS_EXPORTER` / `OTEL_TRACES_EXPORTER` turns it off (`none`).
    pub fn turned_off(self, env: &dyn Fn(&str) -> Option<String>) -> bool {
        env(&format!("OTEL_{}_EXPORTER", self.var_part())).is_some_and(|v| v.trim().eq_ignore_ascii_case("none"))
    }
}

/// One signal's destination.
#[derive(Debug, Clone)]
pub struct Settings {
    pub url: Url,
    pub protocol: Protocol,
    /// Extra request headers (authentication, tenant), already checked.
    pub headers: Vec<(String, String)>,
    /// Per request, from connecting to the last byte of the answer.
    pub timeout: Duration,
    /// `OTEL_EXPORTER_OTLP_COMPRESSION=gzip`.
    pub gzip: bool,
    pub tls: TlsFiles,
    pub service_name: String,
    /// `OTEL_RESOURCE_ATTRIBUTES`, added to the resource.
    pub resource: Vec<(String, String)>,
}

const DEFAULT_BASE: &str = "http://localhost:4318";

/// `env` reads a variable (the process environment, or a table in tests).
/// A protocol from the flag is already checked (clap); one from the
/// environment is checked here.
pub fn resolve(
    signal: Signal,
    endpoint: Option<&str>,
    protocol: Option<Protocol>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, String> {
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let own = |what: &str| var(&format!("OTEL_EXPORTER_OTLP_{}_{what}", signal.var_part()));
    let url = match (endpoint, own("ENDPOINT"), var("OTEL_EXPORTER_OTLP_ENDPOINT")) {
        (Some(flag), _, _) => signal_url(flag, signal)?,
        // The signal-specific variable is the full URL, as the OTel spec says.
        (None, Some(exact), _) => Url::parse(exact.trim())?,
        (None, None, Some(base)) => signal_url(base.trim(), signal)?,
        (None, None, None) => signal_url(DEFAULT_BASE, signal)?,
    };
    let protocol = match protocol {
        Some(flag) => flag,
        None => from_env(own("PROTOCOL").or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL")))?,
    };
    let mut headers = pairs(&var("OTEL_EXPORTER_OTLP_HEADERS").unwrap_or_default(), "OTEL_EXPORTER_OTLP_HEADERS")?;
    let own_headers = format!("OTEL_EXPORTER_OTLP_{}_HEADERS", signal.var_part());
    for (name, value) in pairs(&own("HEADERS").unwrap_or_default(), &own_headers)? {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        headers.push((name, value));
    }
    headers.push(("Content-Type".to_string(), protocol.content_type().to_string()));
    let timeout_ms = own("TIMEOUT")
        .or_else(|| var("OTEL_EXPORTER_OTLP_TIMEOUT"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .unwrap_or(10_000);
    let gzip = match own("COMPRESSION").or_else(|| var("OTEL_EXPORTER_OTLP_COMPRESSION")) {
        None => false,
        Some(v) if v.trim().eq_ignore_ascii_case("gzip") => true,
        Some(v) if v.trim().eq_ignore_ascii_case("none") => false,
        Some(v) => return Err(format!("compression {:?} is not supported: use gzip or none", v.trim())),
    };
    let file = |what: &str| own(what).or_else(|| var(&format!("OTEL_EXPORTER_OTLP_{what}"))).map(PathBuf::from);
    let tls = TlsFiles {
        ca: file("CERTIFICATE"),
        client_certificate: file("CLIENT_CERTIFICATE"),
        client_key: file("CLIENT_KEY"),
    };
    Ok(Settings {
        url,
        protocol,
        headers,
        timeout: Duration::from_millis(timeout_ms),
        gzip,
        tls,
        service_name: var("OTEL_SERVICE_NAME").unwrap_or_else(|| "kaizen-hook".to_string()),
        resource: pairs(&var("OTEL_RESOURCE_ATTRIBUTES").unwrap_or_default(), "OTEL_RESOURCE_ATTRIBUTES")?,
    })
}

/// A protocol variable's value, if any (default http/protobuf).
fn from_env(name: Option<String>) -> Result<Protocol, String> {
    let Some(name) = name else { return Ok(Protocol::Protobuf) };
    Protocol::from_str(name.trim(), false)
        .map_err(|_| format!("protocol {:?} is not supported: use http/protobuf or http/json", name.trim()))
}

/// A base URL gets the signal's path (`/v1/logs`, `/v1/traces`). A URL
/// given with either path is taken as the base it was added to.
fn signal_url(base: &str, signal: Signal) -> Result<Url, String> {
    let url = Url::parse(base)?;
    let trimmed = url.path.trim_end_matches('/');
    let base_path =
        [Signal::Logs, Signal::Traces].iter().find_map(|s| trimmed.strip_suffix(s.path())).unwrap_or(trimmed);
    Ok(url.with_path(&format!("{base_path}{}", signal.path())))
}

/// `key1=value1,key2=value2` with percent-encoded values, as the OTel spec
/// writes headers and resource attributes. A line break would let a value
/// write its own headers: refused.
fn pairs(text: &str, what: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (key, value) = item.split_once('=').ok_or_else(|| format!("{what}: {item:?} is not key=value"))?;
        let (key, value) = (percent_decode(key.trim()), percent_decode(value.trim()));
        if key.is_empty() || key.chars().chain(value.chars()).any(char::is_control) || key.contains(':') {
            return Err(format!("{what}: {item:?} has an empty key or a control character"));
        }
        out.push((key, value));
    }
    Ok(out)
}

fn percent_decode(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex =
            b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn flag_then_logs_variable_then_base_variable_then_default() {
        let logs = |endpoint, vars: &[(&str, &str)]| resolve(Signal::Logs, endpoint, None, &with(vars)).unwrap();
        let traces = |endpoint, vars: &[(&str, &str)]| resolve(Signal::Traces, endpoint, None, &with(vars)).unwrap();
        assert_eq!(logs(Some("http://127.0.0.1:9/base/"), &[]).url.to_string(), "http://127.0.0.1:9/base/v1/logs");
        assert_eq!(traces(Some("http://127.0.0.1:9/base/"), &[]).url.to_string(), "http://127.0.0.1:9/base/v1/traces");
        assert_eq!(logs(Some("http://h:1/v1/logs"), &[]).url.to_string(), "http://h:1/v1/logs");
        assert_eq!(traces(Some("http://h:1/v1/logs"), &[]).url.to_string(), "http://h:1/v1/traces");
        let vars =
            [("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://a:1/custom"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://b:2")];
        assert_eq!(logs(None, &vars).url.to_string(), "http://a:1/custom");
        assert_eq!(traces(None, &vars).url.to_string(), "http://b:2/v1/traces");
        assert_eq!(logs(None, &vars[1..]).url.to_string(), "http://b:2/v1/logs");
        assert_eq!(logs(None, &[]).url.to_string(), "http://localhost:4318/v1/logs");
        let off = [("OTEL_TRACES_EXPORTER", " None ")];
        assert!(Signal::Traces.turned_off(&with(&off)) && !Signal::Logs.turned_off(&with(&off)));
    }

    #[test]
    fn protocols_and_headers() {
        let vars = [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20abc, x-team=one"),
            ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "X-Team=two"),
        ];
        let resolve = |endpoint, protocol, vars: &_| resolve(Signal::Logs, endpoint, protocol, vars);
        let s = resolve(None, None, &with(&vars)).unwrap();
        assert_eq!(s.protocol, Protocol::Json);
        assert!(s.headers.contains(&("Authorization".into(), "Bearer abc".into())));
        assert!(s.headers.contains(&("X-Team".into(), "two".into())));
        assert!(!s.headers.iter().any(|(_, v)| v == "one"));
        assert_eq!(resolve(None, Some(Protocol::Protobuf), &with(&vars)).unwrap().protocol, Protocol::Protobuf);
        let grpc = [("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")];
        assert!(resolve(None, None, &with(&grpc)).unwrap_err().contains("not supported"));
        let spaced = [("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", " http/json ")];
        assert_eq!(resolve(None, None, &with(&spaced)).unwrap().protocol, Protocol::Json);
        let tls = [
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/ca.pem"),
            ("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", "/logs-ca.pem"),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/key.pem"),
        ];
        let s = resolve(None, None, &with(&tls)).unwrap();
        assert!(s.gzip);
        assert_eq!(s.tls.ca, Some("/logs-ca.pem".into()), "the signal's own variable wins");
        assert_eq!(s.tls.client_key, Some("/key.pem".into()));
        let bad = [("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")];
        assert!(resolve(None, None, &with(&bad)).unwrap_err().contains("not supported"));
        let inject = [("OTEL_EXPORTER_OTLP_HEADERS", "a=b%0D%0AHost: evil")];
        assert!(resolve(None, None, &with(&inject)).is_err());
        assert!(resolve(Some("not a url"), None, &with(&[])).unwrap_err().contains("not an endpoint URL"));
    }
}
