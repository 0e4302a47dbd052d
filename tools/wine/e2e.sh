#!/usr/bin/env bash
# End-to-end test of the Windows agent under Wine (issue 12):
#   1. seed a private prefix's registry (Winlogon automatic logon with a stored
#      password, the user's screen saver, a USBSTOR device);
#   2. `mijian-agent.exe check --format json` must give the expected results;
#   3. `mijian-agent.exe scan` must find the classified docx fixture;
#   4. a report signed under Wine must verify with the Linux `mijian-agent
#      verify` and be accepted by the Linux collector (`agents add --jwk`,
#      `import`).
# Needs: the Windows build (cargo build --target x86_64-pc-windows-gnu -p
# mijian-agent) and the Linux build (cargo build -p mijian-agent -p
# mijian-collector). Exit status non-zero on any failure.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
exe="$repo/target/x86_64-pc-windows-gnu/debug/mijian-agent.exe"
lin="$repo/target/debug/mijian-agent"
col="$repo/target/debug/mijian-collector"
for f in "$exe" "$lin" "$col"; do
  [ -x "$f" ] || [ -f "$f" ] || { echo "e2e: missing $f (build it first)" >&2; exit 2; }
done
export WINEPREFIX="$repo/target/wine-e2e"
export WINEDEBUG=-all
run() { "$repo/tools/wine/runner.sh" "$@"; }
work="$(mktemp -d)"
trap 'WINEPREFIX="$WINEPREFIX" wineserver -k >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
fail() { echo "e2e FAIL: $*" >&2; exit 1; }

echo "== prefix and registry"
run cmd /c exit 0 </dev/null >/dev/null 2>&1 || true
wl='HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Winlogon'
run reg add "$wl" /v AutoAdminLogon /t REG_SZ /d 1 /f </dev/null >/dev/null
run reg add "$wl" /v DefaultUserName /t REG_SZ /d root /f </dev/null >/dev/null
run reg add "$wl" /v DefaultPassword /t REG_SZ /d 'Plain-Text-Pw-1' /f </dev/null >/dev/null
desk='HKCU\Control Panel\Desktop'
run reg add "$desk" /v ScreenSaveActive /t REG_SZ /d 1 /f </dev/null >/dev/null
run reg add "$desk" /v ScreenSaverIsSecure /t REG_SZ /d 1 /f </dev/null >/dev/null
run reg add "$desk" /v ScreenSaveTimeOut /t REG_SZ /d 300 /f </dev/null >/dev/null
run reg add "$desk" /v SCRNSAVE.EXE /t REG_SZ /d 'C:\windows\system32\scrnsave.scr' /f </dev/null >/dev/null
usb='HKLM\SYSTEM\CurrentControlSet\Enum\USBSTOR\Disk&Ven_Kingston&Prod_DataTraveler_3.0&Rev_PMAP'
run reg add "$usb\\60A44C413A8CF1B0B9470E55&0" /v FriendlyName /t REG_SZ /d 'Kingston DataTraveler 3.0 USB Device' /f </dev/null >/dev/null
run reg add 'HKLM\SYSTEM\CurrentControlSet\Enum\USB\VID_0951&PID_1666\60A44C413A8CF1B0B9470E55' /v Service /t REG_SZ /d USBSTOR /f </dev/null >/dev/null

cat > "$work/agent.toml" <<'TOML'
[paths]
state_dir = 'C:\mijian-e2e-state'
[content]
paths = ['C:\mijian-e2e-docs']
[media]
usb_history = true
TOML
cp "$work/agent.toml" "$WINEPREFIX/drive_c/agent.toml"
mkdir -p "$WINEPREFIX/drive_c/mijian-e2e-docs"
cp fixtures/formats/docx/marked_header.docx "$WINEPREFIX/drive_c/mijian-e2e-docs/"
cp -r rules "$WINEPREFIX/drive_c/rules"
# The documented example keyword set (never active in rules/): the scan below
# looks for its terms.
mkdir -p "$WINEPREFIX/drive_c/rules/keywords"
cp docs/examples/keywords/example.toml "$WINEPREFIX/drive_c/rules/keywords/"

