"""Fixtures and small readers over rendered manifests."""

from __future__ import annotations

import functools
import os
from typing import Any

import kubernetes_validate.utils
import pytest

import chartlib

# kubernetes-validate parses the schema files again for every object; they never change.
kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(
    kubernetes_validate.utils.schema_contents)

Obj = dict[str, Any]

# The value sets whose workloads must meet the production bar (dev relaxes a few settings on
# purpose, see values-dev.yaml; it is still schema-validated and checked for the basics).
HARDENED_SETS = ["default", "production", "staging", "all-services", "prefix"]


def pytest_sessionstart(session: pytest.Session) -> None:
    # scripts/validate-k8s.sh asks for the rendered manifests, for people and CI artifacts.
    out = os.environ.get("K8S_RENDER_DIR")
    if out:
        for name, files in chartlib.VALUE_SETS.items():
            path = chartlib.write_rendered(name, out)
            objs = chartlib.render_set(name)
            hooks = sum(1 for o in objs if hook_phases(o))
            print(f"rendered {name:<13} {len(objs):3d} objects ({hooks} hooks)  "
                  f"values: {', '.join(files) or 'defaults'}  -> {path}")


def by_kind(objs: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objs if o["kind"] == kind]


def named(objs: list[Obj], kind: str, name: str) -> Obj:
    matches = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def maybe_named(objs: list[Obj], kind: str, name: str) -> Obj | None:
    matches = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    return matches[0] if matches else None


def hook_phases(obj: Obj) -> set[str]:
    hooks = obj["metadata"].get("annotations", {}).get("helm.sh/hook", "")
    return {h.strip() for h in hooks.split(",") if h.strip()}


def hook_weight(obj: Obj) -> int:
    return int(obj["metadata"].get("annotations", {}).get("helm.sh/hook-weight", "0"))


def pod_spec(obj: Obj) -> Obj:
    return obj["spec"]["template"]["spec"]


def container(obj: Obj) -> Obj:
    containers = pod_spec(obj)["containers"]
    return containers[0]


def env_map(obj: Obj) -> dict[str, Obj]:
    return {e["name"]: e for e in container(obj).get("env", [])}


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def services_of(objs: list[Obj]) -> list[str]:
    """The SalesCompass service names in a render, from the Deployments."""
    return sorted(d["metadata"]["labels"]["salescompass.io/service"] for d in by_kind(objs, "Deployment"))


@pytest.fixture(params=HARDENED_SETS)
def hardened(request: pytest.FixtureRequest) -> tuple[str, list[Obj]]:
    return request.param, chartlib.render_set(request.param)


@pytest.fixture(params=list(chartlib.VALUE_SETS))
def any_set(request: pytest.FixtureRequest) -> tuple[str, list[Obj]]:
    return request.param, chartlib.render_set(request.param)
