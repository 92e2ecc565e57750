//! Calls that reach outside the machine: table functions (`postgresql()`, `mysql()`,
//! `s3()`, `url()`, `remote()`, …), table engines (`ENGINE = Kafka(…)`) and dictionary
//! sources (`SOURCE(HTTP(…))`), found lexically as a known name followed by `(`, in any
//! case and in any position. A function with such a name has no other meaning in
//! ClickHouse, so position does not matter.
//!
//! The vendor documents `postgresql()`, `mysql()`, `s3()` and `url()` for SmartConnectors.

use std::ops::Range;

use super::lexer::{Token, TokenKind, tokens};

/// Names (lowercase) that reach the network, or run programs, when called.
const NETWORK: &[&str] = &[
    "postgresql",
    "mysql",
    "s3",
    "s3cluster",
    "url",
    "urlcluster",
    "remote",
    "remotesecure",
    "cluster",
    "clusterallreplicas",
    "hdfs",
    "hdfscluster",
    "azureblobstorage",
    "azureblobstoragecluster",
    "gcs",
    "oss",
    "cosn",
    "mongodb",
    "redis",
    "jdbc",
    "odbc",
    "hive",
    "kafka",
    "rabbitmq",
    "nats",
    "s3queue",
    "azurequeue",
    "distributed",
    "materializedpostgresql",
    "materializedmysql",
    "http",
    "clickhouse",
    "cassandra",
    "ytsaurus",
    "arrowflight",
    "prometheusquery",
    "prometheusqueryrange",
    "executable",
    "executablepool",
];

/// Name prefixes (lowercase) of table function families that read remote storage.
const NETWORK_PREFIXES: &[&str] = &["iceberg", "deltalake", "hudi", "paimon"];

/// Whether calling `name` reaches outside the machine.
pub(crate) fn is_network_function(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    NETWORK.contains(&lower.as_str()) || NETWORK_PREFIXES.iter().any(|p| lower.starts_with(p))
}

/// One argument of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Arg {
    /// Its tokens (indexes into the call's token list are not kept: these are copies).
    pub tokens: Vec<Token>,
}

impl Arg {
    /// `key = 'value'`: the key and the value token.
    pub(crate) fn named<'a>(&'a self, sql: &'a str) -> Option<(&'a str, &'a Token)> {
        match self.tokens.as_slice() {
            [key, eq, value] if key.kind == TokenKind::Ident && eq.is('=') => {
                Some((key.text(sql), value))
            }
            _ => None,
        }
    }

    /// The single string literal this argument is, if it is one.
    pub(crate) fn literal(&self) -> Option<&Token> {
        match self.tokens.as_slice() {
            [t] if t.kind == TokenKind::String => Some(t),
            _ => None,
        }
    }
}

/// A call of a function that reaches outside the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExternalCall {
    /// The function name as written.
    pub name: String,
    /// Bytes from the name to the closing parenthesis (to the end of the text when it is
    /// never closed).
    pub span: Range<usize>,
    /// The top-level arguments.
    pub args: Vec<Arg>,
}

/// Every call of a network function in `sql`, outermost first, in text order.
pub(crate) fn external_calls(sql: &str) -> Vec<ExternalCall> {
    let toks = tokens(sql);
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < toks.len() {
        let t = &toks[i];
        if t.kind == TokenKind::Ident && toks[i + 1].is('(') && is_network_function(t.text(sql)) {
            let (args, close) = arguments(&toks, i + 1);
            let end = close.map_or(sql.len(), |c| toks[c].span.end);
            out.push(ExternalCall {
                name: t.text(sql).to_owned(),
                span: t.span.start..end,
                args,
            });
            i = close.map_or(toks.len(), |c| c + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// The top-level arguments of the call whose `(` is `toks[open]`, and the index of its `)`.
fn arguments(toks: &[Token], open: usize) -> (Vec<Arg>, Option<usize>) {
    let mut args = Vec::new();
    let mut current = Vec::new();
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate().skip(open) {
        match t.kind {
            TokenKind::Punct('(') | TokenKind::Punct('[') => {
                depth += 1;
                if depth == 1 {
                    continue;
                }
            }
            TokenKind::Punct(')') | TokenKind::Punct(']') => {
                depth -= 1;
                if depth == 0 {
                    if !current.is_empty() {
                        args.push(Arg { tokens: current });
                    }
                    return (args, Some(i));
                }
            }
            TokenKind::Punct(',') if depth == 1 => {
                args.push(Arg {
                    tokens: std::mem::take(&mut current),
                });
                continue;
            }
            _ => {}
        }
        current.push(t.clone());
    }
    if !current.is_empty() {
        args.push(Arg { tokens: current });
    }
    (args, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sql: &str) -> Vec<String> {
        external_calls(sql).into_iter().map(|c| c.name).collect()
    }

    #[test]
    fn finds_network_calls_in_any_case_and_position() {
        let sql = "SELECT * FROM postgresql(crm, table='customers') AS c \
                   JOIN S3('https://b.s3.amazonaws.com/x.csv', NOSIGN) USING id \
                   WHERE c.id IN (SELECT id FROM url('http://x/y.csv', CSV)); \
                   CREATE TABLE q ENGINE = Kafka('k:9092', 't'); \
                   SELECT 'postgresql(x)', file('a.csv'), icebergS3('s3://x'), lower(name)";
        assert_eq!(
            names(sql),
            ["postgresql", "S3", "url", "Kafka", "icebergS3"]
        );
        let first = &external_calls(sql)[0];
        assert_eq!(
            &sql[first.span.clone()],
            "postgresql(crm, table='customers')"
        );
        assert_eq!(first.args.len(), 2);
    }
}
