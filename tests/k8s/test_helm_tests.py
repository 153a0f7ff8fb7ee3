"""`helm test` hooks: one Pod per service that calls the service's health through its Service.

They run only on a cluster (the CI job `kind` installs the chart on a throwaway kind cluster and
runs `helm test`); here we check that each enabled service gets one, that it asks the right Service
port, and that it meets the same security bar as the workloads.
"""

from __future__ import annotations

import chartlib
from conftest import by_kind, hook_phases, matches, named, services_of


def _test_pods(objs):
    return [o for o in by_kind(objs, "Pod") if "test" in hook_phases(o)]


def _url(pod) -> str:
    c = pod["spec"]["containers"][0]
    assert '"$READYZ_URL"' in c["command"][-1]
    return {e["name"]: e["value"] for e in c["env"]}["READYZ_URL"]


def test_every_enabled_service_gets_one_readyz_test_through_its_service(any_set) -> None:
    value_set, objs = any_set
    pods = _test_pods(objs)
    if value_set == "minimal":
        assert not pods, "tests.enabled: false renders no test Pod"
        return
    by_service = {p["metadata"]["labels"]["salescompass.io/service"]: p for p in pods}
    assert sorted(by_service) == services_of(objs) and len(pods) == len(by_service), value_set
    for name, pod in by_service.items():
        deploy = next(d for d in by_kind(objs, "Deployment")
                      if d["metadata"]["labels"]["salescompass.io/service"] == name)
        service = named(objs, "Service", deploy["metadata"]["name"])
        admin = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "admin")
        assert _url(pod) == f"http://{service['metadata']['name']}:{admin}/readyz", (value_set, name)
        assert pod["spec"]["restartPolicy"] == "Never"
        assert "hook-succeeded" in pod["metadata"]["annotations"]["helm.sh/hook-delete-policy"]


def test_test_pods_are_never_serving_endpoints(any_set) -> None:
    _, objs = any_set
    for pod in _test_pods(objs):
        for kind in ("Service", "PodDisruptionBudget", "NetworkPolicy"):
            for obj in by_kind(objs, kind):
                selector = obj["spec"].get("selector") or obj["spec"].get("podSelector")
                selector = selector.get("matchLabels", selector)
                assert not matches(selector, pod["metadata"]["labels"]), (kind, obj["metadata"]["name"])


def test_test_pods_run_non_root_read_only_with_bounded_memory(any_set) -> None:
    _, objs = any_set
    for pod in _test_pods(objs):
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["automountServiceAccountToken"] is False
        c = spec["containers"][0]
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert "memory" in c["resources"]["limits"]
        assert not c["image"].endswith(":latest") and (":" in c["image"] or "@sha256:" in c["image"])


def test_a_test_image_digest_wins_over_its_tag() -> None:
    digest = "sha256:" + "a" * 64
    values = chartlib.load_values([], {"tests": {"image": {"digest": digest}}})
    pods = _test_pods(chartlib.documents(chartlib.render_raw(values)))
    assert pods and all(p["spec"]["containers"][0]["image"] == f"docker.io/library/busybox@{digest}"
                        for p in pods)
