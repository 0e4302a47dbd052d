//! Content-stream interpreter: text operators to lines of text, in reading
//! order by position.
//!
//! Only the state that decides what text is shown and where it goes is
//! tracked (CTM, text and line matrices, font, size, leading, character and
//! word spacing, horizontal scaling; ISO 32000-1 §9.4). Each shown string
//! becomes a run placed on the page; at the end of the page runs are sorted
//! into lines — by position across the writing direction (top to bottom for
//! upright text, right to left for vertical columns, within half the font
//! size), then along it — so text a producer draws glyph by glyph in
//! reverse order, positions per glyph (`Td`/`Tm` per glyph, kerned `TJ`
//! arrays) or draws lines out of order reads as a person reads it, and the
//! page's topmost lines come first (the head: GB/T 9704 markings).
//! Strings drawn one after another without a new position are placed by
//! their glyph widths (estimated where the font gives none). Strings on one
//! line are joined without separators (CJK text has no spaces); a gap wider
//! than a word space in a Latin font, or wider than an em in any font,
//! becomes one space. Form XObjects are followed with bounded depth and
//! cycle detection; images, including inline ones, are skipped without
//! decoding.

use std::collections::HashMap;
use std::rc::Rc;

use memchr::memmem;

use super::file::Pdf;
use super::font::{Font, Stats};
use super::syntax::{Dict, Lexer, Obj, Tok, is_ws};
use crate::extract::{Ctx, ExtractError};

/// Deepest Form XObject nesting followed.
const MAX_FORM_DEPTH: u32 = 16;
/// Deepest `q` nesting kept (more `q`s are counted but not stored).
const MAX_GSTATE_STACK: usize = 256;
/// Operands kept per operator (more is garbage).
const MAX_OPERANDS: usize = 64;

/// A 2-D affine matrix `[a b c d e f]` (row-vector convention of PDF).
#[derive(Debug, Clone, Copy, PartialEq)]
struct M([f64; 6]);

