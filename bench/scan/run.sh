#!/usr/bin/env bash
# Scan benchmarks (issue 3): mijian beside its peer, same run, same terms,
# same thread count; prints wall time, peak RSS and the ratio.
#
#   bench/scan/run.sh [text|office|rescan|tree|all]     (default: all)
#   bench/scan/run.sh hidden    plain vs hidden keyword matching (issue 13), same corpora
#
# `tree` (issue 15, bounded memory) scans a generated 100,000-file tree and
# prints peak RSS beside ripgrep's; not part of `all` (it takes a while).
#
# Environment:
#   BENCH_DIR     where corpora are generated (default /tmp/mijian-bench; never committed)
#   TEXT_MB       size of the plain-text corpus (default 1100)
#   OFFICE_DOCS   documents in the office corpus (default 400)
#   THREADS       threads for both sides (default: nproc)
#   HIDDEN_MB     text corpus size for `hidden` (default 300); BIN_MB its binary corpus (default 64)
#   RUNS          runs of each side in `text` and `tree`, interleaved; medians are compared (default 3)
#   TREE_FILES    files in the `tree` corpus (default 100000)
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
RUNS=${RUNS:-3}
TREE_FILES=${TREE_FILES:-100000}
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
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
maximum() { printf '%s\n' "$@" | sort -g | tail -n 1; }

# peak_split CMD...: runs CMD and prints the peak RSS of the scanning
# process itself and of its largest worker, sampled from /proc (VmHWM)
# every 0.2 s (/usr/bin/time's figure is the larger of the two).
peak_split() {
  "$@" > /dev/null 2>&1 &
  local pid=$! main=0 work=0 v c
  while kill -0 "$pid" 2>/dev/null; do
    v=$(awk '/VmHWM/{print $2}' "/proc/$pid/status" 2>/dev/null || true)
    if [ -n "$v" ] && [ "$v" -gt "$main" ]; then main=$v; fi
    for c in $(pgrep -P "$pid" || true); do
      v=$(awk '/VmHWM/{print $2}' "/proc/$c/status" 2>/dev/null || true)
      if [ -n "$v" ] && [ "$v" -gt "$work" ]; then work=$v; fi
    done
    sleep 0.2
  done
  wait "$pid" || true
  printf '  peak RSS (sampled): scanning process %d MB (target <= 64), largest worker %d MB (bounded by its rlimits)\n' $((main / 1024)) $((work / 1024))
}

# compare NAME DIR MIJIAN_CMD...: RUNS runs of rg and mijian over DIR,
# interleaved (a shared machine's load hits both alike); prints the medians
# of wall, CPU and peak RSS and their ratios.
compare() {
  local name=$1 dir=$2; shift 2
  local rw=() rc=() rr=() mw=() mc=() mr=()
  for i in $(seq 1 "$RUNS"); do
    measure "rg-$name-$i" rg -F -c -j "$THREADS" --no-ignore --hidden "${PATTERN_ARGS[@]}" "$dir"
    rw+=("$WALL"); rc+=("$CPU"); rr+=("$RSS")
    measure "mijian-$name-$i" "$@" "$dir"
    mw+=("$WALL"); mc+=("$CPU"); mr+=("$RSS")
  done
  local RW RC MW MC
  RW=$(median "${rw[@]}"); RC=$(median "${rc[@]}")
  MW=$(median "${mw[@]}"); MC=$(median "${mc[@]}")
  printf '  median of %d: rg     wall %6.2f s  cpu %6.2f s  peak RSS %4d MB\n' "$RUNS" "$RW" "$RC" "$(maximum "${rr[@]}")"
  printf '  median of %d: mijian wall %6.2f s  cpu %6.2f s  peak RSS %4d MB (largest run)\n' "$RUNS" "$MW" "$MC" "$(maximum "${mr[@]}")"
  echo "  => mijian/rg wall = $(ratio "$MW" "$RW"), cpu = $(ratio "$MC" "$RC")  (target <= 1.5)"
  echo "  mijian findings: $(grep -c . "$BENCH_DIR/mijian-$name-1.stdout" || true); rg matched files: $(grep -c . "$BENCH_DIR/rg-$name-1.stdout" || true)"
}

