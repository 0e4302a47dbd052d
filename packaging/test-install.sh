#!/usr/bin/env bash
# The install test of the packages (issue 14), run by .ci/run:
#   packaging/test-install.sh [--profile dev|release] [--no-build]
#
# Builds the packages (packaging/build.sh), plus the same binaries packaged as
# a later version for the upgrade, then in a minimal Debian 12 root
# (mmdebstrap --variant=minbase plus systemd, man-db, procps; cached as a tarball in
# /var/cache/mijian-pkgtest, override with MIJIAN_PKGTEST_CACHE) it:
#   - installs mijian-agent with dpkg -i: state dir 0700, key 0600, kid
#     printed, unit enabled, conffiles registered;
#   - runs `mijian-agent check` (rules from /etc/mijian/rules) and checks the
#     report; registers a USB stick in media.toml as the README shows;
#   - installs mijian-collector: `mijian` user, data dir, admin password
#     printed once and working, loopback listener; enrolls the agent, runs
#     the daemon (reports queue in the outbox), imports a signed report;
#   - upgrades both to the later version: key, chain, outbox, database and
#     locally edited config are kept;
#   - removes, then purges, and checks what is left;
#   - checks the installed units with the root's own systemd-analyze verify;
# then:
#   - checks that the packaged Linux binaries are static (no interpreter, no
#     shared library) and runs them in an empty root that holds only them and
#     the rules;
#   - rpm -qlp / --requires (no glibc requirement) / --scripts, rpm --root
#     into an empty root; README's `rpm -i` with its scriptlets in a Debian 11
#     root (glibc 2.31, older than RHEL 9's 2.34; cached beside the Debian 12
#     one): kid, check, admin password, import, `rpm -e` keeps the key;
#   - the .msi around the real Windows agent (.ci/run's Windows stage builds
#     it; a stand-in exe otherwise): msiinfo, then packaging/test-msi.sh
#     installs, runs, upgrades and uninstalls it under Wine.
# Needs root; prints `skipped: …` and exits 0 when a tool is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=dev
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile=$2; shift 2 ;;
    --no-build) build=; shift ;;
    *) echo "test-install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

skip() { echo "skipped: $1 (run: $2)"; exit 0; }
[ "$(id -u)" = 0 ] || skip "install test needs root (chroot, dpkg --root)" "sudo $0"
for t in mmdebstrap:mmdebstrap chroot:coreutils dpkg-deb:dpkg cargo-deb:"cargo install --locked cargo-deb" \
  rpmbuild:"apt-get install rpm" musl-gcc:"apt-get install musl-tools"; do
  command -v "${t%%:*}" >/dev/null 2>&1 || skip "${t%%:*} is missing" "${t#*:}"
done

