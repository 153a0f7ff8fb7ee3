#!/usr/bin/env bash
# Gateway benchmark (issue 3): `GET /v1/users?page_size=50` at 32 connections for 30 s through
# the gateway (wrk) and `ListUsers(page_size=50)` directly over gRPC at 32 connections for 30 s
# (services/gateway/benches/grpc_load.rs), against the same tenants service in one run; reports
# requests/s, p50, p99 of both and the gateway's RSS. Release builds, separate processes.
#
# Usage: scripts/gateway-bench.sh
# Environment:
#   BENCH_SECONDS      measured seconds per side (default 30)
#   BENCH_CONNECTIONS  connections per side (default 32)
#   BENCH_ROUNDS       rounds in which the paths take turns (default 1); the summary gives every
#                      round, the medians, and each path's percentiles over the latencies of all
#                      its rounds pooled (wrk via scripts/wrk-latencies.lua, grpc_load via
#                      --latencies)
#   BENCH_WRK_THREADS  wrk threads of the measured runs (default: 1 with BENCH_PIN=1, else 2, as
#                      many as grpc_load's tokio workers, which follow the CPUs it may use)
#   BENCH_PROBE_SECONDS  seconds of an extra 1-connection run per side, which shows the added
#                      latency without queueing (default 10; 0 skips it)
#   GATEWAY_WORKER_THREADS  tokio worker threads of the gateway (default: one per core)
#   BENCH_DIRECT       1 (default) also measures direct gRPC; 0 runs the gateway side only, a
#                      quick way to get the gateway's CPU per request
#   BENCH_PROFILE      1 samples the gateway with `perf record -e cpu-clock` during one more
#                      gateway run of BENCH_PROFILE_SECONDS (default 15) and writes
#                      `perf report` to $BENCH_OUT/gateway-perf.txt (default 0: no profile)
#   BENCH_OUT          directory that keeps the raw outputs and summary.md (default: a
#                      temporary directory, removed at the end unless BENCH_PROFILE=1)
#   BENCH_BUILD        1 (default) builds the release binaries first; 0 uses what is there
#   GRPC_LOAD_BIN      built grpc_load bench executable to run instead of `cargo bench`
#   GATEWAY_BIN        gateway binary to measure (default: the release build), e.g. an older
#                      build copied aside, to compare two builds on the same machine
#   BENCH_IN_PROCESS   1 runs `salescompass dev --in-process` instead of two binaries: the
#                      gateway calls the tenants service in the same process (no socket, no
#                      HTTP/2 hop) and direct gRPC goes to that process's tenants port. CPU per
#                      request is then the whole process's, for both paths (default 0)
#   BENCH_L4_PROXY     1 also measures direct gRPC through HAProxy in TCP mode (apt-get install -y
#                      haproxy): the cheapest hop any proxy can be, copying bytes without parsing
#                      them, so its added p99 is the floor for the gateway's on this machine
#                      (default 0)
#   BENCH_PIN          1 gives the edge its own CPU, as the gateway's pods have their own CPU in a
#                      cluster: the gateway, the load clients and HAProxy run on CPU 1 and the
#                      tenants service and PostgreSQL (its postmaster and backends, restored to
#                      every CPU at the end) on CPU 0, for both paths alike (default 0: all share
#                      every CPU). Not with BENCH_IN_PROCESS=1
#   BENCH_DATABASE     throwaway database (default salescompass_gwbench; dropped at the end)
#   CARGO_TARGET_DIR   cargo target dir (default: cargo's)
# Needs: wrk (apt-get install -y wrk), openssl, psql, PostgreSQL on 127.0.0.1:5432.
set -euo pipefail
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
if [[ "${BENCH_L4_PROXY:-0}" == 1 ]]; then
    command -v haproxy >/dev/null || { echo "haproxy is missing: apt-get install -y haproxy" >&2; exit 1; }
