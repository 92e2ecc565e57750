//! Credentials written into a SmartConnector's Live SQL.
//!
//! The vendor keeps the credentials of external sources (`postgresql()`, `mysql()`,
//! `s3()`, `url()`) as named integration secrets and references them from SQL by name:
//! `postgresql(my_postgres_secret, table='customers')`. A literal password, key or token
//! inside such a call is a validation error. Messages never repeat the value.

use std::ops::Range;

use crate::sensitive::secrets;
use crate::sql::{Arg, TokenKind, external_calls};

/// A credential written into a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CredentialFinding {
    /// Bytes of the literal.
    pub span: Range<usize>,
    /// What is wrong and what to do, without the value.
    pub message: String,
}

/// Argument keys (normalised: lowercase, no `_`/`-`) that carry credentials.
const SECRET_ARGS: &[&str] = &[
    "accesskeyid",
    "awsaccesskeyid",
    "accountkey",
    "connectionstring",
    "sastoken",
    "sessiontoken",
];

/// Known data format names (lowercase): a string literal in this position of `s3()` is
/// the format, not an access key.
const FORMATS: &[&str] = &[
    "auto",
    "csv",
    "csvwithnames",
    "csvwithnamesandtypes",
    "tsv",
    "tsvwithnames",
    "tsvwithnamesandtypes",
    "tabseparated",
    "tabseparatedwithnames",
    "tabseparatedwithnamesandtypes",
    "tsvraw",
    "tabseparatedraw",
    "parquet",
    "orc",
    "arrow",
    "arrowstream",
    "avro",
    "jsoneachrow",
    "jsonlines",
    "ndjson",
    "json",
    "jsoncompact",
    "jsoncompacteachrow",
    "jsonobjecteachrow",
    "native",
    "rowbinary",
    "values",
    "raw",
    "lineasstring",
    "npy",
    "msgpack",
    "protobuf",
    "capnproto",
    "xml",
    "template",
    "regexp",
    "customseparated",
    "bsoneachrow",
    "one",
];

/// Where a positional password sits (0-based), by function.
fn password_position(name: &str, args: &[Arg], sql: &str) -> Option<usize> {
    match name {
        "postgresql"
        | "mysql"
        | "mongodb"
        | "redis"
        | "materializedpostgresql"
        | "materializedmysql" => Some(4),
        "remote" | "remotesecure" => {
            // remote('addr', db.table, 'user', 'password') or remote('addr', db, table, …).
            let dotted = args
                .get(1)
                .is_some_and(|a| a.tokens.iter().any(|t| t.is('.')));
            Some(if dotted { 3 } else { 4 })
        }
        "azureblobstorage" | "azureblobstoragecluster" => Some(4),
        "s3" | "gcs" | "oss" | "cosn" | "s3cluster" => {
            // s3(url, access_key_id, secret_access_key, …) unless the second argument is
            // a format or NOSIGN.
            let shift = usize::from(name == "s3cluster");
            let second = args.get(1 + shift)?.literal()?.string_value(sql)?;
            (!FORMATS.contains(&second.to_ascii_lowercase().as_str()) && args.len() > 2 + shift)
                .then_some(2 + shift)
        }
        _ => None,
    }
}

