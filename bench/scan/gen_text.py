#!/usr/bin/env python3
"""Generate the plain-text benchmark corpus (never committed).

usage: gen_text.py OUT_DIR [SIZE_MB] [SEED]

Many files of mixed Chinese + ASCII prose, code and CSV, about 10% GBK
encoded, sizes from 1 KB to 2 MB (most around 100-300 KB), spread over
nested directories (some hidden). About 1 file in 50 contains one of the
example rule terms (玄鸟柒号, 示例工程, XN-07A型, sometimes split by a line
break or written full-width), so both tools have real hits to count.
"""
import os
import random
import sys

out = sys.argv[1]
size_mb = int(sys.argv[2]) if len(sys.argv) > 2 else 1100
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 7)

# Common GB2312 characters (all encodable in GBK), plus punctuation.
HANZI = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动"
    "同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自"
    "二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日"
    "那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变"
    "条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总"
    "次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指"
    "几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器"
    "压志世金增争济阶油思术极交受联什认六共权收证改清美再采转更单风切打白教速花带安场"
    "身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温"
    "传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断"
)
PUNCT = "，。、；：？！“”（）"
ASCII_WORDS = (
    "the of and to in is for on that with system data report file config server "
    "network version module update build test user admin password device index "
    "value error status request response client service policy audit log"
).split()
TERMS = ["玄鸟柒号", "示例工程", "XN-07A型"]


def zh_sentence():
    n = rng.randint(8, 40)
    s = "".join(rng.choice(HANZI) for _ in range(n))
    return s + rng.choice(PUNCT[:2])


def en_sentence():
    return " ".join(rng.choice(ASCII_WORDS) for _ in range(rng.randint(5, 15))) + ". "


def paragraph():
    parts = []
    for _ in range(rng.randint(3, 10)):
        parts.append(zh_sentence() if rng.random() < 0.7 else en_sentence())
    return "".join(parts) + "\n"


def code_block():
    lines = []
    for i in range(rng.randint(5, 30)):
        lines.append(f"    let v{i} = compute(\"{rng.choice(ASCII_WORDS)}\", {rng.randint(0, 9999)}); // {zh_sentence()}")
    return "fn main() {\n" + "\n".join(lines) + "\n}\n"


def csv_block():
    rows = ["编号,名称,数量,备注"]
    for i in range(rng.randint(10, 60)):
        rows.append(f"{i},{zh_sentence()[:6]},{rng.randint(1, 999)},{rng.choice(ASCII_WORDS)}")
    return "\n".join(rows) + "\n"


# A pool of text chunks reused with random offsets: generating 1 GB
# sentence by sentence in Python would take far longer than the benchmark.
pool = "".join(
    (paragraph() if r < 0.8 else code_block() if r < 0.9 else csv_block())
    for r in (rng.random() for _ in range(6000))
)
print(f"pool: {len(pool)} chars", file=sys.stderr)


def body(nchars):
    start = rng.randrange(0, max(1, len(pool) - nchars))
    text = pool[start:start + nchars]
    while len(text) < nchars:
        text += pool[: nchars - len(text)]
    return text


os.makedirs(out, exist_ok=True)
total = 0
target = size_mb * 1024 * 1024
i = 0
hits = 0
while total < target:
    d = os.path.join(out, f"dept{i % 13:02d}", f"proj{(i // 13) % 17:02d}")
    if i % 37 == 0:
        d = os.path.join(d, ".archive")
    os.makedirs(d, exist_ok=True)
    r = rng.random()
    nbytes = (rng.randint(1, 16) if r < 0.2 else rng.randint(60, 400) if r < 0.97 else rng.randint(800, 2048)) * 1024
    text = body(nbytes // 3)  # ~3 bytes per char in UTF-8 for Chinese
    if i % 50 == 7:
        term = rng.choice(TERMS)
        form = rng.random()
        if form < 0.3 and len(term) > 2:
            term = term[:2] + "\n" + term[2:]
        elif form < 0.5:
            term = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in term)
        pos = rng.randrange(0, len(text))
        text = text[:pos] + term + text[pos:]
        hits += 1
    ext = rng.choice([".txt", ".txt", ".md", ".csv", ".rs", ".log"])
    path = os.path.join(d, f"doc{i:06d}{ext}")
    if i % 10 == 3:
        data = text.encode("gbk", errors="replace")
    else:
        data = text.encode("utf-8")
    with open(path, "wb") as f:
        f.write(data)
    total += len(data)
    i += 1
print(f"{i} files, {total / 1e6:.0f} MB, {hits} planted hits", file=sys.stderr)
