//! How log lines look: JSON or compact text, the W3C `trace_id`/`span_id` of the current span
//! on every line written inside one, and colours only for a terminal. The level policy for
//! failed gRPC calls lives here too, so every service logs client errors the same way.

mod grpc_failures;
mod trace_ids;

use std::ffi::OsString;

use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::registry::LookupSpan;

pub use grpc_failures::{is_client_error, log_failed_call};
pub use trace_ids::{TraceIds, WithTraceIds};

use crate::config::LogFormat;

/// Colours are for people at a terminal: a file, a pipe or `kubectl logs` gets plain text.
/// `NO_COLOR` (set and not empty, <https://no-color.org>) turns them off anywhere.
pub fn use_colour(is_terminal: bool, no_color: Option<OsString>) -> bool {
    is_terminal && no_color.is_none_or(|value| value.is_empty())
}

/// Whether the process's log output (stdout) gets colours.
pub fn stdout_colour() -> bool {
    use std::io::IsTerminal as _;
    use_colour(
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR"),
    )
}

/// The formatting layer for `format`, writing to `writer`, with ANSI colours only if `colour`
/// (JSON never has any).
pub fn fmt_layer<S, W>(
    format: LogFormat,
    colour: bool,
    writer: W,
) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_ansi(false)
            .event_format(WithTraceIds::json(
                tracing_subscriber::fmt::format()
                    .json()
                    .with_current_span(true),
            ))
            .with_writer(writer)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_ansi(colour)
            // The inner format is told too: it writes into a buffer, which knows no terminal.
            .event_format(WithTraceIds::text(
                tracing_subscriber::fmt::format()
                    .compact()
                    .with_ansi(colour),
            ))
            .with_writer(writer)
            .boxed(),
    }
}

#[cfg(test)]
mod tests;
