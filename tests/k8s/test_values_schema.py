"""values.schema.json (and the chart's cross-field checks) refuse bad values with a useful message.

Each file in invalid-values/ starts with `# expect: <text>`: rendering with it must fail and the
error must contain that text (the offending key, so an operator knows what to fix).
"""

from __future__ import annotations

from pathlib import Path

import helm_python as helm
import pytest
import yaml

import chartlib

INVALID = sorted((Path(__file__).parent / "invalid-values").glob("*.yaml"))


def _expected(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: <text>'"
    return first.removeprefix("# expect: ").strip()


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_values_are_refused(path: Path) -> None:
    values = yaml.safe_load(path.read_text())
    with pytest.raises((helm.HelmValuesError, helm.HelmRenderError)) as refused:
        chartlib.render_raw(chartlib.load_values([], values))
    assert _expected(path) in str(refused.value)


@pytest.mark.parametrize("value_set", list(chartlib.VALUE_SETS))
def test_shipped_values_files_are_valid(value_set: str) -> None:
    with helm.Chart.load(chartlib.prepared_chart_dir()) as chart:
        chart.validate_schema(chartlib.load_values(chartlib.VALUE_SETS[value_set]))


def test_every_default_key_is_described_by_the_schema() -> None:
    """A key in values.yaml that the schema does not know would be refused by the schema."""
    with helm.Chart.load(chartlib.prepared_chart_dir()) as chart:
        defaults = chart.values
        chart.validate_schema(defaults)
        schema = chart.schema
    assert schema is not None and schema["additionalProperties"] is False
    service_keys = set(schema["definitions"]["service"]["properties"])
    assert set(defaults["serviceDefaults"]) == service_keys
