#!/usr/bin/env bash
# Property-based fuzzing of the REST API with schemathesis (PyPI) against a running gateway:
# every operation of /openapi.json gets generated valid and invalid requests, authenticated as a
# freshly provisioned tenant admin, and the stateful phase follows the document's links from each
# create to the get/update/delete of the record it made; the run fails if any response is a 5xx.
#
# Against a platform you started (another terminal):
#   SALESCOMPASS__OPERATOR__TOKEN=dev-operator-token \
#   SALESCOMPASS__GATEWAY__RATE_LIMIT__ENABLED=false cargo run -p salescompass -- dev
#   SALESCOMPASS__OPERATOR__TOKEN=dev-operator-token scripts/gateway-fuzz.sh [schemathesis args...]
# Or let the script start one (what .ci/run does), on a database and RabbitMQ vhost of its own
# that it removes afterwards, rate limits off:
#   scripts/gateway-fuzz.sh --start target/debug/salescompass [schemathesis args...]
#
# Environment:
#   GATEWAY_URL                  gateway base URL (default http://127.0.0.1:8080)
#   GATEWAY_ADMIN_URL            its admin port, for /readyz and the request counts in /metrics
#                                (default http://127.0.0.1:9090)
#   SALESCOMPASS__OPERATOR__TOKEN  operator token of the running platform (to provision a tenant);
#                                generated with --start
#   FUZZ_MAX_EXAMPLES            examples per operation (default 50)
#   FUZZ_WORKERS                 concurrent schemathesis workers (default 1)
#   FUZZ_MAX_TIME                seconds for the whole run: fuzzing and the stateful phase repeat
#                                until it is spent (default: no budget, each phase runs once)
#   DATABASE_ADMIN_URL           with --start: where the scratch database is created
#                                (default postgres://postgres@127.0.0.1:5432/postgres)
#   AMQP_BASE_URL                with --start: the broker, without vhost (default amqp://guest:guest@127.0.0.1:5672)
#   SALESCOMPASS_CACHE_DIR       tool cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/salescompass)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${SALESCOMPASS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/salescompass}"
venv="$cache/gateway-venv"
requirements="$repo/services/gateway/tools/requirements.txt"
base="${GATEWAY_URL:-http://127.0.0.1:8080}"
admin="${GATEWAY_ADMIN_URL:-http://127.0.0.1:9090}"

die() {
    printf 'gateway-fuzz: %s\n' "$*" >&2
    exit 1
}

start_bin=""
if [[ "${1:-}" == --start ]]; then
    start_bin="${2:-}"
    [[ -x "$start_bin" ]] || die "--start needs the salescompass binary (e.g. target/debug/salescompass), got '${start_bin}'"
    shift 2
fi

if [[ ! -x "$venv/bin/schemathesis" ]] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$venv/requirements.txt"
fi
py="$venv/bin/python"

# --- with --start: a platform of our own ------------------------------------------------------
platform_pid=""
scratch_db=""
scratch_vhost=""
work="$(mktemp -d "${TMPDIR:-/tmp}/gateway-fuzz.XXXXXX")"

