#!/usr/bin/env bash
# Side-by-side benchmark (issue 8): SalesCompass (release `salescompass dev`, through the REST
# gateway, plus direct gRPC) vs the BottleCRM peer (../shared/peer) vs the database ceiling
# (pgbench running the crm service's own SQL), on seeded data, in one run. Each scenario runs
# against us and the peer alternately (A B, then B A, ... BENCH_ROUNDS times), and each round ends
# with its pgbench ceilings; BENCHMARKS.md gets the medians, ratios, peak RSS and CPU in place of
# the previous run's (section "sc-bench:compare-$BENCH_LEADS": one current table per data size).
#
# Usage: scripts/bench-compare.sh                   (full size: see the defaults below)
#   BENCH_LEADS=500 BENCH_DURATION=5s BENCH_WARMUP=1s BENCH_CONNECTIONS=4 BENCH_ROUNDS=1 \
#     scripts/bench-compare.sh                      (smoke size)
# Environment (defaults in brackets):
#   BENCH_LEADS [10000]          leads seeded for us; BENCH_PEER_LEADS [= BENCH_LEADS] for the peer
#   BENCH_OPPORTUNITIES [0]      opportunities seeded for us (not used by the scenarios)
#   BENCH_CONNECTIONS [32]  BENCH_DURATION [30s]  BENCH_WARMUP [5s]  BENCH_ROUNDS [3]
#   BENCH_SCENARIOS ["list get filter deep search create"]  (create last: it adds rows)
#   BENCH_PEER [1]               0 = no peer (e.g. the 1,000,000-lead run)
#   BENCH_PEER_WORKERS [5]       gunicorn sync workers (2 x cores + 1)
#   BENCH_GRPC [1]               also run every scenario over gRPC, straight to the crm service
#   BENCH_CEILING [1]            pgbench ceilings for create, get, list
#   BENCH_PROFILE [0]            1 = perf-record the slowest of our scenarios (see BENCHMARKS.md)
#   BENCH_FILE [BENCHMARKS.md]
#   BENCH_DATABASE [salescompass_bench] (dropped and recreated; BENCH_KEEP_DB=1 keeps it after)
#   BENCH_KEEP_PEER [0]          1 = leave the peer running at the end
#   PEER_DIR                     the peer harness [../shared/peer beside this checkout, or beside
#                                the main checkout when this one is a git worktree]
#   BENCH_IN_PROCESS [0]         1 = `salescompass dev --in-process`: the gateway calls the
#                                co-located services directly, not over HTTP/2 on loopback
#   BENCH_BUILD [1]              0 = use the release binaries already in the target dir
#   CARGO_TARGET_DIR             cargo target dir (default: cargo's)
# Needs: psql, pgbench, curl, python3 >= 3.12 via pyenv for the peer; PostgreSQL on
# 127.0.0.1:5432 (trust), RabbitMQ on 127.0.0.1:5672. Ports 8080, 50051, 50052, 9090-9092
# (us) and 8001 (peer) must be free.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
leads="${BENCH_LEADS:-10000}"
peer_leads="${BENCH_PEER_LEADS:-$leads}"
opportunities="${BENCH_OPPORTUNITIES:-0}"
connections="${BENCH_CONNECTIONS:-32}"
duration="${BENCH_DURATION:-30s}"
warmup="${BENCH_WARMUP:-5s}"
rounds="${BENCH_ROUNDS:-3}"
scenarios="${BENCH_SCENARIOS:-list get filter deep search create}"
with_peer="${BENCH_PEER:-1}"
peer_workers="${BENCH_PEER_WORKERS:-5}"
with_grpc="${BENCH_GRPC:-1}"
with_ceiling="${BENCH_CEILING:-1}"
with_profile="${BENCH_PROFILE:-0}"
in_process="${BENCH_IN_PROCESS:-0}"
dev_args=(dev)
[ "$in_process" = 1 ] && dev_args+=(--in-process)
section="compare-$leads"
benchmarks="${BENCH_FILE:-$repo/BENCHMARKS.md}"
database="${BENCH_DATABASE:-salescompass_bench}"
target="${CARGO_TARGET_DIR:-$repo/target}"
# The peer harness sits beside the repository (../shared/peer); from a `git worktree` that is
# beside the main checkout, which git's common directory names.
find_peer() {
    if [ -n "${PEER_DIR:-}" ]; then
        (cd "$PEER_DIR" 2>/dev/null && pwd) || { echo "PEER_DIR=$PEER_DIR is not a directory" >&2; return 1; }
        return
    fi
    local common checkout
    common="$(git -C "$repo" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)"
    for checkout in "$repo" ${common:+"$(dirname "$common")"}; do
        [ -d "$checkout/../shared/peer" ] && { (cd "$checkout/../shared/peer" && pwd); return; }
    done
    echo "no peer harness at $repo/../shared/peer${common:+ or $(dirname "$common")/../shared/peer}: set PEER_DIR, or BENCH_PEER=0 to run without the peer" >&2
    return 1
}
peer_src=""
if [ "$with_peer" = 1 ]; then peer_src="$(find_peer)"; fi
peer_home="${PEER_HOME:-${TMPDIR:-/tmp}/salescompass-peer}"
work="$(mktemp -d "${TMPDIR:-/tmp}/sc-bench.XXXXXX")"
results="$work/results.jsonl"
operator="bench-operator-$RANDOM$RANDOM"
db_url="postgres://postgres@127.0.0.1:5432/$database"
psql_db=(psql -h 127.0.0.1 -U postgres -d "$database" -v ON_ERROR_STOP=1 -qAt)
sc_pid=""
peer_started=0