step() { echo; echo "=== $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
T0=$(date +%s)

# --- packages ------------------------------------------------------------
pkgs=target/packages
next=target/packages-next
if [ -n "$build" ]; then
  step "build packages (profile $profile)"
  packaging/build.sh --profile "$profile" --out "$pkgs"
fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
next_version="$version+upgradetest1"
step "package the same binaries as $next_version (upgrade test)"
rm -rf "$next"
packaging/build.sh --profile "$profile" --no-build --skip-rpm --skip-msi --out "$next" \
  --deb-version "$next_version" >target/packages-next.log 2>&1 || { cat target/packages-next.log; fail "build.sh --deb-version"; }
agent_deb=$(ls "$pkgs"/mijian-agent_"$version"*_amd64.deb | head -n 1)
coll_deb=$(ls "$pkgs"/mijian-collector_"$version"*_amd64.deb | head -n 1)
agent_next=$(ls "$next"/mijian-agent_*upgradetest1*_amd64.deb)
coll_next=$(ls "$next"/mijian-collector_*upgradetest1*_amd64.deb)
ls -l "$agent_deb" "$coll_deb" "$agent_next" "$coll_next"

step "package contents"
dpkg-deb -I "$agent_deb" | sed -n '/Package:/,$p'
dpkg-deb -c "$agent_deb" | awk '{print $6}'
dpkg-deb -c "$coll_deb" | awk '{print $6}'
contents=$(dpkg-deb -c "$agent_deb")
for f in ./usr/bin/mijian-agent ./etc/mijian/agent.toml ./etc/mijian/rules/baseline.toml \
  ./etc/mijian/rules/markings.toml ./etc/mijian/rules/media.toml \
  ./etc/mijian/rules/network.toml ./etc/mijian/rules/software.toml \
  ./usr/lib/systemd/system/mijian-agent.service ./usr/share/man/man1/mijian-agent.1.gz \
  ./usr/share/doc/mijian-agent/copyright ./usr/share/doc/mijian-agent/OpenCC-LICENSE.txt \
  ./usr/share/doc/mijian-agent/LICENSE-Adobe-CMaps.txt; do
  grep -q " $f\$" <<<"$contents" || fail "$f missing from $agent_deb"
done
grep -q ' ./etc/mijian/rules/keywords/example' <<<"$contents" && fail "example keyword rules are installed as active rules"
coll_contents=$(dpkg-deb -c "$coll_deb")
for f in ./usr/bin/mijian-collector ./etc/mijian/collector.toml \
  ./usr/lib/systemd/system/mijian-collector.service ./usr/share/man/man1/mijian-collector.1.gz \
  ./usr/share/man/man1/mijian-collector-serve.1.gz \
  ./usr/share/bash-completion/completions/mijian-collector \
  ./usr/share/zsh/vendor-completions/_mijian-collector \
  ./usr/share/fish/vendor_completions.d/mijian-collector.fish; do
  grep -q " $f\$" <<<"$coll_contents" || fail "$f missing from $coll_deb"
done
for d in "$agent_deb" "$coll_deb"; do
  dep=$(dpkg-deb -f "$d" Depends)
  echo "$(basename "$d"): Depends: $dep"
  # Static binaries: no libc6 version, so Debian 10/11, UOS and Kylin desktop install it.
  if grep -q 'libc6' <<<"$dep"; then fail "$d depends on libc6 (the binaries are not static)"; fi
done
pass "file lists; no libc6 dependency"

# --- the Debian 12 root --------------------------------------------------
cache=${MIJIAN_PKGTEST_CACHE:-/var/cache/mijian-pkgtest}
# systemd (not running: a chroot) for systemd-analyze verify and the unit
# links; man-db for the Documentation= man pages; procps for /bin/kill
# (ExecReload=, and a dependency of mijian-agent).
includes=systemd,man-db,procps
tarball=$cache/bookworm-minbase-${includes//,/-}.tar
mkdir -p "$cache"
# The machine's own Debian mirror (deb822 or one-line sources).
mirror=$(grep -hoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
  /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1 | tr -d ' ' || true)
mirror=${mirror:-http://deb.debian.org/debian}
if [ ! -s "$tarball" ]; then
  step "mmdebstrap bookworm minbase from $mirror (cached in $tarball)"
  mmdebstrap --quiet --variant=minbase --include="$includes" bookworm "$cache/.bookworm.tmp.tar" "$mirror"
  mv "$cache/.bookworm.tmp.tar" "$tarball"
fi
R=$(mktemp -d /tmp/mijian-pkgtest.XXXXXX)
old_roots=()
cleanup() {
  local r m
  for r in "$R" "${old_roots[@]}"; do
    for m in "$r/proc" "$r/sys" "$r/dev"; do
      if mountpoint -q "$m" 2>/dev/null; then umount -l "$m"; fi
    done
  done
  stop_bg "${collector_pid:-}"
  rm -rf --one-file-system "$R" "${old_roots[@]}"
}
trap cleanup EXIT
tar -xf "$tarball" -C "$R"
mount -t proc proc "$R/proc"
mount --bind /dev "$R/dev"
mount -t sysfs -o ro sysfs "$R/sys" 2>/dev/null || true
mkdir -p "$R/tmp/pkgs"
cp "$agent_deb" "$coll_deb" "$agent_next" "$coll_next" "$R/tmp/pkgs/"
in_root() { chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
# A collector in the background, in a session of its own (chroot, runuser and
# the server are one process group); stop_bg ends that group.
bg_collector() {
  setsid chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    runuser -u mijian -- mijian-collector serve "$@" &
  bg_pid=$!
}
stop_bg() {
  [ -n "${1:-}" ] || return 0
  kill -TERM -- "-$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
[ ! -e "$R/run/systemd/system" ] || fail "the root claims a running systemd"
echo "root: $(cat "$R/etc/debian_version") in $R"

# --- agent: install ------------------------------------------------------
step "dpkg -i $(basename "$agent_deb")"
out=$(in_root dpkg -i "/tmp/pkgs/$(basename "$agent_deb")" 2>&1) || { echo "$out"; fail "dpkg -i agent"; }
echo "$out"
kid=$(sed -n 's/^mijian-agent: agent key id (kid): \([A-Za-z0-9_-]\{43\}\)$/\1/p' <<<"$out")
[ -n "$kid" ] || fail "postinst printed no kid"
[ "$(stat -c %a "$R/var/lib/mijian")" = 700 ] || fail "state dir mode $(stat -c %a "$R/var/lib/mijian")"
[ "$(stat -c %a "$R/var/lib/mijian/agent-key.jwk")" = 600 ] || fail "key mode"
jwk=$(in_root mijian-agent key)
grep -q "\"kid\": *\"$kid\"" <<<"$jwk" || fail "mijian-agent key disagrees with the printed kid"
[ -L "$R/etc/systemd/system/multi-user.target.wants/mijian-agent.service" ] || fail "unit not enabled"
conffiles=$(in_root dpkg-query -W -f='${Conffiles}\n' mijian-agent)
for c in /etc/mijian/agent.toml /etc/mijian/rules/baseline.toml /etc/mijian/rules/media.toml; do
  grep -q " $c " <<<"$conffiles" || fail "$c is not a conffile"
done
in_root man -w mijian-agent >/dev/null 2>&1 || [ -s "$R/usr/share/man/man1/mijian-agent.1.gz" ] || fail "no man page"
pass "agent installed: kid $kid, /var/lib/mijian 0700, key 0600, unit enabled (not started: no systemd), conffiles"
key_sum=$(sha256sum <"$R/var/lib/mijian/agent-key.jwk")

step "mijian-agent check inside the root"
set +e
in_root mijian-agent check --format json >"$R/tmp/check.json" 2>"$R/tmp/check.err"
rc=$?
set -e
cat "$R/tmp/check.err"
[ "$rc" = 0 ] || [ "$rc" = 1 ] || fail "mijian-agent check exit status $rc (2 = could not run)"
python3 - "$R/tmp/check.json" "$kid" "$rc" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
kid, rc = sys.argv[2], int(sys.argv[3])
assert r["agent_id"] == kid, (r["agent_id"], kid)
assert r["policy"]["source"] == "/etc/mijian/rules", r["policy"]
st = {}
for c in r["checks"]:
    st[c["status"]] = st.get(c["status"], 0) + 1
    print(f"  {c['id']}: {c['status']}")
assert r["checks"], "no checks"
# A failed check makes the host non-compliant: exit status 1.
assert rc == 1 or not st.get("fail"), (rc, st)
print(f"report: {len(r['checks'])} checks {st}, {len(r['findings'])} findings, "
      f"exit {rc}, rules {r['policy']['source']} {r['policy']['digest'][:12]}")
EOF
pass "check ran with the packaged rules"

step "register a USB stick in /etc/mijian/rules/media.toml (README)"
cat >>"$R/etc/mijian/rules/media.toml" <<'EOF'

[[medium]]
id = "BM-U-2026-001"
serial = "4C530001230915103392"
vendor_id = "0781"
product_id = "5581"
level = "秘密"
holder = "张三"
EOF
sed -i 's/^interval = "24h"/interval = "12h"  # edited locally/' "$R/etc/mijian/agent.toml"
grep -q 'edited locally' "$R/etc/mijian/agent.toml" || fail "could not edit agent.toml"
set +e
in_root mijian-agent check --format json --no-content >/dev/null 2>"$R/tmp/check2.err"
rc=$?
set -e
[ "$rc" = 0 ] || [ "$rc" = 1 ] || { cat "$R/tmp/check2.err"; fail "check with the edited media.toml: exit $rc"; }
in_root mijian-agent check --no-content >/dev/null || [ $? = 1 ] || fail "plain check"
pass "edited media.toml and agent.toml load"

# --- collector: install ----------------------------------------------------
step "dpkg -i $(basename "$coll_deb")"
out=$(in_root dpkg -i "/tmp/pkgs/$(basename "$coll_deb")" 2>&1) || { echo "$out"; fail "dpkg -i collector"; }
sed 's/password: .*/password: (hidden in this log)/' <<<"$out"
pw=$(sed -n 's/^mijian-collector: first staff account: admin, password: \(.*\)$/\1/p' <<<"$out")
[ "${#pw}" -ge 16 ] || fail "no admin password printed"
in_root getent passwd mijian | grep -q ':/var/lib/mijian-collector:/usr/sbin/nologin$' || fail "no mijian system user"
# (stat inside the root: the host has no `mijian` user)
[ "$(in_root stat -c '%U:%G %a' /var/lib/mijian-collector)" = "mijian:mijian 750" ] || fail "data dir owner/mode"
[ "$(in_root stat -c '%U:%G %a' /etc/mijian/collector.toml)" = "root:mijian 640" ] || fail "collector.toml owner/mode"
[ "$(in_root stat -c %U /var/lib/mijian-collector/collector.db)" = mijian ] || fail "database not owned by mijian"
[ -L "$R/etc/systemd/system/multi-user.target.wants/mijian-collector.service" ] || fail "collector unit not enabled"
pass "collector installed: user mijian, /var/lib/mijian-collector 0750, admin password printed"

# The packaged config listens on loopback: its default address is 127.0.0.1.
step "collector serve (packaged config) listens on loopback only"
bg_collector >"$R/tmp/serve-default.out" 2>&1
serve_pid=$bg_pid
for _ in $(seq 50); do
  grep -qE 'listening on|cannot listen' "$R/tmp/serve-default.out" && break
  sleep 0.1
done
stop_bg "$serve_pid"
cat "$R/tmp/serve-default.out"
grep -qE 'listening on http://127\.0\.0\.1:8080|cannot listen on 127\.0\.0\.1:8080' "$R/tmp/serve-default.out" ||
  fail "default listen address is not 127.0.0.1:8080"
pass "default listener: 127.0.0.1:8080 (plain HTTP on loopback until TLS is configured)"

step "README: log in with the printed password, enroll the agent, hand on reports"
bg_collector --listen 127.0.0.1:0 >"$R/tmp/serve.out" 2>&1
collector_pid=$bg_pid
url=
for _ in $(seq 100); do
  url=$(sed -n 's/^listening on \(http:\/\/127\.0\.0\.1:[0-9]*\)$/\1/p' "$R/tmp/serve.out")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { cat "$R/tmp/serve.out"; fail "collector did not start"; }
login=$(python3 - "$url" "$pw" <<'EOF'
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/api/v1/login",
    data=json.dumps({"name": "admin", "password": sys.argv[2]}).encode(),
    headers={"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(req, timeout=10))["role"])
EOF
) || fail "login with the printed admin password"
[ "$login" = admin ] || fail "login role $login"
pass "admin logs in with the one-time password"
token=$(in_root runuser -u mijian -- mijian-collector token create --uses 1 --expires 1h | tail -n 1)
in_root mijian-agent enroll --collector "$url" --token "$token" || fail "enroll"
in_root mijian-agent check --sign --out /tmp/report.jws --format json --no-content >/dev/null || [ $? = 1 ] ||
  fail "check --sign"
in_root mijian-agent verify /tmp/report.jws >/dev/null || fail "verify"
in_root runuser -u mijian -- mijian-collector import /tmp/report.jws | tee "$R/tmp/import.out"
grep -q '^stored 1, duplicate 0, conflict 0, rejected 0$' "$R/tmp/import.out" || fail "import"
in_root sh -c 'mijian-agent key > /tmp/agent.jwk'
in_root runuser -u mijian -- mijian-collector agents add --jwk /tmp/agent.jwk | tail -n 1 | grep -qx "$kid" ||
  fail "agents add --jwk (the key by hand)"
pass "enrolled as $kid (and agents add --jwk agrees); signed report verified and imported"
stop_bg "$collector_pid"
collector_pid=
python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=2)' "$url" 2>/dev/null &&
  fail "the collector still answers after it was stopped"

step "README: TLS for the collector ([tls] in collector.toml, key readable by the service)"
if command -v openssl >/dev/null 2>&1; then
  # docs/collector.md's quick self-signed certificate, made on the host.
  tls=$(mktemp -d /tmp/mijian-tls.XXXXXX)
  old_roots+=("$tls")
  (cd "$tls" && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout key.pem -out cert.pem) 2>/dev/null
  install -m 644 "$tls/cert.pem" "$R/etc/mijian/collector-cert.pem"
  install -m 600 "$tls/key.pem" "$R/etc/mijian/collector-key.pem"
  in_root chown root:mijian /etc/mijian/collector-key.pem
  in_root chmod 640 /etc/mijian/collector-key.pem
  cp "$R/etc/mijian/collector.toml" "$tls/collector.toml.orig"
  printf '\n[tls]\ncert = "/etc/mijian/collector-cert.pem"\nkey = "/etc/mijian/collector-key.pem"\n' >>"$R/etc/mijian/collector.toml"
  # (README's listen = "0.0.0.0:8443"; here loopback and a free port)
  bg_collector --listen 127.0.0.1:0 >"$R/tmp/serve-tls.out" 2>&1
  tls_pid=$bg_pid
  turl=
  for _ in $(seq 100); do
    turl=$(sed -n 's/^listening on \(https:\/\/127\.0\.0\.1:[0-9]*\)$/\1/p' "$R/tmp/serve-tls.out")
    [ -n "$turl" ] && break
    sleep 0.1
  done
  [ -n "$turl" ] || { stop_bg "$tls_pid"; cat "$R/tmp/serve-tls.out"; fail "collector with [tls] did not start"; }
  python3 - "$turl" "$tls/cert.pem" <<'PY' || { stop_bg "$tls_pid"; fail "HTTPS /healthz with the certificate"; }
import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[2])
r = urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=10, context=ctx)
print("https /healthz:", r.status)
PY
  stop_bg "$tls_pid"
  cp "$tls/collector.toml.orig" "$R/etc/mijian/collector.toml"
  rm -f "$R/etc/mijian/collector-cert.pem" "$R/etc/mijian/collector-key.pem"
  pass "collector serves HTTPS with [tls] from collector.toml, key 0640 root:mijian read by the mijian user"
else
  echo "skipped: openssl is missing (run: apt-get install openssl)"
fi

step "the daemon queues reports in the outbox (no collector reachable)"
# Enrolled collector is down now: `run` seals a boot check and a heartbeat
# into the outbox and keeps them for later delivery.
in_root timeout -s TERM 8 mijian-agent run >"$R/tmp/run.out" 2>&1 || true
n_out=$(find "$R/var/lib/mijian/outbox" -name '*.msg' | wc -l)
[ "$n_out" -ge 1 ] || { tail -n 20 "$R/tmp/run.out"; fail "nothing queued in the outbox"; }
# README: hand on what is undelivered (air-gapped host).
in_root mijian-agent export --out /tmp/export
n_exp=$(find "$R/tmp/export" -name '*.jws' | wc -l)
[ "$n_exp" -ge "$n_out" ] || fail "export wrote $n_exp of $n_out queued reports"
in_root runuser -u mijian -- mijian-collector import /tmp/export | tail -n 1 | grep -q "^stored $n_exp," ||
  fail "collector import of the exported reports"
pass "export wrote $n_exp queued report(s); the collector imported them"
# Queue again, for the upgrade and remove checks below.
in_root timeout -s TERM 8 mijian-agent run >"$R/tmp/run2.out" 2>&1 || true
n_out=$(find "$R/var/lib/mijian/outbox" -name '*.msg' | wc -l)
[ "$n_out" -ge 1 ] || { tail -n 20 "$R/tmp/run2.out"; fail "nothing queued in the outbox"; }
outbox_sum=$(cd "$R/var/lib/mijian/outbox" && find . -name '*.msg' | sort | xargs sha256sum | sha256sum)
chain_sum=$(sha256sum <"$R/var/lib/mijian/chain.json")
db_sum=$(cat "$R"/var/lib/mijian-collector/collector.db* | sha256sum)
pass "$n_out report(s) waiting in /var/lib/mijian/outbox"

# --- upgrade -----------------------------------------------------------------
step "upgrade to $next_version"
out=$(in_root dpkg -i "/tmp/pkgs/$(basename "$agent_next")" "/tmp/pkgs/$(basename "$coll_next")" 2>&1) ||
  { echo "$out"; fail "upgrade"; }
echo "$out"
grep -q 'password:' <<<"$out" && fail "upgrade printed a new admin password"
case "$(in_root dpkg-query -W -f='${Version}' mijian-agent)" in
  "$next_version"*) ;;
  *) fail "agent version after upgrade" ;;
esac
[ "$(sha256sum <"$R/var/lib/mijian/agent-key.jwk")" = "$key_sum" ] || fail "key changed on upgrade"
[ "$(sha256sum <"$R/var/lib/mijian/chain.json")" = "$chain_sum" ] || fail "chain changed on upgrade"
[ "$(cd "$R/var/lib/mijian/outbox" && find . -name '*.msg' | sort | xargs sha256sum | sha256sum)" = "$outbox_sum" ] ||
  fail "outbox changed on upgrade"
grep -q 'edited locally' "$R/etc/mijian/agent.toml" || fail "local agent.toml edit lost"
grep -q 'BM-U-2026-001' "$R/etc/mijian/rules/media.toml" || fail "registered medium lost"
grep -q "kid): $kid" <<<"$out" || fail "kid changed on upgrade"
[ "$(cat "$R"/var/lib/mijian-collector/collector.db* | sha256sum)" = "$db_sum" ] || fail "collector database changed on upgrade"
in_root runuser -u mijian -- mijian-collector api-token list | grep -q admin || fail "database unreadable after upgrade"
pass "upgrade kept key, chain, outbox ($n_out), agent.toml and media.toml edits, collector database"

# --- units ---------------------------------------------------------------------
step "systemd-analyze verify (installed units, systemd 252 of the root)"
for u in mijian-agent.service mijian-collector.service; do
  if ! va=$(in_root systemd-analyze verify "/usr/lib/systemd/system/$u" 2>&1) || [ -n "$va" ]; then
    echo "$va"
    fail "systemd-analyze verify $u"
  fi
  pass "systemd-analyze verify $u: no message"
done
# README: hosts with media enforcement copy the drop-in beside the unit.
mkdir -p "$R/etc/systemd/system/mijian-agent.service.d"
cp "$R/usr/share/doc/mijian-agent/examples/enforcement.conf" "$R/etc/systemd/system/mijian-agent.service.d/"
if ! va=$(in_root systemd-analyze verify /usr/lib/systemd/system/mijian-agent.service 2>&1) || [ -n "$va" ]; then
  echo "$va"
  fail "systemd-analyze verify mijian-agent.service with the enforcement drop-in"
fi
rm -r "$R/etc/systemd/system/mijian-agent.service.d"
pass "systemd-analyze verify mijian-agent.service with examples/enforcement.conf: no message"

# --- remove, purge -------------------------------------------------------------
step "dpkg -r (remove): keys, outbox, database and config stay"
in_root dpkg -r mijian-agent mijian-collector
[ ! -e "$R/usr/bin/mijian-agent" ] || fail "binary left after remove"
[ "$(sha256sum <"$R/var/lib/mijian/agent-key.jwk")" = "$key_sum" ] || fail "key lost on remove"
[ "$(cd "$R/var/lib/mijian/outbox" && find . -name '*.msg' | sort | xargs sha256sum | sha256sum)" = "$outbox_sum" ] ||
  fail "outbox changed on remove"
[ -e "$R/var/lib/mijian-collector/collector.db" ] || fail "database lost on remove"
[ -e "$R/etc/mijian/agent.toml" ] || fail "conffile lost on remove"
pass "after remove: $(cd "$R" && find etc/mijian var/lib/mijian var/lib/mijian-collector -maxdepth 1 | sort | tr '\n' ' ')"

step "dpkg -P (purge)"
in_root dpkg -P mijian-agent mijian-collector
left=$(cd "$R" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./tmp \) -prune -o \
  -name '*mijian*' -print | sort)
