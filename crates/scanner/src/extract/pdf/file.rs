//! The PDF file layer: object table, trailer, references and stream filters.
//!
//! Objects are found by scanning the file for `N G obj` rather than by
//! trusting the cross-reference table: the scan costs one `memmem` pass,
//! recovers files whose xref is broken or truncated (the common damage), and
//! later definitions win as incremental updates require. Object streams
//! (PDF 1.5) are unpacked after the scan. Every decoded byte is charged to
//! [`Ctx`]; image filters (DCT, JPX, CCITT, JBIG2) are never decoded.

use std::collections::HashMap;
use std::io::Read;

use memchr::memmem;

use super::crypt::Crypt;
use super::syntax::{Dict, Lexer, Obj, Tok, is_delim, is_ws};
use crate::extract::{Ctx, ExtractError};

/// A stream's location in the file (decoded on demand).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// Object number and generation (the decryption key depends on them).
    num: u32,
    generation: u16,
}

#[derive(Debug)]
struct Entry {
    /// File offset of the definition (object-stream members: the offset of
    /// their container), used to let later definitions win.
    pos: usize,
    generation: u16,
    obj: Obj,
    stream: Option<Span>,
}

pub(crate) struct Pdf<'a> {
    pub(crate) data: &'a [u8],
    objs: HashMap<u32, Entry>,
    pub(crate) trailer: Dict,
    /// The file ends with `%%EOF` (not cut short).
    pub(crate) complete: bool,
    /// A stream runs to the end of the file without `endstream`.
    pub(crate) cut_stream: bool,
    /// Set for encrypted files that open with the empty user password.
    crypt: Option<Crypt>,
}

static NULL: Obj = Obj::Null;

/// Filters whose output is an image: never decoded.
fn is_image_filter(name: &[u8]) -> bool {
    matches!(
        name,
        b"DCTDecode" | b"DCT" | b"JPXDecode" | b"CCITTFaxDecode" | b"CCF" | b"JBIG2Decode"
    )
}

