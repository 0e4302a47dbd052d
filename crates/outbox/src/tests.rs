//! Invariant and model tests of the outbox (the kill-mid-write test is in
//! `tests/kill.rs`, it needs a child process).

use super::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::VecDeque;

fn open(dir: &Path) -> Outbox {
    Outbox::open(dir, Limits::default()).unwrap()
}

#[test]
fn push_peek_ack_in_order_and_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut ob = open(dir.path());
    let a = ob.push(b"one", Class::Full).unwrap().id;
    let b = ob.push(b"two", Class::Findings).unwrap().id;
    assert!(a < b);
    drop(ob);
    let mut ob = open(dir.path());
    assert_eq!(ob.len(), 2);
    assert_eq!(ob.peek().unwrap().unwrap().bytes, b"one");
    assert!(ob.ack(a).unwrap());
    assert!(!ob.ack(a).unwrap(), "second ack is a no-op");
    let c = ob.push(b"three", Class::Heartbeat).unwrap().id;
    assert!(c > b, "ids resume above the largest on disk");
    drop(ob);
    let mut ob = open(dir.path());
    let e = ob.peek().unwrap().unwrap();
    assert_eq!(
        (e.id, e.class, e.bytes.as_slice()),
        (b, Class::Findings, &b"two"[..])
    );
    assert_eq!(
        ob.entries(),
        vec![(b, Class::Findings), (c, Class::Heartbeat)]
    );
}

#[test]
fn ids_never_reused_after_ack_within_a_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut ob = open(dir.path());
    let a = ob.push(b"x", Class::Full).unwrap().id;
    ob.ack(a).unwrap();
    let b = ob.push(b"y", Class::Full).unwrap().id;
    assert!(b > a);
}

#[test]
fn second_open_is_refused_while_locked() {
    let dir = tempfile::tempdir().unwrap();
    let _ob = open(dir.path());
    match Outbox::open(dir.path(), Limits::default()) {
        Err(Error::Locked { .. }) => {}
        other => panic!("expected Locked, got {other:?}"),
    }
}

#[test]
fn partial_write_is_removed_and_corrupt_entry_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let mut ob = open(dir.path());
    let a = ob.push(b"good", Class::Full).unwrap().id;
    let b = ob.push(b"will be corrupted", Class::Findings).unwrap().id;
    let c = ob.push(b"also good", Class::Findings).unwrap().id;
    drop(ob);
    // A push that died before its rename.
    fs::write(
        dir.path().join(format!("{:020}.tmp", c + 1)),
        b"MJOB\x01half",
    )
    .unwrap();
    // Bit rot in b.
    let pb = dir.path().join(entry_name(b, Class::Findings));
    let mut data = fs::read(&pb).unwrap();
    let last = data.len() - 1;
    data[last] ^= 0x55;
    fs::write(&pb, data).unwrap();
    // A stray file.
    fs::write(dir.path().join("README"), b"hello").unwrap();

    let mut ob = open(dir.path());
    assert_eq!(ob.recovery().removed_partial, 1);
    assert_eq!(ob.recovery().quarantined.len(), 2, "{:?}", ob.recovery());
    assert!(
        ob.recovery().quarantined.iter().all(|p| p.exists()),
        "kept, not deleted"
    );
    assert_eq!(ob.entries(), vec![(a, Class::Full), (c, Class::Findings)]);
    assert_eq!(ob.peek().unwrap().unwrap().bytes, b"good");
    let d = ob.push(b"next", Class::Full).unwrap().id;
    assert!(
        d > c + 1,
        "the id of the partial push is not reused either: {d}"
    );
}

#[test]
fn corruption_after_open_is_quarantined_on_peek() {
    let dir = tempfile::tempdir().unwrap();
    let mut ob = open(dir.path());
    let a = ob.push(b"first", Class::Full).unwrap().id;
    ob.push(b"second", Class::Full).unwrap();
    fs::write(dir.path().join(entry_name(a, Class::Full)), b"garbage").unwrap();
    assert_eq!(ob.peek().unwrap().unwrap().bytes, b"second");
    assert_eq!(ob.len(), 1);
    assert_eq!(ob.recovery().quarantined.len(), 1);
}

fn small(max_entries: usize) -> Limits {
    Limits {
        max_bytes: u64::MAX / 4,
        max_entries,
        alarm_reserve_bytes: 0,
    }
}