impl M {
    const ID: M = M([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);

    /// `self × other`.
    fn mul(&self, o: &M) -> M {
        let [a, b, c, d, e, f] = self.0;
        let [oa, ob, oc, od, oe, of] = o.0;
        M([
            a * oa + b * oc,
            a * ob + b * od,
            c * oa + d * oc,
            c * ob + d * od,
            e * oa + f * oc + oe,
            e * ob + f * od + of,
        ])
    }

    fn from_operands(ops: &[Obj]) -> Option<M> {
        if ops.len() < 6 {
            return None;
        }
        let mut v = [0.0; 6];
        for (slot, o) in v.iter_mut().zip(&ops[ops.len() - 6..]) {
            *slot = o.as_f64()?;
        }
        Some(M(v))
    }

    fn translate(tx: f64, ty: f64) -> M {
        M([1.0, 0.0, 0.0, 1.0, tx, ty])
    }
}

#[derive(Clone)]
struct GState {
    ctm: M,
    font: Option<Rc<Font>>,
    size: f64,
    leading: f64,
    /// `Tc`, `Tw` and `Tz` (as a factor).
    char_spacing: f64,
    word_spacing: f64,
    hscale: f64,
}

impl GState {
    fn new(ctm: M) -> GState {
        GState {
            ctm,
            font: None,
            size: 0.0,
            leading: 0.0,
            char_spacing: 0.0,
            word_spacing: 0.0,
            hscale: 1.0,
        }
    }
}

/// Most runs kept per page; past it, strings join the last run in drawing
/// order (a page of single glyphs each drawn apart from the last).
const MAX_RUNS: usize = 1 << 18;

/// One string shown on a page (or several drawn one after another).
struct Run {
    /// Writing direction: angle in whole degrees, times two, plus one when
    /// vertical. Runs of one direction are ordered among themselves.
    dir: i32,
    /// Position across the writing direction: larger is read first (a
    /// higher line; a column further right in vertical writing).
    line: f64,
    /// Start and (estimated) end along the writing direction.
    start: f64,
    end: f64,
    /// Font size on the page.
    size: f64,
    /// Drawn in a simple (Latin) font: small gaps are word spaces.
    latin: bool,
    /// Byte range of its text in `PageText::buf`.
    from: usize,
    to: usize,
}

/// The text of one page being assembled: runs placed on the page.
#[derive(Default)]
pub(crate) struct PageText {
    buf: String,
    runs: Vec<Run>,
}

impl PageText {
    /// Place `text` at a position; it continues the last run when it
    /// starts where that one ended on the same baseline.
    fn push(&mut self, text: &str, mut run: Run) {
        let clean = |v: f64| if v.is_finite() { v } else { 0.0 };
        run.line = clean(run.line);
        run.start = clean(run.start);
        run.end = clean(run.end).max(run.start);
        run.size = clean(run.size).abs();
        let tol = 0.15 * run.size.max(0.01);
        let full = self.runs.len() >= MAX_RUNS;
        // The text just drawn drawn again over itself (fake bold, shadow):
        // read once.
        if let Some(last) = self.runs.last()
            && last.dir == run.dir
            && (last.line - run.line).abs() <= tol
            && (run.end - last.end).abs() <= 2.0 * tol
            && self
                .buf
                .get(last.from..last.to)
                .is_some_and(|t| t.ends_with(text))
        {
            return;
        }
        if let Some(last) = self.runs.last_mut()
            && last.to == self.buf.len()
            && (full
                || (last.dir == run.dir
                    && (last.line - run.line).abs() <= tol
                    && (run.start - last.end).abs() <= tol))
        {
            self.buf.push_str(text);
            last.to = self.buf.len();
            last.end = last.end.max(run.end);
            return;
        }
        run.from = self.buf.len();
        self.buf.push_str(text);
        run.to = self.buf.len();
        self.runs.push(run);
    }

