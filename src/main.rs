//! The `townhall` command: the binary edge (anyhow, exit codes, logging set-up).

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
