//! Classification markings (密级标志) per GB/T 9704-2012 §7.2.2: the level,
//! an optional ★ and the period at the top left of the first page
//! (`秘密★1年`, `机密★10年`, `绝密★长期`, or the level alone).
//!
//! A marking counts only when one of the first `head_lines` non-empty lines
//! of the head is a marking *and nothing else* (patterns are anchored over
//! the whole normalised line), or when a document property named in
//! `metadata_keys` (default 密级) holds one. A line that merely contains a
//! level word (`关于加强机密载体管理的通知`, `工作秘密`) is not a marking:
//! regulations and training material use those words in every sentence.
//!
//! Patterns run over normalised lines (CONTRACT §6), so full-width digits,
//! `＊`, spaces around the star and traditional characters (`機密★6個月`)
//! are already folded; `markings.toml` adds patterns or replaces these.

use crate::ScanError;
use crate::normalise::normalise;
use mijian_policy::{Classification, Markings};
use regex::Regex;

/// Periods: `长期`, `启用前` (examination papers, documents secret until
/// release), Arabic or Chinese numerals with 年 or (个)月.
macro_rules! period {
    () => {
        r"长期|启用前|\d{1,3}年|\d{1,3}个?月|[〇零一二三四五六七八九十两百]{1,4}年|[〇零一二三四五六七八九十两百]{1,4}个?月"
    };
}

/// Star forms: GB/T 9704's ★, and what people type for it.
macro_rules! star {
    () => {
        r"[★☆*✱✲✳✶✻✽⭑]"
    };
}

/// Copy number (份号) and urgency (紧急程度) a template may put on the
/// marking's line (GB/T 9704 7.2.1 and 7.2.3).
macro_rules! furniture {
    () => {
        r"(?:份号:?\d{1,8}|第\d{1,8}份|\d{1,8}|(?:紧急程度:?)?(?:特急|加急|特提|平急))"
    };
}

/// The built-in pattern, over a normalised line (no whitespace; `：` is
/// `:`): optional copy number / urgency, an optional `密级:` label, the
/// level, then a star and an optional period, or a `保密期限:` label and a
/// period; optional urgency / copy number after it.
pub const BUILTIN: &str = concat!(
    r"^(?:",
    furniture!(),
    r"[,;、]?){0,2}(?:密级:?)?(?P<level>绝密|机密|秘密)(?:",
    star!(),
    r"(?P<period>",
    period!(),
    r")?|[,;、]?保密期限:?(?P<period2>",
    period!(),
    r"))?(?:[,;、]?",
    furniture!(),
    r"){0,2}$"
);

/// A bare label cell or line: `密级` / `密级:` with nothing after it. In a
/// 公文 template its value is the next cell; in a ledger it heads a column.
const LABEL: &str = "密级";

/// Lines longer than this (normalised characters) are never markings.
const MAX_LINE_CHARS: usize = 64;
/// Raw bytes of one line looked at; a marking line is short.
const MAX_LINE_BYTES: usize = 4096;
/// Raw bytes of the head searched for its first non-empty lines.
const MAX_HEAD_BYTES: usize = 1 << 20;

/// A marking found on a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// 绝密, 机密, 秘密 (or 内部 when an organisation's pattern allows it).
    pub level: Classification,
    /// `5年`, `6个月`, `长期`, or `None` for the level alone.
    pub period: Option<String>,
    /// `head` or `metadata`.
    pub source: &'static str,
}

/// Compiled marking patterns of one policy.
#[derive(Debug, Clone)]
pub struct Detector {
    patterns: Vec<Regex>,
    /// Whether `patterns[0]` is [`BUILTIN`] (its levels all hold 密).
    builtin: bool,
    head_lines: usize,
    metadata_keys: Vec<String>,
}

impl Detector {
    pub fn new(m: &Markings) -> Result<Detector, ScanError> {
        let mut patterns = Vec::new();
        if !m.replace_builtin {
            patterns.push(compile("builtin", BUILTIN)?);
        }
        for p in &m.patterns {
            // Anchor whatever the file says: a marking is a whole line.
            patterns.push(compile(&p.id, &format!("^(?:{})$", p.regex))?);
        }
        Ok(Detector {
            builtin: !m.replace_builtin,
            patterns,
            head_lines: m.head_lines.max(1),
            metadata_keys: m.metadata_keys.iter().map(|k| normalise(k)).collect(),
        })
    }