impl<'a> Pdf<'a> {
    pub(crate) fn parse(data: &'a [u8], ctx: &mut Ctx) -> Result<Pdf<'a>, ExtractError> {
        let tail = &data[data.len().saturating_sub(2048)..];
        let complete = memmem::rfind(tail, b"%%EOF").is_some();
        let mut pdf = Pdf {
            data,
            objs: HashMap::new(),
            trailer: Dict::default(),
            complete,
            cut_stream: false,
            crypt: None,
        };
        let mut trailers: Vec<(usize, Dict)> = Vec::new();
        pdf.scan_objects(ctx, &mut trailers)?;
        for pos in memmem::find_iter(data, b"trailer") {
            let mut lx = Lexer::new(data, pos + 7);
            if let Ok(Obj::Dict(d)) = lx.parse_obj(true)
                && (d.get(b"Root").is_some() || d.get(b"Size").is_some())
            {
                trailers.push((pos, d));
            }
        }
        // Merge trailers oldest first, so the last update's keys win.
        trailers.sort_by_key(|(p, _)| *p);
        for (_, d) in trailers {
            for (k, v) in d.0 {
                if matches!(k.as_slice(), b"Root" | b"Info" | b"Encrypt" | b"ID") {
                    pdf.trailer.0.retain(|(old, _)| *old != k);
                    pdf.trailer.0.push((k, v));
                }
            }
        }
        if let Some(enc) = pdf.trailer.get(b"Encrypt").cloned() {
            pdf.open_encrypted(&enc)?;
        }
        pdf.unpack_object_streams(ctx)?;
        Ok(pdf)
    }

    /// Find every `N G obj` and parse it; streams are skipped over.
    fn scan_objects(
        &mut self,
        ctx: &mut Ctx,
        trailers: &mut Vec<(usize, Dict)>,
    ) -> Result<(), ExtractError> {
        let data = self.data;
        let finder = memmem::Finder::new(b"obj");
        let end_finder = memmem::Finder::new(b"endstream");
        let mut pos = 0;
        while let Some(off) = finder.find(&data[pos..]) {
            let hit = pos + off;
            pos = hit + 3;
            if data
                .get(hit + 3)
                .is_some_and(|&b| !is_ws(b) && !is_delim(b))
            {
                continue;
            }
            let Some((num, generation)) = obj_header(data, hit) else {
                continue;
            };
            ctx.tick(1)?;
            let mut lx = Lexer::new(data, hit + 3);
            let Ok(obj) = lx.parse_obj(true) else {
                continue;
            };
            let after_obj = lx.pos;
            let mut stream = None;
            if let (Obj::Dict(d), Some(Tok::Kw(b"stream"))) = (&obj, lx.next_tok()) {
                let mut start = lx.pos;
                if data.get(start) == Some(&b'\r') {
                    start += 1;
                }
                if data.get(start) == Some(&b'\n') {
                    start += 1;
                }
                let declared = d
                    .get(b"Length")
                    .and_then(Obj::as_i64)
                    .and_then(|l| usize::try_from(l).ok());
                let end = declared
                    .and_then(|l| start.checked_add(l))
                    .filter(|&e| e <= data.len() && followed_by_endstream(data, e))
                    .or_else(|| {
                        end_finder
                            .find(&data[start.min(data.len())..])
                            .map(|o| trim_eol(data, start, start + o))
                    });
                match end {
                    Some(end) => {
                        stream = Some(Span {
                            start,
                            end,
                            num,
                            generation,
                        });
                        pos = end.max(pos);
                    }
                    None => {
                        // Stream cut off by truncation: keep what is there.
                        self.cut_stream = true;
                        stream = Some(Span {
                            start: start.min(data.len()),
                            end: data.len(),
                            num,
                            generation,
                        });
                        pos = data.len();
                    }
                }
            } else {
                pos = pos.max(after_obj);
            }
            if let Obj::Dict(d) = &obj
                && d.is(b"Type", b"XRef")
            {
                trailers.push((hit, d.clone()));
            }
            self.insert(num, generation, hit, obj, stream);
        }
        Ok(())
    }

    fn insert(&mut self, num: u32, generation: u16, pos: usize, obj: Obj, stream: Option<Span>) {
        match self.objs.get(&num) {
            Some(old) if old.pos > pos => {}
            _ => {
                self.objs.insert(
                    num,
                    Entry {
                        pos,
                        generation,
                        obj,
                        stream,
                    },
                );
            }
        }
    }

    /// Set up decryption with the empty user password, or refuse the file.
    fn open_encrypted(&mut self, enc: &Obj) -> Result<(), ExtractError> {
        let refuse = || ExtractError::Encrypted("PDF is encrypted with a user password".into());
        let enc_num = match enc {
            Obj::Ref(n, _) => Some(*n),
            _ => None,
        };
        let dict = self.dict(enc).cloned().ok_or_else(refuse)?;
        let id0 = match self.resolve(self.trailer.get(b"ID").unwrap_or(&NULL)) {
            Obj::Array(a) => match a.first().map(|o| self.resolve(o)) {
                Some(Obj::Str(s)) => s.clone(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        let crypt = Crypt::open(&dict, &id0).ok_or_else(refuse)?;
        for (num, e) in self.objs.iter_mut() {
            let is_xref = e.obj.as_dict().is_some_and(|d| d.is(b"Type", b"XRef"));
            if Some(*num) != enc_num && !is_xref {
                crypt.strings(&mut e.obj, *num, e.generation);
            }
        }
        self.crypt = Some(crypt);
        Ok(())
    }

    fn unpack_object_streams(&mut self, ctx: &mut Ctx) -> Result<(), ExtractError> {
        let mut containers: Vec<(usize, Dict, Span)> = self
            .objs
            .values()
            .filter_map(|e| match (&e.obj, e.stream) {
                (Obj::Dict(d), Some(s)) if d.is(b"Type", b"ObjStm") => Some((e.pos, d.clone(), s)),
                _ => None,
            })
            .collect();
        containers.sort_by_key(|c| c.0);
        for (pos, dict, span) in containers {
            let Some(bytes) = self.decode(&dict, span, ctx)? else {
                continue;
            };
            let n = dict
                .get(b"N")
                .and_then(Obj::as_i64)
                .unwrap_or(0)
                .clamp(0, 1 << 20) as usize;
            let first = dict.get(b"First").and_then(Obj::as_i64).unwrap_or(0).max(0) as usize;
            let mut header = Lexer::new(&bytes, 0);
            let mut members = Vec::new();
            for _ in 0..n {
                match (header.next_tok(), header.next_tok()) {
                    (Some(Tok::Int(num)), Some(Tok::Int(off))) if num >= 0 && off >= 0 => {
                        members.push((num as u32, off as usize));
                    }
                    _ => break,
                }
            }
            ctx.tick(members.len() as u64)?;
            for (num, off) in members {
                let at = first.saturating_add(off);
                if at >= bytes.len() {
                    continue;
                }
                if let Ok(obj) = Lexer::new(&bytes, at).parse_obj(true) {
                    // A direct definition later in the file (an update) wins.
                    self.insert(num, 0, pos, obj, None);
                }
            }
        }
        Ok(())
    }

    /// Follow references (bounded: `1 0 obj 1 0 R` loops).
    pub(crate) fn resolve<'o>(&'o self, mut obj: &'o Obj) -> &'o Obj {
        for _ in 0..16 {
            match obj {
                Obj::Ref(n, _) => match self.objs.get(n) {
                    Some(e) => obj = &e.obj,
                    None => return &NULL,
                },
                _ => return obj,
            }
        }
        &NULL
    }

    /// Whether a reference points at a defined object.
    pub(crate) fn exists(&self, obj: &Obj) -> bool {
        match obj {
            Obj::Ref(n, _) => self.objs.contains_key(n),
            _ => true,
        }
    }

    pub(crate) fn dict<'o>(&'o self, obj: &'o Obj) -> Option<&'o Dict> {
        self.resolve(obj).as_dict()
    }

    /// `dict[key]`, resolved.
    pub(crate) fn get<'o>(&'o self, dict: &'o Dict, key: &[u8]) -> &'o Obj {
        dict.get(key).map_or(&NULL, |o| self.resolve(o))
    }

    /// The stream a reference points to: its dictionary and raw span.
    pub(crate) fn stream(&self, obj: &Obj) -> Option<(&Dict, Span)> {
        let mut obj = obj;
        for _ in 0..16 {
            let Obj::Ref(n, _) = obj else { return None };
            let e = self.objs.get(n)?;
            match (&e.obj, e.stream) {
                (Obj::Dict(d), Some(s)) => return Some((d, s)),
                (next @ Obj::Ref(..), _) => obj = next,
                _ => return None,
            }
        }
        None
    }

    /// Objects in file order, for recovery when the page tree is lost.
    pub(crate) fn objects_in_file_order(&self) -> Vec<(u32, &Obj)> {
        let mut v: Vec<(usize, u32, &Obj)> =
            self.objs.iter().map(|(n, e)| (e.pos, *n, &e.obj)).collect();
        v.sort_by_key(|(p, n, _)| (*p, *n));
        v.into_iter().map(|(_, n, o)| (n, o)).collect()
    }

    /// Decode a stream through its filters. `Ok(None)`: an image or an
    /// unsupported filter, skipped. Limits are errors.
    pub(crate) fn decode(
        &self,
        dict: &Dict,
        span: Span,
        ctx: &mut Ctx,
    ) -> Result<Option<Vec<u8>>, ExtractError> {
        let raw = self.data.get(span.start..span.end).unwrap_or(&[]);
        let decrypted;
        let raw = match &self.crypt {
            Some(c) if !dict.is(b"Type", b"XRef") => {
                decrypted = c.stream(raw, span.num, span.generation);
                decrypted.as_slice()
            }
            _ => raw,
        };
        let filters: Vec<&[u8]> = match self.get(dict, b"Filter") {
            Obj::Name(n) => vec![n.as_slice()],
            Obj::Array(a) => a.iter().filter_map(|o| self.resolve(o).as_name()).collect(),
            _ => Vec::new(),
        };
        if filters.iter().any(|f| is_image_filter(f)) {
            return Ok(None);
        }
        let params: Vec<Option<&Dict>> = match self.get(dict, b"DecodeParms") {
            Obj::Dict(d) => vec![Some(d)],
            Obj::Array(a) => a.iter().map(|o| self.dict(o)).collect(),
            _ => Vec::new(),
        };
        if filters.is_empty() {
            charge(ctx, raw.len())?;
            return Ok(Some(raw.to_vec()));
        }
        let mut cur: Vec<u8> = Vec::new();
        for (i, f) in filters.iter().enumerate() {
            let input: &[u8] = if i == 0 { raw } else { &cur };
            let out = match *f {
                b"FlateDecode" | b"Fl" => inflate(input, ctx)?,
                b"LZWDecode" | b"LZW" => {
                    let early = params
                        .get(i)
                        .copied()
                        .flatten()
                        .and_then(|p| p.get(b"EarlyChange"))
                        .and_then(Obj::as_i64)
                        .unwrap_or(1);
                    lzw(input, early != 0, ctx)?
                }
                b"ASCIIHexDecode" | b"AHx" => {
                    let v = ascii_hex(input);
                    charge(ctx, v.len())?;
                    v
                }
                b"ASCII85Decode" | b"A85" => {
                    let v = ascii85(input);
                    charge(ctx, v.len())?;
                    v
                }
                b"RunLengthDecode" | b"RL" => run_length(input, ctx)?,
                _ => return Ok(None),
            };
            let pred = params
                .get(i)
                .copied()
                .flatten()
                .and_then(|p| p.get(b"Predictor"))
                .and_then(Obj::as_i64)
                .unwrap_or(1);
            cur = if pred >= 10 {
                let cols = params
                    .get(i)
                    .copied()
                    .flatten()
                    .and_then(|p| p.get(b"Columns"))
                    .and_then(Obj::as_i64)
                    .unwrap_or(1)
                    .clamp(1, 1 << 16) as usize;
                png_unpredict(&out, cols)
            } else {
                out
            };
        }
        Ok(Some(cur))
    }
}

/// Check that `hit` (the `obj` keyword) is preceded by `num gen ` and
/// return the object number.
fn obj_header(data: &[u8], hit: usize) -> Option<(u32, u16)> {
    let mut i = hit;
    let ws = |i: &mut usize| {
        let s = *i;
        while *i > 0 && is_ws(data[*i - 1]) {
            *i -= 1;
        }
        *i < s
    };
    let digits = |i: &mut usize| {
        let e = *i;
        while *i > 0 && data[*i - 1].is_ascii_digit() && e - *i < 10 {
            *i -= 1;
        }
        (*i < e).then_some(*i..e)
    };
    if !ws(&mut i) {
        return None;
    }
    let gen_range = digits(&mut i)?;
    if !ws(&mut i) {
        return None;
    }
    let num_range = digits(&mut i)?;
    if i > 0 && !is_ws(data[i - 1]) && !is_delim(data[i - 1]) {
        return None;
    }
    let num: u32 = std::str::from_utf8(&data[num_range]).ok()?.parse().ok()?;
    let generation = std::str::from_utf8(&data[gen_range])
        .ok()?
        .parse()
        .unwrap_or(0);
    Some((num, generation))
}

fn followed_by_endstream(data: &[u8], mut e: usize) -> bool {
    while e < data.len() && is_ws(data[e]) && e < data.len() {
        e += 1;
    }
    data.get(e..).is_some_and(|s| s.starts_with(b"endstream"))
}

fn trim_eol(data: &[u8], start: usize, mut end: usize) -> usize {
    if end > start && data[end - 1] == b'\n' {
        end -= 1;
    }
    if end > start && data[end - 1] == b'\r' {
        end -= 1;
    }
    end
}

/// Charge bytes produced by a non-streaming decoder to the budget.
fn charge(ctx: &mut Ctx, n: usize) -> Result<(), ExtractError> {
    ctx.decompressed = ctx.decompressed.saturating_add(n as u64);
    if ctx.decompressed > ctx.limits.max_decompressed_bytes {
        return Err(ExtractError::Limit(format!(
            "more than {} bytes decompressed",
            ctx.limits.max_decompressed_bytes
        )));
    }
    ctx.check_time()
}

/// A reader that ends quietly at the first error: real PDFs often carry
/// streams with a damaged tail, and their readable part is still text.
struct Lenient<R>(R);

impl<R: Read> Read for Lenient<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return Ok(0),
            }
        }
    }
}