bench_text() {
  local dir="$BENCH_DIR/text"
  if [ ! -f "$dir/.done" ]; then
    echo "generating ${TEXT_MB} MB plain-text corpus in $dir ..." >&2
    rm -rf "$dir"; python3 "$here/gen_text.py" "$dir" "$TEXT_MB"; touch "$dir/.done"
  fi
  local size; size=$(du -sm "$dir" | cut -f1)
  echo "== plain text: $size MB, $(find "$dir" -type f | wc -l) files, $THREADS threads =="
  cat $(find "$dir" -type f | head -2000) > /dev/null  # warm the page cache for both
  compare text "$dir" $MIJIAN
  peak_split $MIJIAN "$dir"
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

# A tree of TREE_FILES files (issue 15, bounded memory): small notes in
# UTF-8 and GBK over nested directories, one in a hundred larger, some
# marked or holding a term, and the repo's format fixtures copied in a few
# times (so worker processes run too).
bench_tree() {
  local dir="$BENCH_DIR/tree$TREE_FILES"
  if [ ! -f "$dir/.done" ]; then
    echo "generating a $TREE_FILES-file tree in $dir ..." >&2
    rm -rf "$dir"; mkdir -p "$dir"
    for c in 1 2 3; do cp -r "$repo/fixtures/formats" "$dir/fixtures$c"; done
    local have; have=$(find "$dir" -type f | wc -l)
    python3 - "$dir/notes" $((TREE_FILES - have)) <<'PY'
import os, sys, random
d, n = sys.argv[1], int(sys.argv[2]); rng = random.Random(3)
words = "会议纪要 项目进度 the system report 数据 配置 server 机密 文件".split()
for i in range(n):
    sub = os.path.join(d, f"a{i % 40:02d}", f"b{(i // 40) % 25:02d}", f"c{(i // 1000) % 10}")
    os.makedirs(sub, exist_ok=True)
    k = rng.randint(5, 200) if i % 100 else rng.randint(2000, 40000)
    text = " ".join(rng.choice(words) for _ in range(k)) + f" {i}\n"
    if i % 997 == 5:
        text = "机密★5年\n" + text
    if i % 1009 == 7:
        text += "玄鸟柒号\n"
    data = text.encode("gbk") if i % 10 == 3 else text.encode()
    open(os.path.join(sub, f"note{i:06d}.txt"), "wb").write(data)
PY
    touch "$dir/.done"
  fi
  echo "== tree: $(find "$dir" -type f | wc -l) files, $(du -sm "$dir" | cut -f1) MB, $THREADS threads =="
  compare tree "$dir" $MIJIAN
  peak_split $MIJIAN "$dir"
  # The same number of files, each holding a term: every file is a
  # finding, and findings are kept until the scan ends (the report bound
  # applies after it), so this one shows what grows with the tree.
  local hits="$BENCH_DIR/hits$TREE_FILES"
  if [ ! -f "$hits/.done" ]; then
    rm -rf "$hits"
    python3 - "$hits" "$TREE_FILES" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    sub = os.path.join(d, f"a{i % 50:02d}", f"b{(i // 50) % 40:02d}")
    os.makedirs(sub, exist_ok=True)
    open(os.path.join(sub, f"n{i:06d}.txt"), "w").write(f"第{i}号 关于玄鸟柒号的说明\n")
PY
    touch "$hits/.done"
  fi
  echo "== tree, every file a finding: $TREE_FILES files =="
  measure mijian-hits $MIJIAN "$hits"
  peak_split $MIJIAN "$hits"
}

case $what in
  text) bench_text ;;
  tree) bench_tree ;;
  office) bench_office ;;
  rescan) bench_rescan ;;
  all) bench_text; bench_office; bench_rescan ;;
  hidden) bench_hidden ;;
  *) echo "usage: $0 [text|office|rescan|tree|all|hidden]" >&2; exit 2 ;;
esac
