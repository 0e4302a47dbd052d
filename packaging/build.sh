#!/usr/bin/env bash
# Build the installable packages of mijian: .deb and .rpm for mijian-agent and
# mijian-collector, and the Windows agent's .msi when a Windows build exists.
#
#   packaging/build.sh [--profile release|dev] [--no-build] [--out DIR]
#                      [--deb-version V] [--skip-deb] [--skip-rpm] [--skip-msi]
#                      [--windows-exe PATH]
#
#   --profile    cargo profile of the binaries (default release; CI uses dev,
#                whose dependencies are already optimised (opt-level 2) and
#                built by the test run; cargo-deb strips the binaries)
#   --no-build   package the binaries already in target/<profile>/
#   --out        where the packages go (default target/packages)
#   --deb-version  override the Debian version (the install test builds a
#                "next" version from the same binaries to test upgrades)
#   --windows-exe  the Windows agent for the .msi (default
#                target/x86_64-pc-windows-gnu/release/mijian-agent.exe; the
#                .msi is built only when it exists)
#
# Needs: cargo-deb, cargo-generate-rpm (cargo install --locked cargo-deb
# cargo-generate-rpm); wixl (Debian package wixl) for the .msi.
# Everything a package carries besides the binaries is staged under
# target/pkg-stage/ and listed in [package.metadata.deb] and
# [package.metadata.generate-rpm] of agent/Cargo.toml and collector/Cargo.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

profile=release
build=1
out=target/packages
deb_version=
skip_deb=
skip_rpm=
skip_msi=
windows_exe=
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
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$profile" in
  dev|debug) profile=dev; bindir=target/debug ;;
  *) bindir=target/$profile ;;
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
[ -n "$skip_rpm" ] || need cargo-generate-rpm "cargo install --locked cargo-generate-rpm"

if [ -n "$build" ]; then
  log "building mijian-agent and mijian-collector (profile $profile)"
  cargo build --locked --profile "$profile" -p mijian-agent -p mijian-collector
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
deb_args=(--no-build --profile "$profile" --strip --output "$out")
[ -z "$deb_version" ] || deb_args+=(--deb-version "$deb_version")
if [ -z "$skip_deb" ]; then
  for p in mijian-agent mijian-collector; do
    log "cargo deb -p $p"
    cargo deb -p "$p" "${deb_args[@]}"
  done
fi

# --- .rpm ------------------------------------------------------------------
if [ -z "$skip_rpm" ]; then
  for p in mijian-agent mijian-collector; do
    log "cargo generate-rpm -p ${p#mijian-}"
    cargo generate-rpm -p "${p#mijian-}" --profile "$profile" --payload-compress zstd -o "$out/"
  done
fi

# --- .msi (Windows agent) ----------------------------------------------------
# wixl has no NeverOverwrite/Permanent component attributes: they are set
# afterwards in the Component table (msibuild), for the config and rules.
[ -n "$windows_exe" ] || windows_exe=target/x86_64-pc-windows-gnu/release/mijian-agent.exe
if [ -n "$skip_msi" ]; then
  :
elif [ ! -f "$windows_exe" ]; then
  log "no Windows build ($windows_exe is missing): .msi not built"
elif ! command -v wixl >/dev/null 2>&1 || ! command -v msibuild >/dev/null 2>&1; then
  log "WARNING: $windows_exe exists but wixl/msibuild are missing (run: apt-get install wixl msitools): .msi not built"
else
  version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
  msi=$out/mijian-agent-$version-x64.msi
  log "wixl: $msi from $windows_exe"
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