    /// The page's text in reading order: lines top to bottom (columns
    /// right to left in vertical writing), each line's runs in order along
    /// it; the dominant writing direction first, the others after it.
    pub(crate) fn finish(self) -> String {
        let runs = &self.runs;
        // Directions by amount of text, then by first appearance.
        let mut totals: HashMap<i32, (usize, usize)> = HashMap::new();
        for (i, r) in runs.iter().enumerate() {
            totals.entry(r.dir).or_insert((0, i)).0 += r.to - r.from;
        }
        let mut dirs: Vec<(i32, usize, usize)> = totals
            .into_iter()
            .map(|(d, (n, first))| (d, n, first))
            .collect();
        dirs.sort_by(|x, y| y.1.cmp(&x.1).then(x.2.cmp(&y.2)));
        let by_dir: HashMap<i32, usize> = dirs.iter().enumerate().map(|(k, d)| (d.0, k)).collect();
        let ranks: Vec<usize> = runs
            .iter()
            .map(|r| by_dir.get(&r.dir).copied().unwrap_or(0))
            .collect();
        let mut order: Vec<usize> = (0..runs.len()).collect();
        order.sort_by(|&i, &j| {
            ranks[i]
                .cmp(&ranks[j])
                .then(runs[j].line.total_cmp(&runs[i].line))
                .then(i.cmp(&j))
        });
        let mut out = String::with_capacity(self.buf.len() + runs.len());
        let mut line: Vec<usize> = Vec::new();
        let flush = |line: &mut Vec<usize>, out: &mut String| {
            line.sort_by(|&i, &j| runs[i].start.total_cmp(&runs[j].start).then(i.cmp(&j)));
            let mut prev: Option<&Run> = None;
            for &i in line.iter() {
                let r = &runs[i];
                let text = self.buf.get(r.from..r.to).unwrap_or("");
                if let Some(p) = prev {
                    let p_text = self.buf.get(p.from..p.to).unwrap_or("");
                    let size = p.size.max(r.size).max(0.01);
                    // The same string drawn twice on itself (fake bold).
                    if p_text == text && (r.start - p.start).abs() < 0.3 * size {
                        continue;
                    }
                    let gap = r.start - p.end;
                    let word = if p.latin && r.latin { 0.15 } else { 1.0 };
                    if gap > word * size
                        && !p_text.ends_with(char::is_whitespace)
                        && !text.starts_with(char::is_whitespace)
                    {
                        out.push(' ');
                    }
                } else if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(text);
                prev = Some(r);
            }
            line.clear();
        };
        let mut reference: Option<(usize, f64, f64)> = None; // rank, line, size
        for &i in &order {
            let r = &runs[i];
            let k = ranks[i];
            if let Some((rk, rl, rs)) = reference
                && (rk != k || rl - r.line > 0.5 * rs.max(r.size).max(0.01))
            {
                flush(&mut line, &mut out);
                reference = None;
            }
            if reference.is_none() {
                reference = Some((k, r.line, r.size));
            }
            line.push(i);
        }
        flush(&mut line, &mut out);
        out
    }
}

/// Interpreter state shared by all pages of a document.
pub(crate) struct Interp<'p, 'a> {
    pdf: &'p Pdf<'a>,
    fonts: HashMap<u32, Rc<Font>>,
    forms: HashMap<u32, Rc<Vec<u8>>>,
    forms_active: Vec<u32>,
    pub(crate) stats: Stats,
    /// Characters emitted so far (all pages) and the cap.
    pub(crate) chars: usize,
    pub(crate) max_chars: usize,
    pub(crate) truncated: bool,
    /// A referenced object (content, form, font) is missing from the file.
    pub(crate) missing: bool,
    /// Images drawn (XObjects and inline), never decoded.
    pub(crate) images: u64,
}

impl<'p, 'a> Interp<'p, 'a> {
    pub(crate) fn new(pdf: &'p Pdf<'a>, max_chars: usize) -> Self {
        Interp {
            pdf,
            fonts: HashMap::new(),
            forms: HashMap::new(),
            forms_active: Vec::new(),
            stats: Stats::default(),
            chars: 0,
            max_chars,
            truncated: false,
            missing: false,
            images: 0,
        }
    }

    /// Interpret one page's content with its resources.
    pub(crate) fn page(
        &mut self,
        content: &[u8],
        resources: Option<&'p Dict>,
        out: &mut PageText,
        ctx: &mut Ctx,
    ) -> Result<(), ExtractError> {
        self.run(content, resources, GState::new(M::ID), out, ctx, 0)
    }

    fn font(
        &mut self,
        resources: Option<&'p Dict>,
        name: &[u8],
        ctx: &mut Ctx,
    ) -> Result<Rc<Font>, ExtractError> {
        let pdf = self.pdf;
        let entry = resources
            .and_then(|r| pdf.dict(r.get(b"Font").unwrap_or(&Obj::Null)))
            .and_then(|fonts| fonts.get(name));
        let Some(entry) = entry else {
            return Ok(Rc::new(Font::fallback()));
        };
        let key = match entry {
            Obj::Ref(n, _) => Some(*n),
            _ => None,
        };
        if let Some(f) = key.and_then(|k| self.fonts.get(&k)) {
            return Ok(f.clone());
        }
        if !pdf.exists(entry) {
            self.missing = true;
        }
        let font = Rc::new(match pdf.dict(entry) {
            Some(d) => Font::load(pdf, d, ctx)?,
            None => Font::fallback(),
        });
        if let Some(k) = key {
            self.fonts.insert(k, font.clone());
        }
        Ok(font)
    }

