//! Recognising secrets where only references to secrets may be written.
//!
//! Manifests and `ferry.yaml` name where a secret lives (an environment variable, a file, a
//! vault path, a secret reference `{{secret:NAME}}`) and never hold its value. This module
//! decides which keys and headers carry secrets, whether a value is a reference or a
//! literal, and whether a string looks like a credential. Its messages never repeat the
//! value they judge.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

static ENV_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*$").expect("valid regex"));
static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{\{\s*secret:[A-Za-z0-9_][A-Za-z0-9_./-]*\s*\}\}").expect("valid regex")
});

/// Prefixes of well-known credential formats (GitHub, GitLab, Slack, Stripe, AWS, Google,
/// OpenAI-style, JWT, npm, PyPI, Shopify, SendGrid).
const TOKEN_PREFIXES: &[&str] = &[
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "gldt-",
    "glrt-",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "xapp-",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "pk_live_",
    "sk-",
    "AKIA",
    "ASIA",
    "AIza",
    "ya29.",
    "eyJ",
    "npm_",
    "pypi-",
    "shpat_",
    "SG.",
];

/// Scheme words allowed next to a reference in an auth header (`Bearer {{secret:X}}`).
const SCHEMES: &[&str] = &[
    "bearer", "basic", "token", "bot", "apikey", "api-key", "digest",
];

/// Key endings (lowercase, without `-`, `_` or spaces) that mark a secret-bearing field.
const SECRET_KEY_ENDINGS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "token",
    "secret",
    "apikey",
    "privatekey",
    "accesskey",
    "secretkey",
    "cookie",
    "credentials",
];

/// Keys that end like secrets but hold references by definition.
const REFERENCE_KEYS: &[&str] = &["vaultsecret"];

/// The form of a secret reference, for messages.
pub const REFERENCE_FORM: &str = "{{secret:NAME}}";

/// Whether `name` can be an environment variable name: `^[A-Za-z_][A-Za-z0-9_]*$`.
pub(crate) fn is_env_name(name: &str) -> bool {
    ENV_NAME.is_match(name)
}

fn shannon_entropy(s: &str) -> f64 {
    let mut counts = [0usize; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let len = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| c as f64 / len)
        .map(|p| -p * p.log2())
        .sum()
}

/// Whether `s` looks like a credential rather than a name: a known token prefix, a long
/// mixed-case alphanumeric string, a long hex string, or a long high-entropy string.
pub(crate) fn looks_like_token(s: &str) -> bool {
    let s = s.trim();
    if s.len() < 16 || s.contains(char::is_whitespace) {
        return false;
    }
    if TOKEN_PREFIXES.iter().any(|p| s.starts_with(p)) && s.len() >= 20 {
        return true;
    }
    let has = |f: fn(&char) -> bool| s.chars().any(|c| f(&c));
    let pathlike = s.contains('/') || s.contains('.');
    if s.len() >= 20
        && !pathlike
        && has(char::is_ascii_lowercase)
        && has(char::is_ascii_uppercase)
        && has(char::is_ascii_digit)
    {
        return true;
    }
    if s.len() >= 32 && s.chars().all(|c| c.is_ascii_hexdigit()) && has(char::is_ascii_digit) {
        return true;
    }
    s.len() >= 40 && !pathlike && shannon_entropy(s) >= 4.2
}

