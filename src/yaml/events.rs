//! A document's events, kept from the [`SourceMap`](super::SourceMap)'s pass, and a serde
//! deserializer over them: the typed parse of a document without scanning its YAML again.
//!
//! The deserializer takes only what reads the same whatever the YAML schema: quoted and
//! block scalars, plain scalars that cannot be anything but a string, `true` and `false`,
//! and decimal integers. Anything else (an alias, an anchor, a tag, a merge key, a
//! complex or repeated key, a plain scalar that could be null, a float, a date or an octal
//! number, a nesting deeper than the typed parse allows) makes it give up, and the caller
//! parses the text with serde-saphyr as before. A typed parse that fails here is also done
//! again by serde-saphyr, so every message about a document still comes from one place.

use std::fmt;

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde_saphyr::granit_parser::{Event, ScalarStyle};

/// The deepest nesting taken; serde-saphyr's default budget allows 64.
const MAX_DEPTH: usize = 64;

/// One event of a document, as far as a typed parse needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ev {
    /// A scalar with its style.
    Scalar(String, ScalarStyle),
    /// The start of a mapping.
    MapStart,
    /// The end of a mapping.
    MapEnd,
    /// The start of a sequence.
    SeqStart,
    /// The end of a sequence.
    SeqEnd,
}

/// The events of one document, or `None` once the document holds something the
/// deserializer does not take.
#[derive(Debug)]
pub(crate) struct Recorder {
    events: Option<Vec<Ev>>,
    depth: usize,
}

impl Recorder {
    pub(crate) fn new() -> Self {
        Recorder {
            events: Some(Vec::new()),
            depth: 0,
        }
    }

    /// Record one parser event.
    pub(crate) fn record(&mut self, event: &Event<'_>) {
        if self.events.is_none() {
            return;
        }
        match event {
            Event::Scalar(value, style, anchor, tag) => {
                if *anchor != 0 || tag.is_some() {
                    self.give_up();
                } else {
                    self.push(Ev::Scalar(value.to_string(), *style));
                }
            }
            Event::MappingStart(_, anchor, tag) | Event::SequenceStart(_, anchor, tag)
                if *anchor != 0 || tag.is_some() =>
            {
                self.give_up();
            }
            Event::MappingStart(..) => self.push(Ev::MapStart),
            Event::SequenceStart(..) => self.push(Ev::SeqStart),
            Event::MappingEnd => self.push(Ev::MapEnd),
            Event::SequenceEnd => self.push(Ev::SeqEnd),
            Event::Alias(..) | Event::UnresolvedAlias(..) | Event::Anchor(..) => self.give_up(),
            _ => {}
        }
    }

    /// Give up: the document holds something only serde-saphyr reads.
    pub(crate) fn give_up(&mut self) {
        self.events = None;
    }

    fn push(&mut self, event: Ev) {
        match event {
            Ev::MapStart | Ev::SeqStart => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    self.give_up();
                }
            }
            Ev::MapEnd | Ev::SeqEnd => self.depth = self.depth.saturating_sub(1),
            Ev::Scalar(..) => {}
        }
        if let Some(events) = &mut self.events {
            events.push(event);
        }
    }

    /// The events recorded, unless the recorder gave up.
    pub(crate) fn finish(self) -> Option<Vec<Ev>> {
        self.events
    }
}

/// Whether a plain scalar reads as a string under every YAML schema: not empty, not a
/// null or boolean word of YAML 1.1 or 1.2, and not starting like a number, a date or a
/// special float (a digit; `+`, `-` or `.` before a digit or a dot; `.inf`, `.nan`).
fn plain_is_string(value: &str) -> bool {
    const WORDS: [&str; 11] = [
        "null", "true", "false", "yes", "no", "on", "off", "y", "n", "<<", "=",
    ];
    let bytes = value.as_bytes();
    let Some(&first) = bytes.first() else {
        return false;
    };
    let numeric_after = |rest: &[u8]| {
        rest.first()
            .is_some_and(|b| b.is_ascii_digit() || *b == b'.')
    };
    let number_like = match first {
        b'0'..=b'9' | b'~' => true,
        b'+' | b'-' => numeric_after(&bytes[1..]),
        b'.' => {
            numeric_after(&bytes[1..])
                || value[1..].eq_ignore_ascii_case("inf")
                || value[1..].eq_ignore_ascii_case("nan")
        }
        _ => false,
    };
    !(number_like || WORDS.iter().any(|w| value.eq_ignore_ascii_case(w)))
}

