use clap::{Parser, Subcommand};

/// The SalesCompass engagement service.
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
    /// Inspect or replay the events this service could not apply (its dead-letter queue).
    DeadLetters {
        #[command(subcommand)]
        action: DeadLetterAction,
    },
}

#[derive(Subcommand)]
enum DeadLetterAction {
    /// Print the parked events with their last error (they stay parked).
    List {
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Send parked events back to the queue: all of them, or only the given event ids.
    Replay { event_ids: Vec<String> },
}

fn main() -> anyhow::Result<()> {
    runtime::cpu::tokio_runtime()?.block_on(run(Cli::parse()))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = engagement::Settings::load()?;
    let _telemetry = runtime::telemetry::init("engagement", &settings.telemetry)?;
    match cli.command {
        Command::Migrate => engagement::migrate(&settings).await?,
        Command::Serve => {
            let app = engagement::Application::build(settings).await?;
            app.run(runtime::shutdown::on_signal()).await?;
        }
        Command::DeadLetters { action } => {
            let dead = events::DeadLetters::new(&settings.amqp.url, &settings.amqp.queue);
            match action {
                DeadLetterAction::List { limit } => {
                    for letter in dead.list(limit).await? {
                        println!(
                            "{}\t{}\tattempts={}\t{}\t{}",
                            letter.event_id,
                            letter.event_type,
                            letter.attempts,
                            letter
                                .dead_lettered_at
                                .map(|t| t.to_rfc3339())
                                .unwrap_or_default(),
                            letter.error
                        );
                    }
                }
                DeadLetterAction::Replay { event_ids } => {
                    let only = (!event_ids.is_empty()).then_some(event_ids.as_slice());
                    let replayed = dead.replay(only).await?;
                    println!("replayed {replayed} event(s)");
                }
            }
        }
    }
    Ok(())
}
