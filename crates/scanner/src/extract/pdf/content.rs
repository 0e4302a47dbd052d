//! Content-stream interpreter: text operators to lines of text.
//!
//! Only the state that decides what text is shown and where lines break is
//! tracked (CTM, text and line matrices, font, size, leading; ISO 32000-1
//! §9.4). A new line starts when the origin of a shown string moves across
//! the writing direction by more than half the font size; strings on one
//! line are joined without separators (CJK text has no spaces). Form
//! XObjects are followed with bounded depth and cycle detection; images,
//! including inline ones, are skipped without decoding.

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
}

/// The text of one page being assembled.
#[derive(Default)]
pub(crate) struct PageText {
    pub(crate) text: String,
    /// Device-space origin and font size of the last string.
    last: Option<(f64, f64, f64)>,
    /// Per line: its height on the page (larger is higher, measured across
    /// the writing direction) and its byte offset in `text`.
    lines: Vec<(f64, usize)>,
}

impl PageText {
    /// The lines top to bottom (stable for equal heights): the head of a
    /// page whose producer drew the header or marking after the body.
    pub(crate) fn top_down(&self) -> String {
        let mut order: Vec<usize> = (0..self.lines.len()).collect();
        order.sort_by(|&i, &j| self.lines[j].0.total_cmp(&self.lines[i].0));
        let mut out = String::with_capacity(self.text.len());
        for i in order {
            let start = self.lines[i].1;
            let end = self.lines.get(i + 1).map_or(self.text.len(), |l| l.1);
            let line = self
                .text
                .get(start..end)
                .unwrap_or("")
                .trim_end_matches('\n');
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(line);
        }
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
        let gs = GState {
            ctm: M::ID,
            font: None,
            size: 0.0,
            leading: 0.0,
        };
        self.run(content, resources, gs, out, ctx, 0)
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
                    if let Some(Obj::Str(s)) = ops.last() {
                        scratch.clear();
                        let font = gs.font.clone().unwrap_or_else(|| Rc::new(Font::fallback()));
                        font.decode(s, &mut scratch, &mut self.stats);
                        self.emit(&scratch, &gs, &font, &tm, out);
                    }
                }
                b"TJ" => {
                    if let Some(Obj::Array(items)) = ops.last() {
                        scratch.clear();
                        let font = gs.font.clone().unwrap_or_else(|| Rc::new(Font::fallback()));
                        for it in items {
                            match it {
                                Obj::Str(s) => font.decode(s, &mut scratch, &mut self.stats),
                                // A wide gap in a Latin line is a word space;
                                // CJK text has none, so its gaps are ignored.
                                other
                                    if !font.is_composite()
                                        && other.as_f64().is_some_and(|g| g < -200.0)
                                        && !scratch.is_empty()
                                        && !scratch.ends_with(' ') =>
                                {
                                    scratch.push(' ');
                                }
                                _ => {}
                            }
                        }
                        self.emit(&scratch, &gs, &font, &tm, out);
                    }
                }
                b"Do" => {
                    if let Some(Obj::Name(name)) = ops.last() {
                        let name = name.clone();
                        self.form(resources, &name, &gs, out, ctx, depth)?;
                    }
                }
                b"BI" => skip_inline_image(&mut lx),
                _ => {}
            }
            ops.clear();
        }
        Ok(())
    }

    fn emit(&mut self, text: &str, gs: &GState, font: &Font, tm: &M, out: &mut PageText) {
        if text.is_empty() || self.truncated {
            return;
        }
        let trm = tm.mul(&gs.ctm);
        let [a, b, c, d, e, f] = trm.0;
        let (x, y) = (e, f);
        let vertical = font.vertical;
        let size = gs.size.abs() * if vertical { a.hypot(b) } else { c.hypot(d) };
        let len = a.hypot(b);
        let (ux, uy) = if len > 0.0 {
            (a / len, b / len)
        } else {
            (1.0, 0.0)
        };
        let new_line = match out.last {
            None => true,
            Some((lx, ly, lsize)) => {
                let (dx, dy) = (x - lx, y - ly);
                let shift = if vertical {
                    (dx * ux + dy * uy).abs()
                } else {
                    (dx * uy - dy * ux).abs()
                };
                let reference = if size > 0.0 { size } else { lsize };
                let threshold = 0.5 * reference.max(0.01);
                shift > threshold || !shift.is_finite()
            }
        };
        if new_line {
            if out.last.is_some() {
                out.text.push('\n');
            }
            // Height across the writing direction: y for upright text.
            let height = y * ux - x * uy;
            out.lines.push((
                if height.is_finite() { height } else { 0.0 },
                out.text.len(),
            ));
        }
        out.last = Some((x, y, size));
        let n = text.chars().count();
        if self.chars + n > self.max_chars {
            let keep = self.max_chars.saturating_sub(self.chars);
            out.text.extend(text.chars().take(keep));
            self.chars = self.max_chars;
            self.truncated = true;
            return;
        }
        self.chars += n;
        out.text.push_str(text);
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
        let mut gs = GState {
            ctm: M::ID,
            font: None,
            size: 0.0,
            leading: 0.0,
        };
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
