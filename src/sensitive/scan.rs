//! The sensitive-data scanner: finds personal data, payment data and credentials in the
//! sample and reference files of a connector before ferry carries them into another
//! business.
//!
//! It owns the detection rules (patterns plus checksums: Luhn for card numbers, mod-97 for
//! IBANs, the excluded SSN ranges) and reports *what kind* of data sits on *which line*,
//! never the matched text: a finding ends up in plans, statuses and pull-request comments,
//! where the data itself must not go. It does no I/O and makes no decision: the planner
//! turns findings into a blocked action.
//!
//! # Guarantees
//!
//! Every pattern is compiled once (`LazyLock`) and runs on the `regex` crate's finite
//! automata, so scanning is linear in the input: no backtracking blow-ups on hostile
//! input. A first pass with a [`RegexSet`] tells which kinds can occur at all; a clean file
//! costs that one pass. Only the kinds present are then located line by line.
//!
//! # Caveats
//!
//! A scanner is a safety net, not a review. It errs towards fewer false positives on
//! identifiers (order ids, SKUs, dates, plain integers), so a national phone number
//! written without separators, for example, is not reported.

use std::fmt;
use std::ops::Range;
use std::sync::LazyLock;

use regex::{Regex, RegexSet};
use serde::{Deserialize, Serialize};

/// What kind of sensitive data a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A private key block (`-----BEGIN … PRIVATE KEY-----`).
    PrivateKey,
    /// An API token or credential (GitHub, GitLab, Slack, AWS, Stripe, JWT, `api_key=…`).
    ApiToken,
    /// Credentials written into a URL: a user and password (`https://user:pass@host`), a
    /// token as the user (`https://ghp_…@github.com`), or a credential-named query
    /// parameter (`?token=…`, `&sig=…`).
    UrlCredentials,
    /// An e-mail address.
    Email,
    /// An IBAN with a valid mod-97 checksum.
    Iban,
    /// A US Social Security number.
    UsSsn,
    /// A UK National Insurance number.
    UkNino,
    /// A payment card number passing the Luhn check.
    PaymentCard,
    /// A phone number (E.164 or a common national format).
    Phone,
}

impl FindingKind {
    /// Every kind, in reporting order.
    pub const ALL: [FindingKind; 9] = [
        FindingKind::PrivateKey,
        FindingKind::ApiToken,
        FindingKind::UrlCredentials,
        FindingKind::Email,
        FindingKind::Iban,
        FindingKind::UsSsn,
        FindingKind::UkNino,
        FindingKind::PaymentCard,
        FindingKind::Phone,
    ];

    /// A short name for people.
    pub fn describe(self) -> &'static str {
        match self {
            FindingKind::PrivateKey => "private key",
            FindingKind::ApiToken => "API token",
            FindingKind::UrlCredentials => "credentials in a URL",
            FindingKind::Email => "e-mail address",
            FindingKind::Iban => "IBAN",
            FindingKind::UsSsn => "US social security number",
            FindingKind::UkNino => "UK national insurance number",
            FindingKind::PaymentCard => "payment card number",
            FindingKind::Phone => "phone number",
        }
    }
}

impl FindingKind {
    /// Whether this kind is a credential (a private key, a token, credentials in a URL)
    /// rather than personal or payment data.
    pub fn is_credential(self) -> bool {
        matches!(
            self,
            FindingKind::PrivateKey | FindingKind::ApiToken | FindingKind::UrlCredentials
        )
    }

