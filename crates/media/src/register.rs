//! Matching a medium's identity against the register (`media.toml`, CONTRACT
//! §3). An entry matches when every identity field it gives agrees; a field
//! the medium does not reveal counts as not agreeing (it cannot be checked).
//! Comparison: serial, vendor_id and product_id case-insensitively (ids also
//! without `0x` and leading zeros), fs_uuid case-insensitively (blkid prints
//! vfat/exfat/ntfs ids upper-case and ext/xfs/btrfs lower-case; hex has no
//! case), label exactly as blkid prints it.
//!
//! Outcome: exactly one full match → registered. A full match of two
//! entries, or no full match but an entry agreeing on a distinguishing field
//! (serial, fs_uuid or label — not the vendor/product ids every stick of a
//! model shares) while disagreeing on another → suspicious: a cloned or
//! reflashed medium, or an ambiguous register. Otherwise unregistered.

use crate::identity::{Identity, SerialQuality};
use mijian_policy::{Classification, MediaRegister, MediumEntry};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchStatus {
    Registered,
    Suspicious,
    Unregistered,
}

impl MatchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchStatus::Registered => "registered",
            MatchStatus::Suspicious => "suspicious",
            MatchStatus::Unregistered => "unregistered",
        }
    }
}

/// One identity field of an entry compared with the medium.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldCheck {
    pub field: &'static str,
    pub registered: String,
    /// What the medium has (`None`: unknown).
    pub found: Option<String>,
    pub agrees: bool,
}

/// How one register entry compares with the medium.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryMatch {
    pub id: String,
    pub full: bool,
    pub fields: Vec<FieldCheck>,
}

impl EntryMatch {
    fn agreeing(&self) -> Vec<&'static str> {
        self.fields
            .iter()
            .filter(|f| f.agrees)
            .map(|f| f.field)
            .collect()
    }
    fn disagreeing(&self) -> Vec<String> {
        self.fields
            .iter()
            .filter(|f| !f.agrees)
            .map(|f| match &f.found {
                Some(v) => format!("{} {} (registered {})", f.field, v, f.registered),
                None => format!("{} unknown (registered {})", f.field, f.registered),
            })
            .collect()
    }
}

/// The verdict for one medium.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchResult {
    pub status: MatchStatus,
    /// 登记编号 when registered.
    pub medium_id: Option<String>,
    /// Registered level of the matched entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<Classification>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// Full and partial matches, for the report.
    pub entries: Vec<EntryMatch>,
    /// One sentence for people.
    pub explanation: String,
    /// The match rests only on fields many devices share.
    pub weak: bool,
}

fn norm_id(s: &str) -> String {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_prefix("0x").unwrap_or(&t);
    let t = t.trim_start_matches('0');
    t.to_string()
}

fn compare(
    field: &'static str,
    registered: &Option<String>,
    found: &Option<String>,
    eq: fn(&str, &str) -> bool,
) -> Option<FieldCheck> {
    let r = registered.as_ref()?;
    Some(FieldCheck {
        field,
        registered: r.clone(),
        found: found.clone(),
        agrees: found.as_deref().is_some_and(|f| eq(r, f)),
    })
}

fn compare_entry(e: &MediumEntry, id: &Identity) -> EntryMatch {
    let ci = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
    let hex = |a: &str, b: &str| norm_id(a) == norm_id(b);
    let exact = |a: &str, b: &str| a == b;
    let fields: Vec<FieldCheck> = [
        compare("serial", &e.serial, &id.serial, ci),
        compare("vendor_id", &e.vendor_id, &id.vendor_id, hex),
        compare("product_id", &e.product_id, &id.product_id, hex),
        compare("fs_uuid", &e.fs_uuid, &id.fs_uuid, ci),
        compare("label", &e.label, &id.label, exact),
    ]
    .into_iter()
    .flatten()
    .collect();
    EntryMatch {
        id: e.id.clone(),
        full: !fields.is_empty() && fields.iter().all(|f| f.agrees),
        fields,
    }
}

const DISTINGUISHING: [&str; 3] = ["serial", "fs_uuid", "label"];

