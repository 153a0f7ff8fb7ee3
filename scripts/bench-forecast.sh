#!/usr/bin/env bash
# Forecast benchmark (issue 23): GET /v1/forecast through the REST gateway of a release
# `salescompass dev`, as a tenant admin (every deal in scope), on a tenant seeded with
# BENCH_REPS reps under BENCH_MANAGERS managers and BENCH_OPPORTUNITIES open deals closing over
# the next 180 days; the forecast asks for exactly those 180 days. Prints sc-bench's summary
# (req/s, p50/p99, peak RSS and CPU of salescompass and PostgreSQL).
#
# Usage: scripts/bench-forecast.sh                                        (full size: defaults)
#   BENCH_REPS=20 BENCH_MANAGERS=4 BENCH_OPPORTUNITIES=2000 BENCH_DURATION=3s BENCH_WARMUP=1s \
#     BENCH_CONNECTIONS=2 scripts/bench-forecast.sh                        (smoke size)
# Environment (defaults in brackets):
#   BENCH_REPS [500]  BENCH_MANAGERS [50]  BENCH_OPPORTUNITIES [200000]
#   BENCH_CONNECTIONS [4]  BENCH_DURATION [30s]  BENCH_WARMUP [5s]
#   BENCH_DATABASE [salescompass_forecast_bench] (dropped and recreated, and dropped at the end)
#   BENCH_BUILD [1]   0 = use the release binaries already in the target dir
#   CARGO_TARGET_DIR  cargo target dir (default: cargo's)
# Needs: psql, curl; PostgreSQL on 127.0.0.1:5432 (trust), RabbitMQ on 127.0.0.1:5672. Ports
# 8080, 50051-50053, 9090-9093 must be free.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
reps="${BENCH_REPS:-500}"
managers="${BENCH_MANAGERS:-50}"
opportunities="${BENCH_OPPORTUNITIES:-200000}"
connections="${BENCH_CONNECTIONS:-4}"
duration="${BENCH_DURATION:-30s}"
warmup="${BENCH_WARMUP:-5s}"
database="${BENCH_DATABASE:-salescompass_forecast_bench}"
target="${CARGO_TARGET_DIR:-$repo/target}"
work="$(mktemp -d "${TMPDIR:-/tmp}/sc-bench-forecast.XXXXXX")"
operator="bench-operator-$RANDOM$RANDOM"
db_url="postgres://postgres@127.0.0.1:5432/$database"
sc_pid=""

log() { printf '\n== %s: %s\n' "$(date -u +%H:%M:%S)" "$*"; }

cleanup() {
    if [ -n "$sc_pid" ] && kill -0 "$sc_pid" 2>/dev/null; then
        kill "$sc_pid"
        for _ in $(seq 100); do kill -0 "$sc_pid" 2>/dev/null || break; sleep 0.2; done
    fi
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
    echo "logs: $work"
}
trap cleanup EXIT

wait_ready() {
    for _ in $(seq 1 300); do
        curl -fsS "$1" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "not ready: $1" >&2
    return 1
}

log "building release binaries"
[ "${BENCH_BUILD:-1}" = 0 ] || cargo build --quiet --release --manifest-path "$repo/Cargo.toml" -p salescompass -p bench
bench="$target/release/sc-bench"
pg_pid="$(head -1 "$(psql -h 127.0.0.1 -U postgres -qAtc 'SHOW data_directory')/postmaster.pid")"

log "starting SalesCompass (database $database)"
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null
# Rate limits raised (still evaluated on every request): the defaults would measure the limiter.
DATABASE_URL="$db_url" \
SALESCOMPASS__OPERATOR__TOKEN="$operator" \
SALESCOMPASS__TELEMETRY__LOG_FILTER=warn \
SALESCOMPASS__GATEWAY__RATE_LIMIT__DEFAULT__TENANT_PER_SECOND=1000000 \
SALESCOMPASS__GATEWAY__RATE_LIMIT__DEFAULT__TENANT_BURST=1000000 \
SALESCOMPASS__GATEWAY__RATE_LIMIT__DEFAULT__CLIENT_PER_SECOND=1000000 \
SALESCOMPASS__GATEWAY__RATE_LIMIT__DEFAULT__CLIENT_BURST=1000000 \
    "$target/release/salescompass" dev >>"$work/salescompass.log" 2>&1 &
sc_pid=$!
wait_ready http://127.0.0.1:9092/readyz && wait_ready http://127.0.0.1:9090/readyz \
    || { tail -30 "$work/salescompass.log"; exit 1; }

log "seeding $reps reps under $managers managers, $opportunities open deals"
# A few leads: the load tool's fixture reads some before any run.
"$bench" seed --database-url "$db_url" --operator-token "$operator" --reps "$reps" \
    --managers "$managers" --leads 100 --opportunities "$opportunities" --out "$work/seed.json" >/dev/null
login="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["login"])' "$work/seed.json")"

log "forecast: $connections connections, $duration (after $warmup warm-up)"
"$bench" http --side sc --scenario forecast --login "$login" --ids 10 \
    --connections "$connections" --duration "$duration" --warmup "$warmup" \
    --watch "salescompass=$sc_pid" --watch "postgres=$pg_pid"
