#!/usr/bin/env bash
# Cargo runner for x86_64-pc-windows-gnu (.cargo/config.toml): runs a
# Windows test or binary under Wine in the repository's private prefix
# (target/wine-prefix, or $WINEPREFIX), set up on first use:
#   * wineboot the prefix;
#   * build and install the bcryptprimitives.dll shim (ProcessPrng, which
#     Wine 8.0 lacks and every Rust >= 1.78 program imports; PITFALLS);
#   * start that prefix's wineserver with stdin/stdout on /dev/null (a
#     wineserver holding the CI's pipe makes the run hang forever).
# Stop the server with: WINEPREFIX=<prefix> wineserver -k
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export WINEPREFIX="${WINEPREFIX:-$repo/target/wine-prefix}"
export WINEDEBUG="${WINEDEBUG:--all}"
export WINEDLLOVERRIDES="${WINEDLLOVERRIDES:-bcryptprimitives=n,b;mscoree,mshtml=}"
export WINEARCH=win64
wine=$(command -v wine64 || command -v wine || true)
[ -x /usr/lib/wine/wine64 ] && wine=/usr/lib/wine/wine64
if [ -z "$wine" ]; then
  echo "runner.sh: wine is not installed (run: apt-get install wine wine64)" >&2
  exit 127
fi
sys32="$WINEPREFIX/drive_c/windows/system32"
if [ ! -f "$WINEPREFIX/.mijian-ready" ]; then
  mkdir -p "$WINEPREFIX"
  (
    flock 9
    if [ ! -f "$WINEPREFIX/.mijian-ready" ]; then
      "$wine" wineboot -i </dev/null >/dev/null 2>&1 || true
      wineserver -w </dev/null >/dev/null 2>&1 || true
      x86_64-w64-mingw32-gcc -shared -O2 -o "$sys32/bcryptprimitives.dll" \
        "$here/processprng.c" "$here/bcryptprimitives.def" -ladvapi32
      touch "$WINEPREFIX/.mijian-ready"
    fi
  ) 9>"$WINEPREFIX.lock"
fi
# One persistent server per prefix, detached from our stdio. When this call
# started it (exit 0; 2 = already running), run a no-op program with
# detached stdio first: Wine starts its service processes (winedevice.exe)
# with the first program, they inherit its stdout and live as long as the
# server, and a caller reading our stdout through a pipe would never see EOF.
if wineserver -p </dev/null >/dev/null 2>&1; then
  "$wine" cmd /c exit 0 </dev/null >/dev/null 2>&1 || true
fi
exec "$wine" "$@"
