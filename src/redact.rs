//! Secrets out before anything touches disk. One left-to-right pass over each
//! string, word by word, with no regex engine to build on every run (this is
//! on the hot path). A secret is replaced by `<redacted:KIND>`, keeping the
//! text around it, so `curl -H "Authorization: Bearer <redacted:bearer>"` still
//! reads as what it was.

use serde_json::Value;
use std::borrow::Cow;

/// Redacts every string in `value`, and the whole string value of any object
/// key named like a secret (`"api_key": "..."`, `"GITHUB_TOKEN": "..."`).
pub fn redact_value(value: &mut Value) -> u32 {
    let mut count = 0;
    walk(value, &mut count);
    count
}

fn walk(value: &mut Value, count: &mut u32) {
    match value {
        Value::String(s) => {
            if let Cow::Owned(clean) = redact(s) {
                *s = clean;
                *count += 1;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| walk(v, count)),
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(s) if is_secret_name(key.as_bytes()) && !is_exempt_value(s.as_bytes()) => {
                        *s = "<redacted:secret>".into();
                        *count += 1;
                    }
                    _ => walk(v, count),
                }
            }
        }
        _ => {}
    }
}

pub fn redact(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let mut out = Redacted { text, out: None, copied: 0 };
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if is_word(c) {
            let at_boundary = i == 0 || !is_word(b[i - 1]);
            if at_boundary && let Some((end, replacement)) = token_at(b, i) {
                out.replace(i, end, &replacement);
                i = end;
                continue;
            }
            let word_end = i + b[i..].iter().take_while(|&&c| is_word(c)).count();
            if at_boundary
                && is_secret_name(&b[i..word_end])
                && let Some((start, end)) = assigned_value(b, i, word_end)
            {
                out.replace(start, end, "<redacted:secret>");
                i = end;
                continue;
            }
            i = word_end;
        } else if c == b'-' && b[i..].starts_with(b"-----BEGIN ") {
            match private_key_block(b, i) {
                Some(end) => {
                    out.replace(i, end, "<redacted:private-key>");
                    i = end;
                }
                None => i += 1,
            }
        } else if c == b':' && b[i..].starts_with(b"://") {
            if let Some((start, end, replacement)) = url_credentials(b, i + 3) {
                out.replace(start, end, replacement);
                i = end;
            } else {
                i += 3;
            }
        } else {
            i += 1;
        }
    }
    out.finish()
}

struct Redacted<'a> {
    text: &'a str,
    out: Option<String>,
    copied: usize,
}

impl<'a> Redacted<'a> {
    fn replace(&mut self, start: usize, end: usize, with: &str) {
        let out = self.out.get_or_insert_with(|| String::with_capacity(self.text.len()));
        out.push_str(&self.text[self.copied..start]);
        out.push_str(with);
        self.copied = end;
    }

    fn finish(self) -> Cow<'a, str> {
        match self.out {
            None => Cow::Borrowed(self.text),
            Some(mut out) => {
                out.push_str(&self.text[self.copied..]);
                Cow::Owned(out)
            }
        }
    }
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn is_token(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

fn run(b: &[u8], from: usize, pred: fn(u8) -> bool) -> usize {
    b.get(from..).map_or(0, |rest| rest.iter().take_while(|&&c| pred(c)).count())
}

/// A provider token starting at `i`: its end, and what replaces it.
fn token_at(b: &[u8], i: usize) -> Option<(usize, String)> {
    let rest = &b[i..];
    let label = |l: &str| format!("<redacted:{l}>");
    if rest.starts_with(b"sk-") {
        let n = run(b, i + 3, is_token);
        let kind = if rest.starts_with(b"sk-ant-") { "anthropic" } else { "openai" };
        return (n >= 20).then(|| (i + 3 + n, label(kind)));
    }
    for prefix in [&b"ghp_"[..], b"gho_", b"ghu_", b"ghs_", b"ghr_"] {
        if rest.starts_with(prefix) {
            let n = run(b, i + 4, |c| c.is_ascii_alphanumeric());
            return (n >= 30).then(|| (i + 4 + n, label("github")));
        }
    }
    if rest.starts_with(b"github_pat_") {
        let n = run(b, i + 11, is_word);
        return (n >= 22).then(|| (i + 11 + n, label("github")));
    }
    if rest.len() > 5 && rest.starts_with(b"xox") && b"abposr".contains(&rest[3]) && rest[4] == b'-' {
        let n = run(b, i + 5, is_token);
        return (n >= 10).then(|| (i + 5 + n, label("slack")));
    }
    for prefix in [&b"AKIA"[..], b"ASIA", b"ABIA", b"ACCA"] {
        if rest.starts_with(prefix) {
            let n = run(b, i + 4, |c| c.is_ascii_uppercase() || c.is_ascii_digit());
            let boundary = !b.get(i + 4 + n).copied().is_some_and(is_word);
            return (n == 16 && boundary).then(|| (i + 20, label("aws")));
        }
    }
    if rest.starts_with(b"eyJ") {
        return jwt(b, i).map(|end| (end, label("jwt")));
    }
    if rest.len() > 7 && rest[..6].eq_ignore_ascii_case(b"bearer") && rest[6] == b' ' {
        let spaces = run(b, i + 6, |c| c == b' ');
        let start = i + 6 + spaces;
        let n = run(b, start, |c| c.is_ascii_alphanumeric() || b"._~+/=-".contains(&c));
        let already = b[start..].starts_with(b"<redacted");
        return (n >= 8 && !already).then(|| {
            let kept = String::from_utf8_lossy(&b[i..start]).into_owned();
            (start + n, format!("{kept}<redacted:bearer>"))
        });
    }
    None
}

/// `header.payload.signature`, base64url, header starting `eyJ` (`{"`).
fn jwt(b: &[u8], i: usize) -> Option<usize> {
    let b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    let header = run(b, i, b64);
    if header < 10 || b.get(i + header) != Some(&b'.') {
        return None;
    }
    let p = i + header + 1;
    let payload = run(b, p, b64);
    if payload < 10 || b.get(p + payload) != Some(&b'.') {
        return None;
    }
    let s = p + payload + 1;
    Some(s + run(b, s, b64))
}

/// `*_TOKEN`, `*_KEY`, `*_SECRET`, `*PASSWORD`, ... in any case.
fn is_secret_name(name: &[u8]) -> bool {
    const SUFFIXES: &[&[u8]] = &[b"_TOKEN", b"_KEY", b"_SECRET", b"PASSWORD", b"_PASSWD", b"_PWD", b"_APIKEY"];
    const EXACT: &[&[u8]] = &[b"TOKEN", b"SECRET", b"APIKEY", b"PASSWD"];
    let ends_with =
        |suffix: &[u8]| name.len() >= suffix.len() && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix);
    SUFFIXES.iter().any(|s| ends_with(s)) || EXACT.iter().any(|e| name.eq_ignore_ascii_case(e))
}

