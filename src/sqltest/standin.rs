//! Preparing a script for a case: split into statements, calls that reach the network
//! replaced by their local stand-ins (or refused), and a map from each rewritten statement
//! back to the SQL file, so engine errors point at what the user wrote.

use std::ops::Range;

use super::case::TableFile;
use crate::sql::{self, ExternalCall};

/// One statement as sent to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement {
    /// The text sent (stand-ins replaced).
    pub text: String,
    /// Where the statement starts in the script.
    pub start: usize,
    /// Replacements, in order: (range in `text`, range in the original statement).
    edits: Vec<(Range<usize>, Range<usize>)>,
}

impl Statement {
    /// The script offset of byte `pos` of [`Self::text`]. A position inside a replacement
    /// maps to the start of the call it replaced.
    pub(crate) fn original(&self, pos: usize) -> usize {
        let mut shift: isize = 0;
        for (new, old) in &self.edits {
            if pos < new.start {
                break;
            }
            if pos < new.end {
                return self.start + old.start;
            }
            shift += old.len() as isize - new.len() as isize;
        }
        self.start + (pos as isize + shift).max(0) as usize
    }
}

/// A call refused because no stand-in names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    /// The function as written.
    pub function: String,
    /// The call's text.
    pub call: String,
    /// Where the call starts in the script.
    pub offset: usize,
}

/// A script prepared for one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prepared {
    /// The statements, in order.
    pub statements: Vec<Statement>,
    /// Tables to load for the stand-ins used.
    pub stand_in_tables: Vec<TableFile>,
    /// Calls with no stand-in.
    pub refused: Vec<Refused>,
    /// Stand-in keys that match no call of the script.
    pub unused: Vec<String>,
}

/// Token texts of `text`, for comparing calls whatever their spacing and comments.
fn token_texts(text: &str) -> Vec<&str> {
    sql::tokens(text).iter().map(|t| t.text(text)).collect()
}

fn matches(key: &str, call: &ExternalCall, call_text: &str) -> bool {
    let key = key.trim();
    if sql::is_network_function(key) {
        key.eq_ignore_ascii_case(&call.name)
    } else {
        token_texts(key) == token_texts(call_text)
    }
}

/// Split `script` and replace the network calls named by `stand_ins` (call text or function
/// name → file) with tables named `__ferry_stand_in_<n>`.
pub(crate) fn prepare(script: &str, stand_ins: &[(String, TableFile)]) -> Prepared {
    let mut prepared = Prepared {
        statements: Vec::new(),
        stand_in_tables: Vec::new(),
        refused: Vec::new(),
        unused: Vec::new(),
    };
    let mut used = vec![false; stand_ins.len()];
    for range in sql::statements(script) {
        let original = &script[range.clone()];
        let mut text = String::with_capacity(original.len());
        let mut edits = Vec::new();
        let mut copied = 0;
        for call in sql::external_calls(original) {
            let call_text = &original[call.span.clone()];
            // A full call wins over a function name.
            let found = stand_ins
                .iter()
                .position(|(k, _)| {
                    !sql::is_network_function(k.trim()) && matches(k, &call, call_text)
                })
                .or_else(|| {
                    stand_ins
                        .iter()
                        .position(|(k, _)| matches(k, &call, call_text))
                });
            let Some(index) = found else {
                prepared.refused.push(Refused {
                    function: call.name.clone(),
                    call: call_text.to_owned(),
                    offset: range.start + call.span.start,
                });
                continue;
            };
            let table = format!("__ferry_stand_in_{index}");
            if !used[index] {
                used[index] = true;
                let mut file = stand_ins[index].1.clone();
                file.table = table.clone();
                prepared.stand_in_tables.push(file);
            }
            text.push_str(&original[copied..call.span.start]);
            let new_start = text.len();
            text.push_str(&table);
            edits.push((new_start..text.len(), call.span.clone()));
            copied = call.span.end;
        }
        text.push_str(&original[copied..]);
        prepared.statements.push(Statement {
            text,
            start: range.start,
            edits,
        });
    }
    prepared.unused = stand_ins
        .iter()
        .zip(used)
        .filter(|(_, used)| !used)
        .map(|((k, _), _)| k.clone())
        .collect();
    prepared
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Location;

    fn file(path: &str) -> TableFile {
        TableFile {
            table: String::new(),
            path: path.to_owned(),
            at: Location {
                path: "m.yaml".into(),
                line: 1,
                column: 1,
            },
            bytes: b"a\n1\n".to_vec(),
        }
    }

    #[test]
    fn replaces_named_calls_and_maps_positions_back() {
        let script = "-- head\nSELECT c.id, o.x\nFROM postgresql(crm,  table = 'customers') AS c\nJOIN url('http://x/o.csv', CSV) AS o ON o.id = c.id;\nSELECT s3x FROM s3('https://b/k.csv', NOSIGN)";
        let stand_ins = vec![
            (
                "postgresql(crm, table='customers')".to_owned(),
                file("c.csv"),
            ),
            ("url".to_owned(), file("o.csv")),
            ("mysql".to_owned(), file("unused.csv")),
        ];
        let p = prepare(script, &stand_ins);
        assert_eq!(
            p.statements[0].text,
            "SELECT c.id, o.x\nFROM __ferry_stand_in_0 AS c\nJOIN __ferry_stand_in_1 AS o ON o.id = c.id"
        );
        assert_eq!(
            p.stand_in_tables
                .iter()
                .map(|t| (t.table.as_str(), t.path.as_str()))
                .collect::<Vec<_>>(),
            [
                ("__ferry_stand_in_0", "c.csv"),
                ("__ferry_stand_in_1", "o.csv")
            ]
        );
        assert_eq!(p.unused, ["mysql"]);
        assert_eq!(p.refused.len(), 1);
        assert_eq!(p.refused[0].function, "s3");
        assert_eq!(&script[p.refused[0].offset..p.refused[0].offset + 3], "s3(");

        // `AS o` after the second replacement maps to `AS o` in the script.
        let st = &p.statements[0];
        let new = st.text.find("AS o").unwrap();
        let old = script.find("AS o").unwrap();
        assert_eq!(st.original(new), old);
        // Inside a replacement: the start of the call it replaced.
        let inside = st.text.find("__ferry_stand_in_1").unwrap() + 3;
        assert_eq!(st.original(inside), script.find("url(").unwrap());
        // Before any replacement: unchanged offsets.
        assert_eq!(st.original(0), script.find("SELECT").unwrap());
    }
}
