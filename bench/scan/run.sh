#!/usr/bin/env bash
# Scan benchmarks (issue 3): mijian beside its peer, same run, same terms,
# same thread count; prints wall time, peak RSS and the ratio.
#
#   bench/scan/run.sh [text|office|rescan|all]     (default: all)
#   bench/scan/run.sh hidden    plain vs hidden keyword matching (issue 13), same corpora
#
# Environment:
#   BENCH_DIR     where corpora are generated (default /tmp/mijian-bench; never committed)
#   TEXT_MB       size of the plain-text corpus (default 1100)
#   OFFICE_DOCS   documents in the office corpus (default 400)
#   THREADS       threads for both sides (default: nproc)
#   HIDDEN_MB     text corpus size for `hidden` (default 300); BIN_MB its binary corpus (default 64)
#   MIJIAN        the mijian scan command (default: release `mijian-agent scan`, falling back
#                 to the scanner crate's `scan` example); RESCAN_MIJIAN the cached one
#   RGA           rga binary (default: rga on PATH or /work/rga/bin/rga)
#
# Needs: python3 with python-docx openpyxl python-pptx reportlab pillow; ripgrep;
# for the office comparison ripgrep_all (`cargo install ripgrep_all`), pandoc, poppler-utils.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
what=${1:-all}
BENCH_DIR=${BENCH_DIR:-/tmp/mijian-bench}
TEXT_MB=${TEXT_MB:-1100}
OFFICE_DOCS=${OFFICE_DOCS:-400}
THREADS=${THREADS:-$(nproc)}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
mkdir -p "$BENCH_DIR"

# Literal terms of the example keyword set (the one the scan example loads), for rg/rga.
mapfile -t TERMS < <(python3 - "$repo/docs/examples/keywords" <<'PY'
import sys, tomllib, pathlib
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.toml")):
    for k in tomllib.loads(f.read_text()).get("keyword", []):
        for t in k.get("terms", []):
            print(t)
PY
)
PATTERN_ARGS=()
for t in "${TERMS[@]}"; do PATTERN_ARGS+=(-e "$t"); done

EXAMPLE="$CARGO_TARGET_DIR/release/examples/scan"
if [ -z "${MIJIAN:-}" ] || [ -z "${RESCAN_MIJIAN:-}" ]; then
  echo "building release binaries ..." >&2
  ( cd "$repo" && nice cargo build --release -q -p mijian-scanner --example scan ) >&2
fi
# The agent's release build is long; set BUILD_AGENT=1 to build and use it
# (or point MIJIAN at an installed one). Both drive the same `Scanner`.
if [ "${BUILD_AGENT:-0}" = 1 ] && ( cd "$repo" && nice cargo build --release -q -p mijian-agent ) >&2; then
  AGENT="$CARGO_TARGET_DIR/release/mijian-agent"
fi
MIJIAN=${MIJIAN:-${AGENT:+$AGENT scan --format json}}
MIJIAN=${MIJIAN:-$EXAMPLE --threads $THREADS}
RESCAN_MIJIAN=${RESCAN_MIJIAN:-$EXAMPLE --threads $THREADS}
RGA=${RGA:-$(command -v rga || echo /work/rga/bin/rga)}

# measure LABEL CMD...: runs CMD, output to $BENCH_DIR/LABEL.{stdout,stderr}; sets WALL (s) and RSS (MB).
measure() {
  local label=$1; shift
  local tf; tf=$(mktemp)
  set +e
  /usr/bin/time -f "%e %M %U %S" -o "$tf" "$@" > "$BENCH_DIR/$label.stdout" 2> "$BENCH_DIR/$label.stderr"
  local rc=$?
  set -e
  read -r WALL RSS_KB U S < <(tail -n 1 "$tf"); rm -f "$tf"
  RSS=$((RSS_KB / 1024))
  CPU=$(python3 -c "print(f'{$U+$S:.2f}')")
  printf '  %-22s wall %8.2f s  cpu %8.2f s  peak RSS %5d MB  (exit %d)\n' "$label" "$WALL" "$CPU" "$RSS" "$rc"
}
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }

