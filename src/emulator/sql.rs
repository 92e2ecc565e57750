//! The Live SQL check behind a Kizen import's "other errors": SQL is accepted when it is
//! non-empty after removing comments, its first keyword is `SELECT` or `WITH` (the
//! ClickHouse dialect SmartConnectors use), and its parentheses and quotes balance.
//!
//! This is a shape check, not a SQL parser: it must stay cheap and never reject what a
//! real platform would plausibly accept for a reason other than these.

/// Check `sql`; the error says what is wrong and where (1-based line and column).
pub(crate) fn check(sql: &str) -> Result<(), String> {
    let mut scan = Scanner::new(sql);
    let mut first_word: Option<(String, usize, usize)> = None;
    let mut open: Vec<(usize, usize)> = Vec::new();
    let mut seen_code = false;

    while let Some(c) = scan.peek() {
        let (line, col) = scan.pos();
        match c {
            '-' if scan.peek2() == Some('-') => scan.skip_line(),
            '/' if scan.peek2() == Some('*') => {
                scan.bump();
                scan.bump();
                if !scan.skip_block_comment() {
                    return Err(format!(
                        "comment opened at line {line} column {col} is never closed"
                    ));
                }
            }
            '\'' | '"' | '`' => {
                seen_code = true;
                scan.bump();
                if !scan.skip_quoted(c) {
                    return Err(format!(
                        "quote {c} opened at line {line} column {col} is never closed"
                    ));
                }
            }
            '(' => {
                seen_code = true;
                open.push((line, col));
                scan.bump();
            }
            ')' => {
                seen_code = true;
                if open.pop().is_none() {
                    return Err(format!(
                        "')' at line {line} column {col} has no matching '('"
                    ));
                }
                scan.bump();
            }
            c if c.is_alphabetic() || c == '_' => {
                seen_code = true;
                let word = scan.take_word();
                if first_word.is_none() {
                    first_word = Some((word, line, col));
                }
            }
            c if c.is_whitespace() => {
                scan.bump();
            }
            _ => {
                seen_code = true;
                scan.bump();
            }
        }
    }

    let Some((word, line, col)) = first_word else {
        return Err(if seen_code {
            "the Live SQL has no statement (no SELECT or WITH)".to_owned()
        } else {
            "the Live SQL is empty (nothing but whitespace and comments)".to_owned()
        });
    };
    let upper = word.to_ascii_uppercase();
    if upper != "SELECT" && upper != "WITH" {
        return Err(format!(
            "the Live SQL must start with SELECT or WITH, found '{word}' at line {line} column {col}"
        ));
    }
    if let Some((line, col)) = open.pop() {
        return Err(format!("'(' at line {line} column {col} is never closed"));
    }
    Ok(())
}

struct Scanner<'a> {
    rest: &'a str,
    line: usize,
    col: usize,
}

impl<'a> Scanner<'a> {
    fn new(s: &'a str) -> Self {
        Scanner {
            rest: s,
            line: 1,
            col: 1,
        }
    }

    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    fn peek2(&self) -> Option<char> {
        let mut it = self.rest.chars();
        it.next();
        it.next()
    }

    fn pos(&self) -> (usize, usize) {
        (self.line, self.col)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.rest.chars().next()?;
        self.rest = &self.rest[c.len_utf8()..];
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.bump() {
            if c == '\n' {
                break;
            }
        }
    }

    /// After `/*`: skip to the matching `*/`; false when the input ends first.
    fn skip_block_comment(&mut self) -> bool {
        while let Some(c) = self.bump() {
            if c == '*' && self.peek() == Some('/') {
                self.bump();
                return true;
            }
        }
        false
    }

    /// After an opening quote: skip to the closing one (backslash escapes and doubled
    /// quotes allowed); false when the input ends first.
    fn skip_quoted(&mut self, quote: char) -> bool {
        while let Some(c) = self.bump() {
            if c == '\\' {
                self.bump();
            } else if c == quote {
                if self.peek() == Some(quote) {
                    self.bump();
                } else {
                    return true;
                }
            }
        }
        false
    }

    fn take_word(&mut self) -> String {
        let mut w = String::new();
        while let Some(c) = self.peek() {
            if c.is_alphanumeric() || c == '_' {
                w.push(c);
                self.bump();
            } else {
                break;
            }
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_select_and_with() {
        assert_eq!(check("SELECT 1"), Ok(()));
        assert_eq!(
            check("  -- leading comment\n/* block */ select a, (b + 1) FROM t"),
            Ok(())
        );
        assert_eq!(check("WITH x AS (SELECT 1) SELECT * FROM x"), Ok(()));
        assert_eq!(check("(SELECT 1)"), Ok(()));
        assert_eq!(
            check("SELECT 'it''s', \"q\\\"x\", `c` FROM t -- (unbalanced in comment"),
            Ok(())
        );
    }

    #[test]
    fn rejects_empty_and_comment_only() {
        assert_eq!(
            check("  \n -- nothing here\n /* nor here */ "),
            Err("the Live SQL is empty (nothing but whitespace and comments)".to_owned())
        );
        assert_eq!(
            check(""),
            Err("the Live SQL is empty (nothing but whitespace and comments)".to_owned())
        );
    }

    #[test]
    fn rejects_other_statements_with_position() {
        assert_eq!(
            check("\n  DELETE FROM t"),
            Err(
                "the Live SQL must start with SELECT or WITH, found 'DELETE' at line 2 column 3"
                    .to_owned()
            )
        );
    }

    #[test]
    fn rejects_unbalanced_parentheses_and_quotes() {
        assert_eq!(
            check("SELECT (a"),
            Err("'(' at line 1 column 8 is never closed".to_owned())
        );
        assert_eq!(
            check("SELECT a)\n"),
            Err("')' at line 1 column 9 has no matching '('".to_owned())
        );
        assert_eq!(
            check("SELECT 'abc"),
            Err("quote ' opened at line 1 column 8 is never closed".to_owned())
        );
        assert_eq!(
            check("SELECT 1 /* open"),
            Err("comment opened at line 1 column 10 is never closed".to_owned())
        );
    }

    proptest::proptest! {
        #[test]
        fn balanced_selects_always_pass(depth in 0usize..20, body in "[a-z0-9 ,+*]{0,40}") {
            let sql = format!("SELECT {}{}{}", "(".repeat(depth), body, ")".repeat(depth));
            proptest::prop_assert_eq!(check(&sql), Ok(()));
        }

        #[test]
        fn never_panics(input in "\\PC{0,200}") {
            let _ = check(&input);
        }
    }
}