log() { printf '\n== %s: %s\n' "$(date -u +%H:%M:%S)" "$*"; }

stop_sc() {
    if [ -n "$sc_pid" ] && kill -0 "$sc_pid" 2>/dev/null; then
        kill "$sc_pid"
        for _ in $(seq 100); do kill -0 "$sc_pid" 2>/dev/null || break; sleep 0.2; done
    fi
    sc_pid=""
}

cleanup() {
    stop_sc
    if [ "$peer_started" = 1 ] && [ "${BENCH_KEEP_PEER:-0}" != 1 ]; then
        PEER_HOME="$peer_home" "$peer_src/stop_peer.sh" || true
    fi
    if [ "${BENCH_KEEP_DB:-0}" != 1 ]; then
        psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    echo "raw results and logs: $work"
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

for tool in psql pgbench curl python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
for port in 8080 50051 50052 9090 9091 9092; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "port $port is in use: stop what listens there (another salescompass dev?)" >&2
        exit 1
    fi
done

log "building release binaries"
[ "${BENCH_BUILD:-1}" = 0 ] || cargo build --quiet --release --manifest-path "$repo/Cargo.toml" -p salescompass -p bench
bench="$target/release/sc-bench"

pg_pid="$(head -1 "$(psql -h 127.0.0.1 -U postgres -qAtc 'SHOW data_directory')/postmaster.pid")"

log "starting SalesCompass (database $database)"
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null
# Rate limits raised (still evaluated on every request): the defaults (100 req/s per tenant)
# would measure the limiter, not the platform.
# MIMALLOC_PURGE_DELAY as the container image sets it (Dockerfile).
start_sc() {
    MIMALLOC_PURGE_DELAY="${MIMALLOC_PURGE_DELAY:-0}" \
    DATABASE_URL="$db_url" \
    SALESCOMPASS__OPERATOR__TOKEN="$operator" \
    SALESCOMPASS__TELEMETRY__LOG_FILTER=warn \
    SALESCOMPASS__GATEWAY__RATE_LIMIT__DEFAULT__TENANT_PER_SECOND=1000000 \
    SALESCOMPASS__GATEWAY__RATE_LIMIT__DEFAULT__TENANT_BURST=1000000 \
    SALESCOMPASS__GATEWAY__RATE_LIMIT__DEFAULT__CLIENT_PER_SECOND=1000000 \
    SALESCOMPASS__GATEWAY__RATE_LIMIT__DEFAULT__CLIENT_BURST=1000000 \
        "$target/release/salescompass" "${dev_args[@]}" >>"$work/salescompass.log" 2>&1 &
    sc_pid=$!
    wait_ready http://127.0.0.1:9092/readyz && wait_ready http://127.0.0.1:9090/readyz \
        || { tail -30 "$work/salescompass.log"; exit 1; }
}
start_sc

log "seeding $leads leads, $opportunities opportunities"
"$bench" seed --database-url "$db_url" --operator-token "$operator" --leads "$leads" \
    --opportunities "$opportunities" --out "$work/seed.json" >/dev/null
login="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["login"])' "$work/seed.json")"
tenant_id="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tenant_id"])' "$work/seed.json")"
admin_id="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin_id"])' "$work/seed.json")"
export SC_BENCH_LOGIN="$login"

