"""The chart's PrometheusRule and Grafana dashboard: rendered only when enabled, rules valid and
unit-tested with promtool, every alert documented with a runbook, every query on a known metric."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

import chartlib
from conftest import by_kind

DOCS = chartlib.REPO / "docs" / "operations.md"
UNIT_TESTS = Path(__file__).parent / "prometheus" / "alerts-test.yaml"
DASHBOARD = chartlib.CHART_DIR / "dashboards" / "salescompass.json"

# Series that Prometheus, the Prometheus client's process collector and kube-state-metrics
# provide; every other metric a query names must be one of ours, listed in docs/operations.md.
EXTERNAL_METRICS = {
    "up",
    "kube_pod_status_ready",
    "kube_pod_status_phase",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_open_fds",
}
# Nothing but a metric name stands right before a selector's `{`.
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")
HISTOGRAM_SERIES = re.compile(r"_(bucket|sum|count)$")

# The part of the Prometheus Operator's PrometheusRule schema the chart uses, unknown fields
# refused (kubernetes-validate bundles core schemas only).
PROMETHEUS_RULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["groups"],
            "properties": {
                "groups": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name", "rules"],
                        "properties": {
                            "name": {"type": "string"},
                            "rules": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["alert", "expr"],
                                    "properties": {
                                        "alert": {"type": "string"},
                                        "expr": {"type": "string"},
                                        "for": {"type": "string",
                                                "pattern": "^[0-9]+(ms|s|m|h)$"},
                                        "labels": {"type": "object",
                                                   "additionalProperties": {"type": "string"}},
                                        "annotations": {"type": "object",
                                                        "additionalProperties": {"type": "string"}},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def rule_of(objs: list[dict[str, Any]]) -> dict[str, Any]:
    rules = by_kind(objs, "PrometheusRule")
    assert len(rules) == 1, f"expected one PrometheusRule, found {len(rules)}"
    return rules[0]


def dashboards_of(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in by_kind(objs, "ConfigMap")
            if o["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]


def alerts(rule: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def documented_metrics() -> set[str]:
    return set(re.findall(r"`([a-z][a-z0-9_]*)(?:\{[^`]*\})?`", DOCS.read_text()))


def metric_names(expr: str) -> set[str]:
    return {HISTOGRAM_SERIES.sub("", name) for name in SELECTOR.findall(expr)}


def heading_anchors(markdown: str) -> set[str]:
    """GitHub's anchors: lowercased heading text, punctuation dropped, spaces as dashes."""
    anchors = set()
    for heading in re.findall(r"^#+\s+(.+?)\s*$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def promtool() -> str:
    path = os.environ.get("PROMTOOL") or shutil.which("promtool")
    assert path, ("promtool is needed (Debian package `prometheus`); scripts/validate-k8s.sh "
                  "installs it when missing")
    return path


def test_rule_and_dashboard_render_only_when_enabled() -> None:
    default = chartlib.render_set("default")
    assert not by_kind(default, "PrometheusRule")
    assert not dashboards_of(default)

    production = chartlib.render_set("production")
    rule = rule_of(production)
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert len(dashboards_of(production)) == 1

    only_rule = chartlib.documents(chartlib.render_raw(chartlib.load_values(
        [], {"metrics": {"prometheusRule": {"enabled": True}}})))
    rule_of(only_rule)
    assert not dashboards_of(only_rule)


def test_rules_pass_promtool_check_and_unit_tests(tmp_path: Path) -> None:
    rule = rule_of(chartlib.render_set("production"))
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    for command in (["check", "rules", "rules.yaml"], ["test", "rules", UNIT_TESTS.name]):
        run = subprocess.run([promtool(), *command], cwd=tmp_path, capture_output=True, text=True)
        assert run.returncode == 0, f"promtool {' '.join(command)}:\n{run.stdout}{run.stderr}"


def test_every_alert_is_described_with_a_runbook_in_the_operations_guide() -> None:
    anchors = heading_anchors(DOCS.read_text())
    rule = rule_of(chartlib.render_set("production"))
    for alert in alerts(rule):
        name, notes = alert["alert"], alert.get("annotations", {})
        assert alert["labels"]["severity"] in {"warning", "critical"}, name
        assert notes.get("summary") and notes.get("description"), name
        base, _, anchor = notes.get("runbook_url", "").partition("#")
        assert base.endswith("docs/operations.md"), name
        assert anchor in anchors, f"{name}: no heading #{anchor} in docs/operations.md"


def test_every_alert_scopes_to_the_release_namespace() -> None:
    rule = rule_of(chartlib.render_set("production"))
    for alert in alerts(rule):
        selectors = re.findall(r"\{([^}]*)\}", alert["expr"].replace("{{", ""))
        assert selectors, alert["alert"]
        for selector in selectors:
            assert f'namespace="{chartlib.NAMESPACE}"' in selector, (alert["alert"], selector)


def test_alert_and_dashboard_queries_name_known_metrics() -> None:
    known = documented_metrics() | EXTERNAL_METRICS
    rule = rule_of(chartlib.render_set("production"))
    queries = [(a["alert"], a["expr"]) for a in alerts(rule)]
    dashboard = json.loads(DASHBOARD.read_text())
    queries += [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])]
    queries += [(v["name"], v["definition"]) for v in dashboard["templating"]["list"]
                if v["type"] == "query"]
    unknown = [(where, name) for where, expr in queries for name in metric_names(expr)
               if name not in known]
    assert not unknown, f"not listed in docs/operations.md: {unknown}"
    assert len(queries) > 20


def test_the_dashboard_is_a_well_formed_grafana_dashboard() -> None:
    rendered = dashboards_of(chartlib.render_set("production"))[0]
    dashboard = json.loads(rendered["data"]["salescompass.json"])
    assert dashboard == json.loads(DASHBOARD.read_text()), "the ConfigMap carries the file as is"
    assert dashboard["uid"] and dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    rows = {p["title"] for p in dashboard["panels"] if p["type"] == "row"}
    for topic in ("gRPC", "Gateway", "Database", "Events", "Processes"):
        assert any(topic in row for row in rows), f"no row about {topic}: {rows}"
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used = set(re.findall(r"\$(\w+)", target["expr"])) - {"__rate_interval", "__range"}
            assert used <= variables, (panel["title"], used - variables)