echo "== check --format json"
set +e
run "$exe" check --format json --rules 'C:\rules' --config 'C:\agent.toml' </dev/null >"$work/check.json" 2>"$work/check.err"
rc=$?
set -e
[ "$rc" = 1 ] || { cat "$work/check.err" >&2; fail "check exit status $rc, expected 1 (non-compliant)"; }
python3 - "$work/check.json" "$(id -un)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
user = sys.argv[2]
def one(i, s):
    m = [c for c in r["checks"] if c["id"] == i and c["subject"] == s]
    assert len(m) == 1, (i, s, [ (c["id"], c["subject"]) for c in r["checks"]])
    return m[0]
al = one("login.autologin", "host")
assert al["status"] == "fail", al
assert "Plain-Text-Pw-1" not in json.dumps(r), "password leaked into the report"
assert al["evidence"]["DefaultPassword"] == "present (not shown)"
for i in ("screen_lock.enabled", "screen_lock.idle_timeout"):
    c = one(i, "user:" + user)
    assert c["status"] == "pass", c
    assert c["evidence"]["values"][0]["from"] == "user", c
# Wine implements neither NetUserModalsGet level 0 nor secedit: error, never a silent pass.
assert one("password.min_length", "host")["status"] == "error"
assert one("password.complexity", "host")["status"] == "error"
hist = [f for f in r["findings"] if f["kind"] == "usb_history"]
assert any(f["detail"]["serial"] == "60A44C413A8CF1B0B9470E55" and f["detail"]["vendor_id"] == "0951" for f in hist), hist
docs = [f for f in r["findings"] if f.get("path", "").endswith("marked_header.docx")]
assert docs and docs[0]["marking"]["level"] == "机密", docs
assert r["host"]["os"] and r["host"]["hostname"] != "unknown", r["host"]
print("check: %d checks, %d findings as expected (host %s, %s)" % (len(r["checks"]), len(r["findings"]), r["host"]["hostname"], r["host"]["os"]))
PY

echo "== scan"
set +e
run "$exe" scan --format json --rules 'C:\rules' --config 'C:\agent.toml' 'C:\mijian-e2e-docs' </dev/null >"$work/scan.json" 2>"$work/scan.err"
rc=$?
set -e
[ "$rc" = 1 ] || { cat "$work/scan.err" >&2; fail "scan exit status $rc, expected 1 (findings)"; }
python3 - "$work/scan.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
f = [f for f in r["findings"] if f.get("path", "").endswith("marked_header.docx")]
assert f and f[0]["kind"] == "marked_classified" and f[0]["marking"]["level"] == "机密", r["findings"]
assert {m["rule"] for m in f[0]["matches"]} >= {"example-codename"}, f[0]["matches"]
print("scan: %s → %s %s" % (f[0]["path"], f[0]["kind"], f[0]["marking"]["level"]))
PY

echo "== signed report: Windows agent → Linux verify → Linux collector"
run "$exe" key --config 'C:\agent.toml' </dev/null >"$work/key.jwk" 2>/dev/null
set +e
run "$exe" check --no-content --sign --out 'C:\report.jws' --rules 'C:\rules' --config 'C:\agent.toml' </dev/null >/dev/null 2>"$work/sign.err"
set -e
cp "$WINEPREFIX/drive_c/report.jws" "$work/report.jws" || { cat "$work/sign.err" >&2; fail "no signed report"; }
"$lin" verify --jwk "$work/key.jwk" "$work/report.jws" >"$work/verified.json" || fail "Linux verify rejected the Windows report"
db="sqlite:$work/collector.db"
"$col" --database "$db" agents add --jwk "$work/key.jwk" --hostname wine-e2e >/dev/null
"$col" --database "$db" import "$work/report.jws" | tee "$work/import.out"
grep -q "stored 1," "$work/import.out" || fail "collector did not store the report"
echo "e2e: all Windows end-to-end checks passed"
