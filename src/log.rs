//! The log on stderr (`tracing`): text or JSON lines, filtered by `RUST_LOG`.
//!
//! Logs quote what ferry did not write itself (platform answers, names from manifests,
//! URLs, git errors), so every line passes two guards:
//! - **Escaping.** In text lines, control and bidirectional formatting characters of every
//!   field value (the message included) are shown as escapes (`\u{1b}`), so a log line
//!   cannot recolour the terminal, move the cursor or reorder itself; only the message
//!   keeps its line breaks. JSON lines escape control characters by the JSON rules and
//!   bidirectional formatting characters as `\u202e`.
//! - **Redaction.** Credentials are replaced by `***` in the finished line
//!   ([`crate::sensitive::redact`]): the user info of URLs, credential-named query
//!   parameters and assignments, tokens with a well-known prefix, private-key blocks.
//!
//! Secrets are never fields to begin with; redaction is the net under that rule.

use std::io::{self, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::MakeWriter;

use crate::printable::{is_bidi, printable, printable_lines};
use crate::sensitive::redact;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Install the `tracing` subscriber: `format` lines on stderr, filtered by `RUST_LOG`
/// (default `info`), escaped and redacted as the module says. A subscriber already
/// installed (tests) is kept.
pub fn init(format: Format, ansi: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let writer = Guarded {
        json: format == Format::Json,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    let _ = match format {
        Format::Text => builder.fmt_fields(escaped_fields()).try_init(),
        Format::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// The text format's fields (`message field=value …`) with control and bidirectional
/// formatting characters escaped.
pub fn escaped_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let text = format!("{value:?}");
        if field.name() == "message" {
            write!(w, "{}", printable_lines(&text))
        } else {
            write!(w, "{}={}", field.name(), printable(&text))
        }
    })
    .delimited(" ")
}

/// Writes finished log lines to stderr with credentials redacted (and, in JSON,
/// bidirectional formatting characters escaped).
#[derive(Debug, Clone, Copy)]
pub struct Guarded {
    json: bool,
}

impl Guarded {
    /// A writer for `format` lines.
    pub fn new(format: Format) -> Self {
        Guarded {
            json: format == Format::Json,
        }
    }
}

impl<'a> MakeWriter<'a> for Guarded {
    type Writer = GuardedWriter<io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        GuardedWriter {
            inner: io::stderr(),
            json: self.json,
        }
    }
}

/// One log line's writer (see [`Guarded`]).
#[derive(Debug)]
pub struct GuardedWriter<W> {
    inner: W,
    json: bool,
}

impl<W: Write> GuardedWriter<W> {
    /// Guard writes to `inner`.
    pub fn new(inner: W, format: Format) -> Self {
        GuardedWriter {
            inner,
            json: format == Format::Json,
        }
    }
}

impl<W: Write> Write for GuardedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The formatter hands over a whole line at once.
        let text = String::from_utf8_lossy(buf);
        let text = redact(&text);
        if self.json && text.chars().any(is_bidi) {
            let mut escaped = String::with_capacity(text.len() + 8);
            for c in text.chars() {
                if is_bidi(c) {
                    escaped.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    escaped.push(c);
                }
            }
            self.inner.write_all(escaped.as_bytes())?;
        } else {
            self.inner.write_all(text.as_bytes())?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_redacted_and_json_bidi_is_escaped() {
        let mut out = Vec::new();
        let mut w = GuardedWriter::new(&mut out, Format::Json);
        w.write_all(
            b"{\"error\":\"GET https://u:hunter2@h/x?token=abc failed\",\"name\":\"a\xe2\x80\xaeb\"}\n",
        )
        .unwrap();
        let line = String::from_utf8(out).unwrap();
        assert_eq!(
            line,
            "{\"error\":\"GET https://***@h/x?token=*** failed\",\"name\":\"a\\u202eb\"}\n"
        );
        serde_json::from_str::<serde_json::Value>(&line).expect("still JSON");
    }

    #[test]
    fn text_fields_show_escapes() {
        use std::sync::{Arc, Mutex};

        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl Write for Buffer {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let make = {
            let buffer = buffer.clone();
            move || buffer.clone()
        };
        let subscriber = tracing_subscriber::fmt()
            .with_writer(make)
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .fmt_fields(escaped_fields())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(name = %"x\u{202e}y", "line\nnext\u{1b}[2J");
        });
        let line = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(line, " INFO line\nnext\\u{1b}[2J name=x\\u{202e}y\n");
    }
}