fn normalize_key(key: &str) -> String {
    key.chars()
        .filter(|c| !matches!(c, '-' | '_' | ' ' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether a field named `key` carries a secret (`password`, `vcs.token`, `api-key`,
/// `client_secret`, `Authorization`, `X-API-KEY`, …). `vault_secret` does not: it names one.
pub(crate) fn is_secret_key(key: &str) -> bool {
    let key = normalize_key(key);
    !REFERENCE_KEYS.contains(&key.as_str())
        && SECRET_KEY_ENDINGS.iter().any(|end| key.ends_with(end))
}

/// Whether an HTTP header carries a secret: `Authorization`, `Proxy-Authorization`,
/// `Cookie`, or any name containing `token`, `key`, `secret`, `password` or `auth`.
pub(crate) fn is_secret_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        "token", "key", "secret", "password", "auth", "cookie", "session",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

/// Whether a string in a secret-bearing field is a literal rather than references: empty
/// strings are fine, and so is `{{secret:NAME}}`, optionally after a scheme word
/// (`Bearer {{secret:NAME}}`).
pub(crate) fn is_literal(value: &str) -> bool {
    if value.trim().is_empty() {
        return false;
    }
    if !REFERENCE.is_match(value) {
        return true;
    }
    let rest = REFERENCE.replace_all(value, " ");
    let rest = rest.trim().to_ascii_lowercase();
    !(rest.is_empty() || SCHEMES.contains(&rest.as_str()))
}

/// One secret written as a literal, found by [`scan_json`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    /// Path of the value (`config.vcs.token`, `[0].headers.Authorization`).
    pub path: String,
    /// What is wrong and what to do, without the value.
    pub message: String,
}

fn literal_message(what: &str) -> String {
    format!(
        "{what} holds a literal secret: use a secret reference `{REFERENCE_FORM}` instead and keep the value out of git"
    )
}

/// Find literal secrets in a JSON value: strings (or numbers) under secret-bearing keys,
/// secret headers inside a `headers` object or given as `{name, value}` pairs, and strings
/// anywhere that look like credentials. `path` is the value's own path.
pub(crate) fn scan_json(value: &serde_json::Value, path: &str, out: &mut Vec<Finding>) {
    scan(value, path, false, out);
}

fn scan(value: &serde_json::Value, path: &str, in_headers: bool, out: &mut Vec<Finding>) {
    use serde_json::Value;
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::Object(map) => {
            // `{"name": "Authorization", "value": "..."}` header pairs.
            let header = ["name", "key", "header"]
                .iter()
                .filter_map(|k| map.get(*k).and_then(Value::as_str))
                .find(|name| is_secret_header(name));
            for (key, child) in map {
                let child_path = join(key);
                let secret_field = is_secret_key(key)
                    || (in_headers && is_secret_header(key))
                    || (key == "value" && header.is_some());
                match child {
                    Value::String(s) if secret_field && is_literal(s) => {
                        let what = match header {
                            Some(h) if key == "value" => {
                                format!("`{child_path}` (the `{h}` header)")
                            }
                            _ => format!("`{child_path}`"),
                        };
                        out.push(Finding {
                            path: child_path,
                            message: literal_message(&what),
                        });
                    }
                    Value::Number(_) if secret_field => {
                        out.push(Finding {
                            message: literal_message(&format!("`{child_path}`")),
                            path: child_path,
                        });
                    }
                    _ => scan(child, &child_path, key.eq_ignore_ascii_case("headers"), out),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                scan(item, &format!("{path}[{i}]"), false, out);
            }
        }
        Value::String(s) => {
            if let Some(found) = embedded(s) {
                out.push(Finding {
                    message: found.message(&format!("`{path}`")),
                    path: path.to_owned(),
                });
            }
        }
        _ => {}
    }
}

/// A credential found inside a string by [`embedded`]: what it is and the string around
/// it with every credential hidden.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Embedded {
    /// What was found (`an API token`, `credentials in a URL`, `a private key`).
    pub what: String,
    /// Up to 64 characters of the string around the first credential, every credential
    /// replaced by `***` and control characters escaped.
    pub excerpt: String,
}

impl Embedded {
    /// `<place> holds <what> (`<excerpt>`): use a secret reference … instead`.
    pub(crate) fn message(&self, place: &str) -> String {
        format!(
            "{place} holds {} (`{}`): use a secret reference `{REFERENCE_FORM}` instead and keep the value out of git",
            self.what, self.excerpt
        )
    }
}

/// The first credential anywhere inside `value`: a private-key block, a token with a
/// well-known prefix (GitHub `ghp_`/`github_pat_`, GitLab `glpat-`, Slack `xox?-`, AWS
/// `AKIA…`, Stripe, npm, Google, JWT), a credential-named assignment (`password=…`), or
/// credentials in a URL (user info with a password or a token as the user,
/// credential-named query parameters). The same detectors as the sample-data scan.
pub(crate) fn embedded(value: &str) -> Option<Embedded> {
    let first = super::scan::credentials(value).into_iter().next()?;
    Some(Embedded {
        what: first.kind.with_article(),
        excerpt: excerpt(value, first.span.start),
    })
}

/// The redacted text around byte `at` of `value`: all of it when it is short, else at most
/// 64 characters from a little before `at`, `…` where cut.
fn excerpt(value: &str, at: usize) -> String {
    const BEFORE: usize = 24;
    const WIDTH: usize = 64;
    let whole = redact(value);
    let shown = if whole.chars().count() <= WIDTH {
        whole.into_owned()
    } else {
        let start = value[..at]
            .char_indices()
            .rev()
            .nth(BEFORE - 1)
            .map_or(0, |(i, _)| i);
        // Redact from the cut on, then cut again: a credential is never shown in part.
        let hidden = redact(&value[start..]);
        let mut shown: String = hidden.chars().take(WIDTH).collect();
        if hidden.chars().count() > WIDTH {
            shown.push('…');
        }
        if start > 0 {
            shown.insert(0, '…');
        }
        shown
    };
    crate::printable::printable(&shown).into_owned()
}

/// `text` with every credential replaced by `***`: the user info of URLs (all but a plain
/// SSH user name), the values of credential-named query parameters and assignments,
/// tokens with a well-known prefix and private-key blocks. For messages and logs, which
/// may quote URLs and platform answers. Borrowed when there is nothing to hide.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut spans: Vec<Range<usize>> = super::scan::credentials(text)
        .into_iter()
        .map(|c| c.span)
        .collect();
    spans.extend(super::scan::userinfo_spans(text));
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    spans.sort_by_key(|r| (r.start, r.end));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for span in spans {
        if span.end <= at {
            continue;
        }
        let start = span.start.max(at);
        out.push_str(&text[at..start]);
        if start == span.start {
            out.push_str("***");
        }
        at = span.end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        assert!(is_env_name("KIZEN_TOKEN"));
        assert!(is_env_name("_x1"));
        assert!(!is_env_name("1X"));
        assert!(!is_env_name("MY-TOKEN"));
        assert!(!is_env_name(""));
    }

    #[test]
    fn tokens_and_names() {
        for token in [
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            "glpat-xxxxXXXXyyyyZZZZ1234",
            "aB3dE5fG7hJ9kL1mN3pQ5rS7",
            "0123456789abcdef0123456789abcdef",
        ] {
            assert!(looks_like_token(token), "{token}");
        }
        for name in [
            "KIZEN_SANDBOX_API_TOKEN_FOR_ACME",
            "sandbox_token",
            "secrets/kizen-sandbox.token",
            "GITHUB_TOKEN",
        ] {
            assert!(!looks_like_token(name), "{name}");
        }
    }

    #[test]
    fn secret_keys_and_headers() {
        for key in [
            "password",
            "token",
            "api-key",
            "client_secret",
            "private-key",
            "X-API-KEY",
            "db-password",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "vault_secret",
            "secret-registrations",
            "url",
            "username",
            "token-type",
            "key",
            "authorization",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
        assert!(is_secret_header("Authorization"));
        assert!(is_secret_header("X-API-KEY"));
        assert!(is_secret_header("X-Auth-Token"));
        assert!(!is_secret_header("X-BUSINESS-ID"));
        assert!(!is_secret_header("Content-Type"));
    }

    #[test]
    fn references_are_not_literals() {
        assert!(!is_literal("{{secret:WORKDAY_TOKEN}}"));
        assert!(!is_literal("Bearer {{ secret:WORKDAY_TOKEN }}"));
        assert!(!is_literal(""));
        assert!(is_literal("Bearer abc"));
        assert!(is_literal("hunter2"));
        assert!(is_literal("x{{secret:A}}y-extra"));
    }

    #[test]
    fn scans_json_for_literal_secrets() {
        let value: serde_json::Value = serde_json::json!([
            {"headers": {"Authorization": "Bearer abc", "X-Trace": "1"}, "vcs": {"authorization": "basic"}},
            {"headers": [{"name": "X-API-KEY", "value": "plain"}, {"name": "Accept", "value": "json"}]},
            {"headers": {"Authorization": "Bearer {{secret:OK}}"}},
            {"vcs": {"token": 42, "url": "https://example.com"}},
            {"note": "ghp_16C7e42F292c6912E7710c838347Ae178B4a"},
            {"vcs": {"url": "https://ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com/acme/feed.git"}},
            {"hook": "https://hooks.example.com/in?team=ops&token=d41d8cd98f00b204"},
            {"db": "postgres://loader:hunter2@db.internal:5432/orders"},
            {"vcs": {"url": "ssh://git@github.com/acme/feed.git", "page": "https://api.example.com/x?pageToken=abc"}}
        ]);
        let mut out = Vec::new();
        scan_json(&value, "", &mut out);
        let got: Vec<_> = out.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            got,
            [
                "`[0].headers.Authorization` holds a literal secret: use a secret reference `{{secret:NAME}}` instead and keep the value out of git",
                "`[1].headers[0].value` (the `X-API-KEY` header) holds a literal secret: use a secret reference `{{secret:NAME}}` instead and keep the value out of git",
                "`[3].vcs.token` holds a literal secret: use a secret reference `{{secret:NAME}}` instead and keep the value out of git",
                "`[4].note` holds an API token (`***`): use a secret reference `{{secret:NAME}}` instead and keep the value out of git",
                "`[5].vcs.url` holds an API token (`https://***@github.com/acme/feed.git`): use a secret reference `{{secret:NAME}}` instead and keep the value out of git",
                "`[6].hook` holds credentials in a URL (`https://hooks.example.com/in?team=ops&token=***`): use a secret reference `{{secret:NAME}}` instead and keep the value out of git",
                "`[7].db` holds credentials in a URL (`postgres://***@db.internal:5432/orders`): use a secret reference `{{secret:NAME}}` instead and keep the value out of git",
            ]
        );
    }

    #[test]
    fn redaction_hides_credentials_and_keeps_the_rest() {
        for (text, shown) in [
            ("https://tok@github.com/a/b", "https://***@github.com/a/b"),
            ("https://u:p@h/a@b", "https://***@h/a@b"),
            ("ssh://u:p@h/r", "ssh://***@h/r"),
            ("ssh://git@h/r", "ssh://git@h/r"),
            ("https://github.com/a/b", "https://github.com/a/b"),
            ("/srv/repo", "/srv/repo"),
            (
                "GET http://127.0.0.1:9/x?a=1&access_token=s3cr3t&b=2 failed",
                "GET http://127.0.0.1:9/x?a=1&access_token=***&b=2 failed",
            ),
            (
                "token ghp_abcdefghijklmnopqrstuvwxyz0123456789 expired",
                "token *** expired",
            ),
            ("password=hunter2hunter2", "password=***"),
            (
                "`http://h/api?access_token=***`): quoted again",
                "`http://h/api?access_token=***`): quoted again",
            ),
            (
                "url(https://h/x?sig=abc123), next",
                "url(https://h/x?sig=***), next",
            ),
            (
                "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\nrest",
                "key:\n***\nrest",
            ),
            (
                "https://x.example/list?pageToken=abc",
                "https://x.example/list?pageToken=abc",
            ),
        ] {
            assert_eq!(redact(text), shown, "{text}");
        }
        assert!(matches!(redact("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn embedded_credentials_name_their_kind_and_show_a_redacted_excerpt() {
        let found = embedded("see glpat-abcdefghij0123456789 for access").unwrap();
        assert_eq!(found.what, "an API token");
        assert_eq!(found.excerpt, "see *** for access");
        let found = embedded("xoxb-1234567890-abcdefghij").unwrap();
        assert_eq!(found.excerpt, "***");
        let found = embedded("aws AKIAIOSFODNN7EXAMPLE").unwrap();
        assert_eq!(found.excerpt, "aws ***");
        let long = format!("{}https://user:pw@host/{}", "x".repeat(40), "y".repeat(80));
        let found = embedded(&long).unwrap();
        assert_eq!(found.what, "credentials in a URL");
        assert!(
            found.excerpt.starts_with('…') && found.excerpt.ends_with('…'),
            "{}",
            found.excerpt
        );
        assert!(
            found.excerpt.contains("https://***@host/"),
            "{}",
            found.excerpt
        );
        assert!(!found.excerpt.contains("pw"), "{}", found.excerpt);
        for clean in [
            "https://github.com/acme/feed.git",
            "ssh://git@github.com/acme/feed.git",
            "https://x-access-token:{{secret:GITHUB_TOKEN}}@github.com/a/b",
            "https://${user}:${password}@host/x",
            "Orders Sync",
            "https://api.example.com/x?pageToken=abc&limit=10",
        ] {
            assert_eq!(embedded(clean), None, "{clean}");
        }
    }
}
