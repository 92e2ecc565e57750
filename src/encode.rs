//! Percent-encoding for the URLs ferry builds: an id, a tenant name or a commit as one path
//! segment or query value, through the `percent-encoding` crate. Everything but RFC 3986's
//! unreserved characters (`A–Z a–z 0–9 - . _ ~`) is encoded, so a value can never add a
//! path segment, a query parameter or a fragment.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Every byte but RFC 3986's unreserved characters.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `value` as one URL path segment or query value.
pub fn component(value: &str) -> String {
    utf8_percent_encode(value, COMPONENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unreserved_characters_stay() {
        assert_eq!(component("sc_0001-a.b~c"), "sc_0001-a.b~c");
        assert_eq!(component("a/b?c#d e"), "a%2Fb%3Fc%23d%20e");
        assert_eq!(component("Büro"), "B%C3%BCro");
        assert_eq!(component(".."), "..");
    }
}
