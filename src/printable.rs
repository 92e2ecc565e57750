//! Text from manifests and platforms made safe to print: control characters and
//! bidirectional formatting characters are shown as escapes (`\u{1b}`, `\u{202e}`), never
//! passed to a terminal, a commit status, a log line or a page to interpret.
//!
//! A name, a message or a SQL line can carry an ANSI escape sequence that recolours,
//! moves the cursor or clears the screen, or a bidirectional override that makes text read
//! in another order than it is stored ("Trojan Source"); either could make the plan a
//! reviewer approves say something else than what ferry will do. Everything ferry prints
//! that it did not write itself goes through [`printable`] (or, for a whole block of
//! lines, [`printable_lines`]); `ferry validate` refuses such characters where a person
//! reads them ([`first_hostile`]).
//!
//! This module owns the one definition of what is escaped ([`is_hostile`]). It must not
//! colour, truncate or otherwise change text: printable characters pass unchanged, and
//! escaping twice changes nothing more.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach an output as itself: C0 controls but the tab, DEL, C1
/// controls, and the bidirectional formatting characters (embeddings, overrides,
/// isolates and the directional marks).
pub fn is_hostile(c: char) -> bool {
    (c.is_control() && c != '\t') || is_bidi(c)
}

/// Whether `c` is a bidirectional formatting character: U+061C, U+200E, U+200F,
/// U+202A–U+202E, U+2066–U+2069.
pub fn is_bidi(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every [`is_hostile`] character escaped: `\n`, `\r` and `\u{…}` (`\u{1b}`,
/// `\u{202e}`). Borrowed when there is nothing to escape.
pub fn printable(text: &str) -> Cow<'_, str> {
    escape_where(text, is_hostile)
}

/// Like [`printable`] for a block of lines: line breaks stay, everything else hostile is
/// escaped (a `\r` too, so a line cannot overwrite the one before it).
pub fn printable_lines(text: &str) -> Cow<'_, str> {
    escape_where(text, |c| c != '\n' && is_hostile(c))
}

fn escape_where(text: &str, hostile: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&hostile) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !hostile(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// The first hostile character of `text` and its byte offset, with how to name it in a
/// message (`U+001B (a control character)`, `U+202E (a bidirectional override)`).
pub fn first_hostile(text: &str, allowed: &[char]) -> Option<(usize, String)> {
    text.char_indices()
        .find(|(_, c)| is_hostile(*c) && !allowed.contains(c))
        .map(|(at, c)| (at, describe(c)))
}

/// `U+001B (a control character)` or `U+202E (a bidirectional formatting character)`.
pub fn describe(c: char) -> String {
    let what = if is_bidi(c) {
        "a bidirectional formatting character"
    } else {
        "a control character"
    };
    format!("U+{:04X} ({what})", c as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_overrides_are_shown_not_interpreted() {
        assert_eq!(printable("Orders Sync"), "Orders Sync");
        assert!(matches!(printable("Orders\tSync"), Cow::Borrowed(_)));
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("x\u{202e}fdp.exe"), "x\\u{202e}fdp.exe");
        assert_eq!(printable("one\ntwo\r"), "one\\ntwo\\r");
        assert_eq!(printable("\u{7f}\u{9b}"), "\\u{7f}\\u{9b}");
        assert_eq!(printable("Büro Ünïcödé ✓"), "Büro Ünïcödé ✓");
        let once = printable("a\u{1b}b").into_owned();
        assert_eq!(
            printable(&once),
            once,
            "escaping twice changes nothing more"
        );
    }

    #[test]
    fn lines_keep_their_breaks() {
        assert_eq!(printable_lines("a\nb\u{1b}\r\n"), "a\nb\\u{1b}\\r\n");
    }

    #[test]
    fn the_first_hostile_character_is_named() {
        assert_eq!(
            first_hostile("ab\u{202e}c", &[]),
            Some((
                2,
                "U+202E (a bidirectional formatting character)".to_owned()
            ))
        );
        assert_eq!(
            first_hostile("a\tb\nc\u{1b}", &['\n']),
            Some((5, "U+001B (a control character)".to_owned()))
        );
        assert_eq!(first_hostile("SELECT 1\n", &['\n']), None);
    }
}
