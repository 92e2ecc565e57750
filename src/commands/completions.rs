//! `ferry completions SHELL`: the completion script of ferry's commands, flags and values
//! for bash, zsh, fish, PowerShell or elvish, on stdout (clap_complete), to be sourced or
//! saved where the shell looks for completions.

use std::process::ExitCode;

use clap::CommandFactory;

/// Arguments of `ferry completions`.
#[derive(Debug, Clone, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Write `shell`'s completion script for ferry into `out`.
pub fn write(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    let mut command = crate::cli::Cli::command();
    clap_complete::generate(shell, &mut command, "ferry", out);
}

/// Run `ferry completions`.
pub fn run(args: &CompletionsArgs) -> ExitCode {
    write(args.shell, &mut std::io::stdout().lock());
    ExitCode::SUCCESS
}
