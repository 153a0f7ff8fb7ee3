"""Offline rendering of the SalesCompass chart, shared by the tests and scripts/validate-k8s.sh.

Helm itself is not installed on our machines; helm-python-sdk links Helm's Go SDK (v4) and renders,
lints and packages charts without a cluster. The charts are copied to a scratch directory before
`helm dependency update` so the repository is never written to.

    python tests/k8s/chartlib.py render production OUT_DIR   # write the rendered manifests
    python tests/k8s/chartlib.py write-example                # refresh k8s/production-example/
"""

from __future__ import annotations

import atexit
import copy
import functools
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

REPO = Path(__file__).resolve().parents[2]
HELM_DIR = REPO / "helm"
CHART_NAME = "salescompass"
CHART_DIR = HELM_DIR / CHART_NAME
RELEASE = "salescompass"
NAMESPACE = "salescompass"
# The oldest Kubernetes the chart supports (docs/operations.md) and the one we target.
KUBE_VERSIONS = ("1.30.0", "1.31.0")
EXAMPLE = REPO / "k8s" / "production-example" / "salescompass.yaml"
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Named value sets: files relative to the chart, merged in order like repeated `helm -f`.
VALUE_SETS: dict[str, list[str]] = {
    "default": [],
    "production": ["values-production.yaml"],
    "staging": ["values-production.yaml", "values-staging.yaml"],
    "dev": ["values-dev.yaml"],
    "all-services": ["ci/all-services-values.yaml"],
    "minimal": ["ci/minimal-values.yaml"],
    "prefix": ["ci/prefix-values.yaml"],
}


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merges like repeated `helm -f`: maps merge key by key, anything else is replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_values(files: list[str | Path], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in files:
        path = Path(name)
        if not path.is_absolute():
            path = CHART_DIR / path
        values = deep_merge(values, yaml.safe_load(path.read_text()) or {})
    return deep_merge(values, extra or {})


@functools.lru_cache(maxsize=1)
def prepared_chart_dir() -> Path:
    """A scratch copy of helm/ with the library chart packed into salescompass/charts/."""
    scratch = Path(tempfile.mkdtemp(prefix="salescompass-chart-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    shutil.copytree(HELM_DIR, scratch / "helm", ignore=shutil.ignore_patterns("charts", "*.tgz"))
    chart = scratch / "helm" / CHART_NAME
    helm.dependency_update(chart)
    return chart


@functools.lru_cache(maxsize=1)
def _chart() -> helm.Chart:
    return helm.Chart.load(prepared_chart_dir())


def effective_values(files: list[str | Path]) -> dict[str, Any]:
    """The values a release would use: the chart's defaults coalesced with the files (Helm's rules)."""
    return _chart().merge_values(load_values(files))


def render_raw(values: dict[str, Any], *, release: str = RELEASE, namespace: str = NAMESPACE,
               is_upgrade: bool = False) -> dict[str, str]:
    """Template path -> rendered text, as `helm template` would print it (hooks included)."""
    return _chart().render(values=values, name=release, namespace=namespace,
                           is_install=not is_upgrade, is_upgrade=is_upgrade)


def documents(rendered: dict[str, str]) -> list[dict[str, Any]]:
    """Every Kubernetes object of a render, in template order, NOTES.txt left out."""
    docs = []
    for source in sorted(rendered):
        if source.endswith("NOTES.txt"):
            continue
        for doc in yaml.load_all(rendered[source], Loader=Loader):
            if doc:
                doc.setdefault("metadata", {})
                docs.append(doc)
    return docs


@functools.lru_cache(maxsize=None)
def _render_set(name: str) -> tuple[dict[str, str], ...]:
    return (render_raw(load_values(VALUE_SETS[name])),)


@functools.lru_cache(maxsize=None)
def _documents_of_set(name: str) -> tuple[dict[str, Any], ...]:
    return tuple(documents(_render_set(name)[0]))


def render_set(name: str) -> list[dict[str, Any]]:
    """The objects of a named value set (cached; callers get their own copy)."""
    return copy.deepcopy(list(_documents_of_set(name)))


def notes(name: str) -> str:
    rendered = _render_set(name)[0]
    return next((text for path, text in rendered.items() if path.endswith("NOTES.txt")), "")


def lint(values: dict[str, Any]) -> dict[str, Any]:
    return helm.lint(prepared_chart_dir(), values, strict=True, kube_version="v" + KUBE_VERSIONS[-1],
                     with_subcharts=True)


def as_text(rendered: dict[str, str], header: str = "") -> str:
    """`helm template`-style text: one `# Source:` comment per template, NOTES.txt left out."""
    parts = [header] if header else []
    for source in sorted(rendered):
        if source.endswith("NOTES.txt"):
            continue
        for doc in yaml.load_all(rendered[source], Loader=Loader):
            if doc:
                parts.append(f"---\n# Source: {source}\n" + yaml.safe_dump(doc, sort_keys=False))
    return "".join(parts)


EXAMPLE_HEADER = """\
# The production shape of SalesCompass: `helm template salescompass helm/salescompass
#   --namespace salescompass -f helm/salescompass/values-production.yaml`.
# Generated; do not edit. Refresh with: scripts/validate-k8s.sh --update-example
# (the validation fails when this file no longer matches the chart).
"""


def production_example() -> str:
    return as_text(_render_set("production")[0], EXAMPLE_HEADER)


def write_rendered(name: str, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{name}.yaml"
    target.write_text(as_text(_render_set(name)[0]))
    return target


def main(argv: list[str]) -> int:
    if argv[:1] == ["write-example"]:
        EXAMPLE.parent.mkdir(parents=True, exist_ok=True)
        EXAMPLE.write_text(production_example())
        print(f"wrote {EXAMPLE.relative_to(REPO)}")
        return 0
    if argv[:1] == ["render"] and len(argv) == 3:
        print(write_rendered(argv[1], argv[2]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
