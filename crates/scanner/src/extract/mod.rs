//! Text extraction: one module per document format, one function signature.
//!
//! Every format module exposes
//! `pub fn extract(data: &[u8], ctx: &mut Ctx) -> Result<Document, ExtractError>`.
//! Extractors are pure functions over bytes: they never touch the filesystem,
//! never match keywords and never decide a verdict. They must be total: any
//! input, however hostile, yields `Ok` or an `ExtractError`, never a panic,
//! and they must honour `ctx` (bytes, decompressed size, element counts,
//! depth, deadline). Format *detection* lives in `sniff`, not here.
//!
//! The text they return is raw (not normalised); normalisation (CONTRACT §6)
//! happens once, in the matcher.

pub mod archive;
pub mod compressed;
pub mod eml;
pub mod gzip;
pub mod odf;
pub mod ofd;
pub mod ole;
pub mod ooxml;
pub mod pdf;
pub mod rar;
pub mod rtf;
pub mod sevenz;
pub mod tar;
pub mod uof;

use std::io::Read;
use std::time::{Duration, Instant};

/// Resource bounds for one top-level file (members and children included).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Bytes read from disk for one file.
    pub max_file_bytes: u64,
    /// Total bytes produced by decompression (zip members, PDF streams, ...).
    pub max_decompressed_bytes: u64,
    /// Largest allowed decompressed/compressed ratio for one member.
    pub max_ratio: u64,
    /// Nesting depth of archives/attachments/embedded objects.
    pub max_depth: u32,
    /// XML elements, PDF objects, OLE sectors ... visited per file.
    pub max_elements: u64,
    /// Characters of text kept per file (the rest is dropped, `truncated` noted).
    pub max_text_chars: usize,
    /// Wall time per file.
    pub timeout: Duration,
    /// Findings reported for one top-level file (an archive's members
    /// included); the rest are summarised in one finding (issue 15: a
    /// 57 KB `42.zip` must not make a 15 MB report).
    pub max_findings_per_file: usize,
    /// Findings one scan keeps in memory, most severe first; the rest are
    /// counted by kind and rule (`ScanOutcome::omitted`), so a scan's
    /// memory does not grow with the number of findings in the tree.
    pub max_findings: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 256 << 20,
            max_decompressed_bytes: 512 << 20,
            max_ratio: 200,
            max_depth: 4,
            max_elements: 5_000_000,
            max_text_chars: 32 << 20,
            timeout: Duration::from_secs(30),
            max_findings_per_file: 100,
            max_findings: 10_000,
        }
    }
}

/// Extraction context: limits plus the running budget of one top-level file.
#[derive(Debug)]
pub struct Ctx {
    pub limits: Limits,
    /// Decompressed bytes produced so far.
    pub decompressed: u64,
    /// Elements visited so far.
    pub elements: u64,
    /// Current nesting depth (0 = the file itself).
    pub depth: u32,
    pub deadline: Instant,
}

impl Ctx {
    pub fn new(limits: Limits) -> Ctx {
        let deadline = Instant::now() + limits.timeout;
        Ctx {
            limits,
            decompressed: 0,
            elements: 0,
            depth: 0,
            deadline,
        }
    }

    /// Refuse to open another archive layer once `depth` reaches the limit
    /// (zip, tar and gzip all nest: `42.zip`, `a.tar.gz` inside a zip, …).
    pub fn check_archive_depth(&self) -> Result<(), ExtractError> {
        if self.depth >= self.limits.max_depth {
            return Err(ExtractError::Limit(format!(
                "archives nested deeper than {} levels",
                self.limits.max_depth
            )));
        }
        Ok(())
    }

    /// Count `n` elements; error once the element budget or the deadline is spent.
    pub fn tick(&mut self, n: u64) -> Result<(), ExtractError> {
        self.elements = self.elements.saturating_add(n);
        if self.elements > self.limits.max_elements {
            return Err(ExtractError::Limit(format!(
                "more than {} elements",
                self.limits.max_elements
            )));
        }
        if self.elements % 4096 < n.max(1) && Instant::now() > self.deadline {
            return Err(ExtractError::Timeout);
        }
        Ok(())
    }

    /// Check the deadline.
    pub fn check_time(&self) -> Result<(), ExtractError> {
        if Instant::now() > self.deadline {
            Err(ExtractError::Timeout)
        } else {
            Ok(())
        }
    }