bench_text() {
  local dir="$BENCH_DIR/text"
  if [ ! -f "$dir/.done" ]; then
    echo "generating ${TEXT_MB} MB plain-text corpus in $dir ..." >&2
    rm -rf "$dir"; python3 "$here/gen_text.py" "$dir" "$TEXT_MB"; touch "$dir/.done"
  fi
  local size; size=$(du -sm "$dir" | cut -f1)
  echo "== plain text: $size MB, $(find "$dir" -type f | wc -l) files, $THREADS threads =="
  cat $(find "$dir" -type f | head -2000) > /dev/null  # warm the page cache for both
  measure rg-text rg -F -c -j "$THREADS" --no-ignore --hidden "${PATTERN_ARGS[@]}" "$dir"
  local rg=$WALL rgc=$CPU
  measure mijian-text $MIJIAN "$dir"
  local mj=$WALL mjc=$CPU rss=$RSS
  measure rg-text-2 rg -F -c -j "$THREADS" --no-ignore --hidden "${PATTERN_ARGS[@]}" "$dir"
  rg=$(python3 -c "print(min($rg, $WALL))"); rgc=$(python3 -c "print(min($rgc, $CPU))")
  echo "  => mijian/rg wall = $(ratio "$mj" "$rg"), cpu = $(ratio "$mjc" "$rgc")  (target <= 1.5), mijian peak RSS ${rss} MB (target < 256)"
}

bench_office() {
  local dir="$BENCH_DIR/office"
  if [ ! -f "$dir/.done" ]; then
    echo "generating $OFFICE_DOCS office documents in $dir ..." >&2
    rm -rf "$dir"; python3 "$here/gen_office.py" "$dir" "$OFFICE_DOCS"; touch "$dir/.done"
  fi
  echo "== office: $(du -sm "$dir" | cut -f1) MB, $(find "$dir" -type f | wc -l) files (docx/xlsx/pptx/pdf) =="
  measure mijian-office $MIJIAN "$dir"
  local mj=$WALL mjc=$CPU
  if [ -x "$RGA" ]; then
    # rga 0.10.10's --rga-no-cache fails every file ("No cache?",
    # phiresky/ripgrep-all#337): give it an empty cache directory instead.
    rm -rf "$BENCH_DIR/rga-cache"
    PATH="$(dirname "$RGA"):$PATH" measure rga-office "$RGA" --rga-cache-path="$BENCH_DIR/rga-cache" -F -c -j "$THREADS" "${PATTERN_ARGS[@]}" "$dir"
    echo "  rga matched $(PATH="$(dirname "$RGA"):$PATH" "$RGA" --rga-cache-path="$BENCH_DIR/rga-cache" -F -c "${PATTERN_ARGS[@]}" "$dir" 2>/dev/null | wc -l) files; mijian reported $(grep -c . "$BENCH_DIR/mijian-office.stdout" || true) findings"
    echo "  => rga/mijian wall = $(ratio "$WALL" "$mj"), cpu = $(ratio "$CPU" "$mjc")  (target >= 20)"
  else
    echo "  rga not found (cargo install ripgrep_all --root /work/rga): no comparison"
  fi
}

bench_rescan() {
  local dir="$BENCH_DIR/tree20k"
  if [ ! -f "$dir/.done" ]; then
    echo "generating a 20,000-file tree in $dir ..." >&2
    rm -rf "$dir"
    python3 "$here/gen_text.py" "$dir/text" 300 3 2>/dev/null
    local n; n=$(find "$dir/text" -type f | wc -l)
    python3 "$here/gen_office.py" "$dir/office" 200 5 2>/dev/null
    # Pad with small notes up to 20,000 files.
    python3 - "$dir/notes" $((20000 - n - 200)) <<'PY'
import os, sys, random
d, n = sys.argv[1], int(sys.argv[2]); rng = random.Random(1)
for i in range(n):
    sub = os.path.join(d, f"n{i % 50:02d}"); os.makedirs(sub, exist_ok=True)
    open(os.path.join(sub, f"note{i:05d}.txt"), "w").write(f"会议纪要 {i} " * rng.randint(5, 200))
PY
    touch "$dir/.done"
  fi
  local cache="$BENCH_DIR/rescan.cache"
  rm -f "$cache"
  echo "== rescan: $(find "$dir" -type f | wc -l) files, $(du -sm "$dir" | cut -f1) MB =="
  measure full-scan $RESCAN_MIJIAN --cache "$cache" "$dir"
  local full=$WALL fullc=$CPU
  measure rescan-unchanged $RESCAN_MIJIAN --cache "$cache" "$dir"
  echo "  => rescan/full wall = $(python3 -c "print(f'{100*$WALL/$full:.1f}%')"), cpu = $(python3 -c "print(f'{100*$CPU/$fullc:.1f}%')")  (target < 3%)"
}

