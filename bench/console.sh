#!/usr/bin/env bash
# The console and API at fleet scale (issue 16): 10,000 hosts and 1,000,000
# findings, and the time the collector takes to answer the host list, a
# filtered findings page (first and deep, by keyset cursor), the overview,
# the policy page's rollout, and the API's lists. Target: each under 200 ms.
#
# The SQLite store is seeded in SQL (sqlite3; seconds instead of the hour the
# real ingest of 50,000 signed reports takes on a shared 2-core machine):
# HOSTS agents and hosts (levels, compliance, silent hosts, failed checks in
# their latest checks), 100 findings per host of which 20 open (content,
# marked, media; every severity), rows shaped as ingest writes them.
# SEED=loadgen seeds through `mijian-loadgen --direct` instead (real signed
# reports through the real ingest: HOSTS x REPORTS reports of 20 findings,
# all new each time). The database is kept in target/bench-console/. Times are curl's
# time_total on loopback (server time plus a loopback round trip), median
# and max of 7 requests after one warm-up.
#
#   bench/console.sh [HOSTS] [REPORTS]      (defaults 10000 5)
#   MIJIAN_BENCH_PG=postgres://postgres@127.0.0.1:5432/test  also on PostgreSQL
#     (seeded with the same rows through psql into schema `bench_console`,
#     created when missing; RESEED=1 drops and refills it)
#   MIJIAN_BENCH_PROFILE=release|dev        (default release)
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${1:-10000}
REPORTS=${2:-5}
PG=${MIJIAN_BENCH_PG-}
PROFILE=${MIJIAN_BENCH_PROFILE:-release}
OUT=target/$([ "$PROFILE" = dev ] && echo debug || echo release)

if [ "${SEED:-sql}" = loadgen ]; then
    cargo build --profile "$PROFILE" -q -p mijian-collector -p mijian-loadgen
else
    cargo build --profile "$PROFILE" -q -p mijian-collector
fi
C=$PWD/$OUT/mijian-collector
L=$PWD/$OUT/mijian-loadgen
WORK=$PWD/target/bench-console
mkdir -p "$WORK"
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true; }
trap cleanup EXIT
PW=bench-password-123

seed() { # URL LABEL
    local url=$1 label=$2
    if [ "$("$C" --database "$url" api-token list | wc -l)" -gt 1 ] && [ -z "${RESEED:-}" ]; then
        echo "store already seeded ($url); RESEED=1 to start over"
        [ -s "$WORK/token-$label" ] ||
            "$C" --database "$url" api-token create --role auditor --label bench | tail -1 > "$WORK/token-$label"
        return
    fi
    local t0=$SECONDS
    if [ "${SEED:-sql}" = loadgen ]; then
        echo "seeding $HOSTS hosts x $REPORTS reports x 20 findings into $url (loadgen) ..."
        "$L" --direct "$url" --agents "$HOSTS" --reports "$REPORTS" --churn 1 --concurrency 2 | tail -3
    else
        echo "seeding $HOSTS hosts x 100 findings into $url (SQL) ..."
        "$C" --database "$url" api-token list >/dev/null   # creates and migrates
        case "$url" in
            postgres*) seed_pg_sql "$HOSTS" | psql -q -v ON_ERROR_STOP=1 "$url" ;;
            *) seed_sql "$HOSTS" | sqlite3 "${url#sqlite:}" ;;
        esac
    fi
    echo "seeded in $((SECONDS - t0)) s"
    echo "$PW" | "$C" --database "$url" user add bench --role secadmin --password-stdin >/dev/null
    # One token file per backend: a later run without RESEED reuses it.
    "$C" --database "$url" api-token create --role auditor --label bench | tail -1 > "$WORK/token-$label"
}

seed_sql() { # HOSTS -> SQL on stdout
    local now
    now=$(date +%s)
    cat <<SQL
PRAGMA journal_mode = WAL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $1 - 1)
INSERT INTO agents (agent_id, jwk, hostname, enrolled_at)
SELECT printf('%08x', i * 2654435761 % 4294967296) || substr(lower(hex(randomblob(18))), 1, 35), '{}',
       'ws-' || i, $now - 90 * 86400 FROM n;
INSERT INTO hosts (agent_id, hostname, os, classification, last_seen, latest_seq, latest_report_id,
                   latest_created_at, compliant, failed_checks, open_findings, latest_checks,
                   first_seq, max_seq, seq_count, tamper_alerts)
