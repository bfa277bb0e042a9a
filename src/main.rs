//! The `townhall` command: the binary edge (anyhow, exit codes, logging set-up).
// matrix-sdk's sync future is deep: proving it Send for tokio::spawn needs more than 128.
#![recursion_limit = "256"]

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