fi

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${BENCH_SECONDS:-30}"
connections="${BENCH_CONNECTIONS:-32}"
probe_seconds="${BENCH_PROBE_SECONDS:-10}"
rounds="${BENCH_ROUNDS:-1}"
direct="${BENCH_DIRECT:-1}"
profile="${BENCH_PROFILE:-0}"
profile_seconds="${BENCH_PROFILE_SECONDS:-15}"
in_process="${BENCH_IN_PROCESS:-0}"
l4_proxy="${BENCH_L4_PROXY:-0}"
pin="${BENCH_PIN:-0}"
edge=() service=()
if [[ "$pin" == 1 ]]; then
    [[ "$in_process" == 1 ]] && { echo "BENCH_PIN=1 needs two binaries, not BENCH_IN_PROCESS=1" >&2; exit 1; }
    [[ "$(nproc)" -ge 2 ]] || { echo "BENCH_PIN=1 needs two CPUs" >&2; exit 1; }
    edge=(taskset -c 1) service=(taskset -c 0)
fi
wrk_threads="${BENCH_WRK_THREADS:-$([[ "$pin" == 1 ]] && echo 1 || echo 2)}"
all_cpus="0-$(($(nproc) - 1))"
database="${BENCH_DATABASE:-salescompass_gwbench}"
target="${CARGO_TARGET_DIR:-$repo/target}"
grpc_port=50151 grpc_admin=9191 gw_port=8180 gw_admin=9190 l4_port=50152
operator="bench-operator-$RANDOM$RANDOM"
work="${BENCH_OUT:-$(mktemp -d)}"
mkdir -p "$work"
keep_work=0
[[ -n "${BENCH_OUT:-}" || "$profile" == 1 ]] && keep_work=1
pids=()

# PostgreSQL's postmaster and every backend (new backends inherit the postmaster's CPUs).
pin_postgres() {
    local pid
    for pid in $(pgrep -x postgres || true) $(pgrep -f '^postgres: ' || true); do
        taskset -a -cp "$1" "$pid" >/dev/null 2>&1 || true
    done
}

cleanup() {
    [[ "$pin" == 1 ]] && pin_postgres "$all_cpus"
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
    [[ "$keep_work" == 1 ]] || rm -rf "$work"
}
trap cleanup EXIT

