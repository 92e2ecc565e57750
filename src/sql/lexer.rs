//! A lexer for the ClickHouse SQL dialect: enough to split a script into statements and to
//! find function calls and their arguments, with every token's byte range.
//!
//! It knows comments (`--`, `#`, `/* … */`, nested), string literals (`'…'` with `\` escapes
//! and doubled quotes), quoted identifiers (`"…"`, `` `…` ``), heredocs (`$$…$$`,
//! `$tag$…$tag$`), identifiers, numbers and single-character punctuation. Unterminated
//! literals run to the end of the text; the engine reports them properly.

use std::ops::Range;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// A bare word: keyword, identifier or function name.
    Ident,
    /// A quoted identifier (`"x"` or `` `x` ``).
    QuotedIdent,
    /// A string literal (`'x'`) or heredoc.
    String,
    /// A number.
    Number,
    /// One punctuation character (`(`, `)`, `,`, `;`, `=`, `.`, …).
    Punct(char),
}

/// One token and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// Its bytes in the text.
    pub span: Range<usize>,
}

impl Token {
    /// The token's text.
    pub(crate) fn text<'a>(&self, sql: &'a str) -> &'a str {
        &sql[self.span.clone()]
    }

    /// Whether it is the punctuation `c`.
    pub(crate) fn is(&self, c: char) -> bool {
        self.kind == TokenKind::Punct(c)
    }

    /// The value of a string literal, unescaped (`None` for other tokens).
    pub(crate) fn string_value(&self, sql: &str) -> Option<String> {
        if self.kind != TokenKind::String {
            return None;
        }
        let raw = self.text(sql);
        if let Some(body) = raw.strip_prefix('\'') {
            let body = body.strip_suffix('\'').unwrap_or(body);
            let mut out = String::with_capacity(body.len());
            let mut chars = body.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some('n') => out.push('\n'),
                        Some('t') => out.push('\t'),
                        Some('r') => out.push('\r'),
                        Some('0') => out.push('\0'),
                        Some(other) => out.push(other),
                        None => {}
                    },
                    '\'' => {
                        // A doubled quote inside the literal.
                        chars.next();
                        out.push('\'');
                    }
                    c => out.push(c),
                }
            }
            Some(out)
        } else {
            // Heredoc: `$tag$…$tag$`.
            let tag_end = raw[1..].find('$').map_or(raw.len(), |i| i + 2);
            let tag = &raw[..tag_end];
            let body = &raw[tag_end..];
            Some(body.strip_suffix(tag).unwrap_or(body).to_owned())
        }
    }
}

fn ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn ident_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// Every token of `sql`, comments and whitespace left out.
pub(crate) fn tokens(sql: &str) -> Vec<Token> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < sql.len() {
        let Some(c) = sql[i..].chars().next() else {
            break;
        };
        let start = i;
        let rest = &sql[i..];
        if c.is_whitespace() {
            i += c.len_utf8();
        } else if rest.starts_with("--") || c == '#' {
            i = rest.find('\n').map_or(sql.len(), |n| i + n + 1);
        } else if rest.starts_with("/*") {
            let mut depth = 0usize;
            while i < sql.len() {
                if sql[i..].starts_with("/*") {
                    depth += 1;
                    i += 2;
                } else if sql[i..].starts_with("*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += sql[i..].chars().next().map_or(1, char::len_utf8);
                }
            }
        } else if c == '\'' || c == '"' || c == '`' {
            i += 1;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' => i += 2,
                    b if b == c as u8 => {
                        if bytes.get(i + 1) == Some(&(c as u8)) {
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    _ => i += 1,
                }
            }
            i = i.min(sql.len());
            while !sql.is_char_boundary(i) {
                i += 1;
            }
            let kind = if c == '\'' {
                TokenKind::String
            } else {
                TokenKind::QuotedIdent
            };
            out.push(Token {
                kind,
                span: start..i,
            });
        } else if c == '$' && heredoc_tag(rest).is_some() {
            let tag = heredoc_tag(rest).unwrap_or_default();
            let body = i + tag.len();
            i = sql[body..]
                .find(tag)
                .map_or(sql.len(), |n| body + n + tag.len());
            out.push(Token {
                kind: TokenKind::String,
                span: start..i,
            });
        } else if ident_start(c) {
            i += rest
                .char_indices()
                .find(|(_, ch)| !ident_continue(*ch))
                .map_or(rest.len(), |(n, _)| n);
            out.push(Token {
                kind: TokenKind::Ident,
                span: start..i,
            });
        } else if c.is_ascii_digit() {
            i += rest
                .char_indices()
                .find(|(_, ch)| !(ch.is_ascii_alphanumeric() || *ch == '.' || *ch == '_'))
                .map_or(rest.len(), |(n, _)| n);
            out.push(Token {
                kind: TokenKind::Number,
                span: start..i,
            });
        } else {
            i += c.len_utf8();
            out.push(Token {
                kind: TokenKind::Punct(c),
                span: start..i,
            });
        }
    }
    out
}