peer_env() { (cd "$peer_home/run" && set -a && . "$peer_src/peer.env" && set +a && "$@"); }

if [ "$with_peer" = 1 ]; then
    log "starting the peer ($peer_leads leads, $peer_workers workers)"
    # The peer's seeding refuses an org with fewer leads than asked: reseed from scratch when
    # the count differs (its own benchmark leads are removed first).
    if [ -x "$peer_home/venv/bin/python" ] && psql -h 127.0.0.1 -U postgres -qAtc "SELECT 1 FROM pg_database WHERE datname = 'bottlecrm'" | grep -q 1; then
        peer_env "$peer_home/venv/bin/python" "$peer_src/cleanup_bench_leads.py" >/dev/null 2>&1 || true
        have="$(psql -h 127.0.0.1 -U postgres -d bottlecrm -qAtc 'SELECT count(*) FROM lead' 2>/dev/null || echo 0)"
        if [ "$have" != "$peer_leads" ]; then
            echo "peer database has $have leads, want $peer_leads: recreating it"
            PEER_HOME="$peer_home" "$peer_src/stop_peer.sh" || true
            psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS bottlecrm WITH (FORCE)"
        fi
    fi
    PEER_HOME="$peer_home" N_LEADS="$peer_leads" WORKERS="$peer_workers" "$peer_src/run_peer.sh" \
        >"$work/peer-setup.log" 2>&1 || { tail -30 "$work/peer-setup.log"; exit 1; }
    peer_started=1
    peer_pid="$(cat "$peer_home/run/gunicorn.pid")"
fi

# The first 200 leads are the ids `get` cycles through, on every side (ceiling included).
load_args=(--ids 200 --connections "$connections" --duration "$duration" --warmup "$warmup" --json --out "$results")

run_us() { # scenario round
    "$bench" http --side sc --scenario "$1" --label "round $2" --deep-offset $((leads / 2)) \
        --watch "salescompass=$sc_pid" --watch "postgres=$pg_pid" "${load_args[@]}" >/dev/null
}
run_peer() {
    peer_env "$peer_home/venv/bin/python" "$peer_src/mint_token.py" >"$peer_home/run/token.txt"
    "$bench" http --side peer --scenario "$1" --label "round $2" --deep-offset $((peer_leads / 2)) \
        --token-file "$peer_home/run/token.txt" \
        --watch "peer=$peer_pid" --watch "postgres=$pg_pid" "${load_args[@]}" >/dev/null
}
run_grpc() {
    "$bench" grpc --scenario "$1" --label "round $2" --deep-offset $((leads / 2)) \
        --watch "salescompass=$sc_pid" --watch "postgres=$pg_pid" "${load_args[@]}" >/dev/null
}
# Created rows would grow the data under the next scenarios: remove them after each create run.
clean_us() {
    "${psql_db[@]}" -c "DELETE FROM crm.leads WHERE tenant_id = '$tenant_id' AND email LIKE '%@load.test'" \
        -c "VACUUM ANALYZE crm.leads"
}
clean_peer() { peer_env "$peer_home/venv/bin/python" "$peer_src/cleanup_bench_leads.py" >/dev/null; }
last() {
    tail -1 "$results" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("%-7s %-7s %-7s %9.1f req/s  p99 %8.1f ms  errors %d" % (r["side"], r["protocol"], r["scenario"], r["rps"], r["p99_ms"], r["non_2xx"] + r["transport_errors"]))'
}
# Seconds in a duration like 500ms, 30s, 2m (for perf's sleep).
seconds() { case "$1" in *ms) echo 1 ;; *m) echo $(( ${1%m} * 60 )) ;; *s) echo "${1%s}" ;; *) echo "$1" ;; esac; }