/// What a plain scalar is, as far as the deserializer reads it.
enum Plain<'a> {
    /// A string under every schema.
    Str(&'a str),
    /// `true` or `false`.
    Bool(bool),
    /// A decimal integer: non-negative, or negative.
    Int(Result<u64, i64>),
    /// Anything else (a null, a float, a date, another schema's word): serde-saphyr's.
    Unsure,
}

fn plain(value: &str) -> Plain<'_> {
    match value {
        _ if plain_is_string(value) => Plain::Str(value),
        "true" => Plain::Bool(true),
        "false" => Plain::Bool(false),
        _ => integer(value).map_or(Plain::Unsure, Plain::Int),
    }
}

/// Why the deserializer gave up (never shown: the caller parses again with serde-saphyr).
#[derive(Debug)]
pub(crate) struct GaveUp;

impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not taken by the event deserializer")
    }
}

impl std::error::Error for GaveUp {}

impl de::Error for GaveUp {
    fn custom<T: fmt::Display>(_: T) -> Self {
        GaveUp
    }
}

/// The typed value of `events`, or `None` where serde-saphyr must parse the text.
pub(crate) fn typed<T: DeserializeOwned>(events: &[Ev]) -> Option<T> {
    let mut de = Deserializer { events, pos: 0 };
    let value = T::deserialize(&mut de).ok()?;
    (de.pos == events.len()).then_some(value)
}

struct Deserializer<'a> {
    events: &'a [Ev],
    pos: usize,
}

impl<'a> Deserializer<'a> {
    fn next(&mut self) -> Result<&'a Ev, GaveUp> {
        let event = self.events.get(self.pos).ok_or(GaveUp)?;
        self.pos += 1;
        Ok(event)
    }

    fn peek(&self) -> Option<&'a Ev> {
        self.events.get(self.pos)
    }

    /// Whether the next event is `end`, which closes the collection being read; it is
    /// consumed if so.
    fn ends(&mut self, end: &Ev) -> Result<bool, GaveUp> {
        let ends = self.peek().ok_or(GaveUp)? == end;
        self.pos += usize::from(ends);
        Ok(ends)
    }

    /// The next event as a string scalar.
    fn string(&mut self) -> Result<&'a str, GaveUp> {
        match self.next()? {
            Ev::Scalar(value, ScalarStyle::Plain) => match plain(value) {
                Plain::Str(value) => Ok(value),
                _ => Err(GaveUp),
            },
            Ev::Scalar(value, _) => Ok(value),
            _ => Err(GaveUp),
        }
    }

    /// The next event as a plain scalar, read as what it is.
    fn plain(&mut self) -> Result<Plain<'a>, GaveUp> {
        match self.next()? {
            Ev::Scalar(value, ScalarStyle::Plain) => Ok(plain(value)),
            _ => Err(GaveUp),
        }
    }

    /// Skip one node.
    fn skip(&mut self) -> Result<(), GaveUp> {
        let mut depth = 0usize;
        loop {
            match self.next()? {
                Ev::MapStart | Ev::SeqStart => depth += 1,
                Ev::MapEnd | Ev::SeqEnd => depth = depth.checked_sub(1).ok_or(GaveUp)?,
                Ev::Scalar(..) => {}
            }
            if depth == 0 {
                return Ok(());
            }
        }
    }
}

/// A decimal integer without a sign other than `-` and without leading zeros.
fn integer(value: &str) -> Option<Result<u64, i64>> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let plain = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !plain {
        return None;
    }
    if value.starts_with('-') {
        value.parse::<i64>().ok().map(Err)
    } else {
        value.parse::<u64>().ok().map(Ok)
    }
}

