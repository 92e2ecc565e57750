//! YAML plumbing shared by the configuration and manifest loaders: splitting a stream into
//! documents while keeping line numbers, a map from field paths to source locations, and
//! turning `serde-saphyr` errors into [`Diagnostic`]s.
//!
//! Field paths are written `spec.references.filterGroups[0]`: mapping keys joined with `.`,
//! sequence indexes in brackets, `""` for the document root. This module must not know any
//! manifest or configuration type.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde_saphyr::granit_parser::{Event, Parser};
use serde_saphyr::{MessageFormatter, UserMessageFormatter};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::Location;

mod events;

/// One document of a multi-document stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chunk<'a> {
    /// The document's text, starting at the beginning of a line.
    pub text: &'a str,
    /// How many lines of the stream come before it.
    pub line_offset: u64,
}

fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r']))
}

fn is_blank_line(line: &str) -> bool {
    let rest = if is_marker(line, "---") || is_marker(line, "...") {
        &line[3..]
    } else {
        line
    };
    let rest = rest.trim();
    rest.is_empty() || rest.starts_with('#') || line.starts_with('%')
}

/// Split a YAML stream into its documents, dropping documents with no content (only
/// comments, markers or blank lines).
///
/// A line starting with `---` or `...` followed by a space or the end of the line is
/// always a document marker in YAML, even inside block scalars, so a line-based split is
/// exact. Directive lines (`%YAML`) directly before `---` stay with their document.
pub(crate) fn split_documents(text: &str) -> Vec<Chunk<'_>> {
    let mut starts = Vec::new(); // (byte offset, line index) of each line
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        starts.push((offset, index));
        offset += line.len();
    }
    let line_at = |i: usize| -> &str {
        let begin = starts[i].0;
        let end = starts.get(i + 1).map_or(text.len(), |s| s.0);
        text[begin..end].trim_end_matches(['\n', '\r'])
    };

    let mut boundaries = vec![0usize];
    for i in 0..starts.len() {
        let current = *boundaries.last().unwrap_or(&0);
        let line = line_at(i);
        if is_marker(line, "---") {
            let mut s = i;
            while s > current && line_at(s - 1).starts_with('%') {
                s -= 1;
            }
            if s > current {
                boundaries.push(s);
            }
        } else if is_marker(line, "...") && i + 1 < starts.len() {
            boundaries.push(i + 1);
        }
    }

    let mut chunks = Vec::new();
    for (n, &first) in boundaries.iter().enumerate() {
        let last = boundaries.get(n + 1).copied().unwrap_or(starts.len());
        if first >= last || (first..last).all(|i| is_blank_line(line_at(i))) {
            continue;
        }
        let begin = starts[first].0;
        let end = starts.get(last).map_or(text.len(), |s| s.0);
        chunks.push(Chunk {
            text: &text[begin..end],
            line_offset: first as u64,
        });
    }
    chunks
}

/// What kind of node a path leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeKind {
    /// A scalar (string, number, boolean, null).
    Scalar,
    /// A mapping.
    Mapping,
    /// A sequence.
    Sequence,
    /// An alias to an anchored node.
    Alias,
}

/// Where one node is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Node {
    /// 1-based line within the document.
    pub line: u64,
    /// 1-based column (characters).
    pub column: u64,
    /// Byte range of the node's source text within the document.
    pub start: usize,
    /// End of that range (exclusive).
    pub end: usize,
    /// Node kind.
    pub kind: NodeKind,
}

/// Field paths of one document mapped to where their values (and keys) are written.
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceMap {
    values: HashMap<String, Node>,
    /// Each key's path, line, column and byte offset.
    keys: Vec<(String, u64, u64, usize)>,
    root_scalars: Vec<(String, String)>,
    complete: bool,
    /// The document's events for a typed parse, unless it holds something only
    /// serde-saphyr reads (see [`events`]).
    events: Option<Vec<events::Ev>>,
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, next: usize },
    ComplexKey { depth: usize },
}

fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

