//! The implementations of ferry's commands: one module per subcommand, called from `cli`.

pub mod emulator;
pub mod serve;
