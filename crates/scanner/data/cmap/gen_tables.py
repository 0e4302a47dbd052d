#!/usr/bin/env python3
"""Generate the PDF extractor's embedded tables (committed output).

    python3 crates/scanner/data/cmap/gen_tables.py

Inputs (Debian: poppler-data, python3-reportlab):
  /usr/share/poppler/cMap/Adobe-GB1/Adobe-GB1-UCS2    CID -> Unicode, Adobe BSD-3-Clause
  /usr/share/poppler/cMap/Adobe-CNS1/Adobe-CNS1-UCS2
  reportlab's glyph-name tables of the PDF standard encodings
Outputs:
  Adobe-GB1.bin, Adobe-CNS1.bin: little-endian u32 per CID (0 = unmapped)
  ../../src/extract/pdf/glyphs.rs: glyph name -> Unicode for simple fonts
It also checks that the shortcut the extractor takes (a GBK-EUC-H / UniGB-UCS2-H
code decoded directly instead of code -> CID -> Unicode) agrees with Adobe's
CMaps, and prints the number of disagreements.
(poppler-data's cidToUnicode/ files are GPL: deliberately not used.)
"""
import os
import re
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CMAP = "/usr/share/poppler/cMap"
TOK = re.compile(rb"<([0-9A-Fa-f]+)>|\[|\]|(\d+)|(begin\w+|end\w+)")


def parse(path):
    """Return ({code: value}, kind) for a bf* (value = str) or cid* (int) CMap."""
    data = open(path, "rb").read()
    out = {}
    for block in re.finditer(rb"begin(bfchar|bfrange|cidchar|cidrange)(.*?)end\1", data, re.S):
        kind, body = block.group(1), block.group(2)
        toks = []
        for m in TOK.finditer(body):
            if m.group(1) is not None:
                toks.append(("hex", bytes.fromhex(m.group(1).decode())))
            elif m.group(2) is not None:
                toks.append(("int", int(m.group(2))))
            else:
                toks.append(("p", m.group(0)))
        i = 0
        while i < len(toks):
            if kind in (b"bfchar", b"cidchar"):
                src, dst = toks[i], toks[i + 1]
                code = int.from_bytes(src[1], "big")
                out[code] = dst[1] if dst[0] == "int" else dst[1].decode("utf-16-be")
                i += 2
            else:
                lo = int.from_bytes(toks[i][1], "big")
                hi = int.from_bytes(toks[i + 1][1], "big")
                dst = toks[i + 2]
                if dst == ("p", b"["):
                    j = i + 3
                    k = 0
                    while toks[j] != ("p", b"]"):
                        out[lo + k] = toks[j][1].decode("utf-16-be")
                        j += 1
                        k += 1
                    i = j + 1
                    continue
                for k in range(hi - lo + 1):
                    if dst[0] == "int":
                        out[lo + k] = dst[1] + k
                    else:
                        b = bytearray(dst[1])
                        v = int.from_bytes(b[-2:], "big") + k
                        b[-2:] = v.to_bytes(2, "big")
                        out[lo + k] = bytes(b).decode("utf-16-be", "replace")
                i += 3
    return out


def table(ordering):
    m = parse(f"{CMAP}/Adobe-{ordering}/Adobe-{ordering}-UCS2")
    n = max(m) + 1
    words = [0] * n
    for cid, s in m.items():
        if s and s[0] != "\ufffd":
            words[cid] = ord(s[0])
    with open(os.path.join(HERE, f"Adobe-{ordering}.bin"), "wb") as f:
        f.write(struct.pack(f"<{n}I", *words))
    print(f"Adobe-{ordering}: {n} CIDs, {sum(1 for w in words if w)} mapped")
    return words


def check(words):
    gbk = parse(f"{CMAP}/Adobe-GB1/GBK-EUC-H")
    bad = 0
    for code, cid in gbk.items():
        raw = code.to_bytes(2 if code > 0xFF else 1, "big")
        try:
            direct = raw.decode("gbk")
        except UnicodeDecodeError:
            direct = None
        via = chr(words[cid]) if cid < len(words) and words[cid] else None
        if direct != via:
            bad += 1
    print(f"GBK-EUC-H: {len(gbk)} codes, {bad} differ between direct GBK decoding and CID->Unicode")
    ucs = parse(f"{CMAP}/Adobe-GB1/UniGB-UCS2-H")
    bad = sum(1 for code, cid in ucs.items() if cid < len(words) and words[cid] and words[cid] != code)
    print(f"UniGB-UCS2-H: {len(ucs)} codes, {bad} whose CID maps back to another character")


def glyphs():
    from reportlab.pdfbase import _fontdata

    names = {}
    for enc, codec in (("WinAnsiEncoding", "cp1252"), ("MacRomanEncoding", "mac_roman"), ("StandardEncoding", None)):
        for code, name in enumerate(_fontdata.encodings[enc]):
            if not name or name in names:
                continue
            if codec:
                try:
                    names[name] = bytes([code]).decode(codec)
                except UnicodeDecodeError:
                    pass
    extra = {"quoteright": "\u2019", "quoteleft": "\u2018", "fi": "\ufb01", "fl": "\ufb02", "ff": "\ufb00",
             "ffi": "\ufb03", "ffl": "\ufb04", "minus": "\u2212", "nbspace": "\u00a0", "sfthyphen": "\u00ad",
             "periodcentered": "\u00b7", "middot": "\u00b7", "Euro": "\u20ac", "dotlessi": "\u0131",
             "fraction": "\u2044", "quotesinglbase": "\u201a", "quotedblbase": "\u201e",
             "guilsinglleft": "\u2039", "guilsinglright": "\u203a", "endash": "\u2013", "emdash": "\u2014",
             "bullet": "\u2022", "ellipsis": "\u2026", "trademark": "\u2122", "dagger": "\u2020",
             "daggerdbl": "\u2021", "perthousand": "\u2030", "florin": "\u0192", "circumflex": "\u02c6",
             "tilde": "\u02dc", "Lslash": "\u0141", "lslash": "\u0142", "Scaron": "\u0160", "scaron": "\u0161",
             "Zcaron": "\u017d", "zcaron": "\u017e", "OE": "\u0152", "oe": "\u0153", "Ydieresis": "\u0178",
             "breve": "\u02d8", "dotaccent": "\u02d9", "ring": "\u02da", "ogonek": "\u02db",
             "hungarumlaut": "\u02dd", "caron": "\u02c7", "space": " "}
    for k, v in extra.items():
        names.setdefault(k, v)
    names = {k: v for k, v in names.items() if len(v) == 1 and v not in ("\x00",)}
    rows = "".join(f"    ({k!r}, '\\u{{{ord(v):x}}}'),\n".replace("'", '"', 2) for k, v in sorted(names.items()))
    src = (
        "//! Glyph names → Unicode for simple fonts' `/Differences` (generated by\n"
        "//! `crates/scanner/data/cmap/gen_tables.py`; do not edit): the names of the\n"
        "//! PDF standard Latin encodings, a small subset of the Adobe Glyph List.\n\n"
        "/// Sorted by name for binary search.\n"
        f"pub(crate) static GLYPHS: [(&str, char); {len(names)}] = [\n{rows}];\n"
    )
    path = os.path.join(HERE, "../../src/extract/pdf/glyphs.rs")
    with open(path, "w") as f:
        f.write(src)
    print(f"glyphs.rs: {len(names)} names")


if __name__ == "__main__":
    gb1 = table("GB1")
    table("CNS1")
    check(gb1)
    glyphs()