fn inflate(input: &[u8], ctx: &mut Ctx) -> Result<Vec<u8>, ExtractError> {
    let zlib_header = input.len() >= 2
        && input[0] & 0x0f == 8
        && (u16::from(input[0]) << 8 | u16::from(input[1])) % 31 == 0;
    if zlib_header {
        ctx.read_bounded(
            Lenient(flate2::read::ZlibDecoder::new(input)),
            input.len() as u64,
        )
    } else {
        ctx.read_bounded(
            Lenient(flate2::read::DeflateDecoder::new(input)),
            input.len() as u64,
        )
    }
}

fn ascii_hex(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 2);
    let mut hi = None;
    for &c in input {
        if c == b'>' {
            break;
        }
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => continue,
        };
        match hi.take() {
            Some(h) => out.push(h << 4 | v),
            None => hi = Some(v),
        }
    }
    if let Some(h) = hi {
        out.push(h << 4);
    }
    out
}

fn ascii85(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() * 4 / 5);
    let mut group = [0u32; 5];
    let mut n = 0;
    let body = input.strip_prefix(b"<~").unwrap_or(input);
    for &c in body {
        match c {
            b'~' => break,
            b'z' if n == 0 => out.extend_from_slice(&[0; 4]),
            b'!'..=b'u' => {
                group[n] = u32::from(c - b'!');
                n += 1;
                if n == 5 {
                    let v = group
                        .iter()
                        .fold(0u32, |a, &d| a.wrapping_mul(85).wrapping_add(d));
                    out.extend_from_slice(&v.to_be_bytes());
                    n = 0;
                }
            }
            _ => {}
        }
    }
    if n > 1 {
        for g in group.iter_mut().skip(n) {
            *g = 84;
        }
        let v = group
            .iter()
            .fold(0u32, |a, &d| a.wrapping_mul(85).wrapping_add(d));
        out.extend_from_slice(&v.to_be_bytes()[..n - 1]);
    }
    out
}