    /// The kind with its article, for sentences (`an API token`, `a private key`).
    pub fn with_article(self) -> String {
        match self {
            FindingKind::UrlCredentials => self.describe().to_owned(),
            FindingKind::ApiToken | FindingKind::Email | FindingKind::Iban => {
                format!("an {}", self.describe())
            }
            _ => format!("a {}", self.describe()),
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// One piece of possibly sensitive data: its kind and 1-based line, never its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Finding {
    /// What was found.
    pub kind: FindingKind,
    /// 1-based line number.
    pub line: usize,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on line {}", self.kind, self.line)
    }
}

/// One detector: its kind, its pattern and the check a match must pass.
struct Detector {
    kind: FindingKind,
    pattern: &'static str,
    check: fn(&str, &str, usize, usize) -> bool,
}

/// The pattern of a URL's user info (`scheme://USERINFO@`), group `s` the user info: up to
/// the last `@` of the authority.
pub(crate) const USERINFO: &str = r#"\b[A-Za-z][A-Za-z0-9+.-]*://(?P<s>[^\s/?#"'<>]+)@"#;

/// Detectors in the order of [`FindingKind::ALL`]'s first use. Patterns avoid
/// look-around (unsupported by the automata); context checks run in `check`. A pattern
/// with a group `s` names the secret part of its match (what redaction hides); otherwise
/// the whole match is the secret.
const DETECTORS: &[Detector] = &[
    Detector {
        kind: FindingKind::PrivateKey,
        pattern: r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----)?",
        check: always,
    },
    // Tokens with a well-known prefix: credentials wherever they appear.
    Detector {
        kind: FindingKind::ApiToken,
        pattern: concat!(
            r"(?:\bgh[pousr]_[A-Za-z0-9]{36}\b",
            r"|\bgithub_pat_[A-Za-z0-9_]{22,}",
            r"|\bgl(?:pat|dt|rt)-[A-Za-z0-9_-]{20,}",
            r"|\bxox[a-z]-[A-Za-z0-9-]{10,}",
            r"|\bxapp-[A-Za-z0-9-]{10,}",
            r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
            r"|\b[sr]k_live_[0-9A-Za-z]{16,}",
            r"|\bnpm_[A-Za-z0-9]{36}\b",
            r"|\bAIza[0-9A-Za-z_-]{35}",
            r"|\bshpat_[a-fA-F0-9]{32}\b",
            r"|\bpypi-AgE[A-Za-z0-9_-]{50,}",
            r"|\bya29\.[0-9A-Za-z_-]{20,}",
            r"|\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b",
            r"|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,})",
        ),
        check: always,
    },
    // `api_key = …`, `"password": "…"`: a credential-named key and its value.
    Detector {
        kind: FindingKind::ApiToken,
        pattern: concat!(
            r"(?i:\b(?:api[_-]?key|api[_-]?token|access[_-]?token|auth[_-]?token|secret[_-]?key|client[_-]?secret|password|passwd)\b)",
            r#"["']?[ \t]*[:=][ \t]*["']?(?P<s>[A-Za-z0-9_\-./+=]{8,})"#,
        ),
        check: always,
    },
    Detector {
        kind: FindingKind::UrlCredentials,
        pattern: USERINFO,
        check: userinfo_is_credential,
    },
    Detector {
        kind: FindingKind::UrlCredentials,
        pattern: r#"[?&;][A-Za-z_][A-Za-z0-9_.-]*=(?P<s>[^&#\s"'<>`()\[\]{},;]+)"#,
        check: query_is_credential,
    },
    Detector {
        kind: FindingKind::Email,
        pattern: r"\b[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b",
        check: always,
    },
    Detector {
        kind: FindingKind::Iban,
        pattern: r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
        check: iban_ok,
    },
    Detector {
        kind: FindingKind::UsSsn,
        pattern: r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b",
        check: ssn_ok,
    },
    Detector {
        kind: FindingKind::UkNino,
        pattern: r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]\b",
        check: nino_ok,
    },
    Detector {
        kind: FindingKind::PaymentCard,
        pattern: r"\b[0-9](?:[ -]?[0-9]){12,18}\b",
        check: card_ok,
    },
    Detector {
        kind: FindingKind::Phone,
        pattern: concat!(
            // E.164, with optional separators: +49 30 1234567, +1 (415) 555-2671.
            r"(?:\+[1-9][0-9]{0,3}(?:[ .-]?\(?[0-9]{1,4}\)?){2,5}",
            // North American: (415) 555-2671, 415-555-2671, 415.555.2671.
            r"|(?:\([0-9]{3}\) ?|\b[0-9]{3}[ .-])[0-9]{3}[ .-][0-9]{4}\b",
            // Trunk-prefixed national: 030 1234 5678, 07700 900123, (030) 123456.
            r"|(?:\(0[0-9]{2,4}\) ?|\b0[0-9]{2,4}[ -])[0-9]{3,4}[ -]?[0-9]{3,4}\b)",
        ),
        check: phone_ok,
    },
];