/// Match one identity against the register.
pub fn match_register(id: &Identity, register: &MediaRegister) -> MatchResult {
    let all: Vec<(&MediumEntry, EntryMatch)> = register
        .media
        .iter()
        .map(|e| (e, compare_entry(e, id)))
        .collect();
    let full: Vec<&(&MediumEntry, EntryMatch)> = all.iter().filter(|(_, m)| m.full).collect();
    let partial: Vec<&(&MediumEntry, EntryMatch)> = all
        .iter()
        .filter(|(_, m)| {
            !m.full
                && m.fields
                    .iter()
                    .any(|f| f.agrees && DISTINGUISHING.contains(&f.field))
        })
        .collect();
    let entries: Vec<EntryMatch> = full
        .iter()
        .chain(partial.iter())
        .map(|(_, m)| m.clone())
        .collect();
    let describe_partial = |p: &[&(&MediumEntry, EntryMatch)]| {
        p.iter()
            .map(|(_, m)| {
                format!(
                    "{} (agrees on {}; differs: {})",
                    m.id,
                    m.agreeing().join(", "),
                    m.disagreeing().join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    match full.as_slice() {
        [(entry, m)] => {
            let given = m.agreeing();
            let only_shared = given
                .iter()
                .all(|f| *f == "vendor_id" || *f == "product_id");
            let serial_only_weak = given == ["serial"] && !id.serial_quality.trustworthy();
            let weak = only_shared || serial_only_weak;
            let mut explanation =
                format!("registered as {} (agrees on {})", m.id, given.join(", "));
            if weak {
                explanation.push_str(
                    "; weak: the match rests on fields many devices share; give the entry fs_uuid or a real serial",
                );
            }
            if !partial.is_empty() {
                explanation.push_str(&format!(
                    "; also agrees in part with {}",
                    describe_partial(&partial)
                ));
            }
            MatchResult {
                status: MatchStatus::Registered,
                medium_id: Some(m.id.clone()),
                level: entry.level,
                holder: entry.holder.clone(),
                entries,
                explanation,
                weak,
            }
        }
        [] if partial.is_empty() => MatchResult {
            status: MatchStatus::Unregistered,
            medium_id: None,
            level: None,
            holder: None,
            entries,
            explanation: "not in the media register".into(),
            weak: false,
        },
        [] => MatchResult {
            status: MatchStatus::Suspicious,
            medium_id: None,
            level: None,
            holder: None,
            entries,
            explanation: format!(
                "suspicious: identity matches a registered medium only in part (cloned or reflashed?): {}",
                describe_partial(&partial)
            ),
            weak: false,
        },
        many => MatchResult {
            status: MatchStatus::Suspicious,
            medium_id: None,
            level: None,
            holder: None,
            entries,
            explanation: format!(
                "suspicious: identity matches {} register entries ({}); the register is ambiguous or the medium cloned",
                many.len(),
                many.iter()
                    .map(|(_, m)| m.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            weak: false,
        },
    }
}

/// Match by the USB fields only (vendor_id, product_id, serial), for the
/// USB history: a log shows no filesystem. Registered only when exactly one
/// entry gives a serial and every USB field it gives agrees. Returns the
/// medium id and an explanation.
pub fn match_usb_only(id: &Identity, register: &MediaRegister) -> (Option<String>, String) {
    let Some(serial) = id.serial.as_deref() else {
        return (
            None,
            "no serial number was logged: cannot be tied to a register entry".into(),
        );
    };
    let hex = |a: &Option<String>, b: &Option<String>| match (a, b) {
        (None, _) => true,
        (Some(a), Some(b)) => norm_id(a) == norm_id(b),
        (Some(_), None) => false,
    };
    let same_serial: Vec<&MediumEntry> = register
        .media
        .iter()
        .filter(|e| {
            e.serial
                .as_deref()
                .is_some_and(|s| s.trim().eq_ignore_ascii_case(serial.trim()))
        })
        .collect();
    let full: Vec<&&MediumEntry> = same_serial
        .iter()
        .filter(|e| hex(&e.vendor_id, &id.vendor_id) && hex(&e.product_id, &id.product_id))
        .collect();
    let weak = if id.serial_quality.trustworthy() {
        ""
    } else {
        " (weak: the serial is not trustworthy)"
    };
    match (full.as_slice(), same_serial.as_slice()) {
        ([one], _) => (
            Some(one.id.clone()),
            format!("registered as {} by serial{weak}", one.id),
        ),
        ([], []) => (None, "not in the media register".into()),
        ([], some) => (
            None,
            format!(
                "suspicious: serial of {} but other vendor/product ids (cloned?)",
                some.iter()
                    .map(|e| e.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        (many, _) => (
            None,
            format!(
                "ambiguous: the serial matches {}",
                many.iter()
                    .map(|e| e.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    }
}

/// Whether a serial of this quality should be noted in the explanation.
pub fn serial_note(q: SerialQuality) -> Option<&'static str> {
    match q {
        SerialQuality::Ok => None,
        SerialQuality::Missing => Some("the device reports no serial number"),
        SerialQuality::Garbage => Some("the serial number is garbage (non-ASCII or control bytes)"),
        SerialQuality::KnownDuplicate => Some("the serial number is a value many devices share"),
        SerialQuality::Weak => {
            Some("the serial number is too short or repetitive to identify a device")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, f: impl FnOnce(&mut MediumEntry)) -> MediumEntry {
        let mut e = MediumEntry {
            id: id.into(),
            serial: None,
            vendor_id: None,
            product_id: None,
            fs_uuid: None,
            label: None,
            level: None,
            holder: None,
            kind: None,
            description: None,
        };
        f(&mut e);
        e
    }

    fn reg() -> MediaRegister {
        MediaRegister {
            media: vec![
                entry("BM-017", |e| {
                    e.serial = Some("4C530001230915103392".into());
                    e.vendor_id = Some("0781".into());
                    e.product_id = Some("5581".into());
                    e.fs_uuid = Some("1A2B-3C4D".into());
                    e.level = Some(Classification::Secret);
                }),
                entry("BM-018", |e| {
                    e.serial = Some("4C530001230915109999".into());
                    e.vendor_id = Some("0781".into());
                    e.product_id = Some("5581".into());
                }),
                entry("BM-020", |e| {
                    e.fs_uuid = Some("0f0e4c1c-1111-4a4a-9b9b-000000000020".into());
                    e.label = Some("BM020".into());
                }),
            ],
        }
    }

    fn stick(serial: &str, uuid: &str) -> Identity {
        Identity {
            serial: Some(serial.into()),
            serial_quality: crate::identity::serial_quality(Some(serial)),
            vendor_id: Some("0781".into()),
            product_id: Some("5581".into()),
            fs_uuid: Some(uuid.into()),
            ..Identity::default()
        }
    }

    #[test]
    fn registered_when_every_given_field_agrees() {
        let m = match_register(&stick("4c530001230915103392", "1a2b-3c4d"), &reg());
        assert_eq!(m.status, MatchStatus::Registered, "{m:?}");
        assert_eq!(m.medium_id.as_deref(), Some("BM-017"));
        assert_eq!(m.level, Some(Classification::Secret));
        assert!(!m.weak);
        // BM-018 shares only vendor/product ids: not a partial match.
        assert_eq!(m.entries.len(), 1);
    }

    #[test]
    fn same_model_other_stick_is_registered_under_its_own_entry() {
        let m = match_register(&stick("4C530001230915109999", "ABCD-0000"), &reg());
        assert_eq!(m.medium_id.as_deref(), Some("BM-018"));
    }

    #[test]
    fn cloned_serial_with_other_filesystem_is_suspicious() {
        let m = match_register(&stick("4C530001230915103392", "9999-0000"), &reg());
        assert_eq!(m.status, MatchStatus::Suspicious);
        assert_eq!(m.medium_id, None);
        assert!(m.explanation.contains("BM-017"), "{}", m.explanation);
        assert!(
            m.explanation
                .contains("fs_uuid 9999-0000 (registered 1A2B-3C4D)"),
            "{}",
            m.explanation
        );
    }

    #[test]
    fn same_label_other_uuid_is_suspicious() {
        let id = Identity {
            fs_uuid: Some("0f0e4c1c-1111-4a4a-9b9b-0000000000ff".into()),
            label: Some("BM020".into()),
            ..Identity::default()
        };
        let m = match_register(&id, &reg());
        assert_eq!(m.status, MatchStatus::Suspicious);
        assert!(
            m.explanation.contains("agrees on label"),
            "{}",
            m.explanation
        );
    }

    #[test]
    fn unknown_field_is_not_agreement() {
        let id = Identity {
            label: Some("BM020".into()),
            ..Identity::default()
        };
        let m = match_register(&id, &reg());
        assert_eq!(m.status, MatchStatus::Suspicious);
        assert!(
            m.explanation.contains("fs_uuid unknown"),
            "{}",
            m.explanation
        );
    }

    #[test]
    fn two_full_matches_are_suspicious() {
        let mut r = reg();
        r.media
            .push(entry("BM-099", |e| e.fs_uuid = Some("1A2B-3C4D".into())));
        let m = match_register(&stick("4C530001230915103392", "1A2B-3C4D"), &r);
        assert_eq!(m.status, MatchStatus::Suspicious);
        assert!(
            m.explanation.contains("BM-017, BM-099"),
            "{}",
            m.explanation
        );
    }

    #[test]
    fn nothing_in_common_is_unregistered() {
        let id = Identity {
            fs_uuid: Some("5555-6666".into()),
            ..Identity::default()
        };
        let m = match_register(&id, &reg());
        assert_eq!(m.status, MatchStatus::Unregistered);
        assert!(m.entries.is_empty());
        assert_eq!(
            match_register(&id, &MediaRegister::default()).status,
            MatchStatus::Unregistered
        );
    }

    #[test]
    fn ids_compare_as_hex_and_weak_matches_are_flagged() {
        let r = MediaRegister {
            media: vec![entry("VID", |e| {
                e.vendor_id = Some("0x781".into());
                e.product_id = Some("5581".into());
            })],
        };
        let m = match_register(&stick("AA00000000000489", "x"), &r);
        assert_eq!(m.status, MatchStatus::Registered);
        assert!(m.weak);
        let r = MediaRegister {
            media: vec![entry("SER", |e| e.serial = Some("AA00000000000489".into()))],
        };
        let m = match_register(&stick("AA00000000000489", "x"), &r);
        assert!(m.weak, "a known-duplicate serial alone is weak");
    }
}