# The pgbench ceilings of one round, run right after our and the peer's scenarios of that
# round, so a machine that slows down over the run slows both sides of a ratio alike.
ceiling_scripts=""
ceiling_round() { # round
    # Stopped first: its outbox relay would publish the ceiling's placeholder envelopes.
    log "round $1/$rounds: stopping SalesCompass for the pgbench ceilings"
    stop_sc
    # Under load the relay keeps polling, so the outbox trigger skips its NOTIFY (which would
    # serialise commits); with the relay stopped, mark it polling so the ceiling pays the same.
    "${psql_db[@]}" -c "UPDATE crm.outbox_relay SET polling_until = 'infinity'" >/dev/null
    if [ -z "$ceiling_scripts" ]; then
        local ids id_count envelope
        ids="$("${psql_db[@]}" -c "SELECT string_agg(quote_literal(id::text), ',') FROM (SELECT id FROM crm.leads WHERE tenant_id = '$tenant_id' AND deleted_at IS NULL ORDER BY created_at, id LIMIT 200) s")"
        id_count="$("${psql_db[@]}" -c "SELECT count(*) FROM (SELECT 1 FROM crm.leads WHERE tenant_id = '$tenant_id' LIMIT 200) s")"
        envelope="$("${psql_db[@]}" -c "SELECT coalesce(round(avg(length(envelope)))::int, 400) FROM crm.outbox WHERE event_type = 'crm.lead.created'")"
        for name in create_lead get_lead list_leads; do
            sed -e "s/@TENANT@/$tenant_id/g" -e "s/@OWNER@/$admin_id/g" -e "s/@ID_COUNT@/$id_count/g" \
                -e "s/@ENVELOPE_BYTES@/$envelope/g" -e "s/@IDS@/$ids/g" \
                "$repo/tools/bench/pgbench/$name.sql" >"$work/$name.sql"
        done
        ceiling_scripts=1
    fi
    # Create last, as in our rounds: the reads never run right after create's churn (tens of
    # thousands of deleted rows and their VACUUM) on one side only.
    for pair in get:get_lead list:list_leads create:create_lead; do
        local scenario="${pair%%:*}"
        case " $scenarios " in *" $scenario "*) ;; *) continue ;; esac
        log "round $1/$rounds: ceiling $scenario"
        "$bench" pgbench --script "$work/${pair#*:}.sql" --scenario "$scenario" \
            --dbname "$database" --label "round $1" --connections "$connections" \
            --duration "$duration" --warmup "$warmup" --watch "postgres=$pg_pid" \
            --json --out "$results" >/dev/null
        last
        if [ "$scenario" = create ]; then
            clean_us
            # The ceiling's placeholder envelopes: the relay must never publish them.
            "${psql_db[@]}" -c "DELETE FROM crm.outbox WHERE tenant_id = '$tenant_id' AND sent_at IS NULL" \
                -c "VACUUM ANALYZE crm.outbox" >/dev/null
        fi
    done
    # Back to an idle relay's state, so our next create pays the NOTIFY as it did before.
    "${psql_db[@]}" -c "UPDATE crm.outbox_relay SET polling_until = 'epoch'" >/dev/null
}