impl SourceMap {
    /// Map every node of a single YAML document. Best effort: on a syntax error the map
    /// holds what came before it (the typed parse reports the error itself). Aliases are
    /// recorded where they are written and not expanded.
    pub(crate) fn build(text: &str) -> SourceMap {
        let mut map = SourceMap::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut recorder = events::Recorder::new();
        for item in Parser::new_from_str(text) {
            let Ok((event, span)) = item else {
                return map;
            };
            recorder.record(&event);
            let kind = match event {
                Event::Scalar(..) => NodeKind::Scalar,
                Event::MappingStart(..) => NodeKind::Mapping,
                Event::SequenceStart(..) => NodeKind::Sequence,
                Event::Alias(..) => NodeKind::Alias,
                Event::MappingEnd | Event::SequenceEnd => {
                    // A collection's node spans up to its end, so it can be cut out whole.
                    if let Some(Frame::Map { path, .. } | Frame::Seq { path, .. }) = stack.last()
                        && let (Some(node), Some(range)) =
                            (map.values.get_mut(path.as_str()), span.byte_range())
                    {
                        node.end = node.end.max(range.end);
                    }
                    match stack.last_mut() {
                        Some(Frame::ComplexKey { depth }) if *depth > 1 => *depth -= 1,
                        Some(Frame::ComplexKey { .. }) => {
                            stack.pop();
                            if let Some(Frame::Map { key, .. }) = stack.last_mut() {
                                *key = Some("?".to_owned());
                            }
                        }
                        _ => {
                            stack.pop();
                        }
                    }
                    continue;
                }
                _ => continue,
            };
            let line = span.start.line() as u64;
            let column = span.start.col() as u64 + 1;
            let path = match stack.last_mut() {
                None => String::new(),
                Some(Frame::ComplexKey { depth }) => {
                    if kind == NodeKind::Mapping || kind == NodeKind::Sequence {
                        *depth += 1;
                    }
                    continue;
                }
                Some(Frame::Seq { path, next }) => {
                    *next += 1;
                    format!("{path}[{}]", *next - 1)
                }
                Some(Frame::Map { path, key }) => match key.take() {
                    Some(key) => join_key(path, &key),
                    None => {
                        match (&event, kind) {
                            (Event::Scalar(value, ..), _) => {
                                let key_path = join_key(path, value);
                                let offset = span.byte_range().map_or(0, |r| r.start);
                                map.keys.push((key_path, line, column, offset));
                                *key = Some(value.to_string());
                            }
                            (_, NodeKind::Mapping | NodeKind::Sequence) => {
                                recorder.give_up();
                                stack.push(Frame::ComplexKey { depth: 1 });
                            }
                            _ => *key = Some("?".to_owned()),
                        }
                        continue;
                    }
                },
            };
            let (start, end) = span.byte_range().map_or((0, 0), |r| (r.start, r.end));
            if let (1, Event::Scalar(value, ..)) = (stack.len(), &event)
                && !path.contains(['.', '['])
            {
                map.root_scalars.push((path.clone(), value.to_string()));
            }
            let repeated = map.values.insert(
                path.clone(),
                Node {
                    line,
                    column,
                    start,
                    end,
                    kind,
                },
            );
            if repeated.is_some() {
                // A key written twice (or `a.b` beside `a: {b}`): serde-saphyr decides.
                recorder.give_up();
            }
            match kind {
                NodeKind::Mapping => stack.push(Frame::Map { path, key: None }),
                NodeKind::Sequence => stack.push(Frame::Seq { path, next: 0 }),
                _ => {}
            }
        }
        map.complete = true;
        map.events = recorder.finish();
        map
    }

    /// The document as a `T`, read from the events this map kept; `None` when the
    /// document holds something only serde-saphyr reads, or does not read as a `T`: the
    /// caller then parses the text with serde-saphyr, which also words every error.
    pub(crate) fn typed<T: DeserializeOwned>(&self) -> Option<T> {
        events::typed(self.events.as_deref()?)
    }

    /// Whether the whole document was read without a syntax error.
    pub(crate) fn complete(&self) -> bool {
        self.complete
    }