    fn run(
        &mut self,
        content: &[u8],
        resources: Option<&'p Dict>,
        mut gs: GState,
        out: &mut PageText,
        ctx: &mut Ctx,
        depth: u32,
    ) -> Result<(), ExtractError> {
        let mut stack: Vec<GState> = Vec::new();
        let mut extra_q = 0usize;
        let mut tm = M::ID;
        let mut lm = M::ID;
        let mut ops: Vec<Obj> = Vec::new();
        let mut lx = Lexer::new(content, 0);
        let mut scratch = String::new();
        let mut n_ops = 0u32;
        while let Some(tok) = lx.next_tok() {
            let op = match tok {
                Tok::Kw(k) if !matches!(k, b"true" | b"false" | b"null") => k,
                t => {
                    match lx.obj_from(t, false, 0) {
                        Ok(o) if ops.len() < MAX_OPERANDS => ops.push(o),
                        _ => ops.clear(),
                    }
                    continue;
                }
            };
            // One element per 16 operators: a 1000-page text PDF runs to
            // millions of operators and must fit the element budget.
            n_ops = n_ops.wrapping_add(1);
            if n_ops.is_multiple_of(16) {
                ctx.tick(1)?;
            }
            let num = |i: usize| -> Option<f64> {
                ops.len()
                    .checked_sub(i)
                    .and_then(|j| ops.get(j))
                    .and_then(Obj::as_f64)
            };
            match op {
                b"q" => {
                    if stack.len() < MAX_GSTATE_STACK {
                        stack.push(gs.clone());
                    } else {
                        extra_q += 1;
                    }
                }
                b"Q" => {
                    if extra_q > 0 {
                        extra_q -= 1;
                    } else if let Some(s) = stack.pop() {
                        gs = s;
                    }
                }
                b"cm" => {
                    if let Some(m) = M::from_operands(&ops) {
                        gs.ctm = m.mul(&gs.ctm);
                    }
                }
                b"BT" => {
                    tm = M::ID;
                    lm = M::ID;
                }
                b"Tf" => {
                    if let (Some(Obj::Name(name)), Some(size)) =
                        (ops.len().checked_sub(2).and_then(|i| ops.get(i)), num(1))
                    {
                        let name = name.clone();
                        gs.font = Some(self.font(resources, &name, ctx)?);
                        gs.size = size;
                    }
                }
                b"TL" => {
                    if let Some(l) = num(1) {
                        gs.leading = l;
                    }
                }
                b"Tc" => {
                    if let Some(v) = num(1) {
                        gs.char_spacing = v;
                    }
                }
                b"Tw" => {
                    if let Some(v) = num(1) {
                        gs.word_spacing = v;
                    }
                }
                b"Tz" => {
                    if let Some(v) = num(1) {
                        gs.hscale = v / 100.0;
                    }
                }
                b"Td" | b"TD" => {
                    if let (Some(tx), Some(ty)) = (num(2), num(1)) {
                        if op == b"TD" {
                            gs.leading = -ty;
                        }
                        lm = M::translate(tx, ty).mul(&lm);
                        tm = lm;
                    }
                }
                b"Tm" => {
                    if let Some(m) = M::from_operands(&ops) {
                        lm = m;
                        tm = m;
                    }
                }
                b"T*" => {
                    lm = M::translate(0.0, -gs.leading).mul(&lm);
                    tm = lm;
                }
                b"Tj" | b"'" | b"\"" => {
                    if op != b"Tj" {
                        lm = M::translate(0.0, -gs.leading).mul(&lm);
                        tm = lm;
                    }
                    if op == b"\""
                        && let (Some(aw), Some(ac)) = (num(3), num(2))
                    {
                        gs.word_spacing = aw;
                        gs.char_spacing = ac;
                    }
                    if let Some(Obj::Str(s)) = ops.last() {
                        let font = gs.font.clone().unwrap_or_else(|| Rc::new(Font::fallback()));
                        self.show(s, &gs, &font, &mut tm, &mut scratch, out);
                    }
                }
                b"TJ" => {
                    if let Some(Obj::Array(items)) = ops.last() {
                        let font = gs.font.clone().unwrap_or_else(|| Rc::new(Font::fallback()));
                        for it in items {
                            match it {
                                Obj::Str(s) => self.show(s, &gs, &font, &mut tm, &mut scratch, out),
                                other => {
                                    if let Some(adj) = other.as_f64() {
                                        let d = -adj / 1000.0 * gs.size;
                                        tm = if font.vertical {
                                            M::translate(0.0, d)
                                        } else {
                                            M::translate(d * gs.hscale, 0.0)
                                        }
                                        .mul(&tm);
                                    }
                                }
                            }
                        }
                    }
                }
                b"Do" => {
                    if let Some(Obj::Name(name)) = ops.last() {
                        let name = name.clone();
                        self.form(resources, &name, &gs, out, ctx, depth)?;
                    }
                }
                b"BI" => {
                    self.images += 1;
                    skip_inline_image(&mut lx)
                }
                _ => {}
            }
            ops.clear();
        }
        Ok(())
    }

