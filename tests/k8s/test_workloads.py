"""Every service's Deployment meets the production bar, and gets its companion objects."""

from __future__ import annotations

import chartlib
from conftest import (
    by_kind,
    container,
    env_map,
    hook_phases,
    matches,
    maybe_named,
    named,
    pod_spec,
    services_of,
)

GRPC_PORT = 50051
ADMIN_PORT = 9090
HTTP_SERVICES = {"gateway"}


def _deployments(objs):
    deployments = by_kind(objs, "Deployment")
    assert deployments, "no Deployment rendered"
    return deployments


def test_every_deployment_has_startup_liveness_and_readiness_probes(any_set) -> None:
    _, objs = any_set
    for deploy in _deployments(objs):
        name = deploy["metadata"]["labels"]["salescompass.io/service"]
        c = container(deploy)
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports["admin"] == ADMIN_PORT
        for probe in ("startupProbe", "livenessProbe"):
            assert c[probe]["httpGet"] == {"path": "/healthz", "port": "admin"}, (name, probe)
        readiness = c["readinessProbe"]
        if name in HTTP_SERVICES:
            assert ports["http"] == 8080
            assert readiness["httpGet"] == {"path": "/readyz", "port": "admin"}
        else:
            assert ports["grpc"] == GRPC_PORT
            # Native gRPC probe against grpc.health.v1 on the serving port.
            assert readiness["grpc"]["port"] == GRPC_PORT
        # The startup probe gives a slow start room before liveness may restart the pod.
        startup = c["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


def test_every_deployment_sets_requests_and_a_memory_limit(any_set) -> None:
    _, objs = any_set
    for deploy in _deployments(objs):
        for c in pod_spec(deploy)["containers"]:
            resources = c["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), deploy["metadata"]["name"]
            assert "memory" in resources["limits"], deploy["metadata"]["name"]


def test_pods_run_non_root_read_only_without_capabilities(hardened) -> None:
    value_set, objs = hardened
    workloads = _deployments(objs) + by_kind(objs, "Job")
    for obj in workloads:
        where = f"{value_set}: {obj['kind']}/{obj['metadata']['name']}"
        spec = pod_spec(obj)
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        assert spec["automountServiceAccountToken"] is False, where
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert not sc["capabilities"].get("add"), where
            # The only writable path is an emptyDir /tmp.
            mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
            assert mounts["/tmp"] == "tmp", where


def test_dev_values_relax_only_the_read_only_root_filesystem() -> None:
    for deploy in _deployments(chartlib.render_set("dev")):
        spec = pod_spec(deploy)
        sc = container(deploy)["securityContext"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert sc["runAsNonRoot"] is True and sc["capabilities"]["drop"] == ["ALL"]
        assert sc["readOnlyRootFilesystem"] is False


def test_each_deployment_runs_its_own_binary_with_serve(any_set) -> None:
    _, objs = any_set
    for deploy in _deployments(objs):
        name = deploy["metadata"]["labels"]["salescompass.io/service"]
        c = container(deploy)
        assert c["command"] == [f"/usr/local/bin/{name}"]
        assert c["args"] == ["serve"]
        assert not c["image"].endswith(":latest") and ":" in c["image"]


def test_graceful_shutdown_fits_the_termination_grace_period(any_set) -> None:
    value_set, objs = any_set
    for deploy in _deployments(objs):
        name = deploy["metadata"]["name"]
        spec = pod_spec(deploy)
        config = named(objs, "ConfigMap", name)["data"]
        grace = int(config["SALESCOMPASS__SERVER__SHUTDOWN_GRACE_SECS"])
        drain = int(config.get("SALESCOMPASS__SERVER__DRAIN_DELAY_SECS", "0"))
        pre_stop = _pre_stop_sleep(container(deploy)) or 0
        # Kubernetes counts the preStop hook inside the grace period, then sends SIGTERM; the
        # service drains and stops within drain + grace. Anything left is killed.
        assert spec["terminationGracePeriodSeconds"] > pre_stop + drain + grace, (value_set, name)
        if value_set != "dev":
            assert pre_stop >= 3, "endpoints need a few seconds to drop a terminating pod"


def _pre_stop_sleep(c) -> int | None:
    """Seconds of the container's preStop sleep hook, None without one."""
    sleep = c.get("lifecycle", {}).get("preStop", {}).get("sleep")
    return None if sleep is None else sleep["seconds"]


def _pod_templates(objs):
    for obj in objs:
        if obj["kind"] == "Pod":
            yield obj, obj["spec"]
        elif "template" in obj.get("spec", {}):
            yield obj, pod_spec(obj)


def test_no_container_has_a_pre_stop_sleep_of_zero(any_set) -> None:
    # The API server of Kubernetes 1.30-1.32 refuses `sleep: {seconds: 0}` (allowed from 1.33
    # behind PodLifecycleSleepActionAllowZero); the schemas do not say so, hence this check.
    value_set, objs = any_set
    for obj, spec in _pod_templates(objs):
        for c in spec.get("initContainers", []) + spec["containers"]:
            seconds = _pre_stop_sleep(c)
            assert seconds is None or seconds >= 1, (value_set, obj["kind"], obj["metadata"]["name"], c["name"])


def test_a_pre_stop_sleep_of_zero_renders_no_hook() -> None:
    dev = chartlib.render_set("dev")
    assert chartlib.load_values(["values-dev.yaml"])["serviceDefaults"]["shutdown"]["preStopSleepSeconds"] == 0
    for deploy in _deployments(dev):
        assert "lifecycle" not in container(deploy), deploy["metadata"]["name"]
    values = chartlib.load_values(["values-dev.yaml"], {"services": {"crm": {"shutdown": {"preStopSleepSeconds": 2}}}})
    objs = chartlib.documents(chartlib.render_raw(values))
    crm = named(objs, "Deployment", "crm")
    assert _pre_stop_sleep(container(crm)) == 2
    assert pod_spec(crm)["terminationGracePeriodSeconds"] == 2 + 5 + 2


def test_every_deployment_has_its_companion_objects(hardened) -> None:
    value_set, objs = hardened
    for deploy in _deployments(objs):
        name = deploy["metadata"]["name"]
        where = f"{value_set}: {name}"
        pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
        assert matches(deploy["spec"]["selector"]["matchLabels"], pod_labels), where

        sa = named(objs, "ServiceAccount", name)
        assert pod_spec(deploy)["serviceAccountName"] == sa["metadata"]["name"], where
        assert sa["automountServiceAccountToken"] is False, where

        configmap = named(objs, "ConfigMap", name)
        refs = [e["configMapRef"]["name"] for e in container(deploy)["envFrom"]]
        assert refs == [configmap["metadata"]["name"]], where
        assert "checksum/config" in deploy["spec"]["template"]["metadata"]["annotations"], where

        service = named(objs, "Service", name)
        assert matches(service["spec"]["selector"], pod_labels), where
        port_names = {p["name"] for p in service["spec"]["ports"]}
        assert "admin" in port_names and port_names & {"grpc", "http"}, where

        pdb = named(objs, "PodDisruptionBudget", name)
        assert matches(pdb["spec"]["selector"]["matchLabels"], pod_labels), where

        netpol = named(objs, "NetworkPolicy", name)
        assert matches(netpol["spec"]["podSelector"]["matchLabels"], pod_labels), where
        assert set(netpol["spec"]["policyTypes"]) == {"Ingress", "Egress"}, where

        hpa = named(objs, "HorizontalPodAutoscaler", name)
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                                 "name": name}, where
        # With an HPA the Deployment leaves replicas alone, or each upgrade would reset them.
        assert "replicas" not in deploy["spec"], where

        spread = pod_spec(deploy)["topologySpreadConstraints"]
        assert {t["topologyKey"] for t in spread} >= {"kubernetes.io/hostname"}, where


def test_serving_selectors_never_pick_migrate_pods(any_set) -> None:
    _, objs = any_set
    for job in by_kind(objs, "Job"):
        labels = job["spec"]["template"]["metadata"]["labels"]
        for kind in ("Service", "PodDisruptionBudget", "NetworkPolicy"):
            for obj in by_kind(objs, kind):
                selector = obj["spec"].get("selector") or obj["spec"].get("podSelector")
                selector = selector.get("matchLabels", selector)
                assert not matches(selector, labels), (kind, obj["metadata"]["name"])


def test_optional_objects_can_be_switched_off() -> None:
    objs = chartlib.render_set("minimal")
    for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "Job"):
        assert not by_kind(objs, kind), kind
    for deploy in _deployments(objs):
        assert deploy["spec"]["replicas"] == 2
        assert "prometheus.io/scrape" not in deploy["spec"]["template"]["metadata"].get("annotations", {})
    assert services_of(objs) == ["gateway", "tenants"]


def test_adding_a_service_is_one_values_entry() -> None:
    objs = chartlib.render_set("all-services")
    assert services_of(objs) == sorted(
        ["billing", "commissions", "crm", "engagement", "forecasting", "gateway", "ml", "telephony", "tenants"])
    forecasting = named(objs, "Deployment", "forecasting")
    assert container(forecasting)["command"] == ["/usr/local/bin/forecasting"]
    assert named(objs, "Job", "forecasting-migrate")
    gateway = named(objs, "ConfigMap", "gateway")["data"]
    assert gateway["SALESCOMPASS__GATEWAY__UPSTREAMS__FORECASTING"] == "http://forecasting:50051"


def test_networkpolicies_allow_what_each_service_needs() -> None:
    objs = chartlib.render_set("default")
    tenants = named(objs, "NetworkPolicy", "tenants")["spec"]
    ingress_ports = {p["port"] for rule in tenants["ingress"] for p in rule["ports"]}
    assert ingress_ports == {"grpc", "admin"}
    egress_ports = {p["port"] for rule in tenants["egress"] for p in rule["ports"]}
    assert {53, 5432, 5672, GRPC_PORT} <= egress_ports

    gateway = named(objs, "NetworkPolicy", "gateway")["spec"]
    assert {p["port"] for rule in gateway["ingress"] for p in rule["ports"]} == {"http", "admin"}
    gateway_egress = {p["port"] for rule in gateway["egress"] for p in rule["ports"]}
    assert 5432 not in gateway_egress and GRPC_PORT in gateway_egress

    production = chartlib.render_set("production")
    otlp = [r for r in named(production, "NetworkPolicy", "crm")["spec"]["egress"]
            if any(p["port"] == 4317 for p in r["ports"])]
    assert otlp and otlp[0]["to"], "OTLP egress is narrowed in production"


def test_telemetry_settings_reach_every_service() -> None:
    objs = chartlib.render_set("production")
    for deploy in _deployments(objs):
        data = named(objs, "ConfigMap", deploy["metadata"]["name"])["data"]
        assert data["SALESCOMPASS__TELEMETRY__LOG_FORMAT"] == "json"
        assert data["SALESCOMPASS__TELEMETRY__OTLP_ENDPOINT"].startswith("http://otel-collector.")
        assert "prometheus.io/scrape" not in deploy["spec"]["template"]["metadata"]["annotations"]
    for deploy in _deployments(chartlib.render_set("default")):
        annotations = deploy["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(ADMIN_PORT)
        assert annotations["prometheus.io/path"] == "/metrics"


def test_deployments_are_not_hooks(any_set) -> None:
    _, objs = any_set
    for kind in ("Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler"):
        for obj in by_kind(objs, kind):
            assert not hook_phases(obj), f"{kind}/{obj['metadata']['name']} must be a release object"


def test_no_env_value_carries_a_literal_credential(any_set) -> None:
    _, objs = any_set
    for obj in _deployments(objs) + by_kind(objs, "Job"):
        env = env_map(obj)
        for name, var in env.items():
            if any(word in name for word in ("PASSWORD", "TOKEN", "KEY_PEM")):
                assert "valueFrom" in var and "secretKeyRef" in var["valueFrom"], name
        for url_var in ("DATABASE_URL", "AMQP_URL", "SALESCOMPASS__DATABASE__MIGRATE_URL"):
            if url_var in env:
                assert "$(SC_" in env[url_var]["value"], url_var


def test_image_digest_wins_over_the_tag() -> None:
    for deploy in _deployments(chartlib.render_set("prefix")):
        assert "@sha256:" in container(deploy)["image"]
    assert maybe_named(chartlib.render_set("prefix"), "Deployment", "preview-tenants")


def _cpu_source(c) -> str | None:
    var = next((e for e in c.get("env", []) if e["name"] == "SALESCOMPASS_CPUS"), None)
    if var is None:
        return None
    ref = var["valueFrom"]["resourceFieldRef"]
    assert ref["divisor"] == "1" and "containerName" not in ref, "whole CPUs of this container"
    return ref["resource"]


def test_services_size_their_threads_from_their_own_cpu_request(any_set) -> None:
    # No CPU limit by default: the cgroup has no quota, so without SALESCOMPASS_CPUS a service
    # would start one worker (and one 19 MiB hashing thread) per core of the node.
    value_set, objs = any_set
    for obj in _deployments(objs) + by_kind(objs, "Job"):
        c = container(obj)
        expected = "limits.cpu" if "cpu" in c["resources"].get("limits", {}) else "requests.cpu"
        assert _cpu_source(c) == expected, (value_set, obj["kind"], obj["metadata"]["name"])


def test_a_cpu_limit_sizes_the_threads_when_set() -> None:
    values = chartlib.load_values([], {"services": {"tenants": {"resources": {"limits": {"cpu": "2"}}}}})
    objs = chartlib.documents(chartlib.render_raw(values))
    assert _cpu_source(container(named(objs, "Deployment", "tenants"))) == "limits.cpu"
    assert _cpu_source(container(named(objs, "Deployment", "crm"))) == "requests.cpu"
    no_cpu = chartlib.load_values([], {"serviceDefaults": {"resources": {"requests": {"cpu": None}}}})
    objs = chartlib.documents(chartlib.render_raw(no_cpu))
    assert _cpu_source(container(named(objs, "Deployment", "crm"))) is None, "then the cgroup decides"
