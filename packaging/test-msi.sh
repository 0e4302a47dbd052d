#!/usr/bin/env bash
# The Windows installer tested for real, under Wine (issue 14), run by
# packaging/test-install.sh when a Windows build and Wine exist:
#   packaging/test-msi.sh MSI NEXT_MSI
# MSI is the .msi around the real mijian-agent.exe; NEXT_MSI the same
# files as a later ProductVersion (the major upgrade). In a throwaway
# prefix (with the ProcessPrng shim of tools/wine/runner.sh) it:
#   - installs MSI with `msiexec /i MSI /qn` (README's command, silent):
#     the exe in %ProgramFiles%\mijian, agent.toml and the rules in
#     %ProgramData%\mijian, the `mijian-agent` service registered for
#     automatic start as `mijian-agent.exe service run`;
#   - runs the installed exe: --version, `key` (the key is created in
#     %ProgramData%\mijian) and `check` with the installed config and rules;
#   - edits agent.toml and media.toml as an administrator would, upgrades to
#     NEXT_MSI: the key, the edits and the service are kept;
#   - uninstalls with `msiexec /x`: the exe and the service are gone, the
#     key, the outbox and the config stay.
# Exit status non-zero on any failure; wineserver of the prefix is stopped
# and the prefix deleted at the end.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
msi=$(realpath "$1")
next=$(realpath "$2")
export WINEPREFIX
WINEPREFIX=$(mktemp -d /tmp/mijian-msi-wine.XXXXXX)
export WINEDEBUG=-all
run() { "$repo/tools/wine/runner.sh" "$@" </dev/null; }
cleanup() {
  wineserver -k </dev/null >/dev/null 2>&1 || true
  [ -n "${MIJIAN_KEEP_PREFIX:-}" ] || rm -rf "$WINEPREFIX" "$WINEPREFIX.lock"
}
trap cleanup EXIT
fail() { echo "FAIL (msi): $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
T0=$(date +%s)

pf="$WINEPREFIX/drive_c/Program Files/mijian"
pd="$WINEPREFIX/drive_c/ProgramData/mijian"
exe='C:\Program Files\mijian\mijian-agent.exe'
svc='HKLM\System\CurrentControlSet\Services\mijian-agent'
win_path() { echo "Z:${1//\//\\}"; }
# msiexec with a verbose log in C:\LOG; on failure, the log's end and the
# installer's result (Wine's msiexec exits with it: 1603 failed, ...).
msiexec() {
  local log=$1 rc=0
  shift
  run msiexec "$@" /l*v "C:\\$log" >"$WINEPREFIX/msiexec.out" 2>&1 || rc=$?
  if [ "$rc" != 0 ]; then
    tr -d '\000' <"$WINEPREFIX/drive_c/$log" 2>/dev/null | tail -n 40
    cat "$WINEPREFIX/msiexec.out"
    fail "msiexec $* exit status $rc"
  fi
}

echo "== prefix"
run cmd /c exit 0 >/dev/null 2>&1 || true
[ -f "$WINEPREFIX/.mijian-ready" ] || fail "prefix not prepared (tools/wine/runner.sh)"

echo "== msiexec /i $(basename "$msi") /qn"
msiexec msi-install.log /i "$(win_path "$msi")" /qn
for f in "$pf/mijian-agent.exe" "$pf/OpenCC-LICENSE.txt" "$pd/agent.toml" "$pd/rules/baseline.toml" \
  "$pd/rules/markings.toml" "$pd/rules/media.toml" "$pd/rules/network.toml" "$pd/rules/software.toml"; do
  [ -f "$f" ] || fail "${f#"$WINEPREFIX/"} not installed"
done
cmp -s "$pd/rules/baseline.toml" "$repo/rules/baseline.toml" || fail "installed baseline.toml differs from rules/"
q=$(run reg query "$svc" 2>/dev/null | tr -d '\r') || fail "service not registered ($svc)"
echo "$q" | grep -E 'ImagePath|Start|ObjectName'
grep -qiE 'ImagePath.*mijian-agent\.exe"? service run' <<<"$q" || fail "service command line is not 'mijian-agent.exe service run'"
grep -qE 'Start[[:space:]]+REG_DWORD[[:space:]]+0x2' <<<"$q" || fail "service is not automatic start"
ver=$(run "$exe" --version | tr -d '\r')
echo "installed: $ver"
grep -q '^mijian-agent ' <<<"$ver" || fail "installed exe does not run"
pass "installed: exe, licences, config and rules; service mijian-agent (auto, service run)"

echo "== the installed agent: key and check"
run "$exe" key >"$WINEPREFIX/key.jwk" 2>"$WINEPREFIX/key.err" || { cat "$WINEPREFIX/key.err"; fail "mijian-agent.exe key"; }
kid=$(sed -n 's/.*"kid": *"\([^"]*\)".*/\1/p' "$WINEPREFIX/key.jwk" | head -n 1)
[ -n "$kid" ] && [ -f "$pd/agent-key.jwk" ] || fail "no key in %ProgramData%\\mijian"
key_sum=$(sha256sum <"$pd/agent-key.jwk")
set +e
run "$exe" check --no-content --format json >"$WINEPREFIX/check.json" 2>"$WINEPREFIX/check.err"
rc=$?
set -e
[ "$rc" = 0 ] || [ "$rc" = 1 ] || { cat "$WINEPREFIX/check.err"; fail "check exit status $rc"; }
python3 - "$WINEPREFIX/check.json" "$kid" <<'PY' || fail "check report"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["agent_id"] == sys.argv[2], (r["agent_id"], sys.argv[2])
src = r["policy"]["source"].replace("/", "\\").lower()
assert src == "c:\\programdata\\mijian\\rules", r["policy"]
assert r["checks"], "no checks"
print("check: %d checks with the installed rules (%s), kid %s" % (len(r["checks"]), r["policy"]["source"], r["agent_id"]))
PY
# Something in the outbox, as a service that could not deliver leaves it.
run "$exe" check --no-content --sign --out 'C:\report.jws' >/dev/null 2>&1 || true
mkdir -p "$pd/outbox"
[ -s "$WINEPREFIX/drive_c/report.jws" ] || fail "check --sign wrote no report"
cp "$WINEPREFIX/drive_c/report.jws" "$pd/outbox/0000000001-test.msg"
pass "key $kid in %ProgramData%\\mijian; check ran with the installed config and rules"

echo "== local edits, then msiexec /i $(basename "$next") (major upgrade)"
printf '\n# edited locally\n' >>"$pd/agent.toml"
printf '\n[[medium]]\nid = "BM-U-2026-001"\nserial = "4C530001230915103392"\nlevel = "秘密"\n' >>"$pd/rules/media.toml"
# Wine's StopServices sends Stop but does not wait for the service to end
# (Windows Installer does, ServiceControl Wait="yes"): the running exe could
# not be replaced or deleted. Stop it first, as Windows would.
run net stop mijian-agent >/dev/null 2>&1 || true
msiexec msi-upgrade.log /i "$(win_path "$next")" /qn
next_version=$(sed -n 's/.*mijian-agent-\(.*\)-x64\.msi$/\1/p' <<<"$next")
products=$(run reg query 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall' /s 2>/dev/null | tr -d '\r' |
  grep -A12 'mijian agent' | grep -E 'DisplayVersion' || true)
echo "uninstall entries: ${products:-none}"
[ "$(grep -c DisplayVersion <<<"$products")" = 1 ] || fail "after the upgrade there are $(grep -c DisplayVersion <<<"$products") installed products, not 1"
grep -q "$next_version" <<<"$products" || fail "installed version is not $next_version"
[ -f "$pf/mijian-agent.exe" ] || fail "exe missing after upgrade"
[ "$(sha256sum <"$pd/agent-key.jwk")" = "$key_sum" ] || fail "key changed on upgrade"
grep -q 'edited locally' "$pd/agent.toml" || fail "agent.toml edit lost on upgrade"
grep -q 'BM-U-2026-001' "$pd/rules/media.toml" || fail "media.toml edit lost on upgrade"
run reg query "$svc" >/dev/null 2>&1 || fail "service gone after upgrade"
run "$exe" --version >/dev/null || fail "exe does not run after upgrade"
pass "upgrade to $next_version: one product, key, agent.toml and media.toml edits and the service kept"

echo "== msiexec /x (uninstall)"
run net stop mijian-agent >/dev/null 2>&1 || true
msiexec msi-remove.log /x "$(win_path "$next")" /qn
[ ! -e "$pf/mijian-agent.exe" ] || fail "exe left after uninstall"
if run reg query "$svc" >/dev/null 2>&1; then fail "service still registered after uninstall"; fi
[ "$(sha256sum <"$pd/agent-key.jwk")" = "$key_sum" ] || fail "key lost on uninstall"
[ -f "$pd/outbox/0000000001-test.msg" ] || fail "outbox lost on uninstall"
grep -q 'edited locally' "$pd/agent.toml" || fail "agent.toml lost on uninstall"
[ -f "$pd/rules/baseline.toml" ] || fail "rules lost on uninstall"
pass "uninstall: exe and service gone; key, outbox, config and rules kept"
echo "msi under Wine: passed in $(($(date +%s) - T0))s"