fn normalise(key: &str) -> String {
    key.chars()
        .filter(|c| !matches!(c, '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether a URL or connection string holds a credential: `scheme://user:pass@host`,
/// `password=`/`pwd=`, `AccountKey=`, `SharedAccessSignature=`.
fn credential_in_text(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    if let Some((_, rest)) = lower.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority
            .rsplit_once('@')
            .is_some_and(|(userinfo, _)| userinfo.contains(':'))
        {
            return true;
        }
    }
    [
        "password=",
        "pwd=",
        "accountkey=",
        "sharedaccesssignature=",
        "secret=",
    ]
    .iter()
    .any(|k| lower.contains(k))
        || secrets::looks_like_token(value)
}

/// Credentials written as literals in the network calls of `sql`: positional passwords and
/// keys, `password = '…'`-style arguments, credentials inside URLs and connection strings,
/// secret headers in `headers(…)`, and strings that look like tokens.
pub(crate) fn literal_credentials(sql: &str) -> Vec<CredentialFinding> {
    let mut out = Vec::new();
    for call in external_calls(sql) {
        let name = call.name.to_ascii_lowercase();
        let fix = format!(
            "store the credentials as a named integration secret in the tenant and reference it by name (for example `{}(my_secret, …)`); keep secret values out of SQL",
            call.name
        );
        let mut flag = |span: Range<usize>, what: &str| {
            if !out.iter().any(|f: &CredentialFinding| f.span == span) {
                out.push(CredentialFinding {
                    span,
                    message: format!("`{}()` holds {what} written as a literal: {fix}", call.name),
                });
            }
        };
        if let Some(at) = password_position(&name, &call.args, sql)
            && let Some(literal) = call.args.get(at).and_then(Arg::literal)
            && literal.string_value(sql).is_some_and(|v| !v.is_empty())
        {
            flag(literal.span.clone(), "a password or secret key");
        }
        for arg in &call.args {
            if let Some((key, value)) = arg.named(sql)
                && value.kind == TokenKind::String
            {
                let k = normalise(key);
                if secrets::is_secret_key(key) || SECRET_ARGS.contains(&k.as_str()) {
                    flag(value.span.clone(), &format!("`{key}`"));
                    continue;
                }
            }
            // `headers('Authorization' = 'Bearer …')` inside `url()`.
            if let [head, open, ..] = arg.tokens.as_slice()
                && head.kind == TokenKind::Ident
                && head.text(sql).eq_ignore_ascii_case("headers")
                && open.is('(')
            {
                let inner = &arg.tokens[2..];
                for w in inner.windows(3) {
                    if let [k, eq, v] = w
                        && eq.is('=')
                        && v.kind == TokenKind::String
                        && k.string_value(sql)
                            .is_some_and(|name| secrets::is_secret_header(&name))
                    {
                        flag(v.span.clone(), "a secret header");
                    }
                }
            }
            for t in &arg.tokens {
                if let Some(value) = t.string_value(sql)
                    && credential_in_text(&value)
                {
                    flag(t.span.clone(), "a credential in a string");
                }
            }
        }
    }
    out.sort_by_key(|f| f.span.start);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flagged(sql: &str) -> Vec<&str> {
        literal_credentials(sql)
            .into_iter()
            .map(|f| &sql[f.span])
            .collect()
    }

    #[test]
    fn named_secrets_are_fine() {
        for sql in [
            "SELECT * FROM postgresql(my_postgres_secret, table='customers')",
            "SELECT * FROM s3('https://b.s3.amazonaws.com/x.parquet', NOSIGN)",
            "SELECT * FROM s3('https://b/x.csv', 'CSVWithNames', 'a String')",
            "SELECT * FROM url('https://example.com/data.csv', CSV)",
            "SELECT password FROM users WHERE token = 'abc'",
        ] {
            assert!(flagged(sql).is_empty(), "{sql}");
        }
    }

    #[test]
    fn literal_credentials_are_found_without_their_values() {
        let cases: &[(&str, &str)] = &[
            (
                "SELECT * FROM postgresql('db:5432', 'crm', 'customers', 'reader', 'hunter2')",
                "'hunter2'",
            ),
            (
                "SELECT * FROM mysql(creds, password = 'hunter2', table = 't')",
                "'hunter2'",
            ),
            (
                "SELECT * FROM s3('https://b/x.csv', 'AKIAEXAMPLEKEY', 'wJalrXUtnFEMI', 'CSV')",
                "'wJalrXUtnFEMI'",
            ),
            (
                "SELECT * FROM url('https://user:pw@example.com/x.csv', CSV)",
                "'https://user:pw@example.com/x.csv'",
            ),
            (
                "SELECT * FROM url('https://x/y', CSV, headers('Authorization' = 'Bearer abc', 'Accept' = 'text/csv'))",
                "'Bearer abc'",
            ),
            (
                "SELECT * FROM remote('h:9000', db.t, 'default', 'pw')",
                "'pw'",
            ),
        ];
        for (sql, literal) in cases {
            assert_eq!(flagged(sql), [*literal], "{sql}");
        }
        let findings = literal_credentials("SELECT * FROM mysql('h', 'd', 't', 'u', 'hunter2')");
        assert_eq!(findings.len(), 1);
        assert_eq!(
            findings[0].message,
            "`mysql()` holds a password or secret key written as a literal: store the credentials as a named integration secret in the tenant and reference it by name (for example `mysql(my_secret, …)`); keep secret values out of SQL"
        );
    }
}
