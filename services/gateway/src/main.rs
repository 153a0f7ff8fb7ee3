//! `gateway serve`: the REST edge on its own. `gateway openapi` prints the OpenAPI document.

use anyhow::Context as _;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "gateway", version, about = "SalesCompass REST/JSON edge")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve REST on `gateway.listen` and health/metrics on `server.admin_listen`.
    Serve,
    /// Print the generated OpenAPI 3.1 document to stdout.
    Openapi,
}

fn main() -> anyhow::Result<()> {
    runtime::cpu::tokio_runtime()?.block_on(run(Cli::parse()))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Openapi => {
            let document = gateway::openapi_document()?;
            println!("{}", serde_json::to_string_pretty(&document)?);
        }
        Command::Serve => {
            let settings = gateway::Settings::load().context("loading settings")?;
            let _telemetry = runtime::telemetry::init("gateway", &settings.telemetry)?;
            gateway::run(settings, runtime::shutdown::on_signal()).await?;
        }
    }
    Ok(())
}