SELECT agent_id, 'ws-' || substr(agent_id, 1, 8), 'Kylin V10 SP3',
       CASE rowid % 4 WHEN 0 THEN '非涉密' WHEN 1 THEN '内部' WHEN 2 THEN '秘密' ELSE '机密' END,
       $now - CASE WHEN rowid % 50 = 0 THEN 6 * 86400 ELSE rowid % 86400 END,
       5, lower(hex(randomblob(16))), '2026-01-01T00:00:00Z',
       CASE WHEN rowid % 3 = 0 THEN 1 ELSE 0 END, CASE WHEN rowid % 3 = 0 THEN 0 ELSE 2 END, 20,
       '[{"id":"password.min_length","subject":"host","status":"' || CASE WHEN rowid % 3 = 1 THEN 'fail' ELSE 'pass' END ||
       '","expected":10,"actual":8},{"id":"screen_lock.idle_timeout","subject":"user:zhang","status":"' ||
       CASE WHEN rowid % 3 = 2 THEN 'fail' ELSE 'pass' END || '","expected":600,"actual":1800},' ||
       '{"id":"account.empty_password","subject":"host","status":"pass"}]',
       1, 5, CASE WHEN rowid % 97 = 0 THEN 4 ELSE 5 END, CASE WHEN rowid % 500 = 0 THEN 1 ELSE 0 END
FROM agents;
WITH RECURSIVE j(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM j WHERE k < 99)
INSERT INTO findings (agent_id, fingerprint, kind, severity, severity_rank, path, body, status,
                      first_seq, last_seq, first_seen, last_seen, resolved_at)
SELECT h.agent_id, printf('%064x', k * 7919 + 13),
       CASE WHEN k % 10 = 9 THEN 'removable_media' WHEN k % 4 = 0 THEN 'marked_classified' ELSE 'unmarked_classified' END,
       CASE k % 5 WHEN 0 THEN 'info' WHEN 1 THEN 'low' WHEN 2 THEN 'medium' WHEN 3 THEN 'high' ELSE 'critical' END,
       k % 5,
       CASE WHEN k % 10 = 9 THEN NULL ELSE '/home/zhang/文档/项目资料/第' || k || '批/技术方案-' || k || '.docx' END,
       CASE WHEN k % 10 = 9 THEN '{"kind":"removable_media","severity":"high","device":"/dev/sdb1","registered":false,"mount_point":"/media/zhang/U' || k || '"}'
            ELSE '{"kind":"unmarked_classified","severity":"high","path":"/home/zhang/文档/项目资料/第' || k || '批/技术方案-' || k ||
                 '.docx","sha256":"' || lower(hex(randomblob(32))) || '","format":"docx","matches":[{"rule":"codename-' || (k % 7) || '","count":' || (k + 1) || '}]' ||
                 CASE WHEN k % 4 = 0 THEN ',"marking":{"level":"机密","period":"5年"}' ELSE '' END || '}' END,
       CASE WHEN k < 20 THEN 'open' ELSE 'resolved' END,
       1, CASE WHEN k < 20 THEN 5 ELSE 3 END, $now - 30 * 86400 + k * 3600, $now - 86400,
       CASE WHEN k < 20 THEN NULL ELSE $now - 2 * 86400 END
FROM hosts h, j;
COMMIT;
ANALYZE;
SQL
}

