//! The `feedwire` binary: command-line parsing and process concerns
//! (logging, signals, exit codes), one file per command under `src/cli/`.
//! The work itself lives in the library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
