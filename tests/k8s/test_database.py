"""One schema and one role per service, migrated by a hook Job before the Deployments roll."""

from __future__ import annotations

from urllib.parse import urlsplit

import chartlib
from conftest import (
    by_kind,
    container,
    env_map,
    hook_phases,
    hook_weight,
    maybe_named,
    named,
    pod_spec,
)

DB_SETS = ["default", "production", "all-services", "prefix", "dev"]


def _db_deployments(objs):
    return [d for d in by_kind(objs, "Deployment") if "DATABASE_URL" in env_map(d)]


def test_every_database_service_has_its_own_schema_and_role() -> None:
    for value_set in DB_SETS:
        objs = chartlib.render_set(value_set)
        deployments = _db_deployments(objs)
        assert len(deployments) >= 2, value_set
        schemas, roles = [], []
        for deploy in deployments:
            name = deploy["metadata"]["labels"]["salescompass.io/service"]
            data = named(objs, "ConfigMap", deploy["metadata"]["name"])["data"]
            schema = data["SALESCOMPASS__DATABASE__SCHEMA"]
            role = data["SALESCOMPASS__DATABASE__APP_ROLE"]
            assert schema == name.replace("-", "_")
            assert role == f"{schema}_app"
            # Serving pods never migrate: the hook Job does, with the owner connection.
            assert data["SALESCOMPASS__DATABASE__MIGRATE_ON_START"] == "false"
            schemas.append(schema)
            roles.append(role)
            url = urlsplit(env_map(deploy)["DATABASE_URL"]["value"].replace("$(SC_DB_PASSWORD)", "pw"))
            expected_user = "postgres" if value_set == "dev" else role
            assert url.username == expected_user, (value_set, name)
        assert len(set(schemas)) == len(schemas), f"{value_set}: shared schema {schemas}"
        assert len(set(roles)) == len(roles), f"{value_set}: shared role {roles}"


def test_each_service_reads_its_own_database_secret() -> None:
    objs = chartlib.render_set("default")
    for deploy in _db_deployments(objs):
        name = deploy["metadata"]["name"]
        ref = env_map(deploy)["SC_DB_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": f"{name}-database", "key": "password"}


def test_the_gateway_has_no_database_and_no_migration() -> None:
    objs = chartlib.render_set("default")
    gateway = named(objs, "Deployment", "gateway")
    assert "DATABASE_URL" not in env_map(gateway)
    assert "SALESCOMPASS__DATABASE__SCHEMA" not in named(objs, "ConfigMap", "gateway")["data"]
    assert maybe_named(objs, "Job", "gateway-migrate") is None


def test_every_database_service_has_a_migrate_job_that_runs_before_the_rollout() -> None:
    for value_set in DB_SETS:
        objs = chartlib.render_set(value_set)
        for deploy in _db_deployments(objs):
            name = deploy["metadata"]["name"]
            job = named(objs, "Job", f"{name}-migrate")
            # Helm runs pre-install/pre-upgrade hooks to completion before it applies any release
            # object, so the schema is migrated before a new pod of this version starts.
            assert hook_phases(job) == {"pre-install", "pre-upgrade"}, name
            assert not hook_phases(deploy)
            policy = job["metadata"]["annotations"]["helm.sh/hook-delete-policy"]
            assert "before-hook-creation" in policy
            c = container(job)
            assert c["command"] == container(deploy)["command"]
            assert c["args"] == ["migrate"]
            assert c["image"] == container(deploy)["image"]
            assert pod_spec(job)["restartPolicy"] == "Never"
            assert job["spec"]["backoffLimit"] <= 3
            assert job["spec"]["activeDeadlineSeconds"] > 0


def test_only_the_migrate_job_gets_the_owner_connection() -> None:
    objs = chartlib.render_set("default")
    for deploy in _db_deployments(objs):
        name = deploy["metadata"]["name"]
        job_env = env_map(named(objs, "Job", f"{name}-migrate"))
        deploy_env = env_map(deploy)
        assert "SALESCOMPASS__DATABASE__MIGRATE_URL" in job_env
        assert "SALESCOMPASS__DATABASE__MIGRATE_URL" not in deploy_env
        assert "SC_DB_MIGRATE_PASSWORD" not in deploy_env
        ref = job_env["SC_DB_MIGRATE_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "postgres-migrator", "key": "password"}
        # The Job carries the same schema and role as the service, inline (see the next test).
        config = named(objs, "ConfigMap", name)["data"]
        for key in ("SALESCOMPASS__DATABASE__SCHEMA", "SALESCOMPASS__DATABASE__APP_ROLE"):
            assert job_env[key]["value"] == config[key]


def test_everything_a_migrate_job_needs_exists_before_it_runs() -> None:
    """On a first install a pre-install hook runs before any release object exists."""
    for value_set in DB_SETS:
        objs = chartlib.render_set(value_set)
        rendered_secrets = {s["metadata"]["name"]: s for s in by_kind(objs, "Secret")}
        for job in by_kind(objs, "Job"):
            where = f"{value_set}: {job['metadata']['name']}"
            spec = pod_spec(job)
            assert not container(job).get("envFrom"), f"{where}: a release ConfigMap is not there yet"
            sa = named(objs, "ServiceAccount", spec["serviceAccountName"])
            assert hook_phases(sa) >= hook_phases(job), where
            assert hook_weight(sa) < hook_weight(job), where
            for var in container(job)["env"]:
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if not ref:
                    continue
                secret = rendered_secrets.get(ref["name"])
                if secret is None:
                    continue  # an existing Secret, created outside the release
                assert hook_phases(secret) >= hook_phases(job), f"{where}: {ref['name']}"
                assert hook_weight(secret) < hook_weight(job), f"{where}: {ref['name']}"
                assert ref["key"] in secret["data"], f"{where}: {ref}"


def test_created_secrets_hold_only_what_was_passed_at_install() -> None:
    assert not by_kind(chartlib.render_set("default"), "Secret")
    assert not by_kind(chartlib.render_set("production"), "Secret")
    secrets = by_kind(chartlib.render_set("prefix"), "Secret")
    assert [s["metadata"]["name"] for s in secrets] == ["preview-tenants-database"]


def test_connection_settings_come_from_values() -> None:
    objs = chartlib.render_set("production")
    crm = env_map(named(objs, "Deployment", "crm"))
    url = crm["DATABASE_URL"]["value"]
    assert url.startswith("postgres://crm_app:$(SC_DB_PASSWORD)@salescompass-db.internal.example.com:5432/salescompass?")
    assert "sslmode=verify-full" in url and "sslrootcert=%2Fetc%2Fsalescompass%2Fpostgres-ca%2Fca.crt" in url
    assert crm["AMQP_URL"]["value"] == (
        "amqps://$(SC_AMQP_USERNAME):$(SC_AMQP_PASSWORD)@rabbitmq.messaging.svc.cluster.local:5671/salescompass")
    default = env_map(named(chartlib.render_set("default"), "Deployment", "crm"))
    assert default["AMQP_URL"]["value"].endswith("@rabbitmq:5672/%2F")
    # Kubernetes expands $(VAR) only from variables defined earlier in the list.
    names = [e["name"] for e in container(named(objs, "Deployment", "crm"))["env"]]
    assert names.index("SC_DB_PASSWORD") < names.index("DATABASE_URL")
    assert names.index("SC_AMQP_PASSWORD") < names.index("AMQP_URL")
