"""k8s/: the dev manifests and the committed production example."""

from __future__ import annotations

import os
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

import chartlib
from conftest import by_kind, named

DEV = chartlib.REPO / "k8s" / "dev"
KUBE_VERSION = chartlib.KUBE_VERSIONS[-1]


def _dev_objects() -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl:
        # `kubectl kustomize` works offline; KUBECONFIG=/dev/null keeps it away from any cluster.
        out = subprocess.run([kubectl, "kustomize", str(DEV)], check=True, capture_output=True,
                             text=True, env=dict(os.environ, KUBECONFIG="/dev/null")).stdout
        return [d for d in yaml.safe_load_all(out) if d]
    # Without kubectl: the files the kustomization lists, with its namespace applied.
    kustomization = yaml.safe_load((DEV / "kustomization.yaml").read_text())
    objs = []
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((DEV / name).read_text()):
            if doc:
                if doc["kind"] != "Namespace":
                    doc["metadata"]["namespace"] = kustomization["namespace"]
                objs.append(doc)
    return objs


@pytest.fixture(scope="module")
def dev_objects() -> list[dict]:
    return _dev_objects()


def test_dev_manifests_are_valid_kubernetes(dev_objects) -> None:
    assert dev_objects
    for obj in dev_objects:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


def test_dev_dependencies_match_the_dev_values(dev_objects) -> None:
    values = chartlib.effective_values(chartlib.VALUE_SETS["dev"])
    namespace = named(dev_objects, "Namespace", "salescompass-dev")["metadata"]["name"]
    assert {o["metadata"].get("namespace", namespace) for o in dev_objects} == {namespace}
    postgres = named(dev_objects, "Service", values["postgres"]["host"])
    assert postgres["spec"]["ports"][0]["port"] == values["postgres"]["port"]
    rabbitmq = named(dev_objects, "Service", values["rabbitmq"]["host"])
    assert values["rabbitmq"]["port"] in {p["port"] for p in rabbitmq["spec"]["ports"]}
    secrets = {s["metadata"]["name"]: s for s in by_kind(dev_objects, "Secret")}
    for name in (values["postgres"]["migrator"]["existingSecret"],
                 values["serviceDefaults"]["database"]["existingSecret"],
                 values["rabbitmq"]["existingSecret"]):
        assert {"username", "password"} <= set(secrets[name]["stringData"]), name


def test_dev_postgres_is_the_version_ci_uses(dev_objects) -> None:
    image = named(dev_objects, "StatefulSet", "postgres")["spec"]["template"]["spec"]["containers"][0]["image"]
    ci = (chartlib.REPO / ".github" / "workflows" / "ci.yml").read_text()
    assert f"image: {image}" in ci


def test_production_example_matches_the_chart() -> None:
    committed = chartlib.EXAMPLE.read_text() if chartlib.EXAMPLE.exists() else ""
    assert committed == chartlib.production_example(), (
        "k8s/production-example/salescompass.yaml is stale: run scripts/validate-k8s.sh --update-example")