fn always(_: &str, _: &str, _: usize, _: usize) -> bool {
    true
}

/// A value that stands for a secret rather than being one: a secret reference
/// (`{{secret:NAME}}`), a `${var}`, or an already redacted `***`.
fn placeholder(value: &str) -> bool {
    let v = value.trim();
    v.is_empty()
        || v.chars().all(|c| c == '*')
        || (v.starts_with("${") && v.ends_with('}'))
        || (v.starts_with("{{") && v.ends_with("}}"))
        || v.starts_with("%7B%7B")
        || v.starts_with("%7b%7b")
}

/// The user and password of the user info in a [`USERINFO`] match.
fn userinfo_parts(m: &str) -> (&str, &str, Option<&str>) {
    let (scheme, rest) = m.split_once("://").unwrap_or(("", m));
    let userinfo = rest.strip_suffix('@').unwrap_or(rest);
    match userinfo.split_once(':') {
        Some((user, password)) => (scheme, user, Some(password)),
        None => (scheme, userinfo, None),
    }
}

/// User info is a credential when it has a password, or when the user is a token
/// (`https://ghp_…@github.com`). A plain user name (`ssh://git@host`) is not.
fn userinfo_is_credential(_: &str, m: &str, _: usize, _: usize) -> bool {
    let (_, user, password) = userinfo_parts(m);
    match password {
        Some(p) => !placeholder(p),
        None => !placeholder(user) && super::secrets::looks_like_token(user),
    }
}

/// Query parameters whose name says they carry a credential (`token`, `access_token`,
/// `api_key`, `password`, `client_secret`, `sig`, `X-Amz-Signature`, …), not the paging
/// cursors that end like them (`pageToken`, `next_token`).
pub(crate) fn is_credential_parameter(name: &str) -> bool {
    let key: String = name
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.'))
        .flat_map(char::to_lowercase)
        .collect();
    let paging = ["page", "next", "continuation", "cursor", "sync"]
        .iter()
        .any(|w| key.contains(w));
    !paging
        && (super::secrets::is_secret_key(name)
            || matches!(
                key.as_str(),
                "sig" | "signature" | "xamzsignature" | "xamzcredential" | "pwd" | "pass"
            ))
}

fn query_is_credential(_: &str, m: &str, _: usize, _: usize) -> bool {
    let Some((name, value)) = m[1..].split_once('=') else {
        return false;
    };
    is_credential_parameter(name) && !placeholder(value)
}

/// Word boundaries are ASCII-only: Unicode ones would keep the patterns off the DFA engines.
fn ascii_boundaries(pattern: &str) -> String {
    pattern.replace(r"\b", r"(?-u:\b)")
}

static SET: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new(DETECTORS.iter().map(|d| ascii_boundaries(d.pattern)))
        .expect("sensitive-data patterns compile")
});

static REGEXES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    DETECTORS
        .iter()
        .map(|d| Regex::new(&ascii_boundaries(d.pattern)).expect("sensitive-data patterns compile"))
        .collect()
});

static USERINFO_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&ascii_boundaries(USERINFO)).expect("user info pattern compiles"));

/// Every accepted match of the detectors whose kind `wanted` selects: the detector, the
/// bytes of the match and the bytes of its secret part.
fn each_match(
    text: &str,
    wanted: impl Fn(FindingKind) -> bool,
    mut on: impl FnMut(&Detector, Range<usize>, Range<usize>),
) {
    let present = SET.matches(text);
    if !present.matched_any() {
        return;
    }
    for index in present.iter() {
        let detector = &DETECTORS[index];
        if !wanted(detector.kind) {
            continue;
        }
        let regex = &REGEXES[index];
        let mut at = 0;
        while let Some(m) = regex.find_at(text, at) {
            if (detector.check)(text, m.as_str(), m.start(), m.end()) {
                let secret = regex
                    .captures_at(text, m.start())
                    .and_then(|c| c.name("s"))
                    .map_or(m.range(), |s| s.range());
                on(detector, m.range(), secret);
                at = m.end();
            } else {
                // A rejected candidate may hide a valid one starting inside it.
                at = next_char_boundary(text, m.start());
            }
            if at >= text.len() {
                break;
            }
        }
    }
}

