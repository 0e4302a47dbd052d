//! PDF lexical syntax (ISO 32000-1 §7.2–7.3): tokens and direct objects.
//!
//! Shared by the file-level object parser and the content-stream
//! interpreter. Hand-written so that every loop makes progress on any byte
//! sequence, nesting is bounded (no stack overflow on `[[[[…`), and nothing
//! allocates more than the input it consumes.

/// Deepest array/dictionary nesting accepted; deeper input is treated as
/// corrupt (a stack overflow would kill the worker even inside
/// `catch_unwind`).
const MAX_NESTING: u32 = 64;

/// A PDF object. Streams are not objects here: the file layer keeps a
/// stream's dictionary as a `Dict` and its bytes as a range of the file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Obj {
    Null,
    Bool(bool),
    Int(i64),
    Real(f64),
    Name(Vec<u8>),
    Str(Vec<u8>),
    Array(Vec<Obj>),
    Dict(Dict),
    Ref(u32, u16),
}

impl Obj {
    pub(crate) fn as_dict(&self) -> Option<&Dict> {
        match self {
            Obj::Dict(d) => Some(d),
            _ => None,
        }
    }
    pub(crate) fn as_name(&self) -> Option<&[u8]> {
        match self {
            Obj::Name(n) => Some(n),
            _ => None,
        }
    }
    pub(crate) fn as_array(&self) -> Option<&[Obj]> {
        match self {
            Obj::Array(a) => Some(a),
            _ => None,
        }
    }
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match *self {
            Obj::Int(i) => Some(i as f64),
            Obj::Real(r) if r.is_finite() => Some(r),
            _ => None,
        }
    }
    pub(crate) fn as_i64(&self) -> Option<i64> {
        match *self {
            Obj::Int(i) => Some(i),
            Obj::Real(r) if r.is_finite() => Some(r as i64),
            _ => None,
        }
    }
}

/// A dictionary, kept as a list: PDF dictionaries are small and a linear
/// scan beats hashing them.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Dict(pub(crate) Vec<(Vec<u8>, Obj)>);

impl Dict {
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Obj> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    /// `/Type` (or `/Subtype`) equals `name`.
    pub(crate) fn is(&self, key: &[u8], name: &[u8]) -> bool {
        self.get(key).and_then(Obj::as_name) == Some(name)
    }
}

/// One token of PDF syntax.
#[derive(Debug, PartialEq)]
pub(crate) enum Tok<'a> {
    Int(i64),
    Real(f64),
    Name(Vec<u8>),
    Str(Vec<u8>),
    ArrOpen,
    ArrClose,
    DictOpen,
    DictClose,
    /// A bare word: `true`, `obj`, `R`, a content-stream operator, or a
    /// stray delimiter (returned so that the caller can skip it).
    Kw(&'a [u8]),
}

pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, 0 | 9 | 10 | 12 | 13 | 32)
}

