#!/usr/bin/env python3
"""Generate the mixed office benchmark corpus (never committed).

usage: gen_office.py OUT_DIR [N_DOCS] [SEED]

docx (python-docx), xlsx (openpyxl), pptx (python-pptx) and pdf (reportlab,
STSong-Light CID font: Chinese text without ToUnicode, the government-PDF
case), each with real prose and, for docx/pptx/pdf, an embedded photo-like
image (incompressible noise), so the corpus looks like an office share:
most bytes are images that a text scanner need not decompress.
"""
import io
import os
import random
import sys

from docx import Document
from docx.shared import Inches
from openpyxl import Workbook
from pptx import Presentation
from pptx.util import Inches as PInches
from PIL import Image
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

out = sys.argv[1]
n_docs = int(sys.argv[2]) if len(sys.argv) > 2 else 200
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 11)
pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))

HANZI = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动"
    "同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自"
    "二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日"
)
TERMS = ["玄鸟柒号", "示例工程", "XN-07A型"]


def sentence():
    return "".join(rng.choice(HANZI) for _ in range(rng.randint(10, 40))) + "。"


def paragraphs(n, plant):
    ps = ["".join(sentence() for _ in range(rng.randint(2, 6))) for _ in range(n)]
    if plant:
        i = rng.randrange(len(ps))
        ps[i] = ps[i][:10] + rng.choice(TERMS) + ps[i][10:]
    return ps


def image_bytes(w=640, h=480):
    img = Image.frombytes("RGB", (w, h), rng.randbytes(w * h * 3))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


IMAGES = [image_bytes() for _ in range(8)]


def make_docx(path, plant):
    d = Document()
    d.add_heading("关于" + sentence()[:8] + "的报告", 1)
    for p in paragraphs(rng.randint(20, 60), plant):
        d.add_paragraph(p)
    d.add_picture(io.BytesIO(rng.choice(IMAGES)), width=Inches(4))
    t = d.add_table(rows=8, cols=4)
    for row in t.rows:
        for c in row.cells:
            c.text = sentence()[:8]
    d.save(path)


def make_xlsx(path, plant):
    wb = Workbook()
    ws = wb.active
    for r in range(1, rng.randint(100, 400)):
        ws.append([r, sentence()[:10], rng.randint(0, 10_000), sentence()[:16]])
    if plant:
        ws.cell(row=rng.randint(2, 90), column=2, value=rng.choice(TERMS))
    wb.save(path)


def make_pptx(path, plant):
    prs = Presentation()
    ps = paragraphs(rng.randint(8, 20), plant)
    for i, p in enumerate(ps):
        s = prs.slides.add_slide(prs.slide_layouts[1])
        s.shapes.title.text = p[:12]
        s.placeholders[1].text = p
        if i % 4 == 0:
            s.shapes.add_picture(io.BytesIO(rng.choice(IMAGES)), PInches(5), PInches(4), width=PInches(3))
    prs.save(path)


def make_pdf(path, plant):
    c = canvas.Canvas(path, pagesize=A4)
    img_path = path + ".jpg"
    with open(img_path, "wb") as f:
        f.write(rng.choice(IMAGES))
    for page, p in enumerate(paragraphs(rng.randint(10, 30), plant)):
        if page % 5 == 0:
            if page:
                c.showPage()
            y = 800
            c.setFont("STSong-Light", 11)
            if page == 0:
                c.drawImage(img_path, 300, 600, width=240, height=180)
        for k in range(0, len(p), 38):
            c.drawString(50, y, p[k:k + 38])
            y -= 16
            if y < 60:
                c.showPage()
                c.setFont("STSong-Light", 11)
                y = 800
    c.save()
    os.remove(img_path)


MAKERS = [("docx", make_docx), ("xlsx", make_xlsx), ("pptx", make_pptx), ("pdf", make_pdf)]
os.makedirs(out, exist_ok=True)
for i in range(n_docs):
    ext, make = MAKERS[i % 4]
    d = os.path.join(out, f"unit{i % 7}")
    os.makedirs(d, exist_ok=True)
    make(os.path.join(d, f"file{i:05d}.{ext}"), plant=(i % 10 == 3))
total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(out) for f in fs)
print(f"{n_docs} documents, {total / 1e6:.1f} MB", file=sys.stderr)
