#!/usr/bin/env bash
# Property-based fuzzing of the REST API with schemathesis (PyPI) against a running gateway:
# every operation of /openapi.json gets generated valid and invalid requests, authenticated as a
# freshly provisioned tenant admin; the run fails if any response is a 5xx.
#
# Start the platform first (another terminal):
#   SALESCOMPASS__OPERATOR__TOKEN=dev-operator-token \
#   SALESCOMPASS__GATEWAY__RATE_LIMIT__ENABLED=false cargo run -p salescompass -- dev
# then:
#   SALESCOMPASS__OPERATOR__TOKEN=dev-operator-token scripts/gateway-fuzz.sh [schemathesis args...]
#
# Environment:
#   GATEWAY_URL                  gateway base URL (default http://127.0.0.1:8080)
#   SALESCOMPASS__OPERATOR__TOKEN  operator token of the running platform (to provision a tenant)
#   FUZZ_MAX_EXAMPLES            examples per operation (default 50)
#   SALESCOMPASS_CACHE_DIR       tool cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/salescompass)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${SALESCOMPASS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/salescompass}"
venv="$cache/gateway-venv"
requirements="$repo/services/gateway/tools/requirements.txt"
base="${GATEWAY_URL:-http://127.0.0.1:8080}"
operator="${SALESCOMPASS__OPERATOR__TOKEN:?set SALESCOMPASS__OPERATOR__TOKEN to the platform operator token}"

if [[ ! -x "$venv/bin/schemathesis" ]] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$venv/requirements.txt"
fi

# A tenant of our own, so the fuzzer acts as a real admin without touching other data.
slug="fuzz-$(date +%s)-$RANDOM"
password="fuzz-password-$RANDOM-1"
curl -fsS -X POST "$base/v1/tenants:provision" \
    -H "authorization: Bearer $operator" -H 'content-type: application/json' \
    -d "{\"tenant\":{\"slug\":\"$slug\",\"displayName\":\"Fuzz\"},\"admin\":{\"email\":\"admin@$slug.test\",\"password\":\"$password\",\"displayName\":\"Fuzz Admin\"}}" \
    >/dev/null
token="$(curl -fsS -X POST "$base/v1/auth:login" -H 'content-type: application/json' \
    -d "{\"tenantSlug\":\"$slug\",\"email\":\"admin@$slug.test\",\"password\":\"$password\"}" |
    "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')"
echo "fuzzing $base as admin of tenant $slug"

# not_a_server_error: no 5xx for any generated request, valid or not.
exec "$venv/bin/schemathesis" run "$base/openapi.json" \
    --url "$base" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error \
    --mode all \
    --max-examples "${FUZZ_MAX_EXAMPLES:-50}" \
    --request-timeout 20 \
    "$@"
