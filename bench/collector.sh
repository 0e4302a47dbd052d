#!/usr/bin/env bash
# Collector ingest throughput and latency, SQLite and PostgreSQL, against the
# targets of the collector issue: >= 2,000 reports/s sustained with
# verification (SQLite, 2 cores) and p99 < 50 ms at 500 reports/s offered.
#
# Each backend gets a fresh store and a release `mijian-collector serve` on
# loopback; `mijian-loadgen` (bench/loadgen) enrolls N agents and sends their
# pre-signed chains (~47 KB signed reports: 50 checks, 20 findings, 5% of
# findings changing between an agent's reports; one run with all changing). The
# unpaced run is repeated and the median reported, because on a shared
# 2-core machine single runs vary by +-15%. Server CPU is read from
# /proc/PID/stat around each run. The load generator runs on the same cores.
#
#   bench/collector.sh [AGENTS] [REPORTS_PER_AGENT] [RUNS]
#   MIJIAN_BENCH_PG=postgres://postgres@127.0.0.1:5432/test  (empty: skip PostgreSQL)
#   MIJIAN_BENCH_ONLY=sqlite|postgres
set -euo pipefail
cd "$(dirname "$0")/.."
AGENTS=${1:-200}
REPORTS=${2:-50}
RUNS=${3:-3}
PG=${MIJIAN_BENCH_PG-postgres://postgres@127.0.0.1:5432/test}

cargo build --release -q -p mijian-collector -p mijian-loadgen
C=$PWD/target/release/mijian-collector
L=$PWD/target/release/mijian-loadgen
WORK=$(mktemp -d)
SERVER=""
cleanup() {
    [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# run LABEL PORT TOKEN [loadgen args...] -> one table row
run() {
    local label=$1 port=$2 token=$3
    shift 3
    local t0 t1 out
    t0=$(ticks "$SERVER")
    out=$("$L" --url "http://127.0.0.1:$port" --token "$token" --agents "$AGENTS" \
        --reports "$REPORTS" --concurrency 8 "$@" 2>/dev/null | tail -1)
    t1=$(ticks "$SERVER")
    local n rate p50 p99
    n=$(sed -E 's/^sent ([0-9]+) reports.*/\1/' <<<"$out")
    rate=$(sed -E 's/.*: ([0-9]+) reports\/s.*/\1/' <<<"$out")
    p50=$(sed -E 's/.*p50 ([0-9.]+) ms.*/\1/' <<<"$out")
    p99=$(sed -E 's/.*p99 ([0-9.]+) ms.*/\1/' <<<"$out")
    local cpu_us=$(( (t1 - t0) * 1000000 / hz / n ))
    printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$rate" "$p50" "$p99" "$cpu_us"
}

# bench BACKEND DATABASE-URL PORT
bench() {
    local backend=$1 db=$2 port=$3
    local token
    token=$("$C" --database "$db" token create --uses 1000000 2>/dev/null | tail -1)
    RUST_LOG=warn "$C" --database "$db" serve --listen "127.0.0.1:$port" >"$WORK/$backend.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 50); do
        curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    local rows=()
    for i in $(seq "$RUNS"); do
        rows+=("$(run "$backend unpaced #$i" "$port" "$token")")
        # What autovacuum would do between runs (it may be off on a test server).
        if [ "$backend" = postgres ]; then
            PGOPTIONS="-c search_path=$schema" psql "$PG" -qc "VACUUM ANALYZE" >/dev/null
        fi
    done
    printf '%s\n' "${rows[@]}"
    # Median by reports/s.
    local med
    med=$(printf '%s\n' "${rows[@]}" | sort -t$'\t' -k2,2n | sed -n "$(( (RUNS + 1) / 2 ))p")
    printf '%s\n' "$med" | awk -F'\t' -v b="$backend" '{printf "%s unpaced (median)\t%s\t%s\t%s\t%s\n", b, $2, $3, $4, $5}' >>"$WORK/summary"
    run "$backend at 500/s" "$port" "$token" --rate 500 | tee -a "$WORK/summary"
    # Worst case: every finding of every report is new (the default load
    # changes 5% of them per report, as real hosts mostly report the same files).
    run "$backend unpaced, churn 1" "$port" "$token" --churn 1 | tee -a "$WORK/summary"
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    SERVER=""
}

printf 'run\treports/s\tp50 ms\tp99 ms\tserver CPU µs/report\n'
ONLY=${MIJIAN_BENCH_ONLY:-}
if [ "$ONLY" != postgres ]; then
    bench sqlite "sqlite:$WORK/c.db" 18099
fi
if [ "$ONLY" = sqlite ]; then
    :
elif [ -n "$PG" ] && psql "$PG" -qc 'select 1' >/dev/null 2>&1; then
    schema="bench_$$"
    echo "postgres: autovacuum is $(psql "$PG" -Atc 'SHOW autovacuum'); VACUUM ANALYZE runs between runs"
    psql "$PG" -qc "CREATE SCHEMA $schema" >/dev/null
    bench postgres "$PG?options=-c%20search_path%3D$schema" 18098
    psql "$PG" -qc "DROP SCHEMA $schema CASCADE" >/dev/null 2>&1
else
    echo "postgres: skipped (no server at ${PG:-<unset>})"
fi

echo
echo "summary ($AGENTS agents x $REPORTS reports, 8 connections; targets: SQLite >= 2000 reports/s, p99 < 50 ms at 500/s)"
printf 'run\treports/s\tp50 ms\tp99 ms\tserver CPU µs/report\n'
cat "$WORK/summary"