    /// Read a decompressing reader to its end, charging the decompressed
    /// budget and refusing ratios above `max_ratio` (zip bombs). `compressed`
    /// is the member's compressed size when known (0: unknown, ratio unchecked).
    pub fn read_bounded(
        &mut self,
        mut r: impl Read,
        compressed: u64,
    ) -> Result<Vec<u8>, ExtractError> {
        let remaining = self
            .limits
            .max_decompressed_bytes
            .saturating_sub(self.decompressed);
        let ratio_cap = if compressed > 0 {
            compressed
                .saturating_mul(self.limits.max_ratio)
                .max(1 << 20)
        } else {
            u64::MAX
        };
        let cap = remaining.min(ratio_cap);
        let mut out = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Err(ExtractError::Truncated(e.to_string()));
                }
                Err(e) => return Err(ExtractError::Corrupt(e.to_string())),
            };
            if out.len() as u64 + n as u64 > cap {
                return Err(if cap == ratio_cap && ratio_cap < remaining {
                    ExtractError::Limit(format!(
                        "compression ratio above {} (decompression bomb?)",
                        self.limits.max_ratio
                    ))
                } else {
                    ExtractError::Limit(format!(
                        "more than {} bytes decompressed",
                        self.limits.max_decompressed_bytes
                    ))
                });
            }
            out.extend_from_slice(&buf[..n]);
            self.check_time()?;
        }
        self.decompressed += out.len() as u64;
        Ok(out)
    }
}

/// What an extractor returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    /// Short format name reported in findings: `docx`, `pdf`, `wps`, `ofd` ...
    pub format: &'static str,
    /// The head used for marking detection (GB/T 9704: first page, header
    /// included, header first). `None`: the start of `text` is the head.
    pub head: Option<String>,
    /// All text in reading order; paragraphs, cells and lines separated by `\n`.
    /// Text split across runs/elements of one paragraph is joined without a
    /// separator.
    pub text: String,
    /// Document properties (name, value): OOXML custom properties, ODF
    /// user-defined metadata, OFD CustomData, OLE user-defined properties,
    /// and title/subject/keywords.
    pub properties: Vec<(String, String)>,
    /// Embedded files scanned recursively as `parent!/name`: e-mail
    /// attachments, OLE-embedded packages, archive members.
    pub children: Vec<Child>,
    /// Set when `max_text_chars` cut the text.
    pub truncated: bool,
    /// Embedded files that could not be read (an encrypted zip member, a
    /// member over the limits): each becomes an `unscannable` finding named
    /// `parent!/name`, while the rest of the document is still scanned.
    pub failed_children: Vec<FailedChild>,
    /// The document could be read only in part (an archive cut short or
    /// damaged after some members): what was read is scanned, and the file
    /// is also reported `unscannable` with this reason.
    pub incomplete: Option<ExtractError>,
}

/// An embedded file that could not be extracted from its parent.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedChild {
    pub name: String,
    pub error: ExtractError,
}

/// An embedded file to scan like a file of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Child {
    pub name: String,
    pub data: Vec<u8>,
}

/// Why content could not be read. Becomes an `unscannable` finding whose
/// `reason` is [`ExtractError::reason`] and whose message is the detail.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExtractError {
    #[error("encrypted: {0}")]
    Encrypted(String),
    #[error("corrupt: {0}")]
    Corrupt(String),
    #[error("truncated: {0}")]
    Truncated(String),
    #[error("limit: {0}")]
    Limit(String),
    #[error("timeout")]
    Timeout,
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl ExtractError {
    /// The `reason` word of the `unscannable` finding.
    pub fn reason(&self) -> &'static str {
        match self {
            ExtractError::Encrypted(_) => "encrypted",
            ExtractError::Corrupt(_) => "corrupt",
            ExtractError::Truncated(_) => "truncated",
            ExtractError::Limit(_) => "limit",
            ExtractError::Timeout => "timeout",
            ExtractError::Unsupported(_) => "unsupported",
        }
    }
}

/// Result of an extractor.
pub type ExtractResult = Result<Document, ExtractError>;

/// Helpers shared by the extractors' unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    /// The bytes of `fixtures/formats/<rel>`.
    pub fn fixture(rel: &str) -> Vec<u8> {
        let p = format!(
            "{}/../../fixtures/formats/{rel}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    /// The first `n` non-empty lines of `s`, trimmed.
    pub fn first_lines(s: &str, n: usize) -> Vec<&str> {
        s.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take(n)
            .collect()
    }
}