echo "left after purge: ${left:-nothing}"
# man-db's formatted-page cache (made when systemd-analyze verify checked the
# Documentation= pages) is man-db's to expire, not the packages'.
left=$(grep -v '^\./var/cache/man/' <<<"$left" || true)
[ -z "$left" ] || fail "files left after purge: $left"
in_root getent passwd mijian >/dev/null && echo "note: system user 'mijian' kept (Debian policy)"
pass "purge removed state, database, config and unit links"

# --- README: install from a source checkout ---------------------------------------
# The commands of README's "From a source checkout" block, run in the purged
# root from a copy of the checkout, with the packaged binary standing in for
# `cargo build --release`, and systemctl offline (no systemd runs in a
# chroot: daemon-reload is a no-op, `enable` links the unit, `--now`'s start
# is the one step not done).
step "README 'From a source checkout' commands"
src=$R/tmp/src
mkdir -p "$src/target/release" "$src/packaging/systemd" "$src/docs"
cp -r rules "$src/"
cp docs/agent.toml "$src/docs/"
cp packaging/systemd/mijian-agent.service "$src/packaging/systemd/"
dpkg-deb --fsys-tarfile "$agent_deb" | tar -xO ./usr/bin/mijian-agent >"$src/target/release/mijian-agent"
chmod 755 "$src/target/release/mijian-agent"
sed -n '/^### From a source checkout/,/^## /p' README.md | sed -n '/^```sh$/,/^```$/p' | sed '1d;$d' |
  grep -v '^cargo build' | sed 's/systemctl enable --now /systemctl enable /' >"$src/readme-install.sh"