# Plain vs hidden keyword matching (issue 13): the same example keyword set,
# once in clear and once hidden (`scan --hidden`: salted hashes, as
# `policy import --hidden` makes them), over a text corpus, the format
# fixtures (fixtures/formats: every document format) and a binary corpus (random bytes with planted terms in UTF-8, GBK, Big5
# and UTF-16: every file goes through the raw-byte search). The findings must
# be the same; the cost is the CPU/wall/RSS difference and the matcher size.
bench_hidden() {
  local text="$BENCH_DIR/text-${HIDDEN_MB:-300}"
  if [ ! -f "$text/.done" ]; then
    echo "generating ${HIDDEN_MB:-300} MB plain-text corpus in $text ..." >&2
    rm -rf "$text"; python3 "$here/gen_text.py" "$text" "${HIDDEN_MB:-300}"; touch "$text/.done"
  fi
  # Documents of every supported format: the project's own fixtures.
  local formats="$repo/fixtures/formats"
  local bin="$BENCH_DIR/binary-${BIN_MB:-64}"
  if [ ! -f "$bin/.done" ]; then
    echo "generating ${BIN_MB:-64} MB binary corpus in $bin ..." >&2
    rm -rf "$bin"; mkdir -p "$bin"
    python3 - "$bin" "${BIN_MB:-64}" <<'PY'
import random, sys, os
out, mb = sys.argv[1], int(sys.argv[2])
rng = random.Random(13)
terms = ["玄鸟柒号", "示例工程", "XN-07A型", "玄鳥柒號"]
encs = ["utf-8", "gbk", "big5", "utf-16-le", "utf-16-be"]
for i in range(mb):
    data = bytearray(rng.randbytes(1 << 20))
    for k in range(3):
        t = terms[rng.randrange(len(terms))]
        e = encs[rng.randrange(len(encs))]
        try:
            word = ("这是" + t + "的资料。").encode(e)
        except UnicodeEncodeError:
            continue
        at = rng.randrange(len(data) - len(word))
        data[at:at + len(word)] = word
    open(os.path.join(out, f"blob{i:04d}.bin"), "wb").write(data)
PY
    touch "$bin/.done"
  fi
  echo "== plain vs hidden keyword matching, $THREADS threads, release scan example =="
  for c in "$text" "$formats" "$bin"; do
    local name; name=$(basename "$c")
    echo "-- $name: $(du -sm "$c" | cut -f1) MB, $(find "$c" -type f | wc -l) files"
    cat $(find "$c" -type f | head -3000) > /dev/null
    local m
    for m in plain hidden; do
      local flag=""; [ $m = hidden ] && flag=--hidden
      measure "$m-$name" $EXAMPLE $flag --threads "$THREADS" "$c"
      grep -h "keyword matching" "$BENCH_DIR/$m-$name.stderr" | sed 's/^scan: /    /'
      sort "$BENCH_DIR/$m-$name.stdout" > "$BENCH_DIR/$m-$name.sorted"
    done
    if cmp -s "$BENCH_DIR/plain-$name.sorted" "$BENCH_DIR/hidden-$name.sorted"; then
      echo "    findings: $(wc -l < "$BENCH_DIR/plain-$name.sorted") in both modes, identical"
    else
      echo "    findings DIFFER: diff $BENCH_DIR/plain-$name.sorted $BENCH_DIR/hidden-$name.sorted"
    fi
  done
}

case $what in
  text) bench_text ;;
  office) bench_office ;;
  rescan) bench_rescan ;;
  all) bench_text; bench_office; bench_rescan ;;
  hidden) bench_hidden ;;
  *) echo "usage: $0 [text|office|rescan|all|hidden]" >&2; exit 2 ;;
esac
