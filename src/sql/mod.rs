//! ClickHouse SQL as text: the little ferry needs to know about a SmartConnector's Live SQL
//! without running it.
//!
//! This module owns a lexer for the ClickHouse dialect ([`lexer`]), the split of a script
//! into statements, and the knowledge of which table functions, table engines and
//! dictionary sources reach outside the machine ([`external`]). `manifest` uses it to
//! reject credentials written into such calls; `sqltest` uses it to refuse network access
//! in tests and to replace a call with a local stand-in. It must not run SQL or read files.

pub(crate) mod external;
pub(crate) mod lexer;

pub(crate) use external::{Arg, ExternalCall, external_calls, is_network_function};
pub(crate) use lexer::{TokenKind, statements, tokens};