cat "$src/readme-install.sh"
[ "$(wc -l <"$src/readme-install.sh")" -ge 5 ] || fail "README's source-checkout block not found"
in_root env SYSTEMD_OFFLINE=1 sh -ec 'cd /tmp/src && . ./readme-install.sh' || fail "README's source-checkout commands"
[ -s "$R/usr/share/man/man1/mijian-agent.1" ] || [ -s "$R/usr/share/man/man1/mijian-agent.1.gz" ] || fail "no man page from __man"
[ -s "$R/usr/share/bash-completion/completions/mijian-agent" ] || fail "no bash completion"
[ -L "$R/etc/systemd/system/multi-user.target.wants/mijian-agent.service" ] || fail "unit not enabled by the README commands"
in_root mijian-agent check --no-content >/dev/null || [ $? = 1 ] || fail "check after the source install"
pass "README source-checkout commands: binary, rules, man pages, completion, config, unit enabled; check runs"

# --- static Linux binaries ---------------------------------------------------------
# The .deb and .rpm carry the x86_64-unknown-linux-musl build (build.sh
# --linux-target): no libc at all, so RHEL 9 and openEuler 22.03 (glibc
# 2.34), Kylin V10 (2.28), Debian 10/11 and UOS run the same binaries.
step "static binaries: no interpreter, no libc, run in an empty root"
X=$(mktemp -d /tmp/mijian-static.XXXXXX)
old_roots+=("$X")
dpkg-deb -x "$agent_deb" "$X/deb"
dpkg-deb -x "$coll_deb" "$X/deb"
for b in mijian-agent mijian-collector; do
  f=$X/deb/usr/bin/$b
  echo "$b: $(file -b "$f")"
  grep -qE 'static-pie linked|statically linked' <<<"$(file -b "$f")" || fail "$b is not statically linked"
  if grep -q 'INTERP' <<<"$(readelf -lW "$f")"; then fail "$b has a program interpreter (dynamic loader)"; fi
  if grep -q 'NEEDED' <<<"$(readelf -dW "$f")"; then fail "$b needs shared libraries: $(readelf -dW "$f" | grep NEEDED)"; fi
