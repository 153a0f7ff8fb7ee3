"""The chart lints strictly and every rendered object is valid Kubernetes, for every value set."""

from __future__ import annotations

import jsonschema
import kubernetes_validate
import pytest

import chartlib
from conftest import by_kind
from test_monitoring import PROMETHEUS_RULE_SCHEMA

WARNING = 2  # helm lint severities: 1 info, 2 warning, 3 error

# kubernetes-validate bundles the core API schemas only. The Prometheus Operator's CRD is checked
# against the part of its schema the chart uses, with unknown fields refused like --strict does.
SERVICE_MONITOR_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchLabels": {"type": "object",
                                                   "additionalProperties": {"type": "string"}}},
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["port"],
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "scrapeTimeout": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                        },
                    },
                },
            },
        },
    },
}

CRD_SCHEMAS = {"ServiceMonitor": SERVICE_MONITOR_SCHEMA, "PrometheusRule": PROMETHEUS_RULE_SCHEMA}


@pytest.mark.parametrize("value_set", list(chartlib.VALUE_SETS))
def test_chart_lints_without_warnings(value_set: str) -> None:
    report = chartlib.lint(chartlib.load_values(chartlib.VALUE_SETS[value_set]))
    problems = [m for m in report["messages"] if m["severity"] >= WARNING]
    assert not problems and not report["errors"], problems or report["errors"]


@pytest.mark.parametrize("kube_version", chartlib.KUBE_VERSIONS)
def test_every_rendered_object_is_valid_kubernetes(any_set, kube_version: str) -> None:
    value_set, objs = any_set
    assert objs, f"{value_set}: nothing rendered"
    failures = []
    for obj in objs:
        kind_name = f"{obj['kind']}/{obj['metadata'].get('name')}"
        try:
            if obj["kind"] in CRD_SCHEMAS:
                jsonschema.validate(obj, CRD_SCHEMAS[obj["kind"]])
            else:
                kubernetes_validate.validate(obj, kube_version, strict=True)
        except (jsonschema.ValidationError, kubernetes_validate.SchemaNotFoundError) as error:
            failures.append(f"{kind_name}: {getattr(error, 'message', error)}")
    assert not failures, "\n".join(failures)


def test_names_are_unique_per_kind(any_set) -> None:
    value_set, objs = any_set
    seen: set[tuple[str, str]] = set()
    for obj in objs:
        key = (obj["kind"], obj["metadata"]["name"])
        assert key not in seen, f"{value_set}: {key} rendered twice"
        seen.add(key)


def test_every_object_lands_in_the_release_namespace(any_set) -> None:
    _, objs = any_set
    assert {o["metadata"].get("namespace") for o in objs} == {chartlib.NAMESPACE}


def test_service_monitors_only_when_enabled() -> None:
    assert not by_kind(chartlib.render_set("default"), "ServiceMonitor")
    production = chartlib.render_set("production")
    monitors = by_kind(production, "ServiceMonitor")
    assert len(monitors) == len(by_kind(production, "Deployment"))
    assert all(m["metadata"]["labels"]["release"] == "kube-prometheus-stack" for m in monitors)


def test_notes_list_services_and_the_secrets_to_create() -> None:
    text = chartlib.notes("default")
    for expected in ("tenants", "gateway", "postgres-migrator", "rabbitmq-credentials",
                     "tenants-database", "tenants-auth: operator-token", "port-forward svc/gateway"):
        assert expected in text
    assert "https://api.salescompass.example.com/" in chartlib.notes("production")


def test_the_committed_chart_lock_is_in_sync() -> None:
    """`helm dependency build` (CI, Tilt, operators) refuses a Chart.lock out of sync with Chart.yaml."""
    committed = (chartlib.CHART_DIR / "Chart.lock").read_text()
    fresh = (chartlib.prepared_chart_dir() / "Chart.lock").read_text()
    digest = [line for line in committed.splitlines() if line.startswith("digest:")]
    assert digest and digest == [line for line in fresh.splitlines() if line.startswith("digest:")], (
        "helm/salescompass/Chart.lock is stale: run `helm dependency update helm/salescompass`")