    /// Characters every marking line holds one of, before normalisation
    /// (the preimages of 密 — every level word but 内部 has it — and of 部
    /// when an organisation's pattern may capture 内部); `None` if unknown.
    pub fn anchor_chars(&self) -> Option<Vec<char>> {
        let mut out = crate::normalise::preimages('密')?;
        if self.patterns.len() > usize::from(self.builtin) {
            out.extend(crate::normalise::preimages('部')?);
        }
        Some(out)
    }

    /// Is this (already normalised) line a marking and nothing else?
    pub fn line(&self, norm: &str) -> Option<(Classification, Option<String>)> {
        if norm.is_empty() || norm.chars().count() > MAX_LINE_CHARS {
            return None;
        }
        for re in &self.patterns {
            let Some(caps) = re.captures(norm) else {
                continue;
            };
            let Some(level) = caps.name("level").and_then(|l| level_of(l.as_str())) else {
                continue;
            };
            let period = caps
                .name("period")
                .or_else(|| caps.name("period2"))
                .map(|p| canonical_period(p.as_str()))
                .filter(|p| !p.is_empty());
            return Some((level, period));
        }
        None
    }

    /// A marking among the first `head_lines` non-empty lines of `head`.
    pub fn head(&self, head: &str) -> Option<Found> {
        let mut head = head;
        if head.len() > MAX_HEAD_BYTES {
            let mut cut = MAX_HEAD_BYTES;
            while !head.is_char_boundary(cut) {
                cut -= 1;
            }
            head = &head[..cut];
        }
        let mut seen = 0;
        // After a bare `密级` label, the next line is its value (a template's
        // table: | 密级 | 机密★5年 |). When it is not, the label headed a
        // ledger's column, and bare level words below it are cell values.
        let mut after_label = false;
        let mut ledger = false;
        for raw in head.split([
            '\n', '\r', '\u{2028}', '\u{2029}', '\u{0b}', '\u{0c}', '\u{85}',
        ]) {
            let mut raw = raw;
            if raw.len() > MAX_LINE_BYTES {
                let mut cut = MAX_LINE_BYTES;
                while !raw.is_char_boundary(cut) {
                    cut -= 1;
                }
                raw = &raw[..cut];
            }
            let norm = normalise(raw);
            if norm.is_empty() {
                continue;
            }
            let label = norm.trim_end_matches(':') == LABEL;
            if let Some((level, period)) = self.line(&norm) {
                let bare = period.is_none() && is_bare_level(&norm);
                if !(ledger && bare) {
                    return Some(Found {
                        level,
                        period,
                        source: "head",
                    });
                }
            }
            if after_label && !label {
                ledger = true;
            }
            after_label = label;
            // Template furniture (a copy number, an urgency word, a label
            // cell) does not use up the head: the marking may follow it.
            if label || is_furniture(&norm) {
                continue;
            }
            seen += 1;
            if seen >= self.head_lines {
                break;
            }
        }
        None
    }

    /// A marking held by a document property named in `metadata_keys`.
    pub fn metadata(&self, props: &[(String, String)]) -> Option<Found> {
        for (name, value) in props {
            if !self.metadata_keys.contains(&normalise(name)) {
                continue;
            }
            let mut v = value.as_str();
            if v.len() > MAX_LINE_BYTES {
                continue;
            }
            v = v.trim();
            if let Some((level, period)) = self.line(&normalise(v)) {
                return Some(Found {
                    level,
                    period,
                    source: "metadata",
                });
            }
        }
        None
    }
}

fn compile(id: &str, re: &str) -> Result<Regex, ScanError> {
    regex::RegexBuilder::new(re)
        .size_limit(1 << 22)
        .build()
        .map_err(|e| ScanError::Setup(format!("marking pattern `{id}`: invalid regex: {e}")))
}

/// A level word alone on its line (a table cell), no star, no period.
fn is_bare_level(norm: &str) -> bool {
    matches!(norm, "绝密" | "机密" | "秘密")
}

