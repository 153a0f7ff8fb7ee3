"""The gateway: reachable through an Ingress with a configurable class and TLS, routing to services."""

from __future__ import annotations

import chartlib
from conftest import by_kind, named

EXTRA = {
    "services": {
        "gateway": {
            "ingress": {
                "enabled": True,
                "className": "traefik",
                "annotations": {"traefik.ingress.kubernetes.io/router.tls": "true"},
                "hosts": [{"host": "crm.acme.test", "paths": [{"path": "/v1", "pathType": "Prefix"}]}],
                "tls": [{"secretName": "acme-tls", "hosts": ["crm.acme.test"]}],
            }
        }
    }
}


def _render(extra):
    return chartlib.documents(chartlib.render_raw(chartlib.load_values([], extra)))


def test_no_ingress_unless_enabled() -> None:
    assert not by_kind(chartlib.render_set("default"), "Ingress")


def test_production_ingress_terminates_tls_for_its_hosts() -> None:
    objs = chartlib.render_set("production")
    ingresses = by_kind(objs, "Ingress")
    assert [i["metadata"]["name"] for i in ingresses] == ["gateway"]
    spec = ingresses[0]["spec"]
    assert spec["ingressClassName"] == "nginx"
    rule_hosts = {r["host"] for r in spec["rules"]}
    tls_hosts = {h for t in spec["tls"] for h in t["hosts"]}
    assert rule_hosts == tls_hosts == {"api.salescompass.example.com"}
    backend = spec["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "gateway", "port": {"name": "http"}}
    service_ports = {p["name"] for p in named(objs, "Service", "gateway")["spec"]["ports"]}
    assert "http" in service_ports


def test_ingress_class_tls_and_paths_are_configurable() -> None:
    ingress = named(_render(EXTRA), "Ingress", "gateway")
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "traefik"
    assert spec["tls"] == [{"secretName": "acme-tls", "hosts": ["crm.acme.test"]}]
    assert spec["rules"][0]["http"]["paths"][0]["path"] == "/v1"
    assert ingress["metadata"]["annotations"] == {"traefik.ingress.kubernetes.io/router.tls": "true"}


def test_an_empty_class_leaves_the_cluster_default() -> None:
    extra = {"services": {"gateway": {"ingress": {"enabled": True, "hosts": [{"host": "a.test"}]}}}}
    spec = named(_render(extra), "Ingress", "gateway")["spec"]
    assert "ingressClassName" not in spec and "tls" not in spec
    assert spec["rules"][0]["http"]["paths"][0]["path"] == "/"


def test_the_gateway_routes_to_every_enabled_grpc_service() -> None:
    for value_set in ("default", "all-services", "minimal", "prefix"):
        objs = chartlib.render_set(value_set)
        prefix = "preview-" if value_set == "prefix" else ""
        data = named(objs, "ConfigMap", f"{prefix}gateway")["data"]
        upstreams = {k.removeprefix("SALESCOMPASS__GATEWAY__UPSTREAMS__"): v
                     for k, v in data.items() if k.startswith("SALESCOMPASS__GATEWAY__UPSTREAMS__")}
        grpc_services = {}
        for svc in by_kind(objs, "Service"):
            ports = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
            if "grpc" in ports:
                name = svc["metadata"]["labels"]["salescompass.io/service"]
                grpc_services[name.upper().replace("-", "_")] = f"http://{svc['metadata']['name']}:{ports['grpc']}"
        assert upstreams == grpc_services, value_set
        assert data["SALESCOMPASS__GATEWAY__LISTEN"] == "0.0.0.0:8080"


def test_services_find_the_token_keys_at_tenants() -> None:
    for value_set, url in (("default", "http://tenants:50051"), ("prefix", "http://preview-tenants:50051")):
        objs = chartlib.render_set(value_set)
        for cm in by_kind(objs, "ConfigMap"):
            service = cm["metadata"]["labels"]["salescompass.io/service"]
            if service == "tenants":
                assert "SALESCOMPASS__AUTH__TENANTS_URL" not in cm["data"]
            else:
                assert cm["data"]["SALESCOMPASS__AUTH__TENANTS_URL"] == url


def test_tenants_gets_its_signing_key_and_operator_token_from_a_secret() -> None:
    objs = chartlib.render_set("default")
    env = {e["name"]: e for e in named(objs, "Deployment", "tenants")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SALESCOMPASS__AUTH__SIGNING_KEY_PEM"]["valueFrom"]["secretKeyRef"] == {
        "name": "tenants-auth", "key": "signing-key.pem"}
    assert env["SALESCOMPASS__OPERATOR__TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "tenants-auth", "key": "operator-token"}
    crm = {e["name"] for e in named(objs, "Deployment", "crm")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "SALESCOMPASS__AUTH__SIGNING_KEY_PEM" not in crm
