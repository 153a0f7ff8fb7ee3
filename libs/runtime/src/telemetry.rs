//! One `init` for logs and traces: a `tracing` subscriber with an env filter, human or JSON
//! output (see [`crate::logs`]: trace ids on each line, colours only on a terminal), and an
//! OpenTelemetry layer (unless `tracing_enabled` is off) that gives spans real trace ids, sampled
//! `ParentBased(TraceIdRatioBased)`, exported over OTLP only when an endpoint is configured (a
//! missing collector would otherwise log an export error every batch).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::Error;
use crate::config::TelemetrySettings;

/// Flushes pending spans when dropped; keep it alive for the life of the process.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            // Export errors at exit have nowhere useful to go.
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber. Calling it again (tests, the launcher) keeps the first one.
pub fn init(service_name: &str, settings: &TelemetrySettings) -> Result<TelemetryGuard, Error> {
    let (subscriber, guard) = subscriber(service_name, settings)?;
    let installed = subscriber.try_init().is_ok();
    if installed && let Some(p) = &guard.provider {
        opentelemetry::global::set_tracer_provider(p.clone());
    }
    Ok(guard)
}

/// The subscriber [`init`] installs, for a caller that scopes it instead
/// (`tracing::dispatcher::set_default`), e.g. a test binary whose global subscriber is taken.
pub fn subscriber(
    service_name: &str,
    settings: &TelemetrySettings,
) -> Result<
    (
        impl tracing::Subscriber + Send + Sync + 'static,
        TelemetryGuard,
    ),
    Error,
> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = EnvFilter::try_new(&settings.log_filter)
        .map_err(|e| Error::Telemetry(format!("telemetry.log_filter: {e}")))?;
    let fmt_layer = crate::logs::fmt_layer(
        settings.log_format,
        crate::logs::stdout_colour(),
        std::io::stdout,
    );

    let provider = if settings.tracing_enabled {
        Some(tracer_provider(service_name, settings)?)
    } else {
        None
    };
    // Spans at INFO and above are traced whatever the log level: a quiet `log_filter` (`warn`)
    // must not switch tracing off, so each layer has its own filter.
    let otel_layer = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer(service_name.to_owned()))
            // Busy/idle timings cost two clock reads and a lock on every poll of every span, and
            // thread attributes a string per span; nothing reads them (BENCHMARKS.md, "Tracing
            // overhead").
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_filter(LevelFilter::INFO)
    });

    let subscriber = tracing_subscriber::registry()
        .with(fmt_layer.with_filter(filter))
        .with(otel_layer);
    Ok((subscriber, TelemetryGuard { provider }))
}

/// The provider behind the OpenTelemetry layer: always sampling and assigning ids, exporting
/// only with an endpoint.
fn tracer_provider(
    service_name: &str,
    settings: &TelemetrySettings,
) -> Result<SdkTracerProvider, Error> {
    let ratio = settings.trace_sample_ratio;
    if !(0.0..=1.0).contains(&ratio) {
        return Err(Error::Telemetry(format!(
            "telemetry.trace_sample_ratio: {ratio} is not between 0.0 and 1.0"
        )));
    }
    let mut builder = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            ratio,
        ))))
        .with_resource(
            Resource::builder()
                .with_service_name(service_name.to_owned())
                .build(),
        );
    if let Some(endpoint) = settings.otlp_endpoint.as_deref().filter(|e| !e.is_empty()) {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .map_err(|e| Error::Telemetry(format!("telemetry.otlp_endpoint: {e}")))?;
        let batch = BatchConfigBuilder::default()
            .with_scheduled_delay(std::time::Duration::from_millis(
                settings.otlp_batch_delay_ms,
            ))
            .build();
        builder = builder.with_span_processor(
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(batch)
                .build(),
        );
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    use super::*;

    /// A quiet log filter still traces: the span at INFO gets a real, sampled trace id.
    #[test]
    fn a_warn_log_filter_does_not_switch_tracing_off() {
        let settings = TelemetrySettings {
            log_filter: "warn".to_owned(),
            ..TelemetrySettings::default()
        };
        let (subscriber, _guard) = subscriber("test", &settings).expect("subscriber");
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request");
            let context = span.context();
            let span_context = opentelemetry::trace::TraceContextExt::span(&context)
                .span_context()
                .clone();
            assert!(span_context.is_valid(), "no trace id under a warn filter");
            assert!(span_context.is_sampled());
        });
    }
}