    /// Show string `s` at the text matrix `tm` and move `tm` past it.
    fn show(
        &mut self,
        s: &[u8],
        gs: &GState,
        font: &Font,
        tm: &mut M,
        scratch: &mut String,
        out: &mut PageText,
    ) {
        scratch.clear();
        font.decode(s, scratch, &mut self.stats);
        let (width, codes, spaces) = font.advance(s);
        let spacing = codes as f64 * gs.char_spacing + spaces as f64 * gs.word_spacing;
        let advance = width * gs.size + spacing;
        let next = if font.vertical {
            M::translate(0.0, -advance)
        } else {
            M::translate(advance * gs.hscale, 0.0)
        }
        .mul(tm);
        let trm = tm.mul(&gs.ctm);
        let end = next.mul(&gs.ctm);
        *tm = next;
        if scratch.is_empty() || self.truncated {
            return;
        }
        let [a, b, c, d, x, y] = trm.0;
        let vertical = font.vertical;
        // Unit vector of the writing direction on the page.
        let (dx, dy) = if vertical { (-c, -d) } else { (a, b) };
        let len = dx.hypot(dy);
        let (ux, uy) = if len > 0.0 && len.is_finite() {
            (dx / len, dy / len)
        } else {
            (1.0, 0.0)
        };
        let size = gs.size.abs() * if vertical { a.hypot(b) } else { c.hypot(d) };
        let along = |px: f64, py: f64| px * ux + py * uy;
        let angle = uy.atan2(ux).to_degrees().round();
        let dir = if angle.is_finite() { angle as i32 } else { 0 } * 2 + i32::from(vertical);
        let run = Run {
            dir,
            line: y * ux - x * uy,
            start: along(x, y),
            end: along(end.0[4], end.0[5]),
            size,
            latin: !font.is_composite(),
            from: 0,
            to: 0,
        };
        let n = scratch.chars().count();
        if self.chars + n > self.max_chars {
            let keep = self.max_chars.saturating_sub(self.chars);
            let cut: String = scratch.chars().take(keep).collect();
            out.push(&cut, run);
            self.chars = self.max_chars;
            self.truncated = true;
            return;
        }
        self.chars += n;
        out.push(scratch, run);
    }

    fn form(
        &mut self,
        resources: Option<&'p Dict>,
        name: &[u8],
        gs: &GState,
        out: &mut PageText,
        ctx: &mut Ctx,
        depth: u32,
    ) -> Result<(), ExtractError> {
        let pdf = self.pdf;
        let Some(entry) = resources
            .and_then(|r| pdf.dict(r.get(b"XObject").unwrap_or(&Obj::Null)))
            .and_then(|x| x.get(name))
        else {
            return Ok(());
        };
        self.run_form(entry, resources, gs, out, ctx, depth)
    }

