#!/usr/bin/env bash
# Validates the gateway's generated OpenAPI 3.1 document with PyPI's openapi-spec-validator
# (offline; the same document `GET /openapi.json` serves, printed by `gateway openapi`).
#
# Usage: scripts/gateway-openapi-validate.sh
# Environment:
#   SALESCOMPASS_CACHE_DIR  tool cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/salescompass)
#   CARGO_TARGET_DIR        cargo target dir (default: cargo's)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${SALESCOMPASS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/salescompass}"
venv="$cache/gateway-venv"
requirements="$repo/services/gateway/tools/requirements.txt"

if [[ ! -x "$venv/bin/openapi-spec-validator" ]] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$venv/requirements.txt"
fi

document="$(mktemp --suffix=.json)"
trap 'rm -f "$document"' EXIT
cargo run --quiet --manifest-path "$repo/Cargo.toml" -p gateway -- openapi >"$document"
"$venv/bin/openapi-spec-validator" "$document"