wait_ready() {
    for _ in $(seq 1 100); do
        curl -fsS "$1" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "not ready: $1" >&2
    return 1
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# User+system CPU time of a process, in clock ticks (fields 14 and 15 of /proc/<pid>/stat; the
# command name in field 2 has no spaces for our binaries).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sys_ticks() { awk '{print $15}' "/proc/$1/stat"; }
ticks_per_sec="$(getconf CLK_TCK)"
# CPU microseconds per request between two tick readings.
cpu_us_per_request() { awk -v a="$1" -v b="$2" -v n="$3" -v hz="$ticks_per_sec" 'BEGIN { printf "%.0f", (b-a)/hz*1e6/n }'; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

if [[ "${BENCH_BUILD:-1}" == 1 ]]; then
    echo "building release binaries"
    if [[ "$in_process" == 1 ]]; then
        cargo build --quiet --release --manifest-path "$repo/Cargo.toml" -p salescompass
    else
        cargo build --quiet --release --manifest-path "$repo/Cargo.toml" -p tenants -p gateway --bins
    fi
    if [[ "$direct" == 1 ]]; then
        cargo bench --quiet --manifest-path "$repo/Cargo.toml" -p gateway --bench grpc_load --no-run 2>/dev/null
    fi
fi

export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$database"
export SALESCOMPASS__TELEMETRY__LOG_FILTER=warn
# As the container image sets it (Dockerfile).
export MIMALLOC_PURGE_DELAY="${MIMALLOC_PURGE_DELAY:-0}"
# Limits far above the offered load: the limiter runs (its cost is measured) but never refuses.
limits=(
    SALESCOMPASS__GATEWAY__RATE_LIMIT__DEFAULT__TENANT_PER_SECOND=1000000
    SALESCOMPASS__GATEWAY__RATE_LIMIT__DEFAULT__TENANT_BURST=1000000
    SALESCOMPASS__GATEWAY__RATE_LIMIT__DEFAULT__CLIENT_PER_SECOND=1000000
    SALESCOMPASS__GATEWAY__RATE_LIMIT__DEFAULT__CLIENT_BURST=1000000
)
if [[ "$in_process" == 1 ]]; then
    # The launcher's fixed ports: tenants gRPC 50051, gateway admin 9090, tenants admin 9091.
    grpc_port=50051
    env "${limits[@]}" SALESCOMPASS__GATEWAY__LISTEN="127.0.0.1:$gw_port" \
        SALESCOMPASS__OPERATOR__TOKEN="$operator" \
        "$target/release/salescompass" dev --in-process >"$work/salescompass.log" 2>&1 &
    gw_pid=$!
    tenants_pid=$gw_pid
    pids+=("$gw_pid")
    wait_ready "http://127.0.0.1:9091/readyz"
    wait_ready "http://127.0.0.1:9090/readyz"
else
    SALESCOMPASS__SERVER__GRPC_LISTEN="127.0.0.1:$grpc_port" \
    SALESCOMPASS__SERVER__ADMIN_LISTEN="127.0.0.1:$grpc_admin" \
    SALESCOMPASS__DATABASE__MIGRATE_ON_START=true \
    SALESCOMPASS__OPERATOR__TOKEN="$operator" \
    SALESCOMPASS__AUTH__SIGNING_KEY_PEM="$(openssl genpkey -algorithm ed25519 2>/dev/null)" \
        "${service[@]}" "$target/release/tenants" serve >"$work/tenants.log" 2>&1 &
    tenants_pid=$!
    pids+=("$tenants_pid")
    wait_ready "http://127.0.0.1:$grpc_admin/readyz"

    SALESCOMPASS__GATEWAY__LISTEN="127.0.0.1:$gw_port" \
    SALESCOMPASS__SERVER__ADMIN_LISTEN="127.0.0.1:$gw_admin" \
    SALESCOMPASS__GATEWAY__UPSTREAMS__TENANTS="http://127.0.0.1:$grpc_port" \
        env "${limits[@]}" ${GATEWAY_WORKER_THREADS:+TOKIO_WORKER_THREADS=$GATEWAY_WORKER_THREADS} \
        "${edge[@]}" "${GATEWAY_BIN:-$target/release/gateway}" serve >"$work/gateway.log" 2>&1 &
    gw_pid=$!
    pids+=("$gw_pid")
    wait_ready "http://127.0.0.1:$gw_admin/readyz"
fi
base="http://127.0.0.1:$gw_port"

echo "seeding a tenant with 50 users"
slug="bench-$RANDOM$RANDOM"
curl -fsS "$base/v1/tenants:provision" -H "authorization: Bearer $operator" -H 'content-type: application/json' \
    -d "{\"tenant\":{\"slug\":\"$slug\",\"displayName\":\"Bench\"},\"admin\":{\"email\":\"admin@$slug.test\",\"password\":\"bench password 1\",\"displayName\":\"Bench Admin\"}}" >/dev/null
token="$(curl -fsS "$base/v1/auth:login" -H 'content-type: application/json' \
    -d "{\"tenantSlug\":\"$slug\",\"email\":\"admin@$slug.test\",\"password\":\"bench password 1\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')"
for i in $(seq 1 49); do
    curl -fsS "$base/v1/users" -H "authorization: Bearer $token" -H 'content-type: application/json' \
        -d "{\"email\":\"user$i@$slug.test\",\"password\":\"bench password 1\",\"displayName\":\"User $i\",\"role\":\"ROLE_SALES_REP\"}" >/dev/null
done
url="$base/v1/users?page_size=50"
count="$(curl -fsS "$url" -H "authorization: Bearer $token" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["users"]))')"
[[ "$count" == 50 ]] || { echo "expected 50 users per page, got $count" >&2; exit 1; }
bytes="$(curl -fsS "$url" -H "authorization: Bearer $token" | wc -c)"

# Runs a load client and writes its user+system CPU seconds to $1 ("user sys").
client_timed() { local out="$1"; shift; /usr/bin/time -f "%U %S" -o "$out" "$@"; }

# grpc_load CONNECTIONS SECONDS [PORT [CPU_FILE [LATENCIES_FILE]]]
grpc_load() {
    local port="${3:-$grpc_port}" timer=() args
    [[ -n "${4:-}" ]] && timer=(client_timed "$4")
    args=(--url "http://127.0.0.1:$port" --token "$token" --connections "$1" --seconds "$2")
    [[ -n "${5:-}" ]] && args+=(--latencies "$5")
    if [[ -n "${GRPC_LOAD_BIN:-}" ]]; then
        "${timer[@]}" "${edge[@]}" "$GRPC_LOAD_BIN" "${args[@]}"
    else
        "${timer[@]}" "${edge[@]}" cargo bench --quiet --manifest-path "$repo/Cargo.toml" -p gateway --bench grpc_load -- "${args[@]}"
    fi
}

[[ "$pin" == 1 ]] && pin_postgres 0
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "warming up (5 s each)"
"${edge[@]}" wrk -t"$wrk_threads" -c"$connections" -d5s -H "authorization: Bearer $token" "$url" >/dev/null
[[ "$direct" == 1 ]] && grpc_load "$connections" 5 >/dev/null
idle_rss="$(rss_kib "$gw_pid")"

if [[ "$l4_proxy" == 1 ]]; then
    # Two threads like the gateway's two tokio workers; each client connection gets its own
    # upstream connection, as a TCP proxy must.
    cat >"$work/haproxy.cfg" <<HAPROXY
global
    nbthread 2
    maxconn 1024
defaults
    mode tcp
    timeout connect 1s
    timeout client 60s
    timeout server 60s
listen grpc
    bind 127.0.0.1:$l4_port
    option tcp-smart-accept
    option tcp-smart-connect
    server tenants 127.0.0.1:$grpc_port
HAPROXY
    "${edge[@]}" haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
    l4_pid=$!
    pids+=("$l4_pid")
    for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$l4_port") 2>/dev/null && break; sleep 0.1; done
    grpc_load "$connections" 5 "$l4_port" >/dev/null
fi

# The paths take turns, round after round, so a slow minute of the machine falls on every path
# rather than on one. CPU tick counters add up over all rounds.
( while kill -0 "$gw_pid" 2>/dev/null; do rss_kib "$gw_pid"; sleep 0.5; done ) >"$work/rss.txt" &
sampler=$!
gw_ticks=0 gw_sys_ticks=0 svc_gw_ticks=0 svc_direct_ticks=0 l4_ticks=0
for round in $(seq 1 "$rounds"); do
    echo "round $round of $rounds: through the gateway (${seconds} s)"
    gw_cpu0="$(cpu_ticks "$gw_pid")" svc_cpu0="$(cpu_ticks "$tenants_pid")" gw_sys0="$(sys_ticks "$gw_pid")"
    WRK_LATENCIES="$work/latencies-gateway-$round.txt" client_timed "$work/wrk-cpu-$round.txt" \
        "${edge[@]}" wrk -t"$wrk_threads" -c"$connections" -d"${seconds}s" --latency \
        -s "$repo/scripts/wrk-latencies.lua" -H "authorization: Bearer $token" "$url" | tee "$work/wrk-$round.txt"
    gw_cpu1="$(cpu_ticks "$gw_pid")" svc_cpu1="$(cpu_ticks "$tenants_pid")" gw_sys1="$(sys_ticks "$gw_pid")"
    gw_ticks=$((gw_ticks + gw_cpu1 - gw_cpu0)) gw_sys_ticks=$((gw_sys_ticks + gw_sys1 - gw_sys0))
    svc_gw_ticks=$((svc_gw_ticks + svc_cpu1 - svc_cpu0))
    if [[ "$direct" == 1 ]]; then
        echo "round $round of $rounds: direct gRPC (${seconds} s)"
        svc_cpu2="$(cpu_ticks "$tenants_pid")"
        grpc_load "$connections" "$seconds" "$grpc_port" "$work/grpc-cpu-$round.txt" \
            "$work/latencies-direct-$round.txt" | tee "$work/grpc-$round.txt"
        svc_cpu3="$(cpu_ticks "$tenants_pid")"
        svc_direct_ticks=$((svc_direct_ticks + svc_cpu3 - svc_cpu2))
    fi
    if [[ "$l4_proxy" == 1 ]]; then
        echo "round $round of $rounds: direct gRPC through HAProxy in TCP mode (${seconds} s)"
        l4_cpu0="$(cpu_ticks "$l4_pid")"
        grpc_load "$connections" "$seconds" "$l4_port" "" "$work/latencies-haproxy-$round.txt" |
            tee "$work/grpc-l4-$round.txt"
        l4_cpu1="$(cpu_ticks "$l4_pid")"
        l4_ticks=$((l4_ticks + l4_cpu1 - l4_cpu0))
    fi
done
kill "$sampler" 2>/dev/null || true
peak_rss="$(sort -n "$work/rss.txt" | tail -n1)"
hwm="$(hwm_kib "$gw_pid")"

if [[ "$probe_seconds" -gt 0 ]]; then
    echo "latency probe at 1 connection (${probe_seconds} s each)"
    "${edge[@]}" wrk -t1 -c1 -d"${probe_seconds}s" --latency -H "authorization: Bearer $token" "$url" >"$work/wrk1.txt"
    if [[ "$direct" == 1 ]]; then
        grpc_load 1 "$probe_seconds" >"$work/grpc1.txt"
    fi
fi

if [[ "$profile" == 1 ]]; then
    echo "profiling the gateway under the same load (${profile_seconds} s)"
    perf record -q -e cpu-clock -F 999 -g -o "$work/gateway-perf.data" -p "$gw_pid" -- sleep "$profile_seconds" &
    perf_pid=$!
    "${edge[@]}" wrk -t"$wrk_threads" -c"$connections" -d"${profile_seconds}s" -H "authorization: Bearer $token" "$url" >/dev/null
    wait "$perf_pid" || true
    perf report -q -i "$work/gateway-perf.data" --no-children --sort dso,symbol --stdio -g none \
        >"$work/gateway-perf.txt" 2>/dev/null || true
fi

to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us$/,"",v); print v/1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v); print v } else if (v ~ /s$/) { sub(/s$/,"",v); print v*1000 } }'; }
wrk_rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
wrk_pct() { to_ms "$(awk -v p="$2" '$1==p {print $2}' "$1")"; }
grpc_pct() { sed -nE "s/.*$2=([0-9.]+).*/\1/p" "$1"; }
grpc_count() { sed -nE 's/.* requests=([0-9]+).*/\1/p' "$1"; }
wrk_count() { awk '/requests in/ {print $1}' "$1"; }
# pooled_pct PATH P: the P-th percentile in ms of every latency of PATH (gateway, direct or
# haproxy) over all rounds, from the "microseconds count" files; wrk's definition, the least
# value with at least P % of the requests at or below it.
pooled_pct() {
    cat "$work"/latencies-"$1"-*.txt | sort -n | awk -v p="$2" '{ v[NR] = $1; c[NR] = $2; n += $2 }
        END { r = p / 100 * n; if (r > int(r)) r = int(r) + 1
              for (i = 1; i <= NR; i++) { s += c[i]; if (s >= r) { printf "%.2f", v[i] / 1000; exit } } }'
}
# Median of the numbers on standard input.
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
gw_requests=0 grpc_requests=0 l4_requests=0 gw_errors="" wrk_cpu=0 grpc_cpu=0
: >"$work/rounds.tsv"
for round in $(seq 1 "$rounds"); do
    w="$work/wrk-$round.txt"
    gw_requests=$((gw_requests + $(wrk_count "$w")))
    gw_errors+="$(awk '/Non-2xx|Socket errors/' "$w")"
    wrk_cpu="$(awk -v a="$wrk_cpu" '{ print a + $1 + $2 }' "$work/wrk-cpu-$round.txt")"
    row=("$round" "$(wrk_rps "$w")" "$(wrk_pct "$w" 50%)" "$(wrk_pct "$w" 99%)")
    if [[ "$direct" == 1 ]]; then
        g="$work/grpc-$round.txt"
        grpc_requests=$((grpc_requests + $(grpc_count "$g")))
        grpc_cpu="$(awk -v a="$grpc_cpu" '{ print a + $1 + $2 }' "$work/grpc-cpu-$round.txt")"
        row+=("$(wrk_rps "$g")" "$(grpc_pct "$g" p50)" "$(grpc_pct "$g" p99)")
        if [[ "$l4_proxy" == 1 ]]; then
            h="$work/grpc-l4-$round.txt"
            l4_requests=$((l4_requests + $(grpc_count "$h")))
            row+=("$(wrk_rps "$h")" "$(grpc_pct "$h" p50)" "$(grpc_pct "$h" p99)")
        fi
    fi
    (IFS=$'\t'; echo "${row[*]}") >>"$work/rounds.tsv"
