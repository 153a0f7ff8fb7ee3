"""Static checks of what no machine here can run: the Dockerfile, the Tiltfile and the workflows.

No Docker engine, no Tilt and no GitHub runner exist on our build machines. These tests pin the
properties the rest of the delivery relies on (the image layout the chart's commands assume, the
paths the Tiltfile reads, the jobs CI must have); actionlint checks the workflows' syntax.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

import chartlib

REPO = chartlib.REPO
WORKFLOWS = REPO / ".github" / "workflows"


def _dockerfile() -> str:
    return (REPO / "Dockerfile").read_text()


def _stages(text: str) -> list[tuple[str, str]]:
    return re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, flags=re.MULTILINE | re.IGNORECASE)


def test_the_image_runs_distroless_as_non_root_without_healthcheck() -> None:
    text = _dockerfile()
    stages = _stages(text)
    final_image, final_name = stages[-1]
    assert final_name == "runtime", "the runtime stage must be last (the default target)"
    assert final_image.startswith("gcr.io/distroless/") and final_image.endswith(":nonroot")
    runtime = text[text.rindex("AS runtime"):]
    assert re.search(r"^USER 65532:65532$", runtime, flags=re.MULTILINE)
    assert "HEALTHCHECK" not in re.sub(r"#.*", "", text)
    assert "COPY --from=builder /out/bin/ /usr/local/bin/" in runtime


def test_the_build_is_locked_cached_and_builds_every_binary() -> None:
    text = _dockerfile()
    assert "cargo chef cook" in text, "dependency layer"
    assert re.search(r"cargo build --profile \S+ --locked --bins", text)
    assert "--mount=type=cache" in text
    assert "rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE}" in text
    assert re.search(r"^ARG RUST_VERSION=1\.95$", text, flags=re.MULTILINE)
    # The runtime's glibc must be the builder's: distroless Debian 12 with a bookworm builder.
    assert re.search(r"^ARG DEBIAN_RELEASE=bookworm$", text, flags=re.MULTILINE)
    assert "cc-debian12" in text
    # No downloads besides crates.io.
    assert not re.search(r"\b(curl|wget|apt-get|git clone)\b", re.sub(r"#.*", "", text))


def test_the_chart_runs_the_binaries_where_the_image_puts_them() -> None:
    values = chartlib.effective_values([])
    assert values["serviceDefaults"]["command"] == ""  # i.e. /usr/local/bin/<service>
    assert values["serviceDefaults"]["podSecurityContext"]["runAsUser"] == 65532


def test_dockerignore_keeps_what_the_build_reads() -> None:
    rules = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert rules[0] == "*", "allowlist"
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    assert {"Cargo.toml", "Cargo.lock", "bin", "libs", "services", "proto"} <= allowed
    assert "**/target/" in rules
    # Every workspace member lives in an allowed directory.
    members = re.search(r"members\s*=\s*\[(.*?)\]", (REPO / "Cargo.toml").read_text(), re.S).group(1)
    for member in re.findall(r'"([^"]+)"', members):
        assert member.split("/")[0] in allowed, member


def test_tiltfile_is_valid_starlark_and_uses_the_dev_setup() -> None:
    text = (REPO / "Tiltfile").read_text()
    ast.parse(text, filename="Tiltfile")  # Starlark is a subset of Python's syntax
    for path in ("helm/salescompass/values-dev.yaml", "k8s/dev", "helm/salescompass"):
        assert path in text or path.replace("helm/salescompass", "CHART") in text
        assert (REPO / path).exists(), path
    assert "port_forwards=['8080:8080']" in text
    assert "live_update=" in text and "docker_build_with_restart" in text
    assert "values-dev.yaml" in text and "namespace=NAMESPACE" in text
    namespace = re.search(r"NAMESPACE = '([^']+)'", text).group(1)
    assert yaml.safe_load((REPO / "k8s/dev/kustomization.yaml").read_text())["namespace"] == namespace


def _workflow(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def _runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_ci_runs_rust_checks_with_postgres_and_rabbitmq() -> None:
    ci = _workflow("ci.yml")
    assert set(ci["on"]) == {"push", "pull_request"}
    rust = ci["jobs"]["rust"]
    assert {"postgres", "rabbitmq"} <= set(rust["services"])
    runs = _runs(rust)
    for command in ("cargo fmt --all --check", "cargo clippy --workspace --all-targets --locked -- -D warnings",
                    "cargo test --workspace --locked"):
        assert command in runs


def test_ci_checks_contracts_and_the_chart() -> None:
    ci = _workflow("ci.yml")
    proto = ci["jobs"]["proto"]
    assert proto["steps"][0]["with"]["fetch-depth"] == 0, "buf breaking reads main from git"
    runs = _runs(proto)
    assert "buf lint proto" in runs and "buf breaking proto --against \".git#branch=" in runs
    assert "scripts/validate-k8s.sh" in _runs(ci["jobs"]["k8s"])
    assert "helm package" in _runs(ci["jobs"]["chart"])


def test_tags_build_push_package_and_deploy_to_staging() -> None:
    release = _workflow("release.yml")
    assert release["on"]["push"]["tags"] == ["v*.*.*"]
    jobs = release["jobs"]
    build = next(s for s in jobs["image"]["steps"] if s.get("uses", "").startswith("docker/build-push-action"))
    assert build["with"]["push"] is True
    assert jobs["image"]["env"]["IMAGE"].startswith("ghcr.io/")
    assert "helm push" in _runs(jobs["chart"])
    assert jobs["deploy-staging"]["uses"] == "./.github/workflows/deploy-staging.yml"
    deploy = _workflow("deploy-staging.yml")
    command = _runs(deploy["jobs"]["deploy"])
    assert "helm upgrade --install" in command and "--atomic" in command and "--wait" in command
    assert deploy["jobs"]["deploy"]["environment"] == "staging"
    assert (chartlib.CHART_DIR / "values-staging.yaml").exists()


def test_workflow_actions_are_pinned_to_a_version() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job.get("steps", []):
                uses = step.get("uses")
                if uses and not uses.startswith("./"):
                    assert re.search(r"@(v\d+|[0-9a-f]{40}|master)$", uses), f"{path.name}: {uses}"


def test_ci_builds_the_image_on_pull_requests_without_pushing() -> None:
    ci = _workflow("ci.yml")
    assert "pull_request" in ci["on"]
    image = ci["jobs"]["image"]
    build = next(s for s in image["steps"] if s.get("uses", "").startswith("docker/build-push-action"))
    # The release's build step, minus the push: the same Dockerfile and context.
    release = _workflow("release.yml")["jobs"]["image"]
    release_build = next(s for s in release["steps"] if s.get("uses", "").startswith("docker/build-push-action"))
    assert build["uses"] == release_build["uses"]
    assert build["with"]["context"] == release_build["with"]["context"] == "."
    assert build["with"]["push"] is False
    assert build["with"]["platforms"] == release_build["with"]["platforms"]
    assert "type=docker,dest=" in build["with"]["outputs"]


def test_ci_installs_the_chart_on_kind_and_runs_helm_test() -> None:
    ci = _workflow("ci.yml")
    kind = ci["jobs"]["kind"]
    assert "image" in kind["needs"]
    uses = {s["uses"].split("@")[0]: s for s in kind["steps"] if "uses" in s}
    node_image = uses["helm/kind-action"]["with"]["node_image"]
    oldest = chartlib.KUBE_VERSIONS[0].rsplit(".", 1)[0]
    assert re.fullmatch(rf"kindest/node:v{re.escape(oldest)}\.\d+", node_image), node_image
    runs = _runs(kind)
    assert "kind load image-archive" in runs
    assert "kubectl apply -k k8s/dev" in runs
    install = re.search(r"helm install .*?--wait[^\n]*", runs, flags=re.S).group(0)
    assert "-f helm/salescompass/values-dev.yaml" in install
    assert "image.pullPolicy=Never" in install, "the loaded image, never one pulled from a registry"
    assert re.search(r"^\s*run: helm test .*--logs", (WORKFLOWS / "ci.yml").read_text(), flags=re.M)


def test_the_kind_job_provides_every_secret_the_dev_release_reads() -> None:
    objs = chartlib.render_set("dev")
    wanted = set()
    for obj in objs:
        spec = obj.get("spec", {})
        spec = spec.get("template", {}).get("spec", spec)
        for c in spec.get("containers", []):
            for var in c.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    wanted.add(ref["name"])
    dev_secrets = {d["metadata"]["name"] for d in yaml.safe_load_all((REPO / "k8s/dev/secrets.yaml").read_text())
                   if d and d["kind"] == "Secret"}
    created = set(re.findall(r"create secret generic (\S+)", _runs(_workflow("ci.yml")["jobs"]["kind"])))
    assert wanted and wanted <= dev_secrets | created, wanted - dev_secrets - created


def test_ci_fuzzes_the_api_within_a_bounded_budget() -> None:
    run = (REPO / ".ci" / "run").read_text()
    step = run[run.index("API fuzzing"):]
    assert re.search(r"cargo build -p salescompass --locked", step)
    assert re.search(r'timeout "\$\{FUZZ_TIMEOUT_SECS:-\d+\}"', step), "a hard cap on the step"
    assert re.search(r"FUZZ_MAX_EXAMPLES=", step)
    assert "scripts/gateway-fuzz.sh --start" in step
    fuzz = (REPO / "scripts" / "gateway-fuzz.sh").read_text()
    assert "--checks not_a_server_error" in fuzz
    pinned = (REPO / "services" / "gateway" / "tools" / "requirements.txt").read_text()
    assert re.search(r"^schemathesis==4\.\d+\.\d+$", pinned, flags=re.M)
