use clap::{Parser, Subcommand};

/// The SalesCompass tenants service.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve gRPC (migrating first when database.migrate_on_start is true).
    Serve,
    /// Create the schema and role if missing and apply migrations, then exit.
    Migrate,
}

fn main() -> anyhow::Result<()> {
    runtime::cpu::tokio_runtime()?.block_on(run(Cli::parse()))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = tenants::Settings::load()?;
    let _telemetry = runtime::telemetry::init("tenants", &settings.telemetry)?;
    match cli.command {
        Command::Migrate => tenants::migrate(&settings).await?,
        Command::Serve => {
            let app = tenants::Application::build(settings).await?;
            app.run(runtime::shutdown::on_signal()).await?;
        }
    }
    Ok(())
}
