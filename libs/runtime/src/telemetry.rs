//! One `init` for logs and traces: a `tracing` subscriber with an env filter, human or JSON
//! output (see [`crate::logs`]), and an OpenTelemetry OTLP exporter only when an endpoint is configured (a missing
//! collector would otherwise log an export error every batch).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

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
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = EnvFilter::try_new(&settings.log_filter)
        .map_err(|e| Error::Telemetry(format!("telemetry.log_filter: {e}")))?;
    let fmt_layer = crate::logs::fmt_layer(
        settings.log_format,
        crate::logs::stdout_colour(),
        std::io::stdout,
    );

    let provider = match &settings.otlp_endpoint {
        Some(endpoint) if !endpoint.is_empty() => Some(otlp_provider(service_name, endpoint)?),
        _ => None,
    };
    let otel_layer = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service_name.to_owned())));

    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(otel_layer)
        .try_init()
        .is_ok();
    if installed && let Some(p) = &provider {
        opentelemetry::global::set_tracer_provider(p.clone());
    }
    Ok(TelemetryGuard { provider })
}

fn otlp_provider(service_name: &str, endpoint: &str) -> Result<SdkTracerProvider, Error> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| Error::Telemetry(format!("telemetry.otlp_endpoint: {e}")))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service_name.to_owned())
                .build(),
        )
        .build())
}
