//! Exemplars for the latency histograms: the trace id of a recent request per histogram bucket,
//! so an operator can jump from a slow bucket to a trace. The `prometheus` crate has no
//! exemplars, so the latency layers record them here and the OpenMetrics rendering
//! ([`crate::exposition`]) attaches them to the buckets. Only sampled traces are recorded: an
//! exemplar must lead to a trace the collector actually has.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::TraceContextExt as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// One observation with the trace it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    pub trace_id: String,
    pub value: f64,
    /// Seconds since the Unix epoch.
    pub timestamp: f64,
}

/// A series: the family name and its labels rendered canonically (see [`series_key`]).
type SeriesKey = (String, String);

/// The latest exemplar per bucket (the last slot is `+Inf`) of each series. Bounded by the
/// series count, like the histograms themselves.
static STORE: LazyLock<Mutex<HashMap<SeriesKey, Vec<Option<Exemplar>>>>> =
    LazyLock::new(Default::default);

/// The trace id of the current span, when it is part of a sampled trace.
pub fn current_trace_id() -> Option<String> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    (span_context.is_valid() && span_context.is_sampled())
        .then(|| span_context.trace_id().to_string())
}

/// Keeps `value` of trace `trace_id` as the exemplar of its bucket in the series `family` +
/// `labels` of a histogram with upper bounds `buckets`.
pub fn record(
    family: &str,
    labels: &[(&str, &str)],
    buckets: &[f64],
    value: f64,
    trace_id: String,
) {
    let index = buckets
        .iter()
        .position(|bound| value <= *bound)
        .unwrap_or(buckets.len());
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64());
    let key = (family.to_owned(), series_key(labels.iter().copied()));
    let mut store = STORE.lock().unwrap_or_else(PoisonError::into_inner);
    let slots = store
        .entry(key)
        .or_insert_with(|| vec![None; buckets.len() + 1]);
    if let Some(slot) = slots.get_mut(index) {
        *slot = Some(Exemplar {
            trace_id,
            value,
            timestamp,
        });
    }
}

/// The exemplars of one histogram series, one slot per bucket (`+Inf` last), if any was recorded.
pub fn of_series<'a>(
    family: &str,
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<Vec<Option<Exemplar>>> {
    let key = (family.to_owned(), series_key(labels));
    STORE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
        .cloned()
}

/// Labels sorted by name and joined, so the recorder and the renderer agree on a series.
fn series_key<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut labels: Vec<_> = labels.into_iter().collect();
    labels.sort_unstable();
    labels
        .iter()
        .map(|(name, value)| format!("{name}={value:?}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_observation_lands_in_the_first_bucket_that_holds_it() {
        let buckets = [0.1, 1.0];
        let labels = [("b", "2"), ("a", "1")];
        record("test_exemplar_buckets", &labels, &buckets, 0.5, "t1".into());
        record("test_exemplar_buckets", &labels, &buckets, 7.0, "t2".into());
        let slots = of_series("test_exemplar_buckets", [("a", "1"), ("b", "2")])
            .expect("recorded, whatever the label order");
        let ids: Vec<_> = slots
            .iter()
            .map(|slot| slot.as_ref().map(|e| e.trace_id.as_str()))
            .collect();
        assert_eq!(ids, [None, Some("t1"), Some("t2")]);
    }
}
