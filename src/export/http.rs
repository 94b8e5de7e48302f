//! The smallest HTTP/1.1 client OTLP/HTTP needs: one POST per connection over
//! a std `TcpStream`, plain http only. Collectors run beside the agents or in
//! the cluster (TLS ends there); pulling a TLS stack into the binary would
//! cost more compile time and size than the whole exporter.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Largest response body read: collectors answer with a few bytes.
const RESPONSE_CAP: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Url {
    /// `http://host[:port][/path]`; anything else is refused with the reason.
    pub fn parse(text: &str) -> Result<Url, String> {
        let bad = |why: &str| format!("{text:?} is not an endpoint URL: {why}");
        if text.starts_with("https://") {
            return Err(bad("https is not supported; export to a collector over http (see docs/export.md)"));
        }
        let rest = text.strip_prefix("http://").ok_or_else(|| bad("expected http://host:port"))?;
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
        let (host, port) = split_port(authority).ok_or_else(|| bad("bad port"))?;
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let path = if path.is_empty() { "/" } else { path };
        Ok(Url { host: host.to_string(), port, path: path.to_string() })
    }

    pub fn with_path(&self, path: &str) -> Url {
        Url { path: path.to_string(), ..self.clone() }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}:{}{}", self.host, self.port, self.path)
    }
}

fn split_port(authority: &str) -> Option<(&str, u16)> {
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
        None => 80,
    };
    Some((host, port))
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

/// POSTs `body` and reads the whole answer, every step bounded by `timeout`.
pub fn post(url: &Url, headers: &[(String, String)], body: &[u8], timeout: Duration) -> io::Result<Response> {
    let mut stream = connect(url, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: kaizen-hook/{}\r\nContent-Length: {}\r\nConnection: close\r\n",
        url.path,
        url.host,
        url.port,
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    // One write: head and body in separate small writes meet Nagle's
    // algorithm and the peer's delayed ACK, 40 ms per request.
    let mut request = Vec::with_capacity(head.len() + body.len());
    request.extend_from_slice(head.as_bytes());
    request.extend_from_slice(body);
    stream.set_nodelay(true)?;
    stream.write_all(&request)?;
    read_response(&mut stream.take(RESPONSE_CAP + 64 * 1024))
}

/// Reads until the answer is complete (by its length or last chunk), or
/// until the server closes: a server that keeps the connection open despite
/// `Connection: close` must not cost a timeout.
fn read_response(stream: &mut impl Read) -> io::Result<Response> {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut chunk)?;
        answer.extend_from_slice(&chunk[..n]);
        if n == 0 || is_complete(&answer) {
            return parse_response(&answer);
        }
    }
}

fn is_complete(answer: &[u8]) -> bool {
    let Some(split) = answer.windows(4).position(|w| w == b"\r\n\r\n") else { return false };
    let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
    let body = &answer[split + 4..];
    let header = |name: &str| head.split("\r\n").find_map(|l| l.strip_prefix(name).map(str::trim).map(String::from));
    if header("transfer-encoding:").is_some_and(|v| v == "chunked") {
        return dechunk(body).is_some();
    }
    header("content-length:").and_then(|v| v.parse::<usize>().ok()).is_some_and(|n| body.len() >= n)
}

fn connect(url: &Url, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{} resolves to no address", url.host));
    for addr in (url.host.as_str(), url.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn parse_response(answer: &[u8]) -> io::Result<Response> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("bad HTTP response: {what}"));
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| invalid("no end of headers"))?;
    let head = String::from_utf8_lossy(&answer[..split]);
    let rest = &answer[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| status_line.starts_with("HTTP/1."))
        .ok_or_else(|| invalid("no status line"))?;
    let mut response = Response { status, content_type: String::new(), retry_after: None, body: Vec::new() };
    let (mut chunked, mut length) = (false, None);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-type" => response.content_type = value.to_ascii_lowercase(),
            "retry-after" => response.retry_after = value.parse::<u64>().ok().map(Duration::from_secs),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "content-length" => length = value.parse::<usize>().ok(),
            _ => {}
        }
    }
    response.body = match (chunked, length) {
        (true, _) => dechunk(rest).ok_or_else(|| invalid("bad chunked body"))?,
        (false, Some(n)) => rest[..n.min(rest.len())].to_vec(),
        (false, None) => rest.to_vec(),
    };
    Ok(response)
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_http_host_port_path() {
        let u = Url::parse("http://127.0.0.1:4318/v1/logs").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("127.0.0.1", 4318, "/v1/logs"));
        let u = Url::parse("http://collector").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("collector", 80, "/"));
        let u = Url::parse("http://[::1]:4318").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 4318));
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
            "https://h",
            "http://u:p@h",
            "http://h /x",
        ] {
            let err = Url::parse(bad).unwrap_err();
            assert!(err.contains("is not an endpoint URL"), "{bad}: {err}");
        }
    }

    #[test]
    fn responses_with_length_chunks_or_neither() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}xx")
            .unwrap();
        assert_eq!((r.status, r.body.as_slice(), r.content_type.as_str()), (200, &b"{}"[..], "application/json"));
        let r = parse_response(
            b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\nRetry-After: 2\r\n\r\n3\r\nabc\r\n1\r\nd\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_slice(), r.retry_after), (503, &b"abcd"[..], Some(Duration::from_secs(2))));
        let r = parse_response(b"HTTP/1.0 400 Bad\r\n\r\nwhy").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (400, &b"why"[..]));
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn an_answer_is_complete_by_its_length_or_last_chunk_without_waiting_for_close() {
        assert!(is_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"));
        assert!(!is_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{"));
        assert!(is_complete(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"));
        assert!(!is_complete(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n"));
        assert!(!is_complete(b"HTTP/1.1 200 OK\r\n\r\nuntil close"));
        // A stream that stays open after a complete answer: read returns, nothing blocks.
        struct OpenAfter(Vec<u8>);
        impl Read for OpenAfter {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                assert!(!self.0.is_empty(), "read again after a complete answer");
                let n = self.0.len().min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0.drain(..n);
                Ok(n)
            }
        }
        let r = read_response(&mut OpenAfter(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".to_vec())).unwrap();
        assert_eq!(r.body, b"{}");
    }
}
