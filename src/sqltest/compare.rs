//! Comparing an output table with its expected file: missing and extra columns, and
//! missing, extra and changed rows, with the first few differences.
//!
//! Values are compared as the engine prints them (the expected file is read by the same
//! engine as text), NULL apart from the empty string. Rows are matched by a key: the
//! case's `key`, or else the first expected column when its values are unique on both
//! sides; without one, rows are compared as a multiset, so a changed row shows as one
//! missing and one extra row. Row order never matters.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// One value: `None` is NULL.
pub type Cell = Option<String>;

/// How many differences a report shows per table.
pub(crate) const SHOWN: usize = 5;

/// A table as the engine returned it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub(crate) struct Table {
    pub columns: Vec<String>,
    #[serde(default)]
    pub types: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// One column whose value differs in a matched row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The column.
    pub column: String,
    /// The expected value.
    pub expected: Cell,
    /// The value the SQL produced.
    pub actual: Cell,
}

/// One row-level difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RowDiff {
    /// An expected row the SQL did not produce.
    Missing {
        /// Column and value, in the expected file's order.
        row: Vec<(String, Cell)>,
    },
    /// A row the SQL produced that was not expected.
    Extra {
        /// Column and value.
        row: Vec<(String, Cell)>,
    },
    /// A row matched by its key, with different values.
    Changed {
        /// The key columns and values.
        key: Vec<(String, Cell)>,
        /// What differs.
        changes: Vec<Change>,
    },
}

/// How one output table differs from what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableDiff {
    /// The table.
    pub table: String,
    /// Expected columns the output lacks.
    pub missing_columns: Vec<String>,
    /// Output columns not in the expected file.
    pub extra_columns: Vec<String>,
    /// The columns rows were matched by (empty: compared as a multiset).
    pub key: Vec<String>,
    /// Expected rows not produced.
    pub missing_rows: usize,
    /// Produced rows not expected.
    pub extra_rows: usize,
    /// Rows matched by key with different values.
    pub changed_rows: usize,
    /// The first few differences.
    pub examples: Vec<RowDiff>,
}

impl TableDiff {
    /// What differs, in counts: `1 missing row, 2 changed rows (rows matched by id)`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        for (which, columns) in [
            ("missing", &self.missing_columns),
            ("extra", &self.extra_columns),
        ] {
            if !columns.is_empty() {
                let noun = if columns.len() == 1 {
                    "column"
                } else {
                    "columns"
                };
                parts.push(format!("{which} {noun} {}", columns.join(", ")));
            }
        }
        for (n, what) in [
            (self.missing_rows, "missing row"),
            (self.extra_rows, "extra row"),
            (self.changed_rows, "changed row"),
        ] {
            match n {
                0 => {}
                1 => parts.push(format!("1 {what}")),
                n => parts.push(format!("{n} {what}s")),
            }
        }
        let by = if self.key.is_empty() {
            String::new()
        } else {
            format!(" (rows matched by {})", self.key.join(", "))
        };
        format!("{}{by}", parts.join(", "))
    }
}

/// The rows of `rows` that no row of `other` matches, each row of `other` matching one
/// equal row at most (a multiset difference), in `rows`' order.
fn unmatched(rows: &[Vec<Cell>], other: &[Vec<Cell>]) -> Vec<Vec<Cell>> {
    let mut counts: HashMap<&Vec<Cell>, usize> = HashMap::new();
    for r in other {
        *counts.entry(r).or_default() += 1;
    }
    rows.iter()
        .filter(|r| match counts.get_mut(r) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => true,
        })
        .cloned()
        .collect()
}

fn unique(rows: &[Vec<Cell>], column: usize) -> bool {
    let mut seen = std::collections::HashSet::new();
    rows.iter().all(|r| seen.insert(&r[column]))
}