/// Integer requests of every width read as [`de::Deserializer::deserialize_i64`]: the
/// visitor checks the range.
macro_rules! integers {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
            self.deserialize_i64(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for &mut Deserializer<'_> {
    type Error = GaveUp;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
        match self.next()? {
            Ev::Scalar(value, ScalarStyle::Plain) => match plain(value) {
                Plain::Str(value) => visitor.visit_str(value),
                Plain::Bool(b) => visitor.visit_bool(b),
                Plain::Int(Ok(n)) => visitor.visit_u64(n),
                Plain::Int(Err(n)) => visitor.visit_i64(n),
                Plain::Unsure => Err(GaveUp),
            },
            Ev::Scalar(value, _) => visitor.visit_str(value),
            Ev::MapStart => visitor.visit_map(Entries { de: self }),
            Ev::SeqStart => visitor.visit_seq(Items { de: self }),
            Ev::MapEnd | Ev::SeqEnd => Err(GaveUp),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
        match self.plain()? {
            Plain::Bool(b) => visitor.visit_bool(b),
            _ => Err(GaveUp),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
        visitor.visit_str(self.string()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
        visitor.visit_str(self.string()?)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
        visitor.visit_str(self.string()?)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
        match self.peek().ok_or(GaveUp)? {
            // A null, written or not, is left to serde-saphyr.
            Ev::Scalar(value, ScalarStyle::Plain) if matches!(plain(value), Plain::Unsure) => {
                Err(GaveUp)
            }
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, GaveUp> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
        match self.next()? {
            Ev::SeqStart => visitor.visit_seq(Items { de: self }),
            _ => Err(GaveUp),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
        match self.next()? {
            Ev::MapStart => visitor.visit_map(Entries { de: self }),
            _ => Err(GaveUp),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GaveUp> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GaveUp> {
        // Unit variants written as a scalar; a variant with content is left to serde-saphyr.
        let name: &str = self.string()?;
        visitor.visit_enum(name.into_deserializer())
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
        self.skip()?;
        visitor.visit_unit()
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
        match self.plain()? {
            Plain::Int(Ok(n)) => visitor.visit_u64(n),
            Plain::Int(Err(n)) => visitor.visit_i64(n),
            _ => Err(GaveUp),
        }
    }

    integers! {
        deserialize_u64 deserialize_i8 deserialize_i16 deserialize_i32 deserialize_u8
        deserialize_u16 deserialize_u32
    }

    // Floats, characters, bytes, units and tuples are not in any manifest: left to
    // serde-saphyr.
    serde::forward_to_deserialize_any! {
        i128 u128 f32 f64 char bytes byte_buf unit unit_struct tuple tuple_struct
    }
}

struct Entries<'d, 'a> {
    de: &'d mut Deserializer<'a>,
}

impl<'de> de::MapAccess<'de> for Entries<'_, '_> {
    type Error = GaveUp;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, GaveUp> {
        if self.de.ends(&Ev::MapEnd)? {
            return Ok(None);
        }
        match self.de.peek() {
            Some(Ev::Scalar(..)) => seed.deserialize(&mut *self.de).map(Some),
            _ => Err(GaveUp),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, GaveUp> {
        seed.deserialize(&mut *self.de)
    }
}

struct Items<'d, 'a> {
    de: &'d mut Deserializer<'a>,
}

impl<'de> de::SeqAccess<'de> for Items<'_, '_> {
    type Error = GaveUp;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, GaveUp> {
        if self.de.ends(&Ev::SeqEnd)? {
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::super::{SourceMap, options};

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Colour {
        Red,
        Blue,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: String,
        #[serde(default)]
        note: Option<String>,
        #[serde(default)]
        enabled: Option<bool>,
        #[serde(default)]
        count: Option<u32>,
        #[serde(default)]
        tags: Vec<String>,
        #[serde(default)]
        labels: BTreeMap<String, String>,
        #[serde(default)]
        colour: Option<Colour>,
        #[serde(default)]
        config: Option<serde_json::Value>,
    }

    /// Every document either read from its events exactly as serde-saphyr reads it, or
    /// left to serde-saphyr; `taken` says which the deserializer must take.
    const CASES: &[(&str, bool)] = &[
        ("name: orders\n", true),
        ("name: 'single'\nnote: \"double \\u00e9\\n\"\n", true),
        ("name: orders\nnote: |\n  line one\n  line two\n", true),
        ("name: orders\nnote: >-\n  folded\n  text\n\n  kept\n", true),
        ("name: orders\nnote: plain text\n  that goes on\n", true),
        (
            "name: orders\ntags: [a, 'b', \"c\"]\nlabels: {team: data, tier: gold}\n",
            true,
        ),
        (
            "name: orders\nenabled: true\ncount: 42\ncolour: blue\n",
            true,
        ),
        (
            "name: orders\nconfig:\n  nested: {list: [1, -2, x, true]}\n  deep: [[a], {b: c}]\n",
            true,
        ),
        (
            "name: orders\nnote: --help\nconfig: {flag: -v, dot: .hidden, word: nan}\n",
            true,
        ),
        (
            "name: orders # comment\n# only a comment\ntags:\n  - a\n  - b\n",
            true,
        ),
        ("name: orders\nunknown: field\n", false),
        ("name: orders\nnote: null\n", false),
        ("name: orders\nnote: ~\n", false),
        ("name: orders\nnote:\n", false),
        ("name: yes\n", false),
        ("name: On\n", false),
        ("name: 0x1F\n", false),
        ("name: 017\n", false),
        ("name: 1e3\n", false),
        ("name: .5\n", false),
        ("name: -1\n", false),
        ("name: 2001-12-14\n", false),
        ("name: .inf\n", false),
        ("name: orders\ncount: 1_000\n", false),
        ("name: orders\ncount: 007\n", false),
        ("name: orders\ncount: 1.5\n", false),
        ("name: orders\nenabled: True\n", false),
        ("name: orders\nenabled: yes\n", false),
        (
            "name: orders\nconfig: {port: 0o17, ratio: 0.5, none: null}\n",
            false,
        ),
        ("name: !!str 123\n", false),
        ("name: &a orders\nnote: *a\n", false),
        (
            "base: &b {team: data}\nname: orders\nlabels:\n  <<: *b\n",
            false,
        ),
        ("name: orders\nname: again\n", false),
        ("name: orders\nlabels: {a: 1, a: 2}\n", false),
        ("name: orders\nlabels: {1: one}\n", false),
        ("? [complex]\n: key\nname: orders\n", false),
        ("name: orders\ncolour: green\n", false),
        ("name: orders\ncolour: {red: 1}\n", false),
        ("- not\n- a mapping\n", false),
        ("name: [unclosed\n", false),
    ];

    #[test]
    fn what_the_events_give_is_what_serde_saphyr_gives() {
        for (text, taken) in CASES {
            let map = SourceMap::build(text);
            let fast: Option<Sample> = map.typed();
            let slow = serde_saphyr::from_str_with_options::<Sample>(text, options());
            if let Some(fast) = &fast {
                match &slow {
                    Ok(slow) => assert_eq!(fast, slow, "{text}"),
                    Err(e) => panic!("taken, but serde-saphyr refuses {text:?}: {e}"),
                }
            }
            assert_eq!(fast.is_some(), *taken, "{text:?}: {slow:?}");
            // Read as any value, the same holds.
            let fast: Option<serde_json::Value> = map.typed();
            let slow = serde_saphyr::from_str_with_options::<serde_json::Value>(text, options());
            if let (Some(fast), Ok(slow)) = (&fast, &slow) {
                assert_eq!(fast, slow, "{text}");
            }
            assert!(fast.is_none() || slow.is_ok(), "{text:?}");
        }
    }

    #[test]
    fn plain_scalars_that_could_be_anything_else_are_not_strings() {
        for word in ["", "~", "null", "NULL", "True", "no", "Y", "off", "<<", "="] {
            assert!(!super::plain_is_string(word), "{word:?}");
        }
        for word in [
            "-1",
            "+1",
            ".5",
            "1.0",
            "0x1F",
            "2001-12-14",
            ".inf",
            "-.nan",
        ] {
            assert!(!super::plain_is_string(word), "{word:?}");
        }
        for word in ["-.5", "+.inf", ".Inf", ".NaN", "..5"] {
            assert!(!super::plain_is_string(word), "{word:?}");
        }
        for word in [
            "orders",
            "Orders Sync",
            "yesterday",
            "nothing",
            "a-1",
            "select 1",
            "--help",
            "-v",
            ".hidden",
            "inf",
            "nan",
        ] {
            assert!(super::plain_is_string(word), "{word:?}");
        }
    }

    #[test]
    fn nesting_beyond_the_typed_parse_s_budget_is_left_to_serde_saphyr() {
        let deep = format!("{}x{}", "[".repeat(70), "]".repeat(70));
        let text = format!("name: orders\nconfig: {deep}\n");
        assert_eq!(SourceMap::build(&text).typed::<Sample>(), None);
        let shallow = format!(
            "name: orders\nconfig: {}x{}\n",
            "[".repeat(10),
            "]".repeat(10)
        );
        assert!(SourceMap::build(&shallow).typed::<Sample>().is_some());
    }
}
