//! Kill-mid-write: a child process pushes and acks as fast as it can and
//! prints every operation after it returned; the parent SIGKILLs it at a
//! random instant, reopens the outbox and checks that it is not corrupt, that
//! every push the child saw return is there with its exact bytes (unless the
//! child also saw its ack return), and that the order is the push order.

use mijian_outbox::{Class, Limits, Outbox};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD_ENV: &str = "MIJIAN_OUTBOX_KILL_CHILD";

fn payload(n: u64) -> Vec<u8> {
    // Sizes from a few bytes to ~150 KB so some writes span many pages.
    let len = ((n * 7919) % 150_000) as usize;
    let mut v = n.to_le_bytes().to_vec();
    v.extend((0..len).map(|i| (n as usize + i * 31) as u8));
    v
}

/// The child's work loop; only runs when re-executed by `kill_at_random_points`.
#[test]
fn child_writer() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let mut ob = Outbox::open(std::path::Path::new(&dir), Limits::default()).unwrap();
    let mut n: u64 = std::env::var("START").unwrap().parse().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(n);
    loop {
        let p = ob.push(&payload(n), Class::Findings).unwrap();
        println!("push {} {n}", p.id);
        n += 1;
        if rng.gen_bool(0.4)
            && let Some(e) = ob.peek().unwrap()
        {
            // Announced first: a kill between ack and the next line must
            // not look like a lost entry.
            println!("acking {}", e.id);
            ob.ack(e.id).unwrap();
            println!("ack {}", e.id);
        }
    }
}

#[test]
fn kill_at_random_points() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6d696a69);
    // id -> payload number, for pushes seen returned and not seen acked.
    let mut expect: BTreeMap<u64, u64> = BTreeMap::new();
    let mut start = 0u64;
    let mut total_pushes = 0;
    for round in 0..25 {
        let mut child = Command::new(&exe)
            .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .env("START", start.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.gen_range(20..250)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        for line in out.lines() {
            let line = line.unwrap();
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                ["push", id, n] => {
                    expect.insert(id.parse().unwrap(), n.parse().unwrap());
                    start = start.max(n.parse::<u64>().unwrap() + 1);
                    total_pushes += 1;
                }
                ["acking", id] => {
                    expect.remove(&id.parse().unwrap());
                }
                ["ack", _] => {}
                // A line cut by the kill, or test harness chatter.
                _ => {}
            }
        }
        // Leave room between rounds: a push may have completed without its line.
        start += 1;

        let mut ob = Outbox::open(dir.path(), Limits::default()).unwrap();
        assert!(
            ob.recovery().quarantined.is_empty(),
            "round {round}: {:?}",
            ob.recovery()
        );
        let ids: Vec<u64> = ob.entries().iter().map(|e| e.0).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        for (id, n) in &expect {
            let e = ob
                .get(*id)
                .unwrap()
                .unwrap_or_else(|| panic!("round {round}: acknowledged push {id} lost"));
            assert_eq!(e.bytes, payload(*n), "round {round}: entry {id}");
        }
        // Entries the child pushed but whose line was lost are intact too.
        for id in &ids {
            assert!(ob.get(*id).unwrap().is_some());
        }
        // Keep the state the model tracks: anything on disk beyond `expect`
        // is a push whose line was cut; adopt it so later rounds check it.
        for id in ids {
            if let std::collections::btree_map::Entry::Vacant(slot) = expect.entry(id) {
                let e = ob.get(id).unwrap().unwrap();
                let mut nb = [0u8; 8];
                nb.copy_from_slice(&e.bytes[..8]);
                let n = u64::from_le_bytes(nb);
                assert_eq!(e.bytes, payload(n), "round {round}: entry {id}");
                slot.insert(n);
            }
        }
    }
    assert!(total_pushes > 25, "the child made progress: {total_pushes}");
    eprintln!("kill test: {total_pushes} pushes over 25 kills");
}
