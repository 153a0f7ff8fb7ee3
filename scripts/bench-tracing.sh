#!/usr/bin/env bash
# Tracing overhead (issue 22): the CRM `list`, `get` and `create` scenarios through the gateway
# (release `salescompass dev`, like scripts/bench-compare.sh) in three telemetry modes:
#
#   off       SALESCOMPASS__TELEMETRY__TRACING_ENABLED=false (no OpenTelemetry layer at all)
#   1%        on, TRACE_SAMPLE_RATIO=0.01, exporting to an OTLP sink on loopback
#   100%      on, TRACE_SAMPLE_RATIO=1.0, exporting to the same sink
#
# Each mode is one bench-compare run (no peer, no gRPC side, no pgbench ceiling) on a freshly
# seeded database; the modes run in order, then in reverse order, for BENCH_TRACING_ROUNDS rounds,
# so a machine that drifts over the run affects every mode alike. The sink is `sc-bench
# otlp-sink` (counts spans, exports nothing): the services pay for building, batching and sending
# spans over OTLP/gRPC, as with a real collector.
#
# Usage: scripts/bench-tracing.sh            (knobs of bench-compare.sh apply: BENCH_LEADS,
#                                              BENCH_DURATION, BENCH_WARMUP, BENCH_CONNECTIONS,
#                                              BENCH_BUILD, CARGO_TARGET_DIR)
#   BENCH_TRACING_ROUNDS [2]
# Prints one table (median req/s and p99 per mode and scenario, and the ratio to `off`).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
rounds="${BENCH_TRACING_ROUNDS:-2}"
out="$(mktemp -d "${TMPDIR:-/tmp}/sc-bench-tracing.XXXXXX")"
modes=(off 1% 100%)

if [ "${BENCH_BUILD:-1}" != 0 ]; then
    cargo build --quiet --release --manifest-path "$repo/Cargo.toml" -p salescompass -p bench
fi

"$target/release/sc-bench" otlp-sink --listen 127.0.0.1:4317 --every-secs 60 \
    >"$out/sink.out" 2>"$out/sink.log" &
sink_pid=$!
trap 'kill -INT "$sink_pid" 2>/dev/null || true' EXIT

run_mode() { # mode round
    local mode=$1 round=$2 env=()
    case "$mode" in
        off) env=(SALESCOMPASS__TELEMETRY__TRACING_ENABLED=false) ;;
        *) env=(SALESCOMPASS__TELEMETRY__TRACING_ENABLED=true
                SALESCOMPASS__TELEMETRY__TRACE_SAMPLE_RATIO="$(python3 -c "print(${mode%\%} / 100)")"
                SALESCOMPASS__TELEMETRY__OTLP_ENDPOINT=http://127.0.0.1:4317) ;;
    esac
    echo "==> round $round: tracing $mode" >&2
    env "${env[@]}" BENCH_BUILD=0 BENCH_PEER=0 BENCH_GRPC=0 BENCH_CEILING=0 BENCH_ROUNDS=1 \
        BENCH_SCENARIOS="${BENCH_SCENARIOS:-list get create}" BENCH_FILE="$out/report.md" \
        CARGO_TARGET_DIR="$target" "$repo/scripts/bench-compare.sh" >"$out/run-$round-${mode%\%}.log" 2>&1 \
        || { tail -30 "$out/run-$round-${mode%\%}.log" >&2; exit 1; }
    local raw
    raw="$(sed -n 's/^raw results and logs: //p' "$out/run-$round-${mode%\%}.log" | tail -1)"
    python3 - "$raw/results.jsonl" "$mode" "$round" >>"$out/all.jsonl" <<'EOF'
import json, sys
path, mode, rnd = sys.argv[1:]
for line in open(path):
    r = json.loads(line)
    if r.get("side") == "sc":
        r["mode"], r["round"] = mode, rnd
        print(json.dumps(r))
EOF
}

[ -f "$repo/BENCHMARKS.md" ] && cp "$repo/BENCHMARKS.md" "$out/report.md"
for round in $(seq 1 "$rounds"); do
    if [ $((round % 2)) = 1 ]; then order=("${modes[@]}"); else order=(100% 1% off); fi
    for mode in "${order[@]}"; do run_mode "$mode" "$round"; done
done

python3 - "$out/all.jsonl" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
modes, scenarios = ["off", "1%", "100%"], ["list", "get", "create"]
def med(mode, scenario, key):
    values = [r[key] for r in rows if r["mode"] == mode and r["scenario"] == scenario]
    return statistics.median(values) if values else None
print("| scenario | mode | req/s (median) | p99 ms (median) | vs off |")
print("|---|---|---:|---:|---:|")
for s in scenarios:
    base = med("off", s, "rps")
    for m in modes:
        rps = med(m, s, "rps")
        if rps is None:
            continue
        ratio = f"{rps / base:.3f}" if base else "-"
        print(f"| {s} | {m} | {rps:,.0f} | {med(m, s, 'p99_ms'):.1f} | {ratio} |")
EOF
echo "raw: $out" >&2