for round in $(seq 1 "$rounds"); do
    for scenario in $scenarios; do
        log "round $round/$rounds: $scenario"
        # A B in odd rounds, B A in even ones: neither side always runs on a warmer machine.
        if [ "$with_peer" = 1 ] && [ $((round % 2)) = 0 ]; then
            run_peer "$scenario" "$round"; last
            [ "$scenario" = create ] && clean_peer
        fi
        run_us "$scenario" "$round"; last
        [ "$scenario" = create ] && clean_us
        if [ "$with_peer" = 1 ] && [ $((round % 2)) = 1 ]; then
            run_peer "$scenario" "$round"; last
            [ "$scenario" = create ] && clean_peer
        fi
        if [ "$with_grpc" = 1 ]; then
            run_grpc "$scenario" "$round"; last
            [ "$scenario" = create ] && clean_us
        fi
    done
    if [ "$with_ceiling" = 1 ]; then
        ceiling_round "$round"
        if [ "$round" -lt "$rounds" ] || [ "$with_profile" = 1 ]; then
            log "restarting SalesCompass"
            start_sc
        fi
    fi
done

if [ "$with_profile" = 1 ]; then
    slowest="$(python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    if r["side"] == "sc" and r["protocol"] == "http":
        by.setdefault(r["scenario"], []).append(r["rps"])
print(min(by, key=lambda s: statistics.median(by[s])))
PY
)"
    if perf record -q -o "$work/perf-check.data" true 2>/dev/null; then
        log "profiling our slowest scenario ($slowest) with perf"
        perf record -q -e cpu-clock -F 499 -g -p "$sc_pid" -o "$work/perf.data" -- sleep "$(seconds "$duration")" &
        perf_pid=$!
        "$bench" http --side sc --scenario "$slowest" --deep-offset $((leads / 2)) --warmup 0s --ids 200 \
            --connections "$connections" --duration "$duration" >"$work/profile-run.txt"
        wait "$perf_pid" || true
        perf report -i "$work/perf.data" --stdio --no-children --percent-limit 1 \
            >"$work/perf-report.txt" 2>/dev/null || true
        echo "perf report: $work/perf-report.txt (perf.data beside it)"
    else
        echo "perf cannot record here: use valgrind --tool=callgrind (see BENCHMARKS.md)"
    fi
fi

log "writing $benchmarks (section sc-bench:$section)"
commit="$(git -C "$repo" rev-parse --short HEAD)"
peer_data=""
[ "$with_peer" = 1 ] && peer_data="; the peer's org with $peer_leads leads (its own \`seed_data\`, 4 users), $peer_workers gunicorn sync workers, DB pool off"
opportunity_data=""
[ "$opportunities" -gt 0 ] && opportunity_data="; $opportunities opportunities"
method="Run $(date -u '+%Y-%m-%d %H:%M UTC') at commit \`$commit\` by \`scripts/bench-compare.sh\` on $(nproc) cores,
$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), PostgreSQL $(psql -h 127.0.0.1 -U postgres -qAtc 'SHOW server_version'), load average before the run $(cut -d' ' -f1-3 /proc/loadavg).
Data: one tenant with $leads leads (4 owners, seeded by \`sc-bench seed\`)$peer_data$opportunity_data.
Load: \`sc-bench\`, $connections keep-alive connections (closed loop), ${warmup} warm-up then ${duration} measured, $rounds rounds, us and the peer alternately (A B, B A, ...), each round ending with its pgbench ceilings; both log in as the tenant admin.
Pages of 50 (the peer: \`limit=50\`; it returns open and closed leads with nested data, plus two counts). Deep page: our page token $((leads / 2)) rows in; the peer's \`offset=$((peer_leads / 2))\`.
Filter: status NEW and one owner (the peer: its status of that lead and one assignee). Search: first or last name contains three letters of a seeded last name (the peer: \`name=\`).
Our gateway's rate limits are raised for the run (still evaluated). Gateway → crm: $([ "$in_process" = 1 ] && echo "in-process (\`salescompass dev --in-process\`, one binary; no socket between them)" || echo "HTTP/2 over loopback TCP, as between pods"). Created leads are deleted after each create run on both sides."
"$bench" report --results "$results" --benchmarks "$benchmarks" --section "$section" \
    --heading "Current figures, $(sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$leads") leads" --method "$method"
