#!/usr/bin/env bash
# Build the installable packages of mijian: .deb and .rpm for mijian-agent and
# mijian-collector, and the Windows agent's .msi when a Windows build exists.
#
#   packaging/build.sh [--profile release|dev] [--no-build] [--out DIR]
#                      [--linux-target TRIPLE|host]
#                      [--deb-version V] [--skip-deb] [--skip-rpm] [--skip-msi]
#                      [--windows-exe PATH] [--msi-version V]
#
#   --profile    cargo profile of the binaries (default release; CI uses dev,
#                whose dependencies are already optimised (opt-level 2) and
#                built by the test run; cargo-deb strips the binaries)
#   --no-build   package the binaries already in target/<triple>/<profile>/
#   --linux-target  the Linux binaries of the .deb and .rpm (default
#                x86_64-unknown-linux-musl: fully static, so one binary runs
#                on every glibc — RHEL 9 and openEuler 22.03 (2.34), Kylin V10
#                (2.28), Debian 10/11, UOS — and on none; `host` packages the
#                host's glibc build from target/<profile>/, which needs the
#                build machine's glibc or newer). Needs: rustup target add
#                x86_64-unknown-linux-musl; musl-tools (musl-gcc, for the C
#                code: bundled SQLite, zstd, bzip2, mimalloc, ring).
#                The .deb carries it too: UOS, Deepin, Kylin desktop and
#                Debian 10/11 have older glibc than the build machine. Cost
#                measured (dev profile, 2 loaded cores): `scan` of 4,020
#                files, 1,074 findings, 6.8-7.1 s CPU static vs 6.5-6.9 s
#                glibc, same findings; the collector keeps mimalloc.
#   --out        where the packages go (default target/packages)
#   --deb-version  override the Debian version (the install test builds a
#                "next" version from the same binaries to test upgrades)
#   --windows-exe  the Windows agent for the .msi (default
#                target/x86_64-pc-windows-gnu/<profile>/mijian-agent.exe; the
#                .msi is built only when it exists)
#   --msi-version  override the .msi's ProductVersion (the install test
#                builds a later one to test the major upgrade)
#
# Needs: musl-tools and the musl target (above); cargo-deb (cargo install
# --locked cargo-deb --version 3.8.0); rpmbuild (Debian package rpm); wixl
# and msibuild (Debian packages wixl, msitools) for the .msi.
# Everything a package carries besides the binaries is staged under
# target/pkg-stage/: the .deb's file list is [package.metadata.deb] of
# agent/Cargo.toml and collector/Cargo.toml, the .rpm's spec is written below
# (the same files; cargo-generate-rpm took over 11 minutes to install).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
build=1
out=target/packages
deb_version=
skip_deb=
skip_rpm=
skip_msi=
windows_exe=
linux_target=x86_64-unknown-linux-musl
msi_version=
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile=$2; shift 2 ;;
    --no-build) build=; shift ;;
    --out) out=$2; shift 2 ;;
    --deb-version) deb_version=$2; shift 2 ;;
    --skip-deb) skip_deb=1; shift ;;
    --skip-rpm) skip_rpm=1; shift ;;
    --skip-msi) skip_msi=1; shift ;;
    --windows-exe) windows_exe=$2; shift 2 ;;
    --linux-target) linux_target=$2; shift 2 ;;
    --msi-version) msi_version=$2; shift 2 ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$profile" in
  dev|debug) profile=dev; pdir=debug ;;
  *) pdir=$profile ;;
esac
target_args=()
case "$linux_target" in
  host|native|"") linux_target=; bindir=target/$pdir ;;
  *) bindir=target/$linux_target/$pdir; target_args=(--target "$linux_target") ;;
esac
mkdir -p "$out"
out=$(cd "$out" && pwd)

log() { echo "build.sh: $*"; }
need() {
  command -v "$1" >/dev/null 2>&1 || {
    echo "build.sh: $1 is missing (run: $2)" >&2
    exit 2
  }
}
[ -n "$skip_deb" ] || need cargo-deb "cargo install --locked cargo-deb"
[ -n "$skip_rpm" ] || need rpmbuild "apt-get install rpm"

if [ -n "$build" ]; then
  if [ -n "$linux_target" ] && [[ "$linux_target" == *-musl ]]; then
    need musl-gcc "apt-get install musl-tools"
    grep -qx "$linux_target" <<<"$(rustup target list --installed 2>/dev/null)" || {
      echo "build.sh: the $linux_target target is missing (run: rustup target add $linux_target)" >&2
      exit 2
    }
  fi
  log "building mijian-agent and mijian-collector (profile $profile, target ${linux_target:-host})"
  cargo build --locked --profile "$profile" "${target_args[@]}" -p mijian-agent -p mijian-collector