/// References and placeholders are not secrets: `$GITHUB_TOKEN`, `${{ secrets.X }}`.
fn is_exempt_value(v: &[u8]) -> bool {
    v.is_empty() || v[0] == b'$' || v.starts_with(b"<redacted") || v.starts_with(b"***")
}

/// The value assigned to the name at `name_start..name_end`: `NAME=value`,
/// `NAME = "value"`, or the JSON-in-text form `"name": "value"`.
fn assigned_value(b: &[u8], name_start: usize, name_end: usize) -> Option<(usize, usize)> {
    let quoted_name = name_start > 0 && b[name_start - 1] == b'"' && b.get(name_end) == Some(&b'"');
    let mut j = if quoted_name { name_end + 1 } else { name_end };
    j += run(b, j, |c| c == b' ');
    match b.get(j) {
        Some(b'=') if b.get(j + 1) != Some(&b'=') => j += 1,
        Some(b':') if quoted_name => j += 1,
        _ => return None,
    }
    j += run(b, j, |c| c == b' ');
    let (start, end) = match b.get(j) {
        Some(&q @ (b'"' | b'\'')) => {
            let start = j + 1;
            let mut k = start;
            while k < b.len() && b[k] != q {
                k += if b[k] == b'\\' { 2 } else { 1 };
            }
            (start, k.min(b.len()))
        }
        _ if quoted_name => return None,
        _ => (j, j + run(b, j, |c| !c.is_ascii_whitespace() && !b";&|,)\"'`".contains(&c))),
    };
    (!is_exempt_value(&b[start..end])).then_some((start, end))
}

/// A PEM private-key block starting at `i`, through its END line (or to the
/// end of the text when the END line was cut off).
fn private_key_block(b: &[u8], i: usize) -> Option<usize> {
    let label_end = i + 11 + b[i + 11..].windows(5).take(64).position(|w| w == b"-----")?;
    if !b[i + 11..label_end].ends_with(b"PRIVATE KEY") {
        return None;
    }
    let after = label_end + 5;
    let Some(end_at) = b[after..].windows(8).position(|w| w == b"-----END") else {
        return Some(b.len());
    };
    let end_line = after + end_at + 8;
    let close = b[end_line..].windows(5).take(80).position(|w| w == b"-----");
    Some(close.map_or(b.len(), |c| end_line + c + 5))
}