/// Lines a 公文 template puts around the marking: a copy number, an
/// urgency word, their labels.
fn is_furniture(norm: &str) -> bool {
    let n = norm.trim_end_matches(':');
    matches!(
        n,
        "份号" | "紧急程度" | "特急" | "加急" | "特提" | "平急" | "保密期限"
    ) || (!n.is_empty() && n.len() <= 8 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A period in canonical form: Arabic numerals, `个月` for months
/// (`五年` → `5年`, `六个月` → `6个月`, `6月` → `6个月`); `长期` and
/// `启用前` as they are.
pub fn canonical_period(p: &str) -> String {
    let (num, unit) = if let Some(n) = p.strip_suffix("个月") {
        (n, "个月")
    } else if let Some(n) = p.strip_suffix('月') {
        (n, "个月")
    } else if let Some(n) = p.strip_suffix('年') {
        (n, "年")
    } else {
        return p.to_string();
    };
    match chinese_number(num) {
        Some(v) => format!("{v}{unit}"),
        None => p.to_string(),
    }
}

/// `5`, `五`, `十`, `十五`, `二十`, `二十五`, `一百`, `两` → the number.
fn chinese_number(s: &str) -> Option<u32> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    let digit = |c: char| -> Option<u32> {
        Some(match c {
            '〇' | '零' => 0,
            '一' => 1,
            '二' | '两' => 2,
            '三' => 3,
            '四' => 4,
            '五' => 5,
            '六' => 6,
            '七' => 7,
            '八' => 8,
            '九' => 9,
            _ => return None,
        })
    };
    let (mut total, mut cur) = (0u32, None::<u32>);
    let mut any = false;
    for c in s.chars() {
        any = true;
        match c {
            '百' => {
                total += cur.unwrap_or(1) * 100;
                cur = None;
            }
            '十' => {
                total += cur.unwrap_or(1) * 10;
                cur = None;
            }
            c => {
                let d = digit(c)?;
                // Digit by digit (`二〇`): positional.
                cur = Some(cur.map_or(d, |x| x * 10 + d));
            }
        }
    }
    any.then(|| total + cur.unwrap_or(0))
}

/// A captured level word (already normalised) as a classification.
fn level_of(s: &str) -> Option<Classification> {
    match s {
        "绝密" => Some(Classification::TopSecret),
        "机密" => Some(Classification::Confidential),
        "秘密" => Some(Classification::Secret),
        "内部" => Some(Classification::Internal),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det() -> Detector {
        Detector::new(&Markings::default()).unwrap()
    }

    fn head(s: &str) -> Option<(String, Option<String>)> {
        det()
            .head(s)
            .map(|f| (f.level.as_str().to_string(), f.period))
    }

    fn some(level: &str, period: Option<&str>) -> Option<(String, Option<String>)> {
        Some((level.to_string(), period.map(str::to_string)))
    }

    #[test]
    fn gb9704_forms_are_markings() {
        assert_eq!(head("秘密★1年\n正文"), some("秘密", Some("1年")));
        assert_eq!(head("机密★10年"), some("机密", Some("10年")));
        assert_eq!(head("绝密★长期\n"), some("绝密", Some("长期")));
        assert_eq!(head("机密\n关于……的通知"), some("机密", None));
        assert_eq!(head("机密★\n"), some("机密", None));
        assert_eq!(head("机密*5年"), some("机密", Some("5年")));
        assert_eq!(head("机密＊５年"), some("机密", Some("5年")));
        assert_eq!(head("机密 ★ 5 年"), some("机密", Some("5年")));
        assert_eq!(head("  機密★6個月 "), some("机密", Some("6个月")));
        assert_eq!(head("絕密★長期"), some("绝密", Some("长期")));
        assert_eq!(head("秘　密"), some("秘密", None));
        assert_eq!(head("机密☆五年"), some("机密", Some("5年")));
    }

    #[test]
    fn issue_15_forms_are_markings() {
        // Label form, optional 保密期限.
        assert_eq!(head("密级：机密"), some("机密", None));
        assert_eq!(head("密级:秘密"), some("秘密", None));
        assert_eq!(
            head("密级：机密　保密期限：10年"),
            some("机密", Some("10年"))
        );
        assert_eq!(
            head("密级: 绝密，保密期限: 长期"),
            some("绝密", Some("长期"))
        );
        assert_eq!(head("密级：秘密★6个月"), some("秘密", Some("6个月")));
        // Chinese numerals, reported canonically.
        assert_eq!(head("机密★五年"), some("机密", Some("5年")));
        assert_eq!(head("秘密★六个月"), some("秘密", Some("6个月")));
        assert_eq!(head("机密★十年"), some("机密", Some("10年")));
        assert_eq!(head("绝密★二十年"), some("绝密", Some("20年")));
        assert_eq!(head("秘密★十八个月"), some("秘密", Some("18个月")));
        assert_eq!(head("秘密★6月"), some("秘密", Some("6个月")));
        // Until release.
        assert_eq!(head("绝密★启用前"), some("绝密", Some("启用前")));
        // Star substitutes.
        assert_eq!(head("机密☆5年"), some("机密", Some("5年")));
        assert_eq!(head("机密*5年"), some("机密", Some("5年")));
        assert_eq!(head("机密＊五年"), some("机密", Some("5年")));
        // Copy number and urgency on the same line.
        assert_eq!(head("000123　机密★5年"), some("机密", Some("5年")));
        assert_eq!(
            head("份号：000123 机密★5年 特急"),
            some("机密", Some("5年"))
        );
        assert_eq!(head("机密★1年　加急"), some("机密", Some("1年")));
        assert_eq!(head("特急 秘密"), some("秘密", None));
        // Template table at the top: each cell is a line.
        assert_eq!(
            head("份号\n000001\n密级\n机密★5年\n紧急程度\n特急\n关于……的通知"),
            some("机密", Some("5年"))
        );
        assert_eq!(head("密级\n秘密\n标题"), some("秘密", None));
        // Invisible characters inside the marking.
        assert_eq!(head("机\u{200b}密\u{0301}★5年"), some("机密", Some("5年")));
    }

    #[test]
    fn issue_15_non_markings() {
        assert_eq!(head("密级："), None);
        assert_eq!(head("密级：\n正文"), None);
        assert_eq!(head("密级：内部"), None);
        assert_eq!(head("密级：非密"), None);
        assert_eq!(head("根据规定，“机密★5年”应标注在左上角"), None);
        assert_eq!(head("标注“密级：机密”的文件"), None);
        // A ledger: 密级 heads a column, the level words are its cells.
        assert_eq!(head("密级\n文件名称\n日期\n机密\n关于甲的通知"), None);
        assert_eq!(head("序号\n文件名称\n密级\n份数\n1\n通知\n机密"), None);
    }

    #[test]
    fn marking_must_be_within_the_first_non_empty_lines() {
        assert_eq!(
            head("\n\n标题\n\n第二行\n机密★5年"),
            some("机密", Some("5年"))
        );
        assert_eq!(head("一\n二\n三\n机密★5年"), None);
    }

    #[test]
    fn lines_that_merely_contain_a_level_word_are_not_markings() {
        assert_eq!(head("秘密文件、资料由机要室登记"), None);
        assert_eq!(head("关于加强机密载体管理的通知"), None);
        assert_eq!(head("工作秘密"), None);
        assert_eq!(head("国家秘密"), None);
        assert_eq!(head("机密★5年的文件应当"), None);
        assert_eq!(head("秘密★1年级"), None);
    }

    #[test]
    fn metadata_property_counts() {
        let d = det();
        let f = d
            .metadata(&[
                ("Title".into(), "x".into()),
                ("密级".into(), "机密★5年".into()),
            ])
            .unwrap();
        assert_eq!(
            (f.level, f.period.as_deref(), f.source),
            (Classification::Confidential, Some("5年"), "metadata")
        );
        assert_eq!(
            d.metadata(&[("密級".into(), " 絕密 ".into())])
                .unwrap()
                .level,
            Classification::TopSecret
        );
        assert!(d.metadata(&[("密级".into(), "公开".into())]).is_none());
        assert!(d.metadata(&[("subject".into(), "机密".into())]).is_none());
    }

    #[test]
    fn rules_patterns_add_or_replace() {
        let mut m = Markings::default();
        m.patterns.push(mijian_policy::MarkingPattern {
            id: "label".into(),
            regex: r"密级[:：]?(?P<level>绝密|机密|秘密)(保密期限[:：]?(?P<period>长期|\d+年|\d+个月))?".into(),
        });
        let d = Detector::new(&m).unwrap();
        let f = d.head("密级：机密　保密期限：10年").unwrap();
        assert_eq!(
            (f.level, f.period.as_deref()),
            (Classification::Confidential, Some("10年"))
        );
        assert!(d.head("秘密★1年").is_some());
        m.replace_builtin = true;
        let d = Detector::new(&m).unwrap();
        assert!(d.head("秘密★1年").is_none());
        assert!(d.head("密级:秘密").is_some());
    }
}