pub(crate) fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_regular(b: u8) -> bool {
    !is_ws(b) && !is_delim(b)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Error of the object parser: the input is not a well-formed object here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Malformed;

pub(crate) struct Lexer<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(data: &'a [u8], pos: usize) -> Self {
        Lexer { data, pos }
    }

    /// Skip whitespace and comments.
    pub(crate) fn skip_ws(&mut self) {
        while let Some(&b) = self.data.get(self.pos) {
            if is_ws(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(&c) = self.data.get(self.pos) {
                    if c == b'\r' || c == b'\n' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// Next token, or `None` at the end of the input. Always advances.
    pub(crate) fn next_tok(&mut self) -> Option<Tok<'a>> {
        self.skip_ws();
        let data = self.data;
        let start = self.pos;
        let b = *data.get(start)?;
        match b {
            b'/' => {
                self.pos += 1;
                let mut name = Vec::new();
                while let Some(&c) = data.get(self.pos) {
                    if !is_regular(c) {
                        break;
                    }
                    if c == b'#'
                        && let (Some(h), Some(l)) = (
                            data.get(self.pos + 1).copied().and_then(hex_val),
                            data.get(self.pos + 2).copied().and_then(hex_val),
                        )
                    {
                        name.push(h << 4 | l);
                        self.pos += 3;
                        continue;
                    }
                    name.push(c);
                    self.pos += 1;
                }
                Some(Tok::Name(name))
            }
            b'(' => Some(Tok::Str(self.literal_string())),
            b'<' => {
                if data.get(start + 1) == Some(&b'<') {
                    self.pos += 2;
                    Some(Tok::DictOpen)
                } else {
                    Some(Tok::Str(self.hex_string()))
                }
            }
            b'>' => {
                if data.get(start + 1) == Some(&b'>') {
                    self.pos += 2;
                    Some(Tok::DictClose)
                } else {
                    self.pos += 1;
                    Some(Tok::Kw(&data[start..start + 1]))
                }
            }
            b'[' => {
                self.pos += 1;
                Some(Tok::ArrOpen)
            }
            b']' => {
                self.pos += 1;
                Some(Tok::ArrClose)
            }
            b'0'..=b'9' | b'+' | b'-' | b'.' => {
                while let Some(&c) = data.get(self.pos) {
                    if !matches!(c, b'0'..=b'9' | b'+' | b'-' | b'.') {
                        break;
                    }
                    self.pos += 1;
                }
                Some(number(&data[start..self.pos]))
            }
            _ if is_regular(b) => {
                while let Some(&c) = data.get(self.pos) {
                    if !is_regular(c) {
                        break;
                    }
                    self.pos += 1;
                }
                Some(Tok::Kw(&data[start..self.pos]))
            }
            _ => {
                // `)`, `{`, `}`: meaningless here; hand them back one byte
                // at a time so the caller can skip them.
                self.pos += 1;
                Some(Tok::Kw(&data[start..start + 1]))
            }
        }
    }

    fn literal_string(&mut self) -> Vec<u8> {
        let data = self.data;
        let mut out = Vec::new();
        let mut depth = 1u32;
        self.pos += 1;
        while let Some(&c) = data.get(self.pos) {
            self.pos += 1;
            match c {
                b'(' => {
                    depth += 1;
                    out.push(c);
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                    out.push(c);
                }
                b'\\' => {
                    let Some(&e) = data.get(self.pos) else { break };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match data.get(self.pos) {
                                    Some(&d @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((v & 0xff) as u8);
                        }
                        b'\r' => {
                            if data.get(self.pos) == Some(&b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        _ => out.push(e),
                    }
                }
                _ => out.push(c),
            }
        }
        out
    }

    fn hex_string(&mut self) -> Vec<u8> {
        let data = self.data;
        let mut out = Vec::new();
        let mut hi: Option<u8> = None;
        self.pos += 1;
        while let Some(&c) = data.get(self.pos) {
            self.pos += 1;
            if c == b'>' {
                break;
            }
            if let Some(v) = hex_val(c) {
                match hi.take() {
                    Some(h) => out.push(h << 4 | v),
                    None => hi = Some(v),
                }
            }
        }
        if let Some(h) = hi {
            out.push(h << 4);
        }
        out
    }

    /// Parse one direct object; `refs` enables `N G R` references (file
    /// objects), off for content streams where they cannot occur.
    pub(crate) fn parse_obj(&mut self, refs: bool) -> Result<Obj, Malformed> {
        let tok = self.next_tok().ok_or(Malformed)?;
        self.obj_from(tok, refs, 0)
    }

    pub(crate) fn obj_from(
        &mut self,
        tok: Tok<'a>,
        refs: bool,
        depth: u32,
    ) -> Result<Obj, Malformed> {
        if depth > MAX_NESTING {
            return Err(Malformed);
        }
        Ok(match tok {
            Tok::Int(i) => {
                if refs && (0..=i64::from(u32::MAX)).contains(&i) {
                    let save = self.pos;
                    if let Some(Tok::Int(g)) = self.next_tok()
                        && (0..=65535).contains(&g)
                        && let Some(Tok::Kw(b"R")) = self.next_tok()
                    {
                        return Ok(Obj::Ref(i as u32, g as u16));
                    }
                    self.pos = save;
                }
                Obj::Int(i)
            }
            Tok::Real(r) => Obj::Real(r),
            Tok::Name(n) => Obj::Name(n),
            Tok::Str(s) => Obj::Str(s),
            Tok::ArrOpen => {
                let mut items = Vec::new();
                loop {
                    match self.next_tok() {
                        None => return Err(Malformed),
                        Some(Tok::ArrClose) => break,
                        Some(t @ Tok::Kw(k)) if !matches!(k, b"true" | b"false" | b"null") => {
                            // `endobj` or garbage inside an array: give up on it.
                            if matches!(k, b"endobj" | b"stream" | b"obj") {
                                return Err(Malformed);
                            }
                            drop(t);
                        }
                        Some(t) => items.push(self.obj_from(t, refs, depth + 1)?),
                    }
                }
                Obj::Array(items)
            }
            Tok::DictOpen => {
                let mut entries = Vec::new();
                loop {
                    match self.next_tok() {
                        None => return Err(Malformed),
                        Some(Tok::DictClose) => break,
                        Some(Tok::Name(k)) => {
                            let save = self.pos;
                            match self.next_tok() {
                                None => return Err(Malformed),
                                Some(Tok::DictClose) => {
                                    entries.push((k, Obj::Null));
                                    break;
                                }
                                Some(Tok::Kw(b"endobj" | b"stream")) => {
                                    self.pos = save;
                                    return Err(Malformed);
                                }
                                Some(t) => {
                                    let v = self.obj_from(t, refs, depth + 1)?;
                                    entries.push((k, v));
                                }
                            }
                        }
                        Some(Tok::Kw(b"endobj" | b"stream" | b"obj")) => return Err(Malformed),
                        Some(_) => {} // a value without a key: skip it
                    }
                }
                Obj::Dict(Dict(entries))
            }
            Tok::Kw(b"true") => Obj::Bool(true),
            Tok::Kw(b"false") => Obj::Bool(false),
            Tok::Kw(b"null") => Obj::Null,
            Tok::ArrClose | Tok::DictClose | Tok::Kw(_) => return Err(Malformed),
        })
    }
}

/// Parse a PDF number leniently (`4.`, `-.5`, `--3` and `1.2.3` occur in
/// the wild; anything unparsable reads as 0, as in Acrobat).
fn number(s: &[u8]) -> Tok<'static> {
    let mut neg = false;
    let mut i = 0;
    while i < s.len() && matches!(s[i], b'+' | b'-') {
        neg ^= s[i] == b'-';
        i += 1;
    }
    let body = &s[i..];
    if !body.contains(&b'.') {
        let mut v: i64 = 0;
        for &c in body {
            if !c.is_ascii_digit() {
                break;
            }
            v = v.saturating_mul(10).saturating_add(i64::from(c - b'0'));
        }
        return Tok::Int(if neg { -v } else { v });
    }
    let mut int_part = 0f64;
    let mut frac = 0f64;
    let mut scale = 1f64;
    let mut seen_dot = false;
    for &c in body {
        match c {
            b'.' if !seen_dot => seen_dot = true,
            b'0'..=b'9' if !seen_dot => int_part = int_part * 10.0 + f64::from(c - b'0'),
            b'0'..=b'9' => {
                scale /= 10.0;
                frac += f64::from(c - b'0') * scale;
            }
            _ => break,
        }
    }
    let v = int_part + frac;
    Tok::Real(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(s: &str) -> Obj {
        Lexer::new(s.as_bytes(), 0).parse_obj(true).unwrap()
    }

    #[test]
    fn objects() {
        assert_eq!(obj("  12 0 R"), Obj::Ref(12, 0));
        assert_eq!(obj("12 0 obj"), Obj::Int(12));
        assert_eq!(obj("-.5"), Obj::Real(-0.5));
        assert_eq!(obj("/A#42c"), Obj::Name(b"ABc".to_vec()));
        assert_eq!(
            obj("(a\\(b\\)\\101(c)\\\n)"),
            Obj::Str(b"a(b)A(c)".to_vec())
        );
        assert_eq!(obj("<4e6F7>"), Obj::Str(vec![0x4e, 0x6f, 0x70]));
        let d = obj("<< /Type /Page /Kids [1 0 R 2 0 R] /N null /E >>");
        let d = d.as_dict().unwrap();
        assert!(d.is(b"Type", b"Page"));
        assert_eq!(d.get(b"Kids").unwrap().as_array().unwrap().len(), 2);
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_crash() {
        let s = "[".repeat(100_000);
        assert!(Lexer::new(s.as_bytes(), 0).parse_obj(true).is_err());
        let s = "<<".repeat(100_000);
        assert!(Lexer::new(s.as_bytes(), 0).parse_obj(true).is_err());
    }

    #[test]
    fn every_token_advances() {
        let junk = b")}{>\xff\x00 %c\n(unterminated";
        let mut lx = Lexer::new(junk, 0);
        let mut n = 0;
        while lx.next_tok().is_some() {
            n += 1;
            assert!(n < 100);
        }
    }
}
