//! The one way a fieldless enum gets its names: [`names!`] writes `as_str`, `Display`
//! and, on request, `ALL` and `parse` from a single table of variants and strings.
//!
//! It only converts; it does not declare the enum (its doc comments and serde attributes
//! stay on the declaration) and it holds no I/O.

/// Implements the names of a fieldless enum from one `Variant => "name"` table:
///
/// - `as_str(self) -> &'static str`, with the doc comment written before the type name;
/// - `Display`, writing `as_str`;
/// - with a leading `all;`: `ALL` (every variant, in the table's order) and
///   `parse(&str) -> Option<Self>`, the inverse of `as_str`.
///
/// ```ignore
/// names! {
///     all;
///     /// The name as written in `kind:`.
///     Kind {
///         SmartConnector => "SmartConnector",
///         Plugin => "Plugin",
///     }
/// }
/// ```
macro_rules! names {
    (
        all;
        $(#[$doc:meta])*
        $ty:ident { $($variant:ident => $name:literal),+ $(,)? }
    ) => {
        $crate::names::names! {
            $(#[$doc])*
            $ty { $($variant => $name),+ }
        }

        impl $ty {
            /// Every variant, in a stable order.
            pub const ALL: [$ty; [$($name),+].len()] = [$($ty::$variant),+];

            /// The variant whose [`as_str`](Self::as_str) is `s`, if any.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($name => Some($ty::$variant),)+
                    _ => None,
                }
            }
        }
    };
    (
        $(#[$doc:meta])*
        $ty:ident { $($variant:ident => $name:literal),+ $(,)? }
    ) => {
        impl $ty {
            $(#[$doc])*
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use names;

#[cfg(test)]
mod tests {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Colour {
        Red,
        DarkBlue,
    }

    names! {
        all;
        /// The colour's name.
        Colour {
            Red => "red",
            DarkBlue => "dark-blue",
        }
    }

    #[test]
    fn names_round_trip_through_parse_and_display() {
        assert_eq!(Colour::ALL, [Colour::Red, Colour::DarkBlue]);
        for colour in Colour::ALL {
            assert_eq!(Colour::parse(colour.as_str()), Some(colour));
            assert_eq!(colour.to_string(), colour.as_str());
        }
        assert_eq!(Colour::DarkBlue.as_str(), "dark-blue");
        assert_eq!(Colour::parse("Red"), None);
        assert_eq!(Colour::parse("blue"), None);
    }
}