    /// Show the text of an annotation's normal appearance (stamps, free
    /// text, filled form fields), placed at its rectangle.
    pub(crate) fn annotation(
        &mut self,
        annot: &'p Dict,
        resources: Option<&'p Dict>,
        out: &mut PageText,
        ctx: &mut Ctx,
    ) -> Result<(), ExtractError> {
        let pdf = self.pdf;
        if matches!(
            pdf.get(annot, b"Subtype").as_name(),
            Some(b"Link" | b"Popup")
        ) {
            return Ok(());
        }
        let Some(ap) = pdf.dict(annot.get(b"AP").unwrap_or(&Obj::Null)) else {
            return Ok(());
        };
        let Some(mut normal) = ap.get(b"N") else {
            return Ok(());
        };
        // A dictionary of appearance states: the current one is /AS.
        if pdf.stream(normal).is_none()
            && let Some(states) = pdf.resolve(normal).as_dict()
        {
            match annot
                .get(b"AS")
                .and_then(|s| pdf.resolve(s).as_name())
                .and_then(|s| states.get(s))
            {
                Some(s) => normal = s,
                None => return Ok(()),
            }
        }
        let mut gs = GState::new(M::ID);
        if let Some(rect) = pdf.get(annot, b"Rect").as_array()
            && rect.len() == 4
            && let (Some(x), Some(y)) = (rect[0].as_f64(), rect[1].as_f64())
        {
            gs.ctm = M::translate(x, y);
        }
        self.run_form(normal, resources, &gs, out, ctx, 0)
    }

    fn run_form(
        &mut self,
        entry: &'p Obj,
        resources: Option<&'p Dict>,
        gs: &GState,
        out: &mut PageText,
        ctx: &mut Ctx,
        depth: u32,
    ) -> Result<(), ExtractError> {
        let pdf = self.pdf;
        let Obj::Ref(num, _) = *entry else {
            return Ok(());
        };
        if depth >= MAX_FORM_DEPTH || self.forms_active.contains(&num) {
            return Ok(());
        }
        let Some((dict, span)) = pdf.stream(entry) else {
            if !pdf.exists(entry) {
                self.missing = true;
            }
            return Ok(());
        };
        if dict.is(b"Subtype", b"Image") {
            self.images += 1;
            return Ok(()); // images are never decoded
        }
        let content = match self.forms.get(&num) {
            Some(c) => c.clone(),
            None => {
                let Some(bytes) = pdf.decode(dict, span, ctx)? else {
                    return Ok(());
                };
                let c = Rc::new(bytes);
                self.forms.insert(num, c.clone());
                c
            }
        };
        let mut inner = gs.clone();
        if let Some(m) = pdf
            .get(dict, b"Matrix")
            .as_array()
            .and_then(M::from_operands)
        {
            inner.ctm = m.mul(&gs.ctm);
        }
        let res = pdf
            .dict(dict.get(b"Resources").unwrap_or(&Obj::Null))
            .or(resources);
        self.forms_active.push(num);
        let r = self.run(&content, res, inner, out, ctx, depth + 1);
        self.forms_active.pop();
        r
    }
}

/// Skip an inline image `BI … ID <binary> EI` without decoding it.
fn skip_inline_image(lx: &mut Lexer<'_>) {
    // Parameters up to `ID`.
    while let Some(tok) = lx.next_tok() {
        if let Tok::Kw(b"ID") = tok {
            break;
        }
    }
    let data = lx.data;
    let start = (lx.pos + 1).min(data.len());
    let mut from = start;
    while let Some(off) = memmem::find(&data[from..], b"EI") {
        let at = from + off;
        let before_ok = at > start && is_ws(data[at - 1]);
        let after_ok = data.get(at + 2).is_none_or(|&b| is_ws(b));
        if before_ok && after_ok {
            lx.pos = at + 2;
            return;
        }
        from = at + 2;
    }
    lx.pos = data.len();
}