/// Scan text for sensitive data. Returns one finding per kind and line, ordered by line
/// then kind. The matched text is never returned.
pub fn scan(text: &str) -> Vec<Finding> {
    let line_starts = line_starts(text);
    let mut findings = Vec::new();
    each_match(
        text,
        |_| true,
        |detector, whole, _| {
            findings.push(Finding {
                kind: detector.kind,
                line: line_of(&line_starts, whole.start),
            });
        },
    );
    findings.sort_unstable_by_key(|f| (f.line, f.kind));
    findings.dedup();
    findings
}

/// A credential inside a string: its kind and the bytes that are secret (a token, a
/// password, a query value, a whole private-key block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Credential {
    /// What it is.
    pub kind: FindingKind,
    /// The secret bytes.
    pub span: Range<usize>,
}

/// The credentials anywhere inside `text`, by the same detectors the sample scan uses
/// ([`FindingKind::is_credential`]), ordered by position.
pub(crate) fn credentials(text: &str) -> Vec<Credential> {
    let mut out = Vec::new();
    each_match(text, FindingKind::is_credential, |detector, _, secret| {
        out.push(Credential {
            kind: detector.kind,
            span: secret,
        });
    });
    out.sort_by_key(|c| (c.span.start, c.span.end));
    out
}

/// The user info of every URL in `text` that redaction hides: any user info but a plain
/// SSH user name (`ssh://git@host`), which is no secret.
pub(crate) fn userinfo_spans(text: &str) -> Vec<Range<usize>> {
    USERINFO_RE
        .captures_iter(text)
        .filter_map(|c| {
            let whole = c.get(0)?;
            let info = c.name("s")?;
            let (scheme, _, password) = userinfo_parts(whole.as_str());
            let ssh_user = scheme.to_ascii_lowercase().contains("ssh") && password.is_none();
            (!ssh_user).then(|| info.range())
        })
        .collect()
}

fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

fn line_of(starts: &[usize], offset: usize) -> usize {
    starts.partition_point(|&s| s <= offset)
}