done
# An empty root holding only the two binaries and the rules: no libc, no
# /etc, no /proc. The agent finds the example keyword in a file.
Z=$X/empty
mkdir -p "$Z/docs"
cp "$X/deb/usr/bin/mijian-agent" "$X/deb/usr/bin/mijian-collector" "$Z/"
cp -r "$X/deb/etc/mijian/rules" "$Z/rules"
cp docs/examples/keywords/example.toml "$Z/rules/keywords/"
printf '项目代号：玄鸟柒号，请勿外传。\n' >"$Z/docs/note.txt"
echo "empty root: $(cd "$Z" && find . -type f | sort | tr '\n' ' ')"
chroot "$Z" /mijian-agent --version || fail "mijian-agent does not start in an empty root"
chroot "$Z" /mijian-collector --version || fail "mijian-collector does not start in an empty root"
set +e
chroot "$Z" /mijian-agent scan --format json --rules /rules /docs >"$X/scan.json" 2>"$X/scan.err"
rc=$?
set -e
[ "$rc" = 1 ] || { cat "$X/scan.err"; fail "scan in the empty root: exit $rc, expected 1 (a finding)"; }
python3 - "$X/scan.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
f = [f for f in r["findings"] if f.get("path", "").endswith("note.txt")]
assert f and any(m["rule"] == "example-codename" for m in f[0]["matches"]), r["findings"]
print("empty root scan: %s -> %s" % (f[0]["path"], [m["rule"] for m in f[0]["matches"]]))
PY
pass "both binaries are static and run with no libc; the agent scans in an empty root"