/// `$tag$` at the start of `text` (the tag may be empty), if it opens a heredoc.
fn heredoc_tag(text: &str) -> Option<&str> {
    let after = &text[1..];
    let end = after.find('$')?;
    let tag = &after[..end];
    (tag.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !tag.starts_with(|c: char| c.is_ascii_digit()))
    .then(|| &text[..end + 2])
}

/// The statements of a script: byte ranges from each statement's first token to its last,
/// without the `;` between them. Empty statements (only comments) are left out.
pub(crate) fn statements(sql: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut current: Option<Range<usize>> = None;
    for token in tokens(sql) {
        if token.is(';') {
            out.extend(current.take());
            continue;
        }
        match &mut current {
            Some(range) => range.end = token.span.end,
            None => current = Some(token.span.clone()),
        }
    }
    out.extend(current);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<(TokenKind, &str)> {
        tokens(sql).iter().map(|t| (t.kind, t.text(sql))).collect()
    }

    #[test]
    fn skips_comments_and_keeps_literals_whole() {
        let sql = "SELECT 'a;b''c' AS \"x;y\", `q` -- c;\n/* x /* nested; */ y; */ # h;\nFROM t;";
        assert_eq!(
            kinds(sql),
            [
                (TokenKind::Ident, "SELECT"),
                (TokenKind::String, "'a;b''c'"),
                (TokenKind::Ident, "AS"),
                (TokenKind::QuotedIdent, "\"x;y\""),
                (TokenKind::Punct(','), ","),
                (TokenKind::QuotedIdent, "`q`"),
                (TokenKind::Ident, "FROM"),
                (TokenKind::Ident, "t"),
                (TokenKind::Punct(';'), ";"),
            ]
        );
    }

    #[test]
    fn splits_statements_outside_literals() {
        let sql =
            "-- lead\nCREATE TABLE a AS SELECT ';' ;\n\n;  SELECT $$x;y$$, 1.5e3 FROM a -- end\n";
        let got: Vec<&str> = statements(sql).into_iter().map(|r| &sql[r]).collect();
        assert_eq!(
            got,
            [
                "CREATE TABLE a AS SELECT ';'",
                "SELECT $$x;y$$, 1.5e3 FROM a"
            ]
        );
        assert!(statements("-- nothing\n;;").is_empty());
    }

    #[test]
    fn unescapes_string_values() {
        let sql = r"SELECT 'it''s', 'a\'b\n', $t$x'y$t$";
        let values: Vec<String> = tokens(sql)
            .iter()
            .filter_map(|t| t.string_value(sql))
            .collect();
        assert_eq!(values, ["it's", "a'b\n", "x'y"]);
    }

    #[test]
    fn unterminated_literals_end_the_text() {
        assert_eq!(
            kinds("SELECT 'open"),
            [(TokenKind::Ident, "SELECT"), (TokenKind::String, "'open")]
        );
        assert_eq!(
            kinds("SELECT 'é"),
            [(TokenKind::Ident, "SELECT"), (TokenKind::String, "'é")]
        );
    }
}