#[test]
fn eviction_drops_heartbeats_first_then_superseded_full_never_findings() {
    let dir = tempfile::tempdir().unwrap();
    let mut ob = Outbox::open(dir.path(), small(4)).unwrap();
    let f1 = ob.push(b"full1", Class::Full).unwrap().id;
    let h1 = ob.push(b"hb1", Class::Heartbeat).unwrap().id;
    let x1 = ob.push(b"find1", Class::Findings).unwrap().id;
    let h2 = ob.push(b"hb2", Class::Heartbeat).unwrap().id;
    // Full: the oldest heartbeat goes.
    let p = ob.push(b"full2", Class::Full).unwrap();
    assert_eq!(p.evicted, vec![(h1, Class::Heartbeat)]);
    let f2 = p.id;
    // Again: the other heartbeat.
    let p = ob.push(b"find2", Class::Findings).unwrap();
    assert_eq!(p.evicted, vec![(h2, Class::Heartbeat)]);
    let x2 = p.id;
    // No heartbeat left: the superseded full report f1 goes, f2 (newest full) stays.
    let p = ob.push(b"hb3", Class::Heartbeat).unwrap();
    assert_eq!(p.evicted, vec![(f1, Class::Full)]);
    let h3 = p.id;
    // A findings report: the heartbeat goes first.
    let p = ob.push(b"find3", Class::Findings).unwrap();
    assert_eq!(p.evicted, vec![(h3, Class::Heartbeat)]);
    let x3 = p.id;
    // f2 is superseded by x2/x3 (later reports with a full check's weight).
    let p = ob.push(b"find4", Class::Findings).unwrap();
    assert_eq!(p.evicted, vec![(f2, Class::Full)]);
    let x4 = p.id;
    // Only evidence left: refused, nothing dropped.
    let before = ob.entries();
    match ob.push(b"find5", Class::Findings) {
        Err(Error::Full { entries: 4, .. }) => {}
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(ob.entries(), before);
    assert_eq!(
        before,
        vec![
            (x1, Class::Findings),
            (x2, Class::Findings),
            (x3, Class::Findings),
            (x4, Class::Findings)
        ]
    );
    // An alarm may use the reserve.
    let a = ob.push(b"outbox full", Class::Alarm).unwrap();
    assert!(a.evicted.is_empty());
    assert_eq!(ob.len(), 5);
}

#[test]
fn newest_full_report_survives_a_flood_of_heartbeats() {
    let dir = tempfile::tempdir().unwrap();
    let mut ob = Outbox::open(dir.path(), small(3)).unwrap();
    let f = ob.push(b"full", Class::Full).unwrap().id;
    for i in 0..20u32 {
        ob.push(&i.to_le_bytes(), Class::Heartbeat).unwrap();
    }
    assert_eq!(ob.entries()[0], (f, Class::Full));
    assert_eq!(ob.len(), 3);
}

#[test]
fn byte_bound_counts_headers_and_check_room_is_a_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_bytes: 3 * (HEADER as u64 + 100),
        max_entries: 1000,
        alarm_reserve_bytes: HEADER as u64 + 10,
    };
    let mut ob = Outbox::open(dir.path(), limits).unwrap();
    let h = ob.push(&[1; 100], Class::Heartbeat).unwrap().id;
    ob.push(&[2; 100], Class::Findings).unwrap();
    ob.push(&[3; 100], Class::Findings).unwrap();
    assert_eq!(ob.used_bytes(), limits.max_bytes);
    assert_eq!(
        ob.check_room(100, Class::Findings).unwrap(),
        vec![(h, Class::Heartbeat)]
    );
    assert_eq!(ob.len(), 3, "check_room changes nothing");
    assert!(matches!(
        ob.check_room(101, Class::Findings),
        Err(Error::Full { .. })
    ));
    ob.push(&[4; 100], Class::Findings).unwrap();
    assert!(matches!(
        ob.push(&[5; 11], Class::Alarm),
        Err(Error::Full { .. })
    ));
    ob.push(&[5; 10], Class::Alarm).unwrap();
}

/// Reference model: the eviction rule written the obvious way.
#[derive(Default)]
struct Model {
    q: VecDeque<(Id, Class, Vec<u8>)>,
    next: Id,
}

impl Model {
    fn push(&mut self, limits: &Limits, bytes: &[u8], class: Class) -> Option<(Id, Vec<Id>)> {
        let alarm = class == Class::Alarm;
        let blimit = limits.max_bytes + if alarm { limits.alarm_reserve_bytes } else { 0 };
        let elimit = limits.max_entries + if alarm { ALARM_RESERVE_ENTRIES } else { 0 };
        let need = bytes.len() as u64 + HEADER as u64;
        let mut q: Vec<_> = self.q.iter().cloned().collect();
        let used = |q: &Vec<(Id, Class, Vec<u8>)>| {
            q.iter()
                .map(|e| e.2.len() as u64 + HEADER as u64)
                .sum::<u64>()
        };
        let fits = |q: &Vec<(Id, Class, Vec<u8>)>| used(q) + need <= blimit && q.len() < elimit;
        let mut evicted = Vec::new();
        while !fits(&q) {
            if let Some(i) = q.iter().position(|e| e.1 == Class::Heartbeat) {
                evicted.push(q.remove(i).0);
                continue;
            }
            let superseded = |i: usize, q: &Vec<(Id, Class, Vec<u8>)>| {
                matches!(class, Class::Full | Class::Findings)
                    || q[i + 1..]
                        .iter()
                        .any(|e| matches!(e.1, Class::Full | Class::Findings))
            };
            if let Some(i) = (0..q.len()).find(|&i| q[i].1 == Class::Full && superseded(i, &q)) {
                evicted.push(q.remove(i).0);
                continue;
            }
            return None;
        }
        self.next += 1;
        let id = self.next;
        q.push((id, class, bytes.to_vec()));
        self.q = q.into();
        Some((id, evicted))
    }
}

