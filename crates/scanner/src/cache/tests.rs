use super::*;

fn stamp(size: u64, mtime: i64) -> FileStamp {
    FileStamp {
        dev: 1,
        ino: 42,
        size,
        mtime_ns: mtime,
        ctime_ns: mtime,
    }
}

#[test]
fn round_trip_and_stamp_changes() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("sub/cache.bin");
    let mut c = Cache::open(&p, "digest-a", "非涉密");
    assert!(c.is_empty());
    c.put(Path::new("/h/a.txt"), stamp(10, 5), b"[]".to_vec());
    {
        use std::os::unix::ffi::OsStrExt;
        let raw = Path::new(std::ffi::OsStr::from_bytes(b"/h/\xff.txt"));
        c.put(raw, stamp(11, 6), b"v2".to_vec());
    }
    c.save().unwrap();

    let mut c = Cache::open(&p, "digest-a", "非涉密");
    assert_eq!(c.len(), 2);
    assert_eq!(
        c.get(Path::new("/h/a.txt"), &stamp(10, 5)),
        Some(&b"[]"[..])
    );
    // Size, mtime, inode or device changed: a miss.
    assert_eq!(c.get(Path::new("/h/a.txt"), &stamp(11, 5)), None);
    assert_eq!(c.get(Path::new("/h/a.txt"), &stamp(10, 6)), None);
    let mut other = stamp(10, 5);
    other.ino = 43;
    assert_eq!(c.get(Path::new("/h/a.txt"), &other), None);
    assert_eq!(c.get(Path::new("/h/b.txt"), &stamp(10, 5)), None);
}

#[test]
fn policy_or_level_change_starts_empty() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("cache.bin");
    let mut c = Cache::open(&p, "digest-a", "非涉密");
    c.put(Path::new("/a"), stamp(1, 1), b"x".to_vec());
    c.save().unwrap();
    assert!(Cache::open(&p, "digest-b", "非涉密").is_empty());
    assert!(Cache::open(&p, "digest-a", "秘密").is_empty());
    assert_eq!(Cache::open(&p, "digest-a", "非涉密").len(), 1);
}

#[test]
fn corrupt_or_torn_files_start_empty() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("cache.bin");
    let mut c = Cache::open(&p, "d", "l");
    for i in 0..100u64 {
        c.put(Path::new(&format!("/f{i}")), stamp(i, 1), vec![b'v'; 20]);
    }
    c.save().unwrap();
    let good = std::fs::read(&p).unwrap();
    // Every truncation and a flipped byte anywhere: empty, never a wrong hit.
    for cut in [0, 7, 8, 20, good.len() / 2, good.len() - 1] {
        std::fs::write(&p, &good[..cut]).unwrap();
        assert!(Cache::open(&p, "d", "l").is_empty(), "cut at {cut}");
    }
    for pos in [9, 100, good.len() / 2, good.len() - 5] {
        let mut bad = good.clone();
        bad[pos] ^= 0x01;
        std::fs::write(&p, &bad).unwrap();
        assert!(Cache::open(&p, "d", "l").is_empty(), "flip at {pos}");
    }
    // A recovered cache is usable and saves again.
    let mut c = Cache::open(&p, "d", "l");
    c.put(Path::new("/z"), stamp(1, 1), b"ok".to_vec());
    c.save().unwrap();
    let mut c = Cache::open(&p, "d", "l");
    assert_eq!(c.get(Path::new("/z"), &stamp(1, 1)), Some(&b"ok"[..]));
}

#[test]
fn unchanged_cache_is_not_rewritten() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("cache.bin");
    let mut c = Cache::open(&p, "d", "l");
    c.put(Path::new("/a"), stamp(1, 1), b"x".to_vec());
    c.save().unwrap();
    let before = std::fs::metadata(&p).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut c = Cache::open(&p, "d", "l");
    assert!(c.get(Path::new("/a"), &stamp(1, 1)).is_some());
    c.save().unwrap();
    assert_eq!(std::fs::metadata(&p).unwrap().modified().unwrap(), before);
}

#[test]
fn stamp_reads_real_metadata() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("a");
    std::fs::write(&f, "abc").unwrap();
    let s1 = FileStamp::of(&std::fs::symlink_metadata(&f).unwrap());
    assert_eq!(s1.size, 3);
    std::fs::write(&f, "abcd").unwrap();
    let s2 = FileStamp::of(&std::fs::symlink_metadata(&f).unwrap());
    assert_ne!(s1, s2);
}