/// Compare `actual` with `expected`. `None` when they hold the same rows.
///
/// # Errors
/// A key column that is not a column of both tables, as a message for the user.
pub(crate) fn compare(
    table: &str,
    expected: &Table,
    actual: &Table,
    key: &[String],
) -> Result<Option<TableDiff>, String> {
    let index_in = |t: &Table, c: &str| t.columns.iter().position(|x| x == c);
    let common: Vec<(String, usize, usize)> = expected
        .columns
        .iter()
        .enumerate()
        .filter_map(|(e, c)| index_in(actual, c).map(|a| (c.clone(), e, a)))
        .collect();
    let only_in = |t: &Table, other: &Table| -> Vec<String> {
        t.columns
            .iter()
            .filter(|c| index_in(other, c).is_none())
            .cloned()
            .collect()
    };
    let missing_columns = only_in(expected, actual);
    let extra_columns = only_in(actual, expected);
    let names: Vec<String> = common.iter().map(|(c, _, _)| c.clone()).collect();
    let project =
        |rows: &[Vec<Cell>], side: fn(&(String, usize, usize)) -> usize| -> Vec<Vec<Cell>> {
            rows.iter()
                .map(|r| {
                    common
                        .iter()
                        .map(|c| r.get(side(c)).cloned().flatten())
                        .collect()
                })
                .collect()
        };
    let exp = project(&expected.rows, |c| c.1);
    let act = project(&actual.rows, |c| c.2);

    let key_idx: Vec<usize> = if key.is_empty() {
        match names.first() {
            Some(first)
                if expected.columns.first() == Some(first)
                    && unique(&exp, 0)
                    && unique(&act, 0) =>
            {
                vec![0]
            }
            _ => Vec::new(),
        }
    } else {
        let mut idx = Vec::new();
        for k in key {
            match names.iter().position(|n| n == k) {
                Some(i) => idx.push(i),
                None => {
                    return Err(format!(
                        "key column `{k}` is not a column of both the expected `{table}` and the output: name columns of the expected file in the case's `key`"
                    ));
                }
            }
        }
        idx
    };

    let named = |row: &[Cell]| -> Vec<(String, Cell)> {
        names.iter().cloned().zip(row.iter().cloned()).collect()
    };
    let mut diff = TableDiff {
        table: table.to_owned(),
        missing_columns,
        extra_columns,
        key: key_idx.iter().map(|&i| names[i].clone()).collect(),
        missing_rows: 0,
        extra_rows: 0,
        changed_rows: 0,
        examples: Vec::new(),
    };
    let mut missing = Vec::new();
    let mut extra = Vec::new();
    let mut changed = Vec::new();
    if key_idx.is_empty() {
        missing = unmatched(&exp, &act);
        extra = unmatched(&act, &exp);
    } else {
        let key_of =
            |r: &Vec<Cell>| -> Vec<Cell> { key_idx.iter().map(|&i| r[i].clone()).collect() };
        let mut by_key: BTreeMap<Vec<Cell>, Vec<&Vec<Cell>>> = BTreeMap::new();
        for r in &act {
            by_key.entry(key_of(r)).or_default().push(r);
        }
        let mut matched: HashMap<Vec<Cell>, usize> = HashMap::new();
        for r in &exp {
            let k = key_of(r);
            let taken = matched.entry(k.clone()).or_default();
            match by_key.get(&k).and_then(|rows| rows.get(*taken)) {
                Some(a) => {
                    *taken += 1;
                    if *a != r {
                        let changes = names
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| r[*i] != a[*i])
                            .map(|(i, c)| Change {
                                column: c.clone(),
                                expected: r[i].clone(),
                                actual: a[i].clone(),
                            })
                            .collect();
                        changed.push((k, changes));
                    }
                }
                None => missing.push(r.clone()),
            }
        }
        for (k, rows) in &by_key {
            let taken = matched.get(k).copied().unwrap_or(0);
            extra.extend(rows.iter().skip(taken).map(|r| (*r).clone()));
        }
        // Extra rows in output order.
        let order: HashMap<&Vec<Cell>, usize> =
            act.iter().enumerate().map(|(i, r)| (r, i)).collect();
        extra.sort_by_key(|r| order.get(r).copied().unwrap_or(usize::MAX));
    }
    diff.missing_rows = missing.len();
    diff.extra_rows = extra.len();
    diff.changed_rows = changed.len();
    let key_names = diff.key.clone();
    diff.examples
        .extend(changed.into_iter().map(|(k, changes)| RowDiff::Changed {
            key: key_names.iter().cloned().zip(k).collect(),
            changes,
        }));
    diff.examples
        .extend(missing.iter().map(|r| RowDiff::Missing { row: named(r) }));
    diff.examples
        .extend(extra.iter().map(|r| RowDiff::Extra { row: named(r) }));
    diff.examples.truncate(SHOWN);
    let same = diff.missing_columns.is_empty()
        && diff.extra_columns.is_empty()
        && diff.missing_rows == 0
        && diff.extra_rows == 0
        && diff.changed_rows == 0;
    Ok((!same).then_some(diff))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(columns: &[&str], rows: &[&[Option<&str>]]) -> Table {
        Table {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            types: Vec::new(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|c| c.map(str::to_owned)).collect())
                .collect(),
        }
    }

    #[test]
    fn equal_tables_in_any_order_have_no_diff() {
        let e = table(&["id", "v"], &[&[Some("1"), Some("a")], &[Some("2"), None]]);
        let a = table(&["v", "id"], &[&[None, Some("2")], &[Some("a"), Some("1")]]);
        assert_eq!(compare("output", &e, &a, &[]).unwrap(), None);
    }

    #[test]
    fn first_unique_column_matches_rows() {
        let e = table(
            &["id", "status", "gone"],
            &[
                &[Some("1"), Some("Paid"), Some("x")],
                &[Some("2"), Some("New"), Some("y")],
                &[Some("3"), Some("Open"), None],
            ],
        );
        let a = table(
            &["id", "status", "new"],
            &[
                &[Some("2"), Some("Unknown"), None],
                &[Some("1"), Some("Paid"), None],
                &[Some("4"), Some(""), None],
            ],
        );
        let d = compare("output", &e, &a, &[]).unwrap().unwrap();
        assert_eq!(d.missing_columns, ["gone"]);
        assert_eq!(d.extra_columns, ["new"]);
        assert_eq!(d.key, ["id"]);
        assert_eq!((d.missing_rows, d.extra_rows, d.changed_rows), (1, 1, 1));
        assert_eq!(
            d.examples[0],
            RowDiff::Changed {
                key: vec![("id".into(), Some("2".into()))],
                changes: vec![Change {
                    column: "status".into(),
                    expected: Some("New".into()),
                    actual: Some("Unknown".into())
                }]
            }
        );
        assert_eq!(
            d.summary(),
            "missing column gone, extra column new, 1 missing row, 1 extra row, 1 changed row (rows matched by id)"
        );
    }

    #[test]
    fn without_a_unique_key_rows_are_a_multiset() {
        let e = table(
            &["k", "v"],
            &[&[Some("a"), Some("1")], &[Some("a"), Some("1")]],
        );
        let a = table(
            &["k", "v"],
            &[&[Some("a"), Some("1")], &[Some("a"), Some("")]],
        );
        let d = compare("t", &e, &a, &[]).unwrap().unwrap();
        assert!(d.key.is_empty());
        assert_eq!((d.missing_rows, d.extra_rows, d.changed_rows), (1, 1, 0));
        assert_eq!(
            d.examples,
            [
                RowDiff::Missing {
                    row: vec![
                        ("k".into(), Some("a".into())),
                        ("v".into(), Some("1".into()))
                    ]
                },
                RowDiff::Extra {
                    row: vec![
                        ("k".into(), Some("a".into())),
                        ("v".into(), Some("".into()))
                    ]
                },
            ]
        );
    }

    #[test]
    fn an_explicit_key_must_be_a_common_column() {
        let e = table(&["a"], &[]);
        let err = compare("t", &e, &e, &["b".to_owned()]).unwrap_err();
        assert!(
            err.starts_with("key column `b` is not a column of both"),
            "{err}"
        );
        let e = table(&["a", "b"], &[&[Some("1"), Some("x")]]);
        let a = table(&["a", "b"], &[&[Some("2"), Some("x")]]);
        let d = compare("t", &e, &a, &["b".to_owned()]).unwrap().unwrap();
        assert_eq!((d.changed_rows, d.key.clone()), (1, vec!["b".to_owned()]));
    }
}