fn run_length(input: &[u8], ctx: &mut Ctx) -> Result<Vec<u8>, ExtractError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < input.len() {
        let l = input[i];
        i += 1;
        if l == 128 {
            break;
        } else if l < 128 {
            let n = usize::from(l) + 1;
            out.extend_from_slice(&input[i..(i + n).min(input.len())]);
            i += n;
        } else if let Some(&b) = input.get(i) {
            out.extend(std::iter::repeat_n(b, 257 - usize::from(l)));
            i += 1;
        }
        if out.len() > 1 << 16 {
            charge(ctx, out.len())?;
            ctx.decompressed -= out.len() as u64;
        }
    }
    charge(ctx, out.len())?;
    Ok(out)
}

/// LZW as in PDF (ISO 32000-1 §7.4.4), with bounded output.
fn lzw(input: &[u8], early: bool, ctx: &mut Ctx) -> Result<Vec<u8>, ExtractError> {
    let budget = ctx
        .limits
        .max_decompressed_bytes
        .saturating_sub(ctx.decompressed) as usize;
    let mut out: Vec<u8> = Vec::new();
    let mut table: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    table.push(Vec::new());
    table.push(Vec::new());
    let mut width = 9u32;
    let mut bits = 0u32;
    let mut acc = 0u32;
    let mut prev: Option<usize> = None;
    for &byte in input {
        acc = acc << 8 | u32::from(byte);
        bits += 8;
        while bits >= width {
            bits -= width;
            let code = ((acc >> bits) & ((1 << width) - 1)) as usize;
            if code == 256 {
                table.truncate(258);
                width = 9;
                prev = None;
                continue;
            }
            if code == 257 {
                charge(ctx, out.len())?;
                return Ok(out);
            }
            let entry = if code < table.len() {
                table[code].clone()
            } else if let Some(p) = prev.filter(|_| code == table.len()) {
                let mut e = table[p].clone();
                e.push(table[p][0]);
                e
            } else {
                break;
            };
            if let Some(p) = prev
                && table.len() < 4096
            {
                let mut n = table[p].clone();
                n.push(entry[0]);
                table.push(n);
            }
            out.extend_from_slice(&entry);
            if out.len() > budget {
                return Err(ExtractError::Limit(format!(
                    "more than {} bytes decompressed",
                    ctx.limits.max_decompressed_bytes
                )));
            }
            prev = Some(code);
            let next = table.len() + usize::from(early);
            width = if next >= 2048 {
                12
            } else if next >= 1024 {
                11
            } else if next >= 512 {
                10
            } else {
                9
            };
        }
    }
    charge(ctx, out.len())?;
    Ok(out)
}

