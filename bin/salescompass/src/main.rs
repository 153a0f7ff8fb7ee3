//! `salescompass dev`: every service in one process, each on its own port, plus the gateway —
//! the same code paths as the per-service binaries (like Loki's single-binary mode).

mod dev;

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
    Dev,
    /// Create the database, schemas and roles if missing and apply every service's migrations.
    Migrate,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Dev => dev::run().await,
        Command::Migrate => dev::migrate().await,
    }
}