cleanup() {
    if [[ -n "$platform_pid" ]] && kill -0 "$platform_pid" 2>/dev/null; then
        kill "$platform_pid"
        wait "$platform_pid" 2>/dev/null || true
    fi
    if [[ -n "$scratch_db" ]]; then
        psql "${DATABASE_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}" -qXc \
            "DROP DATABASE IF EXISTS \"$scratch_db\" WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    if [[ -n "$scratch_vhost" ]]; then
        rabbitmqctl -q delete_vhost "$scratch_vhost" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

if [[ -n "$start_bin" ]]; then
    for url in "$base" "$admin"; do
        hostport="${url#*://}"
        hostport="${hostport%%/*}"
        ! port_open "${hostport%:*}" "${hostport##*:}" || die "$url is already in use: stop what listens there first"
    done
    suffix="$(date +%s)_$RANDOM"
    scratch_db="salescompass_fuzz_$suffix"
    database_url="$("$py" - "${DATABASE_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}" "$scratch_db" <<'PY'
import sys, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
print(urllib.parse.urlunsplit(url._replace(path="/" + sys.argv[2])))
PY
)"
    amqp_url="${AMQP_BASE_URL:-amqp://guest:guest@127.0.0.1:5672}/%2f"
    # Our own vhost where we may create one (rabbitmqctl on this machine), so no other platform
    # on the broker consumes our events.
    if command -v rabbitmqctl >/dev/null && rabbitmqctl -q add_vhost "fuzz_$suffix" >/dev/null 2>&1; then
        scratch_vhost="fuzz_$suffix"
        rabbitmqctl -q set_permissions -p "$scratch_vhost" guest '.*' '.*' '.*' >/dev/null
        amqp_url="${AMQP_BASE_URL:-amqp://guest:guest@127.0.0.1:5672}/$scratch_vhost"
    fi
    SALESCOMPASS__OPERATOR__TOKEN="fuzz-operator-$("$py" -c 'import secrets; print(secrets.token_hex(16))')"
    export SALESCOMPASS__OPERATOR__TOKEN
    echo "starting $start_bin dev (database $scratch_db, vhost ${scratch_vhost:-/}, rate limits off)"
    DATABASE_URL="$database_url" AMQP_URL="$amqp_url" \
        SALESCOMPASS__GATEWAY__RATE_LIMIT__ENABLED=false \
        "$start_bin" dev >"$work/platform.log" 2>&1 &
    platform_pid=$!
    for _ in $(seq 1 180); do
        kill -0 "$platform_pid" 2>/dev/null || { tail -n 40 "$work/platform.log" >&2; die "the platform exited"; }
        curl -fsS -o /dev/null "$admin/readyz" 2>/dev/null && break
        sleep 1
    done
    curl -fsS -o /dev/null "$admin/readyz" || { tail -n 40 "$work/platform.log" >&2; die "the gateway did not become ready"; }
fi

operator="${SALESCOMPASS__OPERATOR__TOKEN:?set SALESCOMPASS__OPERATOR__TOKEN to the platform operator token}"

# gateway_http_requests_total from the admin port: (all requests, 5xx) so far.
request_counts() {
    curl -fsS "$admin/metrics" 2>/dev/null | "$py" -c '
import re, sys
total = errors = 0
for line in sys.stdin:
    m = re.match(r"gateway_http_requests_total\{([^}]*)\} (\d+)", line)
    if m:
        n = int(m.group(2))
        total += n
        if re.search(r"status=\"5", m.group(1)):
            errors += n
print(total, errors)' || echo "0 0"
}

# A tenant of our own, so the fuzzer acts as a real admin without touching other data.
slug="fuzz-$(date +%s)-$RANDOM"
password="fuzz-password-$RANDOM-1"
curl -fsS -X POST "$base/v1/tenants:provision" \
    -H "authorization: Bearer $operator" -H 'content-type: application/json' \
    -d "{\"tenant\":{\"slug\":\"$slug\",\"displayName\":\"Fuzz\"},\"admin\":{\"email\":\"admin@$slug.test\",\"password\":\"$password\",\"displayName\":\"Fuzz Admin\"}}" \
    >/dev/null
token="$(curl -fsS -X POST "$base/v1/auth:login" -H 'content-type: application/json' \
    -d "{\"tenantSlug\":\"$slug\",\"email\":\"admin@$slug.test\",\"password\":\"$password\"}" |
    "$py" -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')"
echo "fuzzing $base as admin of tenant $slug (${FUZZ_MAX_EXAMPLES:-50} examples per operation)"

read -r before_total before_5xx < <(request_counts)
start=$SECONDS
# not_a_server_error: no 5xx for any generated request, valid or not.
budget=()
[[ -n "${FUZZ_MAX_TIME:-}" ]] && budget=(--max-time "$FUZZ_MAX_TIME")
status=0
"$venv/bin/schemathesis" run "$base/openapi.json" \
    --url "$base" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error \
    --mode all \
    --max-examples "${FUZZ_MAX_EXAMPLES:-50}" \
    --workers "${FUZZ_WORKERS:-1}" \
    --request-timeout 20 \
    ${budget[@]+"${budget[@]}"} \
    "$@" || status=$?
read -r after_total after_5xx < <(request_counts)
requests=$((after_total - before_total))
server_errors=$((after_5xx - before_5xx))
echo "gateway-fuzz: $requests requests, $server_errors answered 5xx, in $((SECONDS - start)) s (gateway metrics)"
if [[ -n "$start_bin" && "$server_errors" -gt 0 ]]; then
    grep -E ' (ERROR|WARN) ' "$work/platform.log" | tail -n 40 >&2 || true
fi
[[ "$server_errors" -eq 0 ]] || status=1
exit "$status"