seed_pg_sql() { # HOSTS -> the same rows in PostgreSQL's dialect
    local now
    now=$(date +%s)
    cat <<SQL
BEGIN;
INSERT INTO agents (agent_id, jwk, hostname, enrolled_at)
SELECT lpad(to_hex((i::bigint * 2654435761) % 4294967296), 8, '0') || substr(md5(i::text) || md5((i + 1)::text), 1, 35),
       '{}', 'ws-' || i, $now - 90 * 86400 FROM generate_series(0, $1 - 1) AS n(i);
INSERT INTO hosts (agent_id, hostname, os, classification, last_seen, latest_seq, latest_report_id,
                   latest_created_at, compliant, failed_checks, open_findings, latest_checks,
                   first_seq, max_seq, seq_count, tamper_alerts)
SELECT lpad(to_hex((i::bigint * 2654435761) % 4294967296), 8, '0') || substr(md5(i::text) || md5((i + 1)::text), 1, 35),
       'ws-' || lpad(to_hex((i::bigint * 2654435761) % 4294967296), 8, '0'), 'Kylin V10 SP3',
       CASE i % 4 WHEN 0 THEN '非涉密' WHEN 1 THEN '内部' WHEN 2 THEN '秘密' ELSE '机密' END,
       $now - CASE WHEN i % 50 = 0 THEN 6 * 86400 ELSE i % 86400 END,
       5, md5(random()::text), '2026-01-01T00:00:00Z',
       CASE WHEN i % 3 = 0 THEN 1 ELSE 0 END, CASE WHEN i % 3 = 0 THEN 0 ELSE 2 END, 20,
       '[{"id":"password.min_length","subject":"host","status":"' || CASE WHEN i % 3 = 1 THEN 'fail' ELSE 'pass' END ||
       '","expected":10,"actual":8},{"id":"screen_lock.idle_timeout","subject":"user:zhang","status":"' ||
       CASE WHEN i % 3 = 2 THEN 'fail' ELSE 'pass' END || '","expected":600,"actual":1800},' ||
       '{"id":"account.empty_password","subject":"host","status":"pass"}]',
       1, 5, CASE WHEN i % 97 = 0 THEN 4 ELSE 5 END, CASE WHEN i % 500 = 0 THEN 1 ELSE 0 END
FROM generate_series(0, $1 - 1) AS n(i);
INSERT INTO findings (agent_id, fingerprint, kind, severity, severity_rank, path, body, status,
                      first_seq, last_seq, first_seen, last_seen, resolved_at)
SELECT h.agent_id, lpad(to_hex(k * 7919 + 13), 64, '0'),
       CASE WHEN k % 10 = 9 THEN 'removable_media' WHEN k % 4 = 0 THEN 'marked_classified' ELSE 'unmarked_classified' END,
       CASE k % 5 WHEN 0 THEN 'info' WHEN 1 THEN 'low' WHEN 2 THEN 'medium' WHEN 3 THEN 'high' ELSE 'critical' END,
       k % 5,
       CASE WHEN k % 10 = 9 THEN NULL ELSE '/home/zhang/文档/项目资料/第' || k || '批/技术方案-' || k || '.docx' END,
       CASE WHEN k % 10 = 9 THEN '{"kind":"removable_media","severity":"high","device":"/dev/sdb1","registered":false,"mount_point":"/media/zhang/U' || k || '"}'
            ELSE '{"kind":"unmarked_classified","severity":"high","path":"/home/zhang/文档/项目资料/第' || k || '批/技术方案-' || k ||
                 '.docx","sha256":"' || md5(random()::text) || md5(random()::text) || '","format":"docx","matches":[{"rule":"codename-' || (k % 7) || '","count":' || (k + 1) || '}]' ||
                 CASE WHEN k % 4 = 0 THEN ',"marking":{"level":"机密","period":"5年"}' ELSE '' END || '}' END,
       CASE WHEN k < 20 THEN 'open' ELSE 'resolved' END,
       1, CASE WHEN k < 20 THEN 5 ELSE 3 END, $now - 30 * 86400 + k * 3600, $now - 86400,
       CASE WHEN k < 20 THEN NULL ELSE $now - 2 * 86400 END
FROM hosts h, generate_series(0, 99) AS j(k);
COMMIT;
ANALYZE;
SQL
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
    seed "$url" "$label"
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
    tok=$(cat "$WORK/token-$label")
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
    measure "console: policy page (rollout over every host)" "$base/policy?all=1" -b "$jar"
    measure "api: GET /api/v1/hosts?limit=100" "$base/api/v1/hosts?limit=100" "${auth[@]}"
    measure "api: findings open high+ limit=100" "$base/api/v1/findings?status=open&min_severity=high&limit=100" "${auth[@]}"
    measure "api: same, deep page by cursor" "$base/api/v1/findings?status=open&min_severity=high&limit=100&cursor=$mid" "${auth[@]}"
    measure "api: same, offset=50000 (old paging, for contrast)" "$base/api/v1/findings?status=open&min_severity=high&limit=100&offset=50000" "${auth[@]}"
    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
}

bench sqlite "sqlite:$WORK/console.db" 18181
if [ -n "$PG" ]; then
    # A schema of its own in the given database (trust auth on this machine).
    if [ -n "${RESEED:-}" ]; then
        psql -q "$PG" -c "DROP SCHEMA IF EXISTS bench_console CASCADE" >/dev/null
    fi
    psql -q "$PG" -c "CREATE SCHEMA IF NOT EXISTS bench_console" >/dev/null
    case "$PG" in *\?*) sep='&' ;; *) sep='?' ;; esac
    bench postgres "${PG}${sep}options=-c%20search_path%3Dbench_console" 18182
fi
