//! The implementations of ferry's commands; `cli` parses the arguments and calls them.

pub mod serve;
