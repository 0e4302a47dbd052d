#!/usr/bin/env bash
# The console and API at fleet scale (issue 16): 10,000 hosts and 1,000,000
# findings, and the time the collector takes to answer the host list, a
# filtered findings page (first and deep, by keyset cursor), the overview,
# and the API's lists. Target: each under 200 ms.
#
# The store is seeded by `mijian-loadgen --direct` (real signed reports
# through the real ingest: HOSTS agents x REPORTS reports of 20 findings,
# every finding new in every report, so HOSTS*REPORTS*20 finding rows, the
# latest report's 20 per host open). The seeded database is kept in
# target/bench-console/ and reused by later runs. Times are curl's
# time_total on loopback (server time plus a loopback round trip), median
# and max of 7 requests after one warm-up.
#
#   bench/console.sh [HOSTS] [REPORTS]      (defaults 10000 5)
#   MIJIAN_BENCH_PG=postgres://postgres@127.0.0.1:5432/test  also on PostgreSQL
#   MIJIAN_BENCH_PROFILE=release|dev        (default release)
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${1:-10000}
REPORTS=${2:-5}
PG=${MIJIAN_BENCH_PG-}
PROFILE=${MIJIAN_BENCH_PROFILE:-release}
OUT=target/$([ "$PROFILE" = dev ] && echo debug || echo release)

cargo build --profile "$PROFILE" -q -p mijian-collector -p mijian-loadgen
C=$PWD/$OUT/mijian-collector
L=$PWD/$OUT/mijian-loadgen
WORK=$PWD/target/bench-console
mkdir -p "$WORK"
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true; }
trap cleanup EXIT
PW=bench-password-123

seed() { # URL
    local url=$1
    if [ "$("$C" --database "$url" api-token list | wc -l)" -gt 1 ] && [ -z "${RESEED:-}" ]; then
        echo "store already seeded ($url); RESEED=1 to start over"
        return
    fi
    echo "seeding $HOSTS hosts x $REPORTS reports x 20 findings into $url ..."
    local t0=$SECONDS
    "$L" --direct "$url" --agents "$HOSTS" --reports "$REPORTS" --churn 1 --concurrency 2 | tail -3
    echo "seeded in $((SECONDS - t0)) s"
    echo "$PW" | "$C" --database "$url" user add bench --role secadmin --password-stdin >/dev/null
    "$C" --database "$url" api-token create --role auditor --label bench | tail -1 > "$WORK/token"
}

# time LABEL URL [curl args...]: median and max of 7 runs, ms
measure() {
    local label=$1 url=$2; shift 2
    curl -s -o /dev/null "$@" "$url"
    local ts=()
    for _ in 1 2 3 4 5 6 7; do
        ts+=("$(curl -s -o /dev/null -w '%{time_total}' "$@" "$url")")
    done
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url")
    printf '%s\n' "${ts[@]}" | sort -n | awk -v l="$label" -v c="$code" '
        { v[NR] = $1 * 1000 } END { printf "  %-52s %7.1f ms  (max %7.1f)  HTTP %s\n", l, v[4], v[7], c }'
}

bench() { # LABEL URL
    local label=$1 url=$2 port=$3
    seed "$url"
    "$C" --database "$url" serve --listen "127.0.0.1:$port" >/dev/null 2>"$WORK/serve-$label.log" &
    SERVER=$!
    for _ in $(seq 100); do curl -s "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
    local base="http://127.0.0.1:$port"
    local jar="$WORK/cookies-$label"
    rm -f "$jar"
    curl -s -c "$jar" -o /dev/null -d "name=bench&password=$PW" "$base/login"
    # The overview's cause counts are kept up to date in the background.
    sleep 15
    local tok
    tok=$(cat "$WORK/token")
    local auth=(-H "Authorization: Bearer $tok")
    # A cursor in the middle of the keyset (severity high, agent ids from "m"):
    # a page as deep as offset ~100,000.
    local mid
    mid=$(printf '[3,"m",""]' | base64 -w0 | tr '+/' '-_' | tr -d '=')
    echo "== $label: $("$C" --database "$url" api-token list | wc -l) tokens; $(du -sh "${url#sqlite:}" 2>/dev/null | cut -f1) on disk"
    measure "console: overview /" "$base/" -b "$jar"
    measure "console: host list /hosts" "$base/hosts" -b "$jar"
    measure "console: hosts sorted by open findings" "$base/hosts?sort=open_findings&desc=1" -b "$jar"
    measure "console: hosts search q=ws-a" "$base/hosts?q=ws-a" -b "$jar"
    measure "console: non-compliant hosts" "$base/hosts?status=noncompliant" -b "$jar"
    measure "console: findings high+ pending" "$base/findings?min_severity=high&triage=pending" -b "$jar"
    measure "console: findings kind=marked_classified" "$base/findings?kind=marked_classified" -b "$jar"
    measure "console: findings deep page (cursor mid-keyset)" "$base/findings?min_severity=high&cursor=$mid" -b "$jar"
    measure "console: findings of one host name" "$base/findings?host=ws-ab" -b "$jar"
    measure "api: GET /api/v1/hosts?limit=100" "$base/api/v1/hosts?limit=100" "${auth[@]}"
    measure "api: findings open high+ limit=100" "$base/api/v1/findings?status=open&min_severity=high&limit=100" "${auth[@]}"
    measure "api: same, deep page by cursor" "$base/api/v1/findings?status=open&min_severity=high&limit=100&cursor=$mid" "${auth[@]}"
    measure "api: same, offset=50000 (old paging, for contrast)" "$base/api/v1/findings?status=open&min_severity=high&limit=100&offset=50000" "${auth[@]}"
    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
}

bench sqlite "sqlite:$WORK/console.db" 18181
if [ -n "$PG" ]; then
    bench postgres "$PG" 18182
fi