    /// The value of a scalar written directly under the root mapping (`kind`).
    pub(crate) fn root_scalar(&self, key: &str) -> Option<&str> {
        self.root_scalars
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The node at `path`.
    pub(crate) fn get(&self, path: &str) -> Option<&Node> {
        self.values.get(path)
    }

    /// Every mapped path with its node, in no particular order.
    pub(crate) fn nodes(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The path of the key written at `line:column`, if any.
    fn key_at(&self, line: u64, column: u64) -> Option<&str> {
        self.keys
            .iter()
            .find(|(_, l, c, _)| *l == line && *c == column)
            .map(|(p, ..)| p.as_str())
    }

    /// `text` (the document this map was built from) with the key written at
    /// `line:column` and its value blanked out: every byte but line breaks becomes a
    /// space, so lines and columns stay where they were. A parse that stopped at an
    /// unknown field can then go on and report the next one.
    pub(crate) fn without_key_at(&self, text: &str, line: u64, column: u64) -> Option<String> {
        let (path, _, _, start) = self
            .keys
            .iter()
            .find(|(_, l, c, _)| *l == line && *c == column)?;
        let end = self.values.get(path.as_str())?.end;
        let cut = text.get(*start..end)?;
        let mut out = String::with_capacity(text.len());
        out.push_str(&text[..*start]);
        out.extend(
            cut.chars()
                .map(|c| if c == '\n' || c == '\r' { c } else { ' ' }),
        );
        out.push_str(&text[end..]);
        Some(out)
    }

    /// The path of the node written at `line:column`, preferring the innermost (longest).
    fn value_at(&self, line: u64, column: u64, mapping_only: bool) -> Option<&str> {
        self.values
            .iter()
            .filter(|(_, n)| {
                n.line == line
                    && n.column == column
                    && (!mapping_only || n.kind == NodeKind::Mapping)
            })
            .map(|(p, _)| p.as_str())
            .max_by_key(|p| p.len())
    }
}

/// Options for typed parses: default budgets (depth 64, node and size limits) and no
/// snippet art in messages.
pub(crate) fn options() -> serde_saphyr::Options {
    serde_saphyr::options! { with_snippet: false }
}

/// Whether a typed parse stopped at a field the type does not have.
fn is_unknown_field(err: &serde_saphyr::Error) -> bool {
    UserMessageFormatter
        .format_message(err.without_snippet())
        .starts_with("unknown field")
}

/// How many unknown fields of one document are reported before the rest are left unsaid.
const MAX_UNKNOWN_FIELDS: usize = 20;

/// The diagnostics of a typed parse of `text` that failed with `first`: that error and,
/// while errors are unknown fields, the next ones (up to [`MAX_UNKNOWN_FIELDS`]). Each
/// unknown field is cut out of the text and `reparse` goes on from there, so a file with
/// three typos gets three diagnostics, not one per run.
pub(crate) fn diagnose_all(
    first: serde_saphyr::Error,
    text: &str,
    file: &str,
    line_offset: u64,
    map: &SourceMap,
    reparse: impl Fn(&str) -> Option<serde_saphyr::Error>,
) -> Diagnostics {
    let mut out = Diagnostics::new();
    let mut err = first;
    let mut rest: Option<String> = None;
    while out.len() < MAX_UNKNOWN_FIELDS {
        out.push(diagnose(&err, file, line_offset, Some(map)));
        let Some(location) = err.location().filter(|_| is_unknown_field(&err)) else {
            break;
        };
        let current = rest.as_deref().unwrap_or(text);
        let Some(cut) = map.without_key_at(current, location.line(), location.column()) else {
            break;
        };
        match reparse(&cut) {
            Some(next) => err = next,
            None => break,
        }
        rest = Some(cut);
    }
    out
}

/// Turn a deserialization error into a diagnostic in `file`, shifting lines by
/// `line_offset` (the document's place in its stream). With `map`, the message names the
/// field it is about and ends with what to do.
pub(crate) fn diagnose(
    err: &serde_saphyr::Error,
    file: &str,
    line_offset: u64,
    map: Option<&SourceMap>,
) -> Diagnostic {
    let err = err.without_snippet();
    let raw = UserMessageFormatter
        .format_message(err)
        .replace(['\n', '\r'], " ");
    let (line, column) = err.location().map_or((0, 0), |l| (l.line(), l.column()));
    let field = map.and_then(|m| {
        if raw.starts_with("unknown field") {
            m.key_at(line, column).map(|p| {
                p.rsplit_once('.')
                    .map_or("", |(parent, _)| parent)
                    .to_owned()
            })
        } else if raw.starts_with("missing field") {
            m.value_at(line, column, true).map(str::to_owned)
        } else {
            m.value_at(line, column, false)
                .or_else(|| m.key_at(line, column))
                .map(str::to_owned)
        }
    });
    let hint = if raw.starts_with("unknown field") {
        "; remove it or fix its spelling (`ferry schema` lists every field)"
    } else if raw.starts_with("missing field") {
        "; add it"
    } else if raw.starts_with("duplicate mapping key") {
        "; keep only one"
    } else if raw.starts_with("expected string scalar") {
        "; write a single string value (quote it if needed)"
    } else {
        ""
    };
    let raw = raw.replace("expected string scalar", "expected a string");
    let message = match field {
        Some(f) if raw.starts_with("unknown field") || raw.starts_with("missing field") => {
            let place = if f.is_empty() {
                "at the top level".to_owned()
            } else {
                format!("in {f}")
            };
            format!("{raw} {place}{hint}")
        }
        Some(f) if !f.is_empty() => format!("{f}: {raw}{hint}"),
        _ => format!("{raw}{hint}"),
    };
    let line = if line == 0 { 0 } else { line + line_offset };
    Diagnostic::new(
        Location {
            path: file.to_owned(),
            line,
            column,
        },
        message,
    )
}

/// Decode `bytes` as UTF-8 (dropping a byte-order mark), or say where it is not.
pub(crate) fn decode<'a>(bytes: &'a [u8], file: &str) -> Result<&'a str, Diagnostic> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let valid = std::str::from_utf8(valid).unwrap_or_default();
        let line = valid.matches('\n').count() as u64 + 1;
        let column = valid.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
        Diagnostic::new(
            Location {
                path: file.to_owned(),
                line,
                column,
            },
            "the file is not valid UTF-8; save it as UTF-8 text",
        )
    })
}