done

{
    if [[ "$direct" == 1 ]]; then
        header="| round | gateway req/s | gateway p50 ms | gateway p99 ms | direct req/s | direct p50 ms | direct p99 ms | gateway/direct | added p99 ms |"
        rule="|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        if [[ "$l4_proxy" == 1 ]]; then
            header+=" HAProxy req/s | HAProxy p99 ms | HAProxy/direct | HAProxy added p99 ms |"
            rule+="---:|---:|---:|---:|"
        fi
        echo "$header"
        echo "$rule"
        awk -F'\t' '{
            printf "| %s | %s | %s | %s | %s | %s | %s | %.1f %% | %.2f |", $1, $2, $3, $4, $5, $6, $7, 100*$2/$5, $4-$7
            if (NF >= 10) printf " %s | %s | %.1f %% | %.2f |", $8, $10, 100*$8/$5, $10-$7
            printf "\n" }' "$work/rounds.tsv"
        echo
        echo "- median over $rounds round(s): gateway/direct throughput $(awk -F'\t' '{ print 100*$2/$5 }' "$work/rounds.tsv" | median | xargs printf '%.1f') %, added p99 at $connections connections $(awk -F'\t' '{ print $4-$7 }' "$work/rounds.tsv" | median | xargs printf '%.2f') ms; rounds with added p99 ≤ 1 ms: $(awk -F'\t' '$4-$7 <= 1' "$work/rounds.tsv" | wc -l) of $rounds"
        gw_p50="$(pooled_pct gateway 50)" gw_p99="$(pooled_pct gateway 99)"
        direct_p50="$(pooled_pct direct 50)" direct_p99="$(pooled_pct direct 99)"
        echo "- every round's latencies pooled: gateway p50 $gw_p50 ms, p99 $gw_p99 ms; direct p50 $direct_p50 ms, p99 $direct_p99 ms; added p99 $(awk -v a="$gw_p99" -v b="$direct_p99" 'BEGIN { printf "%.2f", a-b }') ms"
        if [[ "$l4_proxy" == 1 ]]; then
            l4_p99="$(pooled_pct haproxy 99)"
            echo "- HAProxy's latencies pooled: p50 $(pooled_pct haproxy 50) ms, p99 $l4_p99 ms; added p99 $(awk -v a="$l4_p99" -v b="$direct_p99" 'BEGIN { printf "%.2f", a-b }') ms"
            echo "- median HAProxy (TCP) hop: $(awk -F'\t' '{ print 100*$8/$5 }' "$work/rounds.tsv" | median | xargs printf '%.1f') % of direct throughput, added p99 $(awk -F'\t' '{ print $10-$7 }' "$work/rounds.tsv" | median | xargs printf '%.2f') ms; HAProxy CPU per request: $(cpu_us_per_request 0 "$l4_ticks" "$l4_requests") µs"
        fi
    else
        echo "| round | gateway req/s | gateway p50 ms | gateway p99 ms |"
        echo "|---|---:|---:|---:|"
        awk -F'\t' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$work/rounds.tsv"
        echo
    fi
    if [[ "$probe_seconds" -gt 0 ]]; then
        echo "- 1 connection: gateway $(wrk_rps "$work/wrk1.txt") req/s, p50 $(wrk_pct "$work/wrk1.txt" 50%) ms, p99 $(wrk_pct "$work/wrk1.txt" 99%) ms$([[ "$direct" == 1 ]] && echo "; direct $(wrk_rps "$work/grpc1.txt") req/s, p50 $(grpc_pct "$work/grpc1.txt" p50) ms, p99 $(grpc_pct "$work/grpc1.txt" p99) ms; added p99 $(awk -v gp="$(wrk_pct "$work/wrk1.txt" 99%)" -v dp="$(grpc_pct "$work/grpc1.txt" p99)" 'BEGIN { printf "%.2f", gp-dp }') ms")"
    fi
    if [[ "$in_process" == 1 ]]; then
        echo "- one process (\`salescompass dev --in-process\`: gateway and tenants in-process, also crm and commissions idle)"
        echo "- process CPU per request: $(cpu_us_per_request 0 "$gw_ticks" "$gw_requests") µs via the gateway (of which kernel $(cpu_us_per_request 0 "$gw_sys_ticks" "$gw_requests") µs)$([[ "$direct" == 1 ]] && echo ", $(cpu_us_per_request 0 "$svc_direct_ticks" "$grpc_requests") µs direct")"
        echo "- process RSS (all services and the gateway): idle $((idle_rss / 1024)) MiB, peak sampled $((peak_rss / 1024)) MiB, VmHWM $((hwm / 1024)) MiB"
    else
        echo "- gateway CPU per request: $(cpu_us_per_request 0 "$gw_ticks" "$gw_requests") µs (of which kernel $(cpu_us_per_request 0 "$gw_sys_ticks" "$gw_requests") µs), over $gw_requests requests"
        echo "- tenants CPU per request: $(cpu_us_per_request 0 "$svc_gw_ticks" "$gw_requests") µs via the gateway$([[ "$direct" == 1 ]] && echo ", $(cpu_us_per_request 0 "$svc_direct_ticks" "$grpc_requests") µs direct")"
        echo "- load client CPU per request: wrk $(awk -v c="$wrk_cpu" -v n="$gw_requests" 'BEGIN { printf "%.0f", c*1e6/n }') µs$([[ "$direct" == 1 ]] && echo ", grpc_load $(awk -v c="$grpc_cpu" -v n="$grpc_requests" 'BEGIN { printf "%.0f", c*1e6/n }') µs")"
        echo "- gateway RSS: idle $((idle_rss / 1024)) MiB, peak sampled $((peak_rss / 1024)) MiB, VmHWM $((hwm / 1024)) MiB"
    fi
    [[ "$pin" == 1 ]] && echo "- CPUs: gateway, load clients and HAProxy on CPU 1; tenants and PostgreSQL on CPU 0 (\`BENCH_PIN=1\`)"
    echo "- $connections connections, $seconds s per path and round, wrk with $wrk_threads thread(s); response body: $bytes bytes (50 users)"
    echo "- machine: $(nproc) cores, load average before the run: $load_before; $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    [[ -z "$gw_errors" ]] || echo "- wrk reported: $gw_errors"
    [[ "$profile" == 1 ]] && echo "- profile: $work/gateway-perf.txt"
} >"$work/summary.md"
echo
echo "---- summary (markdown, for BENCHMARKS.md) ----"
cat "$work/summary.md"
