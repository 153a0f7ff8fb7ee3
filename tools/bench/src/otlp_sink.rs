//! `sc-bench otlp-sink`: an OTLP/gRPC trace receiver that only counts spans, so a benchmark can
//! run the services with tracing at 100 % exporting somewhere real without a collector.

use std::time::Duration;

use clap::Args;

use crate::args::Loopback;

#[derive(Args)]
pub struct OtlpSinkArgs {
    /// Address to listen on (the services' `telemetry.otlp_endpoint`).
    #[arg(long, default_value = "127.0.0.1:4317", value_parser = Loopback::parse)]
    listen: Loopback,
    /// Seconds between count lines on stderr.
    #[arg(long, default_value_t = 10)]
    every_secs: u64,
}

/// Serves until interrupted, printing the spans received so far every `--every-secs`.
pub async fn run(args: OtlpSinkArgs) -> anyhow::Result<()> {
    let sink = testkit::otlp::OtlpReceiver::start_counting(args.listen.addr).await?;
    eprintln!("otlp-sink listening on {}", sink.endpoint());
    let mut tick = tokio::time::interval(Duration::from_secs(args.every_secs.max(1)));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => eprintln!("spans received: {}", sink.count()),
            _ = tokio::signal::ctrl_c() => {
                println!("{}", sink.count());
                return Ok(());
            }
        }
    }
}