/// Undo PNG row predictors (used by object streams written with /Predictor).
fn png_unpredict(data: &[u8], cols: usize) -> Vec<u8> {
    let row = cols;
    let mut out = Vec::with_capacity(data.len());
    let mut prev = vec![0u8; row];
    for chunk in data.chunks(row + 1) {
        let (ty, line) = (chunk[0], &chunk[1..]);
        let mut cur = vec![0u8; row];
        for i in 0..line.len() {
            let left = if i > 0 { cur[i - 1] } else { 0 };
            let up = prev[i];
            let ul = if i > 0 { prev[i - 1] } else { 0 };
            cur[i] = match ty {
                1 => line[i].wrapping_add(left),
                2 => line[i].wrapping_add(up),
                3 => line[i].wrapping_add(((u16::from(left) + u16::from(up)) / 2) as u8),
                4 => {
                    let p = i16::from(left) + i16::from(up) - i16::from(ul);
                    let (pa, pb, pc) = (
                        (p - i16::from(left)).abs(),
                        (p - i16::from(up)).abs(),
                        (p - i16::from(ul)).abs(),
                    );
                    let pred = if pa <= pb && pa <= pc {
                        left
                    } else if pb <= pc {
                        up
                    } else {
                        ul
                    };
                    line[i].wrapping_add(pred)
                }
                _ => line[i],
            };
        }
        out.extend_from_slice(&cur[..line.len()]);
        prev = cur;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        assert_eq!(ascii_hex(b"48 65 6c6c6f>"), b"Hello");
        assert_eq!(ascii85(b"<~87cURD]i,\"Ebo7~>"), b"Hello World");
        let mut ctx = Ctx::new(Default::default());
        // "ABABABA" LZW-encoded, from the PDF reference example (-----A---B).
        let enc = [0x80, 0x0B, 0x60, 0x50, 0x22, 0x0C, 0x0C, 0x85, 0x01];
        assert_eq!(lzw(&enc, true, &mut ctx).unwrap(), b"-----A---B");
    }

    #[test]
    fn scan_finds_objects_without_xref() {
        let pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj\n<< /Length 5 >>\nstream\nabcde\nendstream endobj\ntrailer << /Root 1 0 R >>";
        let mut ctx = Ctx::new(Default::default());
        let p = Pdf::parse(pdf, &mut ctx).unwrap();
        let root = p.dict(p.trailer.get(b"Root").unwrap()).unwrap();
        assert!(root.is(b"Type", b"Catalog"));
        let (d, s) = p.stream(&Obj::Ref(2, 0)).unwrap();
        assert_eq!(p.decode(d, s, &mut ctx).unwrap().unwrap(), b"abcde");
        assert!(!p.complete);
    }
}