# --- rpm -------------------------------------------------------------------------
step "rpm: metadata and requirements"
if command -v rpm >/dev/null 2>&1 && ls "$pkgs"/*.rpm >/dev/null 2>&1; then
  agent_rpm=$(ls "$pkgs"/mijian-agent-*.rpm | head -n 1)
  coll_rpm=$(ls "$pkgs"/mijian-collector-*.rpm | head -n 1)
  for p in "$agent_rpm" "$coll_rpm"; do
    echo "--- $(basename "$p")"
    rpm -qip "$p" | grep -E '^(Name|Version|Architecture|License|Summary)'
    rpm -qlp "$p"
    echo "config: $(rpm -qcp "$p" | tr '\n' ' ')"
    reqs=$(rpm -qp --requires "$p")
    echo "requires: $(tr '\n' ' ' <<<"$reqs")"
    # Static binaries: no glibc symbol version, no shared library.
    if grep -qE 'GLIBC|libc\.so|\.so(\.|\()' <<<"$reqs"; then fail "$p requires a shared library or a glibc version"; fi
    scripts=$(rpm -qp --scripts "$p")
    grep -q 'scriptlet' <<<"$scripts" || fail "$p has no scriptlets"
    if grep -qE '^packaging/rpm/' <<<"$scripts"; then fail "$p: a scriptlet is a file name, not its content"; fi
  done
  # (whole outputs into grep: `grep -q` on a pipe fails the pipe under pipefail)
  grep -qx /etc/mijian/rules/baseline.toml <<<"$(rpm -qlp "$agent_rpm")" || fail "rpm lacks the rules"
  grep -qx /etc/mijian/agent.toml <<<"$(rpm -qcp "$agent_rpm")" || fail "agent.toml not %config"
  grep -qx /etc/mijian/rules/media.toml <<<"$(rpm -qcp "$agent_rpm")" || fail "media.toml not %config"
  grep -qx /etc/mijian/collector.toml <<<"$(rpm -qcp "$coll_rpm")" || fail "collector.toml not %config"
  grep -q useradd <<<"$(rpm -qp --requires "$coll_rpm")" || fail "collector rpm does not require useradd (%pre)"
  E=$(mktemp -d /tmp/mijian-rpmroot.XXXXXX)
  old_roots+=("$E")
  # An empty root has no /bin/sh and no shadow-utils: files only.
  rpm --root "$E" --dbpath /var/lib/rpm --initdb
  rpm --root "$E" -i --nodeps --noscripts --ignorearch "$agent_rpm" "$coll_rpm"
  rpm --root "$E" -qa
  [ -x "$E/usr/bin/mijian-agent" ] && [ -f "$E/etc/mijian/rules/media.toml" ] &&
    [ -f "$E/usr/lib/systemd/system/mijian-collector.service" ] || fail "rpm --root install"
  chroot "$E" /usr/bin/mijian-agent --version || fail "the rpm's agent does not run in its files-only root"
  rpm --root "$E" -e --noscripts mijian-agent mijian-collector
  [ ! -e "$E/usr/bin/mijian-agent" ] || fail "rpm -e"
  pass "rpm: listed, no glibc requirement, scriptlets present, installed into and erased from an empty root"

  # README's `rpm -i` with its scriptlets, in a Debian 11 root: glibc 2.31,
  # older than RHEL 9's 2.34 (the mirror serves nothing older). Its rpm
  # database is empty (dpkg owns /bin/sh, useradd, runuser): --nodeps.
  old_tarball=$cache/bullseye-minbase-rpm-procps.tar
  if [ ! -s "$old_tarball" ]; then
    step "mmdebstrap bullseye minbase + rpm (cached in $old_tarball)"
    mmdebstrap --quiet --variant=minbase --include=rpm,procps bullseye "$cache/.bullseye.tmp.tar" "$mirror"
    mv "$cache/.bullseye.tmp.tar" "$old_tarball"
  fi
  O=$(mktemp -d /tmp/mijian-oldroot.XXXXXX)
  old_roots+=("$O")
  tar -xf "$old_tarball" -C "$O"
  mount -t proc proc "$O/proc"
  in_old() { chroot "$O" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
  old_glibc=$(in_old ldd --version | awk 'NR == 1 { print $NF }')
  step "rpm -i in a Debian $(cat "$O/etc/debian_version") root (glibc $old_glibc)"
  # The control: the host's glibc build does not run here.
  if [ -x target/debug/mijian-agent ] && grep -q 'dynamically linked' <<<"$(file -b target/debug/mijian-agent)"; then
    cp target/debug/mijian-agent "$O/tmp/glibc-mijian-agent"
    if in_old /tmp/glibc-mijian-agent --version >"$O/tmp/glibc.out" 2>&1; then
      echo "note: the host's glibc build runs on this root too"
    else
      echo "control: the host's glibc build fails here: $(grep -o "GLIBC_[0-9.]*' not found" "$O/tmp/glibc.out" | head -n 1)"
    fi
    rm -f "$O/tmp/glibc-mijian-agent"
  fi
  mkdir -p "$O/tmp/pkgs"
  cp "$agent_rpm" "$coll_rpm" "$O/tmp/pkgs/"
  out=$(in_old rpm -i --nodeps "/tmp/pkgs/$(basename "$agent_rpm")" 2>&1) || { echo "$out"; fail "rpm -i agent"; }
  echo "$out"
  okid=$(sed -n 's/^mijian-agent: agent key id (kid): \([A-Za-z0-9_-]\{43\}\)$/\1/p' <<<"$out")
  [ -n "$okid" ] || fail "%post printed no kid"
  [ "$(stat -c %a "$O/var/lib/mijian")" = 700 ] || fail "rpm: state dir mode"
  [ "$(stat -c %a "$O/var/lib/mijian/agent-key.jwk")" = 600 ] || fail "rpm: key mode"
  [ -L "$O/etc/systemd/system/multi-user.target.wants/mijian-agent.service" ] ||
    echo "note: no systemctl in this root: the unit is not enabled"
  set +e
  in_old mijian-agent check --format json --no-content >"$O/tmp/check.json" 2>"$O/tmp/check.err"
  rc=$?
  set -e
  [ "$rc" = 0 ] || [ "$rc" = 1 ] || { cat "$O/tmp/check.err"; fail "check on the old root: exit $rc"; }
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["agent_id"]==sys.argv[2], r["agent_id"]; assert r["policy"]["source"]=="/etc/mijian/rules"; print("check: %d checks" % len(r["checks"]))' \
    "$O/tmp/check.json" "$okid" || fail "check report on the old root"
  out=$(in_old rpm -i --nodeps "/tmp/pkgs/$(basename "$coll_rpm")" 2>&1) || { echo "$out"; fail "rpm -i collector"; }
  sed 's/password: .*/password: (hidden in this log)/' <<<"$out"
  grep -q '^mijian-collector: first staff account: admin, password: ' <<<"$out" || fail "%post printed no admin password"
  [ "$(in_old stat -c '%U:%G %a' /var/lib/mijian-collector)" = "mijian:mijian 750" ] || fail "rpm: data dir owner/mode"
  in_old mijian-agent check --sign --out /tmp/report.jws --no-content >/dev/null || [ $? = 1 ] || fail "check --sign (old root)"
  # README's registration by hand, then the report carried over.
  in_old sh -c 'mijian-agent key > /tmp/agent.jwk'
  grep -qx "$okid" <<<"$(in_old runuser -u mijian -- mijian-collector agents add --jwk /tmp/agent.jwk)" ||
    fail "agents add --jwk (old root)"
  imp=$(in_old runuser -u mijian -- mijian-collector import /tmp/report.jws)
  echo "$imp"
  grep -q '^stored 1,' <<<"$imp" || fail "collector import (old root)"
  key_old=$(sha256sum <"$O/var/lib/mijian/agent-key.jwk")
  in_old rpm -e mijian-agent mijian-collector
  [ ! -e "$O/usr/bin/mijian-agent" ] || fail "rpm -e left the binary"
  [ "$(sha256sum <"$O/var/lib/mijian/agent-key.jwk")" = "$key_old" ] || fail "rpm -e lost the key"
  [ -e "$O/var/lib/mijian-collector/collector.db" ] || fail "rpm -e lost the database"
  umount -l "$O/proc"
  pass "rpm -i on glibc $old_glibc: kid printed, check ran, admin password, signed report imported; rpm -e kept key and database"
