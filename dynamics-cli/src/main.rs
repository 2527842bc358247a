#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod certificate;
mod choices;
mod cli;
mod commands;
mod connections;
mod data;
mod dataverse;
mod environments;
mod error;
mod graph;
mod http;
mod output;
mod request;
mod session;
mod settings;

use clap::Parser as _;

fn main() {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(error) = runtime.block_on(commands::run(cli.command)) {
        // Errors quote servers and files: cleaned of terminal escapes.
        eprintln!("error: {}", output::clean(&error.to_string()));
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            eprintln!("  caused by: {}", output::clean(&cause.to_string()));
            source = cause.source();
        }
        std::process::exit(error.exit_code());
    }
}