fi
for b in mijian-agent mijian-collector; do
  [ -x "$bindir/$b" ] || { echo "build.sh: $bindir/$b is missing (drop --no-build)" >&2; exit 2; }
done

stage=target/pkg-stage
rm -rf "$stage"
mkdir -p "$stage"

# --- default rules: only the active ones --------------------------------
# What Policy::load reads: rules/*.toml (baseline, markings, media, network,
# software, ...) and rules/keywords/*.toml. Example keyword files are documentation, not policy:
# they go to /usr/share/doc, never into /etc/mijian/rules.
conf=$stage/mijian-agent/conf
mkdir -p "$conf/rules/keywords"
cp docs/agent.toml "$conf/agent.toml"
cp rules/*.toml "$conf/rules/"
mkdir -p "$stage/mijian-agent/doc/examples/keywords"
shopt -s nullglob
for f in rules/keywords/*.toml; do
  case "$(basename "$f")" in
    example*) cp "$f" "$stage/mijian-agent/doc/examples/keywords/" ;;
    *) cp "$f" "$conf/rules/keywords/" ;;
  esac
done
for f in docs/examples/keywords/*.toml; do
  cp "$f" "$stage/mijian-agent/doc/examples/keywords/"
done
shopt -u nullglob
if [ -f rules/keywords/README.md ]; then
  cp rules/keywords/README.md "$conf/rules/keywords/README.md"
  printf '\nInstalled example: /usr/share/doc/mijian-agent/examples/keywords/example.toml\n' \
    >>"$conf/rules/keywords/README.md"
elif [ -z "$(ls -A "$conf/rules/keywords")" ]; then
  # An empty directory cannot be a packaged file; keep a note there instead.
  printf '%s\n' "# Keyword rule files (*.toml) of this site go into this directory." \
    "# Example: /usr/share/doc/mijian-agent/examples/keywords/example.toml" >"$conf/rules/keywords/README"
fi
log "default rules staged: $(cd "$conf" && find rules -type f | sort | tr '\n' ' ')"

cp packaging/collector.toml "$stage/collector.toml"

# --- documentation and licences of embedded data -------------------------
cp crates/scanner/data/OpenCC-LICENSE.txt crates/scanner/data/cmap/LICENSE-Adobe-CMaps.txt \
  "$stage/mijian-agent/doc/"
cp packaging/systemd/mijian-agent.service.d/enforcement.conf "$stage/mijian-agent/doc/examples/"
mkdir -p "$stage/mijian-collector/doc"
cp docs/collector.md "$stage/mijian-collector/doc/"
copyright() {
  local pkg=$1
  cat <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: mijian
Source: https://example.invalid/mijian

Files: *
Copyright: the mijian authors
License: Apache-2.0
 On Debian systems the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
EOF
  if [ "$pkg" = mijian-agent ]; then
    cat <<'EOF'

Files: crates/scanner/data/TSCharacters.txt
Copyright: Carbo Kuo and contributors (OpenCC)
License: Apache-2.0
Comment: OpenCC's traditional-to-simplified character table, embedded
 unchanged in /usr/bin/mijian-agent. Its licence file:
 /usr/share/doc/mijian-agent/OpenCC-LICENSE.txt.

Files: crates/scanner/data/cmap/*
Copyright: 1990-2020 Adobe
License: BSD-3-Clause
Comment: CID-to-Unicode tables derived from Adobe's Adobe-GB1-UCS2 and
 Adobe-CNS1-UCS2 CMap resources (as shipped in poppler-data's cMap/),
 embedded in /usr/bin/mijian-agent. poppler-data's GPL-licensed
 cidToUnicode files are not used.

License: BSD-3-Clause
EOF
    sed 's/^$/./; s/^/ /' crates/scanner/data/cmap/LICENSE-Adobe-CMaps.txt
  fi
}
copyright mijian-agent >"$stage/mijian-agent/copyright"
copyright mijian-collector >"$stage/mijian-collector/copyright"

# --- man pages and shell completions from the CLI definitions -----------
# Written by the binaries' hidden `__man DIR` and `__completions SHELL`.
gen_docs() {
  local bin=$1 name=$2 d=$stage/$2
  local tmp=$stage/$name-man
  mkdir -p "$d/man" "$d/completions"
  if "$bin" __man "$tmp" >/dev/null 2>&1 && ls "$tmp"/*.1 >/dev/null 2>&1; then
    for p in "$tmp"/*.1; do gzip -9n <"$p" >"$d/man/$(basename "$p").gz"; done
    log "$name: $(ls "$d/man" | wc -l) man pages from its CLI definition"
  else
    # Fallback until the binary has `__man`: a plain page from --help.
    log "WARNING: $name has no '__man' generator; man page made from --help text only"
    {
      printf '.TH %s 1 "" "%s" "User Commands"\n.SH NAME\n%s\n.SH DESCRIPTION\n.nf\n' \
        "$(echo "$name" | tr a-z A-Z)" "$name" "$name"
      "$bin" --help | sed 's/\\/\\e/g; s/^\./\\\&./'
      printf '.fi\n'
    } | gzip -9n >"$d/man/$name.1.gz"
  fi
  rm -rf "$tmp"
  local ok=1 sh
  for sh in bash zsh fish; do
    if ! "$bin" __completions "$sh" >"$d/completions/$sh" 2>/dev/null || [ ! -s "$d/completions/$sh" ]; then
      ok=
    fi
  done
  if [ -n "$ok" ]; then
    log "$name: bash, zsh and fish completions from its CLI definition"
  else
    log "WARNING: $name has no '__completions' generator; its package ships no shell completions"
    rm -f "$d/completions/"*
    # Keep the asset globs of the package metadata non-empty.
  fi
}
gen_docs "$bindir/mijian-agent" mijian-agent
gen_docs "$bindir/mijian-collector" mijian-collector
# Completion files by the names each shell looks for, staged as trees that
# the package metadata maps onto /usr/share.
for name in mijian-agent mijian-collector; do
  d=$stage/$name
  mkdir -p "$d/share"
  if [ -s "$d/completions/bash" ]; then
    install -D -m 644 "$d/completions/bash" "$d/share/bash-completion/completions/$name"
    install -D -m 644 "$d/completions/zsh" "$d/share/zsh/vendor-completions/_$name"
    install -D -m 644 "$d/completions/fish" "$d/share/fish/vendor_completions.d/$name.fish"
  fi
  install -D -m 644 "$d/man/"*.gz -t "$d/share/man/man1/"
  rm -rf "$d/completions" "$d/man"
done

# Stripped binaries for the .rpm (cargo-deb strips its own copy).
mkdir -p "$stage/bin"
for b in mijian-agent mijian-collector; do
  strip -o "$stage/bin/$b" "$bindir/$b"
done

# --- .deb ------------------------------------------------------------------
deb_args=(--no-build --profile "$profile" "${target_args[@]}" --strip --output "$out")
[ -z "$deb_version" ] || deb_args+=(--deb-version "$deb_version")
if [ -z "$skip_deb" ]; then
  for p in mijian-agent mijian-collector; do
    log "cargo deb -p $p"
    cargo deb -p "$p" "${deb_args[@]}"
  done
fi

# --- .rpm ------------------------------------------------------------------
# rpmbuild (Debian's rpm package) from a spec written here: the same files,
# modes, %config(noreplace) and scriptlets as the .deb. No automatic
# requirements: the binaries are static, so nothing but what the scriptlets
# run is required (useradd/groupadd and runuser for the collector).
rpm_version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
# Lay out package $1 under $2 (the rpm's %{buildroot} tree).
rpm_tree() {
  local name=$1 root=$2 d=$stage/$1
  rm -rf "$root"
  install -D -m 755 "$stage/bin/$name" "$root/usr/bin/$name"
  install -D -m 644 "packaging/systemd/$name.service" "$root/usr/lib/systemd/system/$name.service"
  mkdir -p "$root/usr/share/doc/$name"
  cp -r "$d/share/." "$root/usr/share/"
  cp -r "$d/doc/." "$root/usr/share/doc/$name/"
  install -m 644 "$d/copyright" "$root/usr/share/doc/$name/copyright"
  mkdir -p "$root/etc/mijian"
  if [ "$name" = mijian-agent ]; then
    cp -r "$d/conf/." "$root/etc/mijian/"
  else
    install -m 640 "$stage/collector.toml" "$root/etc/mijian/collector.toml"
  fi
  find "$root/usr/share" "$root/etc" -type f -exec chmod 644 {} +
  [ "$name" = mijian-agent ] || chmod 640 "$root/etc/mijian/collector.toml"
}
# The %files list of a tree: config under /etc, docs under /usr/share/doc,
# the directories the package alone owns.
rpm_files() {
  local name=$1 root=$2 f
  (cd "$root" && find etc/mijian usr/share/doc/"$name" -type d | sort) | sed 's|^|%dir /|'
  (cd "$root" && find . -type f | sed 's|^\.||' | sort) | while read -r f; do
    case "$f" in
      /etc/mijian/collector.toml) echo "%config(noreplace) %attr(0640,root,mijian) $f" ;;
      /etc/*) echo "%config(noreplace) %attr(0644,root,root) $f" ;;
      /usr/bin/*) echo "%attr(0755,root,root) $f" ;;
      /usr/share/doc/*) echo "%doc %attr(0644,root,root) $f" ;;
      *) echo "%attr(0644,root,root) $f" ;;
    esac
  done
}
rpm_spec() {
  local name=$1 root=$2 short=${1#mijian-} s
  cat <<EOF
Name: $name
Version: $rpm_version
Release: 1
License: $([ "$name" = mijian-agent ] && echo "Apache-2.0 AND BSD-3-Clause" || echo "Apache-2.0")
URL: https://example.invalid/mijian
AutoReqProv: no
EOF
  if [ "$name" = mijian-agent ]; then
    cat <<'EOF'
Summary: mijian workstation agent: host checks, content scan, removable media, signed reports
%description
The mijian agent inspects a workstation for confidentiality compliance:
host checks (passwords, screen lock, services, network), classified-marking
and keyword scans of documents, removable media against the media register,
and signs its reports for the collector. Static binary: no glibc needed.
EOF
  else
    cat <<'EOF'
Summary: mijian collector: verifies, stores and serves signed reports
Requires(pre): /usr/sbin/useradd, /usr/sbin/groupadd
Requires(post): /usr/sbin/runuser
%description
The mijian collector receives the signed reports of mijian agents over
HTTPS or as files from air-gapped hosts, verifies them against each agent's
enrolled key and chain, and keeps the organisation's compliance record
(SQLite or PostgreSQL). It listens on 127.0.0.1 until TLS is configured in
/etc/mijian/collector.toml. Static binary: no glibc needed.
EOF
  fi
  echo "%install"
  echo "cp -a '$(realpath "$root")/.' %{buildroot}/"
  for s in pre post preun postun; do
    if [ -f "packaging/rpm/$short-$s.sh" ]; then
      echo "%$s"
      cat "packaging/rpm/$short-$s.sh"
    fi
  done
  echo "%files"
  rpm_files "$name" "$root"
}
if [ -z "$skip_rpm" ]; then
  for p in mijian-agent mijian-collector; do
    top=$stage/rpmbuild/$p
    mkdir -p "$top"
    rpm_tree "$p" "$top/tree"
    rpm_spec "$p" "$top/tree" >"$top/$p.spec"
    log "rpmbuild $p-$rpm_version-1.x86_64.rpm"
    rpmbuild -bb --quiet --target x86_64-linux \
      --define "_topdir $(realpath "$top")" --define "_rpmdir $out" \
      --define '_rpmfilename %{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm' \
      --define 'debug_package %{nil}' --define '__os_install_post %{nil}' \
      --define '_build_id_links none' --define '_binary_payload w19.zstdio' \
      "$top/$p.spec" >"$top/rpmbuild.log" 2>&1 || { cat "$top/rpmbuild.log" >&2; exit 1; }
  done
fi

# --- .msi (Windows agent) ----------------------------------------------------
# wixl has no NeverOverwrite/Permanent component attributes: they are set
# afterwards in the Component table (msibuild), for the config and rules.
[ -n "$windows_exe" ] || windows_exe=target/x86_64-pc-windows-gnu/$pdir/mijian-agent.exe
if [ -n "$skip_msi" ]; then
  :
elif [ ! -f "$windows_exe" ]; then
  log "no Windows build ($windows_exe is missing): .msi not built"
elif ! command -v wixl >/dev/null 2>&1 || ! command -v msibuild >/dev/null 2>&1; then
  log "WARNING: $windows_exe exists but wixl/msibuild are missing (run: apt-get install wixl msitools): .msi not built"
else
  version=${msi_version:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)}
  msi=$out/mijian-agent-$version-x64.msi
  log "wixl: $msi from $windows_exe"
  # A stripped copy (a dev build carries its debug info: hundreds of MB).
  mkdir -p "$stage/windows"
  if command -v x86_64-w64-mingw32-strip >/dev/null 2>&1 && x86_64-w64-mingw32-strip -o "$stage/windows/mijian-agent.exe" "$windows_exe" 2>/dev/null; then
    windows_exe=$stage/windows/mijian-agent.exe
  fi
  # wixl wants source paths relative to the working directory.
  exe_rel=$(realpath --relative-to=. "$windows_exe")
  wixl -a x64 -D Version="$version" -D SourceDir=. -D Exe="$exe_rel" -o "$msi" packaging/wix/mijian-agent.wxs
  idt=$stage/msi
  mkdir -p "$idt"
  msiinfo export "$msi" Component |
    awk -F'\t' 'BEGIN { OFS = "\t" }
      NR > 3 && ($1 == "AgentConfig" || $1 ~ /^Rule/) { $4 = $4 + 16 + 128 }  # Permanent, NeverOverwrite
      { print }' >"$idt/Component.idt"
  msibuild "$msi" -i "$idt/Component.idt"
fi

log "packages in $out:"
ls -l "$out"
