//! What an admin port's `/metrics` shows: the series of its own component, in the Prometheus
//! text format or, when the scraper asks for it, OpenMetrics with exemplars.
//!
//! Every process-wide registry series that belongs to a component carries the label
//! [`COMPONENT_LABEL`] (`component="crm"`). Under the `salescompass dev` launcher several
//! components share one process and one registry; each admin port then renders only the series
//! labelled with its component, so scraping every port counts each series once. Series without a
//! component (process, build info), or labelled with a component that serves no admin port in this
//! process (a database schema renamed away from its service's name), are rendered by the first
//! component that bound its admin port: in Kubernetes, where a process is one component, that
//! is the component itself.

use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

use prometheus::proto::{LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{Encoder as _, TextEncoder};

use crate::exemplars::{self, Exemplar};

/// The label naming the component a series belongs to.
pub const COMPONENT_LABEL: &str = "component";

/// Content type of the OpenMetrics text format.
pub const OPENMETRICS_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Components with an admin port in this process, in the order they bound it.
static COMPONENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A component's claim on its series while its admin port is up; released on drop.
#[derive(Debug)]
pub struct ComponentClaim {
    name: String,
}

impl ComponentClaim {
    pub fn new(name: &str) -> Self {
        COMPONENTS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(name.to_owned());
        Self {
            name: name.to_owned(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ComponentClaim {
    fn drop(&mut self) {
        let mut components = COMPONENTS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = components.iter().position(|name| *name == self.name) {
            components.remove(index);
        }
    }
}

/// The families of `component` (every series when `None`), without families left empty.
pub fn gather(component: Option<&str>) -> Vec<MetricFamily> {
    let families = prometheus::gather();
    let Some(component) = component else {
        return families;
    };
    let components = COMPONENTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    select(families, component, &components)
}

/// The series of `families` that `component`'s admin port serves, given the `components` with
/// an admin port in the process (in the order they bound it).
fn select(
    mut families: Vec<MetricFamily>,
    component: &str,
    components: &[String],
) -> Vec<MetricFamily> {
    let owns_process = components.first().is_some_and(|first| first == component);
    for family in &mut families {
        family.mut_metric().retain(|metric| {
            match label(metric, COMPONENT_LABEL) {
                Some(owner) if owner == component => true,
                Some(owner) if components.iter().any(|name| name == owner) => false,
                // Process-wide, or a component with no admin port here.
                _ => owns_process,
            }
        });
    }
    families.retain(|family| !family.get_metric().is_empty());
    families
}

fn label<'a>(metric: &'a Metric, name: &str) -> Option<&'a str> {
    metric
        .get_label()
        .iter()
        .find(|pair| pair.name() == name)
        .map(LabelPair::value)
}

/// Whether an `Accept` header asks for OpenMetrics.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| accept.contains("application/openmetrics-text"))
}

/// The Prometheus text format (no exemplars).
pub fn prometheus_text(families: &[MetricFamily]) -> Result<String, prometheus::Error> {
    let mut buf = Vec::new();
    TextEncoder::new().encode(families, &mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The OpenMetrics 1.0 text format, with the recorded exemplars on histogram buckets.
pub fn openmetrics_text(families: &[MetricFamily]) -> String {
    let mut out = String::new();
    for family in families {
        let name = family.name();
        let (kind, base) = match family.get_field_type() {
            // OpenMetrics names a counter family without its `_total` sample suffix.
            MetricType::COUNTER => ("counter", name.strip_suffix("_total").unwrap_or(name)),
            MetricType::GAUGE => ("gauge", name),
            MetricType::HISTOGRAM => ("histogram", name),
            MetricType::SUMMARY => ("summary", name),
            MetricType::UNTYPED => ("unknown", name),
        };
        let _ = writeln!(out, "# TYPE {base} {kind}");
        let _ = writeln!(out, "# HELP {base} {}", escape(family.help()));
        for metric in family.get_metric() {
            let labels: Vec<(&str, &str)> = metric
                .get_label()
                .iter()
                .map(|pair| (pair.name(), pair.value()))
                .collect();
            match family.get_field_type() {
                MetricType::COUNTER => {
                    let value = metric.get_counter().get_value();
                    sample(
                        &mut out,
                        &format!("{base}_total"),
                        &labels,
                        None,
                        value,
                        None,
                    );
                }
                MetricType::GAUGE => {
                    sample(
                        &mut out,
                        name,
                        &labels,
                        None,
                        metric.get_gauge().get_value(),
                        None,
                    );
                }
                MetricType::UNTYPED => {
                    // No SalesCompass metric is untyped; the accessor is only deprecated.
                    #[allow(deprecated)]
                    let value = metric.get_untyped().get_value();
                    sample(&mut out, name, &labels, None, value, None);
                }
                MetricType::SUMMARY => {
                    let summary = metric.get_summary();
                    for quantile in summary.get_quantile() {
                        let q = float(quantile.quantile());
                        let extra = Some(("quantile", q.as_str()));
                        sample(&mut out, name, &labels, extra, quantile.value(), None);
                    }
                    let count = summary.sample_count() as f64;
                    sample(
                        &mut out,
                        &format!("{name}_count"),
                        &labels,
                        None,
                        count,
                        None,
                    );
                    let sum = summary.sample_sum();
                    sample(&mut out, &format!("{name}_sum"), &labels, None, sum, None);
                }
                MetricType::HISTOGRAM => histogram(&mut out, name, &labels, metric),
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

fn histogram(out: &mut String, name: &str, labels: &[(&str, &str)], metric: &Metric) {
    let histogram = metric.get_histogram();
    let exemplars = exemplars::of_series(name, labels.iter().copied()).unwrap_or_default();
    let bucket_name = format!("{name}_bucket");
    let buckets = histogram.get_bucket();
    for (index, bucket) in buckets.iter().enumerate() {
        let le = float(bucket.upper_bound());
        let exemplar = exemplars.get(index).and_then(Option::as_ref);
        let count = bucket.cumulative_count() as f64;
        sample(
            out,
            &bucket_name,
            labels,
            Some(("le", &le)),
            count,
            exemplar,
        );
    }
    let count = histogram.get_sample_count() as f64;
    let exemplar = exemplars.get(buckets.len()).and_then(Option::as_ref);
    sample(
        out,
        &bucket_name,
        labels,
        Some(("le", "+Inf")),
        count,
        exemplar,
    );
    sample(out, &format!("{name}_count"), labels, None, count, None);
    let sum = histogram.get_sample_sum();
    sample(out, &format!("{name}_sum"), labels, None, sum, None);
}

fn sample(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    extra: Option<(&str, &str)>,
    value: f64,
    exemplar: Option<&Exemplar>,
) {
    out.push_str(name);
    let all: Vec<(&str, &str)> = labels.iter().copied().chain(extra).collect();
    label_set(out, &all);
    let _ = write!(out, " {}", float(value));
    if let Some(exemplar) = exemplar {
        out.push_str(" # ");
        label_set(out, &[("trace_id", exemplar.trace_id.as_str())]);
        let _ = write!(
            out,
            " {} {}",
            float(exemplar.value),
            float(exemplar.timestamp)
        );
    }
    out.push('\n');
}

fn label_set(out: &mut String, labels: &[(&str, &str)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (index, (name, value)) in labels.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        let _ = write!(out, "{name}=\"{}\"", escape(value));
    }
    out.push('}');
}

/// A number as OpenMetrics writes it: `+Inf`/`-Inf`/`NaN`, else a float that round-trips, with a
/// decimal point (so `le="1.0"`, the canonical form two scrapes agree on).
fn float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{value:?}")
    }
}

fn escape(text: &str) -> String {
    text.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

    use super::*;

    fn families() -> Vec<MetricFamily> {
        let registry = Registry::new();
        let counter =
            IntCounterVec::new(Opts::new("demo_calls_total", "Calls"), &["code"]).expect("valid");
        let histogram = HistogramVec::new(
            HistogramOpts::new("demo_latency_seconds", "Latency \"quoted\"")
                .buckets(vec![0.5, 1.0]),
            &["route"],
        )
        .expect("valid");
        registry.register(Box::new(counter.clone())).expect("new");
        registry.register(Box::new(histogram.clone())).expect("new");
        counter.with_label_values(&["OK"]).inc_by(3);
        histogram.with_label_values(&["/a"]).observe(0.7);
        exemplars::record(
            "demo_latency_seconds",
            &[("route", "/a")],
            &[0.5, 1.0],
            0.7,
            "0af7651916cd43dd8448eb211c80319c".into(),
        );
        registry.gather()
    }

    #[test]
    fn openmetrics_names_counters_without_total_and_puts_exemplars_on_buckets() {
        let text = openmetrics_text(&families());
        assert!(text.contains("# TYPE demo_calls counter\n"), "{text}");
        assert!(
            text.contains("demo_calls_total{code=\"OK\"} 3.0\n"),
            "{text}"
        );
        assert!(text.contains("# HELP demo_latency_seconds Latency \\\"quoted\\\"\n"));
        assert!(
            text.contains(
                "demo_latency_seconds_bucket{route=\"/a\",le=\"1.0\"} 1.0 \
                 # {trace_id=\"0af7651916cd43dd8448eb211c80319c\"} 0.7 "
            ),
            "{text}"
        );
        assert!(text.contains("demo_latency_seconds_bucket{route=\"/a\",le=\"0.5\"} 0.0\n"));
        assert!(text.contains("demo_latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 1.0\n"));
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn the_prometheus_format_has_no_exemplars() {
        let text = prometheus_text(&families()).expect("renders");
        assert!(!text.contains("trace_id"), "{text}");
        assert!(!text.contains("# EOF"), "{text}");
        assert!(text.contains("demo_latency_seconds_bucket{route=\"/a\",le=\"1\"} 1\n"));
    }

    /// One family with a series of `alpha`, one of `beta`, one of `renamed` (no admin port) and
    /// one process-wide.
    fn mixed() -> Vec<MetricFamily> {
        let registry = Registry::new();
        let owned = IntCounterVec::new(Opts::new("mixed_total", "Mixed"), &[COMPONENT_LABEL])
            .expect("valid");
        let process = prometheus::IntGauge::new("mixed_process", "Process-wide").expect("valid");
        registry.register(Box::new(owned.clone())).expect("new");
        registry.register(Box::new(process)).expect("new");
        for name in ["alpha", "beta", "renamed"] {
            owned.with_label_values(&[name]).inc();
        }
        registry.gather()
    }

    fn series(families: &[MetricFamily]) -> Vec<String> {
        families
            .iter()
            .flat_map(|family| {
                family.get_metric().iter().map(|metric| {
                    let owner = label(metric, COMPONENT_LABEL).unwrap_or("-");
                    format!("{}:{owner}", family.name())
                })
            })
            .collect()
    }

    #[test]
    fn each_component_gets_its_series_and_the_first_one_the_rest() {
        let components = ["alpha".to_owned(), "beta".to_owned()];
        assert_eq!(
            series(&select(mixed(), "alpha", &components)),
            [
                "mixed_process:-",
                "mixed_total:alpha",
                "mixed_total:renamed"
            ]
        );
        assert_eq!(
            series(&select(mixed(), "beta", &components)),
            ["mixed_total:beta"]
        );
        // A component alone in its process (Kubernetes) serves everything it has.
        assert_eq!(
            series(&select(mixed(), "beta", &["beta".to_owned()])).len(),
            4
        );
    }

    #[test]
    fn only_an_openmetrics_accept_header_gets_openmetrics() {
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
        )));
        assert!(!wants_openmetrics(Some("text/plain;version=0.0.4")));
        assert!(!wants_openmetrics(None));
    }
}