/// The 1-based line and column of byte `offset` within `text`, counting characters.
pub(crate) fn line_column(text: &str, offset: usize) -> (u64, u64) {
    let offset = offset.min(text.len());
    let mut offset = offset;
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() as u64 + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_documents_and_keeps_line_offsets() {
        let text =
            "# header\na: 1\n---\nb: 2\n--- # empty\n---\n%YAML 1.2\n---\nc: |\n  x\n...\nd: 4\n";
        let chunks = split_documents(text);
        let got: Vec<_> = chunks.iter().map(|c| (c.line_offset, c.text)).collect();
        assert_eq!(
            got,
            [
                (0, "# header\na: 1\n"),
                (2, "---\nb: 2\n"),
                (6, "%YAML 1.2\n---\nc: |\n  x\n...\n"),
                (11, "d: 4\n"),
            ]
        );
        assert!(split_documents("").is_empty());
        assert!(split_documents("# only a comment\n---\n").is_empty());
        assert_eq!(
            split_documents("---value: 1\n").len(),
            1,
            "`---value` is not a marker"
        );
    }

    #[test]
    fn maps_paths_to_locations() {
        let text = "kind: X\nspec:\n  name: \"a ${b}\"\n  list:\n    - one\n    - {k: v}\n  ? [complex]\n  : ignored\n  after: 1\n";
        let map = SourceMap::build(text);
        let at = |p: &str| map.get(p).map(|n| (n.line, n.column));
        assert_eq!(at(""), Some((1, 1)));
        assert_eq!(at("kind"), Some((1, 7)));
        assert_eq!(at("spec.name"), Some((3, 9)));
        assert_eq!(at("spec.list[0]"), Some((5, 7)));
        assert_eq!(at("spec.list[1].k"), Some((6, 11)));
        assert_eq!(at("spec.after"), Some((9, 10)));
        let name = map.get("spec.name").unwrap();
        assert_eq!(&text[name.start..name.end], "\"a ${b}\"");
        assert!(map.complete());
        assert_eq!(map.root_scalar("kind"), Some("X"));
        assert_eq!(map.root_scalar("spec"), None);
        assert!(!SourceMap::build("a: [1\n").complete());
    }

    #[test]
    fn diagnoses_with_field_path_and_hint() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        #[allow(dead_code)]
        struct Spec {
            name: String,
            api_name: String,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Doc {
            spec: Spec,
        }
        let check = |text: &str, want: &str| {
            let err = serde_saphyr::from_str_with_options::<Doc>(text, options()).unwrap_err();
            let map = SourceMap::build(text);
            assert_eq!(diagnose(&err, "m.yaml", 10, Some(&map)).to_string(), want);
        };
        check(
            "spec:\n  name: a\n  apiName: b\n  bogus: 1\n",
            "m.yaml:14:3: unknown field `bogus`, expected one of name, apiName in spec; remove it or fix its spelling (`ferry schema` lists every field)",
        );
        check(
            "spec:\n  name: a\n",
            "m.yaml:12:3: missing field `apiName` in spec; add it",
        );
        check(
            "spec:\n  name: [a]\n  apiName: b\n",
            "m.yaml:12:9: spec.name: expected a string; write a single string value (quote it if needed)",
        );
    }

    #[test]
    fn decode_points_at_the_first_bad_byte() {
        let err = decode(b"a: 1\nb: \xff\n", "x.yaml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.yaml:2:4: the file is not valid UTF-8; save it as UTF-8 text"
        );
        assert_eq!(decode(b"\xEF\xBB\xBFa: 1", "x.yaml").unwrap(), "a: 1");
    }
}
