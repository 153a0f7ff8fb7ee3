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
direct="${BENCH_DIRECT:-1}"
profile="${BENCH_PROFILE:-0}"
profile_seconds="${BENCH_PROFILE_SECONDS:-15}"
in_process="${BENCH_IN_PROCESS:-0}"
l4_proxy="${BENCH_L4_PROXY:-0}"
database="${BENCH_DATABASE:-salescompass_gwbench}"
target="${CARGO_TARGET_DIR:-$repo/target}"
grpc_port=50151 grpc_admin=9191 gw_port=8180 gw_admin=9190 l4_port=50152
operator="bench-operator-$RANDOM$RANDOM"
work="${BENCH_OUT:-$(mktemp -d)}"
mkdir -p "$work"
keep_work=0
[[ -n "${BENCH_OUT:-}" || "$profile" == 1 ]] && keep_work=1
pids=()

cleanup() {
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
        "$target/release/tenants" serve >"$work/tenants.log" 2>&1 &
    tenants_pid=$!
    pids+=("$tenants_pid")
    wait_ready "http://127.0.0.1:$grpc_admin/readyz"

    SALESCOMPASS__GATEWAY__LISTEN="127.0.0.1:$gw_port" \
    SALESCOMPASS__SERVER__ADMIN_LISTEN="127.0.0.1:$gw_admin" \
    SALESCOMPASS__GATEWAY__UPSTREAMS__TENANTS="http://127.0.0.1:$grpc_port" \
        env "${limits[@]}" ${GATEWAY_WORKER_THREADS:+TOKIO_WORKER_THREADS=$GATEWAY_WORKER_THREADS} \
        "${GATEWAY_BIN:-$target/release/gateway}" serve >"$work/gateway.log" 2>&1 &
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

# grpc_load CONNECTIONS SECONDS [PORT [CPU_FILE]]
grpc_load() {
    local port="${3:-$grpc_port}" timer=()
    [[ -n "${4:-}" ]] && timer=(client_timed "$4")
    if [[ -n "${GRPC_LOAD_BIN:-}" ]]; then
        "${timer[@]}" "$GRPC_LOAD_BIN" --url "http://127.0.0.1:$port" --token "$token" --connections "$1" --seconds "$2"
    else
        "${timer[@]}" cargo bench --quiet --manifest-path "$repo/Cargo.toml" -p gateway --bench grpc_load -- \
            --url "http://127.0.0.1:$port" --token "$token" --connections "$1" --seconds "$2"
    fi
}

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "warming up (5 s each)"
wrk -t2 -c"$connections" -d5s -H "authorization: Bearer $token" "$url" >/dev/null
[[ "$direct" == 1 ]] && grpc_load "$connections" 5 >/dev/null
idle_rss="$(rss_kib "$gw_pid")"

echo "measuring through the gateway (${seconds} s)"
peak_rss=0
( while kill -0 "$gw_pid" 2>/dev/null; do rss_kib "$gw_pid"; sleep 0.5; done ) >"$work/rss.txt" &
sampler=$!
gw_cpu0="$(cpu_ticks "$gw_pid")" svc_cpu0="$(cpu_ticks "$tenants_pid")" gw_sys0="$(sys_ticks "$gw_pid")"
client_timed "$work/wrk-cpu.txt" wrk -t2 -c"$connections" -d"${seconds}s" --latency -H "authorization: Bearer $token" "$url" | tee "$work/wrk.txt"
gw_cpu1="$(cpu_ticks "$gw_pid")" svc_cpu1="$(cpu_ticks "$tenants_pid")" gw_sys1="$(sys_ticks "$gw_pid")"
kill "$sampler" 2>/dev/null || true
peak_rss="$(sort -n "$work/rss.txt" | tail -n1)"
hwm="$(hwm_kib "$gw_pid")"

if [[ "$direct" == 1 ]]; then
    echo "measuring direct gRPC (${seconds} s)"
    svc_cpu2="$(cpu_ticks "$tenants_pid")"
    grpc_load "$connections" "$seconds" "$grpc_port" "$work/grpc-cpu.txt" | tee "$work/grpc.txt"
    svc_cpu3="$(cpu_ticks "$tenants_pid")"
fi

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
    haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
    l4_pid=$!
    pids+=("$l4_pid")
    for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$l4_port") 2>/dev/null && break; sleep 0.1; done
    echo "measuring direct gRPC through HAProxy in TCP mode (${seconds} s)"
    grpc_load "$connections" 5 "$l4_port" >/dev/null
    l4_cpu0="$(cpu_ticks "$l4_pid")"
    grpc_load "$connections" "$seconds" "$l4_port" | tee "$work/grpc-l4.txt"
    l4_cpu1="$(cpu_ticks "$l4_pid")"
fi

if [[ "$probe_seconds" -gt 0 ]]; then
    echo "latency probe at 1 connection (${probe_seconds} s each)"
    wrk -t1 -c1 -d"${probe_seconds}s" --latency -H "authorization: Bearer $token" "$url" >"$work/wrk1.txt"
    if [[ "$direct" == 1 ]]; then
        grpc_load 1 "$probe_seconds" >"$work/grpc1.txt"
    fi
fi

if [[ "$profile" == 1 ]]; then
    echo "profiling the gateway under the same load (${profile_seconds} s)"
    perf record -q -e cpu-clock -F 999 -g -o "$work/gateway-perf.data" -p "$gw_pid" -- sleep "$profile_seconds" &
    perf_pid=$!
    wrk -t2 -c"$connections" -d"${profile_seconds}s" -H "authorization: Bearer $token" "$url" >/dev/null
    wait "$perf_pid" || true
    perf report -q -i "$work/gateway-perf.data" --no-children --sort dso,symbol --stdio -g none \
        >"$work/gateway-perf.txt" 2>/dev/null || true
fi

to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us$/,"",v); print v/1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v); print v } else if (v ~ /s$/) { sub(/s$/,"",v); print v*1000 } }'; }
wrk_rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
wrk_pct() { to_ms "$(awk -v p="$2" '$1==p {print $2}' "$1")"; }
grpc_pct() { sed -nE "s/.*$2=([0-9.]+).*/\1/p" "$1"; }
gw_rps="$(wrk_rps "$work/wrk.txt")"
gw_p50="$(wrk_pct "$work/wrk.txt" 50%)"
gw_p99="$(wrk_pct "$work/wrk.txt" 99%)"
gw_errors="$(awk '/Non-2xx|Socket errors/' "$work/wrk.txt")"
gw_requests="$(awk '/requests in/ {print $1}' "$work/wrk.txt")"

