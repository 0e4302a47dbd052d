//! USB storage history from committed sample logs
//! (`fixtures/media/history/var/log`: RFC 3339 kern.log, traditional
//! kern.log.1, gzip kern.log.2.gz, syslog repeating kernel lines).

use mijian_media::usb_history;
use mijian_policy::{MediaRegister, MediumEntry};
use mijian_report::{FindingKind, Severity};
use std::path::Path;

fn register() -> MediaRegister {
    MediaRegister {
        media: vec![MediumEntry {
            id: "BM-U-2024-017".into(),
            serial: Some("4C530001230915103392".into()),
            vendor_id: Some("0781".into()),
            product_id: Some("5581".into()),
            fs_uuid: Some("1A2B-3C4D".into()),
            label: None,
            level: None,
            holder: None,
            kind: None,
            description: None,
        }],
    }
}

#[test]
fn history_from_sample_logs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/media/history");
    let found = usb_history(&root, &register());
    let by = |vid: &str| {
        found
            .iter()
            .find(|f| f.detail.as_ref().unwrap()["vendor_id"] == vid)
            .unwrap_or_else(|| panic!("{vid} missing from {found:#?}"))
    };
    assert_eq!(found.len(), 4, "storage only, one per device: {found:#?}");
    assert!(found.iter().all(|f| f.kind == FindingKind::UsbHistory));

    let sandisk = by("0781");
    assert_eq!(sandisk.registered, Some(true));
    assert_eq!(sandisk.medium_id.as_deref(), Some("BM-U-2024-017"));
    assert_eq!(sandisk.severity, Severity::Info);
    let d = sandisk.detail.as_ref().unwrap();
    assert_eq!(d["count"], 2, "kern.log and syslog repeat one event: {d}");
    assert_eq!(d["product"], "SanDisk 3.2Gen1");
    assert_eq!(d["times"][0], "2024-05-06T10:15:01.101234+08:00");
    assert_eq!(d["times"][1], "Apr 29 09:01:02");
    assert_eq!(d["sources"].as_array().unwrap().len(), 3);

    let kingston = by("0951");
    assert_eq!(kingston.registered, Some(false));
    assert_eq!(kingston.severity, Severity::Medium);
    assert_eq!(
        kingston.detail.as_ref().unwrap()["manufacturer"],
        "Kingston"
    );

    let generic = by("058f");
    assert_eq!(
        generic.detail.as_ref().unwrap()["serial_quality"],
        "known_duplicate"
    );

    // From the gzip file; storage known only from `scsi host6: uas`.
    let clone = by("090c");
    assert_eq!(clone.registered, Some(false));
    assert!(
        clone
            .message
            .as_deref()
            .unwrap()
            .contains("suspicious: serial of BM-U-2024-017"),
        "{:?}",
        clone.message
    );
}

#[test]
fn live_history_does_not_fail() {
    // On a live host journalctl/dmesg may be missing or empty: never an error.
    let t = std::time::Instant::now();
    let found = usb_history(Path::new("/"), &MediaRegister::default());
    eprintln!(
        "live usb_history took {:?}: {} devices",
        t.elapsed(),
        found.len()
    );
    // Whatever this host recorded, each entry is a usb_history finding, and
    // with an empty register none of them can be registered.
    for f in &found {
        assert_eq!(f.kind, FindingKind::UsbHistory);
        assert_ne!(f.registered, Some(true), "{f:?}");
    }
}
