//! The CLI commands' implementations: each turns parsed arguments into work on the library
//! and an exit code. Glue only: parsing, validation and planning live in their modules.

pub mod apply;
pub mod emulator;
pub mod export;
pub mod plan;
pub mod schema;
pub mod serve;
pub mod status;
pub mod validate;