else
  echo "skipped: rpm or the .rpm files are missing (run: apt-get install rpm; packaging/build.sh)"
fi

# --- msi -----------------------------------------------------------------------
step "msi"
case "$profile" in dev|debug) win_exe=target/x86_64-pc-windows-gnu/debug/mijian-agent.exe ;;
  *) win_exe=target/x86_64-pc-windows-gnu/$profile/mijian-agent.exe ;; esac
msi=
real_msi=
if ! command -v wixl >/dev/null 2>&1 || ! command -v msibuild >/dev/null 2>&1; then
  echo "skipped: wixl is missing (run: apt-get install wixl msitools)"
elif [ -f "$win_exe" ]; then
  # The Windows agent built by .ci/run's Windows stage, and the same files
  # as a later ProductVersion for the major upgrade.
  IFS=. read -r v_major v_minor v_patch <<<"${version%%[-+]*}"
  msi_next_version=$v_major.$v_minor.$((v_patch + 1))
  rm -rf target/pkg-msi
  packaging/build.sh --profile "$profile" --no-build --skip-deb --skip-rpm --out target/pkg-msi/this \
    --windows-exe "$win_exe" | grep -E 'wixl|msi' || true
  packaging/build.sh --profile "$profile" --no-build --skip-deb --skip-rpm --out target/pkg-msi/next \
    --windows-exe "$win_exe" --msi-version "$msi_next_version" | grep -E 'wixl|msi' || true
  msi=$(ls target/pkg-msi/this/*.msi | head -n 1)
  msi_next=$(ls target/pkg-msi/next/*.msi | head -n 1)
  real_msi=1
  echo "Windows build packaged: $msi ($(du -h "$msi" | cut -f1)), upgrade: $msi_next"
else
  # No Windows build: check the .wxs and the post-processing with a stand-in
  # file in place of mijian-agent.exe.
  echo "note: $win_exe is missing (.ci/run builds it in its Windows stage): the .msi gets a stand-in exe"
  rm -rf target/pkg-msi-test
  mkdir -p target/pkg-msi-test
  printf 'MZ stand-in, not a Windows build\n' >target/pkg-msi-test/mijian-agent.exe
  packaging/build.sh --profile "$profile" --no-build --skip-deb --skip-rpm --out target/pkg-msi-test/out \
    --windows-exe target/pkg-msi-test/mijian-agent.exe | grep -E 'wixl|msi' || true
  msi=$(ls target/pkg-msi-test/out/*.msi | head -n 1)
  echo "(stand-in exe: this checks the installer definition, not a Windows agent)"
fi
if [ -n "$msi" ]; then
  msiinfo export "$msi" File | tail -n +4 | cut -f 3
  svc=$(msiinfo export "$msi" ServiceInstall | tail -n +4)
  grep -q 'mijian-agent' <<<"$svc" || fail "msi registers no service"
  msiinfo export "$msi" Component | awk -F'\t' 'NR > 3 && ($1 == "AgentConfig" || $1 ~ /^Rule/) && $4 != 400 { bad = 1 } END { exit bad }' ||
    fail "msi config components are not Permanent+NeverOverwrite"
  grep -q 'WIX_UPGRADE_DETECTED' <<<"$(msiinfo export "$msi" Upgrade)" || fail "msi has no major upgrade"
  grep -q 'service run' <<<"$svc" || fail "msi service arguments are not 'service run' (the SCM entry point)"
  pass "msi: files, service, config kept on upgrade/uninstall, major upgrade"
fi
if [ -n "$real_msi" ]; then
  if command -v wine >/dev/null 2>&1 && command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
    step "msi under Wine: install, run, upgrade, uninstall (packaging/test-msi.sh)"
    packaging/test-msi.sh "$msi" "$msi_next"
  else
    echo "skipped: the .msi under Wine (run: apt-get install wine wine64 gcc-mingw-w64-x86-64)"
  fi
fi

echo
echo "install test passed in $(($(date +%s) - T0))s"