{
    echo "| path | requests/s | p50 ms | p99 ms |"
    echo "|---|---:|---:|---:|"
    echo "| gateway REST, $connections connections | $gw_rps | $gw_p50 | $gw_p99 |"
    if [[ "$direct" == 1 ]]; then
        echo "| direct gRPC, $connections connections | $(wrk_rps "$work/grpc.txt") | $(grpc_pct "$work/grpc.txt" p50) | $(grpc_pct "$work/grpc.txt" p99) |"
    fi
    if [[ "$l4_proxy" == 1 ]]; then
        echo "| direct gRPC through HAProxy (TCP), $connections connections | $(wrk_rps "$work/grpc-l4.txt") | $(grpc_pct "$work/grpc-l4.txt" p50) | $(grpc_pct "$work/grpc-l4.txt" p99) |"
    fi
    if [[ "$probe_seconds" -gt 0 ]]; then
        echo "| gateway REST, 1 connection | $(wrk_rps "$work/wrk1.txt") | $(wrk_pct "$work/wrk1.txt" 50%) | $(wrk_pct "$work/wrk1.txt" 99%) |"
        if [[ "$direct" == 1 ]]; then
            echo "| direct gRPC, 1 connection | $(wrk_rps "$work/grpc1.txt") | $(grpc_pct "$work/grpc1.txt" p50) | $(grpc_pct "$work/grpc1.txt" p99) |"
        fi
    fi
    echo
    if [[ "$direct" == 1 ]]; then
        grpc_rps="$(wrk_rps "$work/grpc.txt")"
        grpc_requests="$(sed -nE 's/.* requests=([0-9]+).*/\1/p' "$work/grpc.txt")"
        awk -v g="$gw_rps" -v d="$grpc_rps" -v gp="$gw_p99" -v dp="$(grpc_pct "$work/grpc.txt" p99)" \
            'BEGIN { printf "- gateway/direct throughput: %.1f %%; added p99 at '"$connections"' connections: %.2f ms\n", 100*g/d, gp-dp }'
        if [[ "$l4_proxy" == 1 ]]; then
            l4_requests="$(sed -nE 's/.* requests=([0-9]+).*/\1/p' "$work/grpc-l4.txt")"
            awk -v g="$(wrk_rps "$work/grpc-l4.txt")" -v d="$grpc_rps" -v gp="$(grpc_pct "$work/grpc-l4.txt" p99)" -v dp="$(grpc_pct "$work/grpc.txt" p99)" \
                'BEGIN { printf "- HAProxy (TCP) hop: %.1f %% of direct throughput; added p99 at '"$connections"' connections: %.2f ms", 100*g/d, gp-dp }'
            echo "; HAProxy CPU per request: $(cpu_us_per_request "$l4_cpu0" "$l4_cpu1" "$l4_requests") µs"
        fi
        if [[ "$probe_seconds" -gt 0 ]]; then
            awk -v gp="$(wrk_pct "$work/wrk1.txt" 99%)" -v dp="$(grpc_pct "$work/grpc1.txt" p99)" \
                'BEGIN { printf "- added p99 at 1 connection: %.2f ms\n", gp-dp }'
        fi
    fi
    if [[ "$in_process" == 1 ]]; then
        echo "- one process (\`salescompass dev --in-process\`: gateway and tenants in-process, also crm and commissions idle)"
        echo "- process CPU per request: $(cpu_us_per_request "$gw_cpu0" "$gw_cpu1" "$gw_requests") µs via the gateway (of which kernel $(cpu_us_per_request "$gw_sys0" "$gw_sys1" "$gw_requests") µs)$([[ "$direct" == 1 ]] && echo ", $(cpu_us_per_request "$svc_cpu2" "$svc_cpu3" "$grpc_requests") µs direct")"
        echo "- process RSS (all services and the gateway): idle $((idle_rss / 1024)) MiB, peak sampled $((peak_rss / 1024)) MiB, VmHWM $((hwm / 1024)) MiB"
    else
        echo "- gateway CPU per request: $(cpu_us_per_request "$gw_cpu0" "$gw_cpu1" "$gw_requests") µs (of which kernel $(cpu_us_per_request "$gw_sys0" "$gw_sys1" "$gw_requests") µs), over $gw_requests requests"
        echo "- tenants CPU per request: $(cpu_us_per_request "$svc_cpu0" "$svc_cpu1" "$gw_requests") µs via the gateway$([[ "$direct" == 1 ]] && echo ", $(cpu_us_per_request "$svc_cpu2" "$svc_cpu3" "$grpc_requests") µs direct")"
        client_us() { awk -v n="$2" '{ printf "%.0f", ($1+$2)*1e6/n }' "$1"; }
        echo "- load client CPU per request: wrk $(client_us "$work/wrk-cpu.txt" "$gw_requests") µs$([[ "$direct" == 1 ]] && echo ", grpc_load $(client_us "$work/grpc-cpu.txt" "$grpc_requests") µs")"
        echo "- gateway RSS: idle $((idle_rss / 1024)) MiB, peak sampled $((peak_rss / 1024)) MiB, VmHWM $((hwm / 1024)) MiB"
    fi
    echo "- response body: $bytes bytes (50 users)"
    echo "- machine: $(nproc) cores, load average before the run: $load_before; $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    [[ -z "$gw_errors" ]] || echo "- wrk reported: $gw_errors"
    [[ "$profile" == 1 ]] && echo "- profile: $work/gateway-perf.txt"
} >"$work/summary.md"
echo
echo "---- summary (markdown, for BENCHMARKS.md) ----"
cat "$work/summary.md"