/// Credentials in `scheme://user:password@host`: the password goes; a bare
/// long token used as the user name (`https://<token>@github.com`) goes too.
fn url_credentials(b: &[u8], start: usize) -> Option<(usize, usize, &'static str)> {
    let n = run(b, start, |c| !b"@/ \t\r\n\"'<>\\?#".contains(&c));
    if b.get(start + n) != Some(&b'@') || n == 0 {
        return None;
    }
    let userinfo = &b[start..start + n];
    match userinfo.iter().position(|&c| c == b':') {
        Some(colon) if colon + 1 < n && !is_exempt_value(&userinfo[colon + 1..]) => {
            Some((start + colon + 1, start + n, "<redacted:password>"))
        }
        None if n >= 20 && userinfo.iter().all(|&c| is_token(c)) => Some((start, start + n, "<redacted:token>")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRETS: &[(&str, &str)] = &[
        ("key sk-ant-api03-AbCdEf0123456789_AbCdEf0123456789-xyz end", "key <redacted:anthropic> end"),
        ("OPENAI sk-proj-abcdefghijklmnopqrstuvwxyz012345", "OPENAI <redacted:openai>"),
        ("sk-abcdefghijklmnopqrstuvwxyz0123456789abcdefghij", "<redacted:openai>"),
        ("token=ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "token=<redacted:secret>"),
        ("clone with ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 now", "clone with <redacted:github> now"),
        ("gho_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "<redacted:github>"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV", "<redacted:github>"),
        ("slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "slack <redacted:slack>"),
        ("aws AKIAIOSFODNN7EXAMPLE key", "aws <redacted:aws> key"),
        (
            "jwt eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U!",
            "jwt <redacted:jwt>!",
        ),
        (
            "curl -H 'Authorization: Bearer abc.DEF-123_456~xyz' https://api",
            "curl -H 'Authorization: Bearer <redacted:bearer>' https://api",
        ),
        ("export GITHUB_TOKEN=abc123def456", "export GITHUB_TOKEN=<redacted:secret>"),
        (
            "AWS_SECRET_ACCESS_KEY=\"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\" cmd",
            "AWS_SECRET_ACCESS_KEY=\"<redacted:secret>\" cmd",
        ),
        ("DB_PASSWORD='hunter2'; next", "DB_PASSWORD='<redacted:secret>'; next"),
        ("PASSWORD=hunter2", "PASSWORD=<redacted:secret>"),
        ("MY_SECRET = s3cr3t", "MY_SECRET = <redacted:secret>"),
        ("{\"api_key\": \"abc123\"}", "{\"api_key\": \"<redacted:secret>\"}"),
        (
            "git clone https://user:p4ss@github.com/o/r.git",
            "git clone https://user:<redacted:password>@github.com/o/r.git",
        ),
        (
            "remote https://x-access-token:ghs_abcdefghijklmnopqrstuvwxyz0123456789@github.com/o/r",
            "remote https://x-access-token:<redacted:password>@github.com/o/r",
        ),
        ("https://abcdefghijklmnopqrstuvwxyz0123@gitlab.com/x", "https://<redacted:token>@gitlab.com/x"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\nafter",
            "<redacted:private-key>\nafter",
        ),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk", "<redacted:private-key>"),
    ];

    const LOOK_ALIKES: &[&str] = &[
        "ask-me-anything about sk-short",
        "the task-runner sk-learn",
        "ghp_short",
        "AKIAshort and XAKIAIOSFODNN7EXAMPLE",
        "eyJust kidding.not.a.jwt",
        "bearer of bad news",
        "MONKEY=banana TOKEN_COUNT=5 max_tokens=100 KEYBOARD=us",
        "echo $GITHUB_TOKEN; GITHUB_TOKEN=$GITHUB_TOKEN; X_KEY=${{ secrets.X }}",
        "if a.API_KEY == b {}",
        "https://github.com/org/repo.git and git@github.com:org/repo.git",
        "https://user@example.com/x",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBg\n-----END PUBLIC KEY-----",
        "-----BEGIN CERTIFICATE-----",
        "session_id=5d8a3f1e tool_use_id=toolu_01ABC",
        "xoxo hugs",
        "日本語のテキスト sk-日本",
    ];

    #[test]
    fn real_shaped_secrets_are_redacted_keeping_the_text_around() {
        for (input, expected) in SECRETS {
            assert_eq!(redact(input), *expected, "input: {input}");
        }
    }

    #[test]
    fn look_alikes_survive_untouched() {
        for input in LOOK_ALIKES {
            assert!(matches!(redact(input), Cow::Borrowed(_)), "changed: {input} -> {}", redact(input));
        }
    }

    #[test]
    fn redaction_is_idempotent() {
        for (input, _) in SECRETS {
            let once = redact(input).into_owned();
            assert_eq!(redact(&once), once);
        }
    }

    #[test]
    fn walks_json_and_secret_named_keys() {
        let mut v = json!({
            "tool_input": {"command": "GH_TOKEN=abcdef123 gh pr list", "env": {"OPENAI_API_KEY": "plain", "HOME": "/h"}},
            "password": "hunter2",
            "input_tokens": 12,
            "list": ["Bearer abcdefghijkl", 1]
        });
        assert_eq!(redact_value(&mut v), 4);
        assert_eq!(v["tool_input"]["command"], "GH_TOKEN=<redacted:secret> gh pr list");
        assert_eq!(v["tool_input"]["env"]["OPENAI_API_KEY"], "<redacted:secret>");
        assert_eq!(v["tool_input"]["env"]["HOME"], "/h");
        assert_eq!(v["password"], "<redacted:secret>");
        assert_eq!(v["input_tokens"], 12);
        assert_eq!(v["list"][0], "Bearer <redacted:bearer>");
    }
}