#[test]
fn model_random_operations() {
    for seed in 0..16u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits {
            max_bytes: rng.gen_range(200..2000),
            max_entries: rng.gen_range(1..12),
            alarm_reserve_bytes: rng.gen_range(0..300),
        };
        let mut ob = Some(Outbox::open(dir.path(), limits).unwrap());
        let mut model = Model::default();
        // Map the model's ids to the outbox's (they differ only by offset, but
        // do not rely on that).
        let mut ids: Vec<(Id, Id)> = Vec::new();
        for step in 0..120 {
            let o = ob.as_mut().unwrap();
            match rng.gen_range(0..10) {
                0..=4 => {
                    let class = [Class::Heartbeat, Class::Full, Class::Findings, Class::Alarm]
                        [rng.gen_range(0..4)];
                    let len = rng.gen_range(0..200);
                    let bytes: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
                    let want = model.push(&limits, &bytes, class);
                    let got = o.push(&bytes, class);
                    match (want, got) {
                        (None, Err(Error::Full { .. })) => {}
                        (Some((mid, mev)), Ok(p)) => {
                            ids.push((mid, p.id));
                            let map =
                                |m: &Id| ids.iter().find(|(a, _)| a == m).map(|x| x.1).unwrap();
                            let want_ev: Vec<Id> = mev.iter().map(map).collect();
                            let got_ev: Vec<Id> = p.evicted.iter().map(|e| e.0).collect();
                            assert_eq!(got_ev, want_ev, "seed {seed} step {step}");
                        }
                        (w, g) => panic!("seed {seed} step {step}: model {w:?}, outbox {g:?}"),
                    }
                }
                5 | 6 => {
                    let head = o.peek().unwrap();
                    let mhead = model.q.front();
                    assert_eq!(
                        head.as_ref().map(|e| e.bytes.clone()),
                        mhead.map(|e| e.2.clone()),
                        "seed {seed} step {step}"
                    );
                    if let Some(e) = head {
                        assert!(o.ack(e.id).unwrap());
                        model.q.pop_front();
                    }
                }
                7 => {
                    if !model.q.is_empty() {
                        let i = rng.gen_range(0..model.q.len());
                        let (mid, _, _) = model.q.remove(i).unwrap();
                        let oid = ids.iter().find(|(a, _)| *a == mid).unwrap().1;
                        assert!(o.ack(oid).unwrap());
                    }
                }
                8 => {
                    drop(ob.take());
                    ob = Some(Outbox::open(dir.path(), limits).unwrap());
                }
                _ => {
                    let got: Vec<Vec<u8>> = o
                        .entries()
                        .iter()
                        .map(|(id, _)| o.clone_bytes(*id))
                        .collect();
                    let want: Vec<Vec<u8>> = model.q.iter().map(|e| e.2.clone()).collect();
                    assert_eq!(got, want, "seed {seed} step {step}");
                }
            }
            let o = ob.as_ref().unwrap();
            assert_eq!(o.len(), model.q.len(), "seed {seed} step {step}");
            let mused: u64 = model
                .q
                .iter()
                .map(|e| e.2.len() as u64 + HEADER as u64)
                .sum();
            assert_eq!(o.used_bytes(), mused);
            let cap = limits.max_bytes + limits.alarm_reserve_bytes;
            assert!(o.used_bytes() <= cap, "bound holds");
        }
    }
}

impl Outbox {
    fn clone_bytes(&self, id: Id) -> Vec<u8> {
        let m = self.index[&id];
        read_entry(&self.dir.join(entry_name(id, m.class)), m.class)
            .unwrap()
            .unwrap()
    }
}

/// Issue 11: a refused entry leaves the queue (the next one comes out) but
/// is kept under `rejected/`, and a reopen does not bring it back.
#[test]
fn set_aside_moves_the_entry_out_of_the_queue_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut ob = Outbox::open(dir.path(), Limits::default()).unwrap();
    let a = ob.push(b"refused", Class::Findings).unwrap().id;
    let b = ob.push(b"next", Class::Full).unwrap().id;
    let kept = ob.set_aside(a).unwrap().unwrap();
    assert_eq!(std::fs::read(&kept).unwrap()[16..], b"refused"[..]);
    assert_eq!(ob.peek().unwrap().unwrap().id, b);
    assert_eq!(ob.set_aside(a).unwrap(), None);
    drop(ob);
    let mut ob = Outbox::open(dir.path(), Limits::default()).unwrap();
    assert_eq!(ob.len(), 1);
    assert_eq!(ob.peek().unwrap().unwrap().bytes, b"next");
    assert!(ob.recovery().quarantined.is_empty());
}