fn next_char_boundary(text: &str, from: usize) -> usize {
    let mut i = from + 1;
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Characters that glue a number into a larger identifier (`SKU-415-555-2671`,
/// `ORD-4111111111111111`, `v1.415.555.2671`, `#4111…`).
fn glue(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | '.' | '#' | '+')
}

/// Whether nothing glues the candidate to what precedes it.
fn clean_before(text: &str, start: usize) -> bool {
    text[..start].chars().next_back().is_none_or(|c| !glue(c))
}

/// Whether nothing glues the candidate to what follows it. A sentence may end right after
/// a number, so a dot followed by whitespace or the end of the text is fine.
fn clean_after(text: &str, end: usize) -> bool {
    let mut rest = text[end..].chars();
    match rest.next() {
        None => true,
        Some('.') => rest.next().is_none_or(char::is_whitespace),
        Some(c) => !glue(c),
    }
}

/// Whether a numeric candidate stands on its own.
fn standalone(text: &str, start: usize, end: usize) -> bool {
    clean_before(text, start) && clean_after(text, end)
}

fn digits(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

/// Luhn checksum over a digit string.
pub(crate) fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn card_ok(text: &str, m: &str, start: usize, end: usize) -> bool {
    if !standalone(text, start, end) {
        return false;
    }
    // Separators, when used, must be one kind: `4111 1111-1111 1111` is not a card.
    if m.contains(' ') && m.contains('-') {
        return false;
    }
    let d = digits(m);
    if !(13..=19).contains(&d.len()) || !issuer_known(&d) {
        return false;
    }
    luhn(&d)
}

/// Whether the leading digits belong to a card issuer (Visa, Mastercard, Amex, Discover,
/// JCB, Diners, UnionPay, Maestro): order ids and timestamps rarely do.
fn issuer_known(d: &[u8]) -> bool {
    let prefix = |n: usize| {
        d.iter()
            .take(n)
            .fold(0u32, |acc, &x| acc * 10 + u32::from(x))
    };
    let len = d.len();
    match d[0] {
        4 => matches!(len, 13 | 16 | 19),
        5 => (51..=55).contains(&prefix(2)) || prefix(2) == 50 || (56..=59).contains(&prefix(2)),
        2 => (2221..=2720).contains(&prefix(4)) && len == 16,
        3 => {
            let p2 = prefix(2);
            (matches!(p2, 34 | 37) && len == 15)
                || (3528..=3589).contains(&prefix(4))
                || (300..=305).contains(&prefix(3))
                || matches!(p2, 36 | 38 | 39)
        }
        6 => {
            prefix(4) == 6011
                || prefix(2) == 65
                || (644..=649).contains(&prefix(3))
                || prefix(2) == 62
                || prefix(2) == 63
                || prefix(2) == 67
        }
        _ => false,
    }
}

fn ssn_ok(text: &str, m: &str, start: usize, end: usize) -> bool {
    if !standalone(text, start, end) {
        return false;
    }
    let area: u32 = m[0..3].parse().unwrap_or(0);
    let group: u32 = m[4..6].parse().unwrap_or(0);
    let serial: u32 = m[7..11].parse().unwrap_or(0);
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

fn nino_ok(text: &str, m: &str, start: usize, end: usize) -> bool {
    if !standalone(text, start, end) {
        return false;
    }
    // Prefixes never issued.
    !matches!(&m[0..2], "BG" | "GB" | "NK" | "KN" | "TN" | "NT" | "ZZ")
}

fn phone_ok(text: &str, m: &str, start: usize, end: usize) -> bool {
    if !standalone(text, start, end) {
        return false;
    }
    let n = digits(m).len();
    if m.starts_with('+') {
        (8..=15).contains(&n)
    } else {
        (9..=12).contains(&n)
    }
}

/// IBAN lengths by country (ISO 13616 registry).
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SC", 31),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
];

fn iban_ok(text: &str, m: &str, start: usize, end: usize) -> bool {
    if !standalone(text, start, end) {
        return false;
    }
    let compact: String = m.chars().filter(|c| *c != ' ').collect();
    let expected = IBAN_LENGTHS
        .iter()
        .find(|(cc, _)| *cc == &compact[..2])
        .map(|(_, n)| *n);
    match expected {
        Some(n) if n != compact.len() => return false,
        None if !(15..=34).contains(&compact.len()) => return false,
        _ => {}
    }
    iban_checksum(&compact)
}

/// ISO 7064 mod-97-10 over the rearranged IBAN (letters as 10..35).
pub(crate) fn iban_checksum(compact: &str) -> bool {
    let rearranged = compact[4..].chars().chain(compact[..4].chars());
    let mut rem: u32 = 0;
    for c in rearranged {
        let v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<FindingKind> {
        scan(text).into_iter().map(|f| f.kind).collect()
    }

    fn found(text: &str, kind: FindingKind) -> bool {
        kinds(text).contains(&kind)
    }

    /// Each of `texts` has a finding of `kind`.
    fn found_in_each(kind: FindingKind, texts: &[&str]) {
        for text in texts {
            assert!(found(text, kind), "{kind} in {text:?}: {:?}", scan(text));
        }
    }

    /// None of `texts` has a finding of `kind`.
    fn found_in_none(kind: FindingKind, texts: &[&str]) {
        for text in texts {
            assert!(!found(text, kind), "{kind} in {text:?}: {:?}", scan(text));
        }
    }

    #[test]
    fn clean_text_has_no_findings() {
        let csv = "order_id,sku,date,qty,amount\nORD-2024-000123,SKU-4411-22,2024-03-15,3,19.99\n";
        assert_eq!(scan(csv), vec![]);
    }

    #[test]
    fn reports_kind_and_line_never_text() {
        let csv = "name,email\nAda,ada@example.com\nBob,bob@example.org\n";
        let findings = scan(csv);
        assert_eq!(
            findings,
            vec![
                Finding {
                    kind: FindingKind::Email,
                    line: 2
                },
                Finding {
                    kind: FindingKind::Email,
                    line: 3
                }
            ]
        );
        let shown = format!("{findings:?} {}", findings[0]);
        assert!(!shown.contains("ada@"), "{shown}");
        assert_eq!(findings[0].to_string(), "e-mail address on line 2");
    }

    #[test]
    fn email() {
        found_in_each(
            FindingKind::Email,
            &["contact: first.last+tag@mail.example.co.uk"],
        );
        found_in_none(
            FindingKind::Email,
            &["see @mention and user@localhost", "version 1.2.3@latest"],
        );
    }

    #[test]
    fn phone_true_positives() {
        found_in_each(
            FindingKind::Phone,
            &[
                "+14155552671",
                "+44 20 7946 0958",
                "+1 (415) 555-2671",
                "(415) 555-2671",
                "415-555-2671",
                "030 1234 5678",
                "07700 900123",
                "call 415.555.2671.",
            ],
        );
    }

    #[test]
    fn phone_false_positives() {
        found_in_none(
            FindingKind::Phone,
            &[
                "4155552671",       // a plain integer
                "2024-03-15",       // a date
                "15.03.2024 10:30", // a date and time
                "SKU-415-555-2671", // an order id
                "ORD-2024-000123",
                "qty 1234567",
                "+1",
            ],
        );
    }

    #[test]
    fn payment_cards_pass_luhn() {
        found_in_each(
            FindingKind::PaymentCard,
            &[
                "4111111111111111",
                "4111 1111 1111 1111",
                "5500-0000-0000-0004",
                "378282246310005",
                "6011111111111117",
            ],
        );
    }

    #[test]
    fn payment_card_false_positives() {
        found_in_none(
            FindingKind::PaymentCard,
            &[
                "4111111111111112",     // Luhn fails
                "4111 1111 1111 1112",  // Luhn fails
                "ORD-4111111111111111", // part of an order id
                "20240315123045",       // a timestamp
            ],
        );
        // Passes Luhn but no issuer starts with 9.
        let body = "999999999999999";
        let check = (0..10u8)
            .find(|c| luhn(&digits(&format!("{body}{c}"))))
            .unwrap();
        let number = format!("{body}{check}");
        assert!(luhn(&digits(&number)));
        found_in_none(FindingKind::PaymentCard, &[&number]);
    }

    #[test]
    fn iban_checksum() {
        found_in_each(
            FindingKind::Iban,
            &[
                "IBAN: DE89 3704 0044 0532 0130 00",
                "GB82WEST12345698765432",
            ],
        );
        found_in_none(
            FindingKind::Iban,
            &[
                "DE89 3704 0044 0532 0130 01", // bad checksum
                "GB82WEST1234569876543",       // wrong length for GB
                "AB12CDEF34567890",
            ],
        );
    }

    #[test]
    fn us_ssn_excludes_invalid_ranges() {
        found_in_each(FindingKind::UsSsn, &["ssn 123-45-6789"]);
        found_in_none(
            FindingKind::UsSsn,
            &[
                "000-12-3456",
                "666-12-3456",
                "912-34-5678",
                "123-00-4567",
                "123-45-0000",
                "2024-03-1500",
            ],
        );
    }

    #[test]
    fn uk_nino() {
        found_in_each(FindingKind::UkNino, &["NI: AB 12 34 56 C", "JG103759A"]);
        found_in_none(
            FindingKind::UkNino,
            &[
                "GB123456A", // prefix never issued
                "DA123456C", // D is not a valid first letter
                "AB123456E", // suffix is A-D
            ],
        );
    }

    #[test]
    fn private_key() {
        found_in_each(
            FindingKind::PrivateKey,
            &[
                "-----BEGIN RSA PRIVATE KEY-----\nMIIE...",
                "-----BEGIN OPENSSH PRIVATE KEY-----",
                "-----BEGIN PRIVATE KEY-----",
            ],
        );
        found_in_none(
            FindingKind::PrivateKey,
            &["-----BEGIN PUBLIC KEY-----", "-----BEGIN CERTIFICATE-----"],
        );
    }

    #[test]
    fn api_tokens() {
        found_in_each(
            FindingKind::ApiToken,
            &[
                "token ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
                "xoxb-1234567890-abcdefghij",
                "AKIAIOSFODNN7EXAMPLE",
                "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                "api_key=Zm9vYmFyYmF6cXV4",
                "\"apiKey\": \"Zm9vYmFyYmF6cXV4\"",
                "CLIENT_SECRET = 'a1b2c3d4e5f6'",
                "glpat-abcdefghij0123456789",
                "xoxe-1234567890-abcdefghij",
                "npm_abcdefghijklmnopqrstuvwxyz0123456789",
                "ya29.a0AfH6SMBx3kQ9-abcdefghijklmnopq",
                "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",
            ],
        );
    }

    #[test]
    fn credentials_in_urls() {
        found_in_each(
            FindingKind::UrlCredentials,
            &[
                "https://loader:hunter2@db.example.com/x",
                "https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/a/b",
                "https://hooks.example.com/in?team=ops&token=d41d8cd98f00b204",
                "https://bucket.s3.amazonaws.com/f.csv?X-Amz-Signature=abc123&X-Amz-Expires=60",
            ],
        );
        found_in_none(
            FindingKind::UrlCredentials,
            &[
                "ssh://git@github.com/acme/feed.git",
                "https://api.example.com/list?pageToken=abc&limit=10",
                "https://x-access-token:{{secret:GITHUB_TOKEN}}@github.com/a/b",
                "https://example.com/?q=token",
            ],
        );
        let spans: Vec<_> = credentials("a https://u:pw@h/x?token=t0k b")
            .into_iter()
            .map(|c| c.span)
            .collect();
        assert_eq!(spans, [10..14, 25..28]);
    }

    #[test]
    fn api_token_false_positives() {
        found_in_none(
            FindingKind::ApiToken,
            &[
                "ghp_short",
                "api_key=${API_KEY}",
                "api_key:",
                "the api key is rotated monthly",
                "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
                "AKIA1234",
                "eyJhbGciOiJIUzI1NiJ9",
            ],
        );
    }

    #[test]
    fn one_finding_per_kind_and_line() {
        let text = "a@example.com b@example.com\n\nc@example.com, +44 20 7946 0958";
        assert_eq!(
            scan(text),
            vec![
                Finding {
                    kind: FindingKind::Email,
                    line: 1
                },
                Finding {
                    kind: FindingKind::Email,
                    line: 3
                },
                Finding {
                    kind: FindingKind::Phone,
                    line: 3
                },
            ]
        );
    }

    #[test]
    fn rejected_candidate_does_not_hide_a_later_one() {
        // A 19-digit run failing Luhn, followed on the same line by a real card.
        let text = "ref 1234567890123456789 card 4111111111111111";
        assert_eq!(
            scan(text),
            vec![Finding {
                kind: FindingKind::PaymentCard,
                line: 1
            }]
        );
    }

    #[test]
    fn large_hostile_input_stays_linear() {
        // Long runs that tempt backtracking engines: digits, separators, local parts.
        let mut text = "1-".repeat(50_000);
        text.push_str(&"a.".repeat(50_000));
        text.push_str(&"+1 ".repeat(50_000));
        text.push_str("\nada@example.com\n");
        let findings = scan(&text);
        assert!(
            findings.contains(&Finding {
                kind: FindingKind::Email,
                line: 2
            }),
            "{findings:?}"
        );
    }

    #[test]
    fn luhn_and_mod97_helpers() {
        assert!(luhn(&digits("79927398713")));
        assert!(!luhn(&digits("79927398710")));
        assert!(super::iban_checksum("GB82WEST12345698765432"));
        assert!(!super::iban_checksum("GB83WEST12345698765432"));
    }
}
