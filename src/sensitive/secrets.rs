//! Recognising secrets where only references to secrets may be written.
//!
//! Manifests and `ferry.yaml` name where a secret lives (an environment variable, a file, a
//! vault path, a secret reference `{{secret:NAME}}`) and never hold its value. This module
//! decides which keys and headers carry secrets, whether a value is a reference or a
//! literal, and whether a string looks like a credential. Its messages never repeat the
//! value they judge.

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
                            Some(h) if key == "value" => format!("`{child_path}` (the `{h}` header)"),
                            _ => format!("`{child_path}`"),
                        };
                        out.push(Finding { path: child_path, message: literal_message(&what) });
                    }
                    Value::Number(_) if secret_field => {
                        out.push(Finding { message: literal_message(&format!("`{child_path}`")), path: child_path });
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
        Value::String(s) if looks_like_credential_anywhere(s) => out.push(Finding {
            path: path.to_owned(),
            message: format!(
                "`{path}` looks like a credential: use a secret reference `{REFERENCE_FORM}` instead and keep the value out of git"
            ),
        }),
        _ => {}
    }
}

/// Strings that are credentials wherever they appear: only well-known token prefixes, so
/// ordinary values (URLs, ids, SQL) never trip it.
fn looks_like_credential_anywhere(s: &str) -> bool {
    let t = s.trim();
    t.len() >= 20
        && !t.contains(char::is_whitespace)
        && TOKEN_PREFIXES
            .iter()
            .filter(|p| !matches!(**p, "sk-" | "eyJ" | "SG."))
            .any(|p| t.starts_with(p))
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
            {"note": "ghp_16C7e42F292c6912E7710c838347Ae178B4a"}
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
                "`[4].note` looks like a credential: use a secret reference `{{secret:NAME}}` instead and keep the value out of git",
            ]
        );
    }
}
