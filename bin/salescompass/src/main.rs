//! `salescompass dev`: every service in one process, each on its own port, plus the gateway —
//! the same code paths as the per-service binaries (like Loki's single-binary mode).

mod banner;
mod dev;
mod services;
mod supervisor;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(version, about = "SalesCompass launcher")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every service and the gateway locally (migrating the database first).
    Dev {
        /// The gateway calls the services in this process directly instead of over HTTP/2 on
        /// their loopback ports (which still serve other gRPC clients). Faster; the default
        /// keeps the wire path a cluster uses.
        #[arg(long)]
        in_process: bool,
    },
    /// Create the database, schemas and roles if missing and apply every service's migrations.
    Migrate,
}

fn main() -> anyhow::Result<()> {
    runtime::cpu::tokio_runtime()?.block_on(run(Cli::parse()))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Dev { in_process } => dev::run(in_process).await,
        Command::Migrate => dev::migrate().await,
    }
}
