//! The CLI's commands: one module per subcommand, called from `cli`.

pub mod emulator;
