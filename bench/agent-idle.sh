#!/usr/bin/env bash
# Idle footprint of `mijian-agent run` (issue 6): starts the release build
# against a temporary config (a small home to watch, no collector), measures
# the time from start to the first (boot) report queued, then samples RSS and
# CPU ticks over an idle period and prints them next to the targets.
#
#   bench/agent-idle.sh [SECONDS]        (default 60)
#   MIJIAN_AGENT_BIN=path bench/agent-idle.sh
set -euo pipefail
secs=${1:-60}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${MIJIAN_AGENT_BIN:-}
if [[ -z "$bin" ]]; then
    target=${CARGO_TARGET_DIR:-$here/target}
    (cd "$here" && cargo build --release -p mijian-agent >&2)
    bin=$target/release/mijian-agent
fi
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/home/user/docs" "$tmp/media"
for i in $(seq 1 200); do echo "普通文件 $i，无涉密内容。" > "$tmp/home/user/docs/f$i.txt"; done
cat > "$tmp/agent.toml" <<TOML
[paths]
state_dir = "$tmp/state"
rules_dir = "$here/rules"
[content]
paths = ["$tmp/home"]
[media]
roots = ["$tmp/media"]
[daemon]
heartbeat = "15m"
TOML

start=$(date +%s%N)
MIJIAN_LOG=info "$bin" run --config "$tmp/agent.toml" 2>"$tmp/log" &
pid=$!
# Startup → first report queued (the boot check, sealed and fsynced).
for _ in $(seq 1 600); do
    grep -q "queued report seq 1" "$tmp/log" 2>/dev/null && break
    sleep 0.01
done
boot_ms=$(( ($(date +%s%N) - start) / 1000000 ))
grep -q "queued report seq 1" "$tmp/log" || { echo "no boot report after 6 s"; cat "$tmp/log"; exit 1; }
# Let the file watch settle.
sleep 2
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
t0=$(ticks); max_rss=0; sum_rss=0; n=0
for _ in $(seq 1 "$secs"); do
    r=$(rss_kb); sum_rss=$((sum_rss + r)); n=$((n + 1))
    (( r > max_rss )) && max_rss=$r
    sleep 1
done
t1=$(ticks)
threads=$(ls "/proc/$pid/task" | wc -l)
cpu_pct=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.3f", 100 * d / hz / s }')
printf '%-38s %12s   %s\n' "measure" "mijian-agent" "target"
printf '%-38s %9d ms   %s\n' "start → boot report queued" "$boot_ms" "fast enough for boot (< 1 s on this corpus)"
printf '%-38s %9.1f MB   %s\n' "idle RSS (max over ${secs}s)" "$(awk -v k="$max_rss" 'BEGIN{print k/1024}')" "< 20 MB (osquery watchdog: 200 MB)"
printf '%-38s %9.1f MB\n' "idle RSS (mean)" "$(awk -v k="$sum_rss" -v n="$n" 'BEGIN{print k/n/1024}')"
printf '%-38s %12s   %s\n' "idle CPU ticks over ${secs}s" "$((t1 - t0))" "~0"
printf '%-38s %11s%%   %s\n' "idle CPU" "$cpu_pct" "~0 %"
printf '%-38s %12s\n' "threads" "$threads"
grep -o "file watch mode: [^(]*([^)]*)" "$tmp/log" | head -1 || true
