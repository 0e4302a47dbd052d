//! Group commit for a single-writer database (SQLite).
//!
//! Why: SQLite has one writer, and a commit (WAL frames, the page-cache
//! bookkeeping, a checkpoint now and then) costs more than the writes of one
//! report. Under load many ingests wait for the writer at once; the first to
//! get it takes every waiting report and writes them in one transaction, each
//! inside its own savepoint, so a report that fails rolls back alone and the
//! others still commit. Each caller gets its own outcome only after the
//! commit that holds its report has succeeded: "stored" is never said of a
//! report that a later failure could still lose.
//!
//! Classic leader/follower: a caller queues its report, then waits for the
//! writer. Holding it, it either finds its outcome already filled in by an
//! earlier leader (and returns), or drains the queue and leads a batch.

use crate::sql::Conn;
use crate::{NewReport, Outcome, Result, StoreError};
use std::sync::{Arc, Mutex};

/// At most this many reports share one transaction, so the leader's own
/// latency stays bounded however deep the queue is.
const MAX_BATCH: usize = 64;

type Answer = Result<Outcome>;

#[derive(Default)]
pub(crate) struct Slot(Mutex<Option<Answer>>);

impl Slot {
    fn take(&self) -> Option<Answer> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
    fn put(&self, a: Answer) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(a);
    }
}

/// Reports waiting for the writer.
#[derive(Default)]
pub(crate) struct Queue(Mutex<Vec<(NewReport, Arc<Slot>)>>);

impl Queue {
    /// Queue a report; the slot is filled when its batch has committed (or failed).
    pub(crate) fn push(&self, r: NewReport) -> Arc<Slot> {
        let slot = Arc::new(Slot::default());
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((r, slot.clone()));
        slot
    }

    /// With the writer held: return `mine` as soon as some batch has answered
    /// it, leading batches until then.
    pub(crate) fn lead(
        &self,
        c: &mut dyn Conn,
        mine: &Slot,
        write: impl Fn(&mut dyn Conn, &NewReport) -> Result<Outcome>,
    ) -> Answer {
        loop {
            if let Some(a) = mine.take() {
                return a;
            }
            let batch: Vec<_> = {
                let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
                let n = q.len().min(MAX_BATCH);
                q.drain(..n).collect()
            };
            if batch.is_empty() {
                // Only reachable if a slot was lost, which `run` never does.
                return Err(StoreError::Invalid(
                    "group commit lost a report; retry".into(),
                ));
            }
            run(c, batch, &write);
        }
    }
}

/// One transaction, one savepoint per report; answers every slot.
fn run(
    c: &mut dyn Conn,
    batch: Vec<(NewReport, Arc<Slot>)>,
    write: &impl Fn(&mut dyn Conn, &NewReport) -> Result<Outcome>,
) {
    match transaction(c, &batch, write) {
        Ok(answers) => {
            for ((_, slot), a) in batch.into_iter().zip(answers) {
                slot.put(a);
            }
        }
        Err(e) => {
            // Nothing of the batch is stored: every report gets the error.
            let _ = c.batch("ROLLBACK");
            let msg = e.to_string();
            for (_, slot) in batch {
                slot.put(Err(StoreError::Invalid(msg.clone())));
            }
        }
    }
}

/// The per-report answers, or the error that lost the whole transaction.
fn transaction(
    c: &mut dyn Conn,
    batch: &[(NewReport, Arc<Slot>)],
    write: &impl Fn(&mut dyn Conn, &NewReport) -> Result<Outcome>,
) -> Result<Vec<Answer>> {
    c.begin()?;
    let mut answers = Vec::with_capacity(batch.len());
    for (r, _) in batch {
        c.batch("SAVEPOINT report")?;
        match write(c, r) {
            Ok(o) => {
                c.batch("RELEASE report")?;
                answers.push(Ok(o));
            }
            Err(e) => {
                // Undo this report only; the rest of the batch stands. If
                // even that fails the transaction is lost as a whole.
                c.batch("ROLLBACK TO report")?;
                c.batch("RELEASE report")?;
                answers.push(Err(e));
            }
        }
    }
    c.batch("COMMIT")?;
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::{Backend, V};

    fn new_report(seq: i64) -> NewReport {
        NewReport {
            agent_id: "a".into(),
            report_id: format!("r{seq}"),
            seq,
            prev: None,
            payload_sha256: String::new(),
            jws: Vec::new(),
            created_at: String::new(),
            received_at: 0,
            trigger: String::new(),
            compliant: true,
            hostname: String::new(),
            os: String::new(),
            classification: String::new(),
            checks: String::new(),
            failed_checks: 0,
            findings: Vec::new(),
            check_rows: Vec::new(),
            scope: crate::Coverage::full(),
            declared_gaps: Vec::new(),
            policy_version: None,
            policy_digest: None,
        }
    }

    #[test]
    fn a_failing_report_rolls_back_alone_and_the_batch_commits() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::sqlite::Sqlite::open(&dir.path().join("g.db")).unwrap();
        db.with_conn(true, |c| c.batch("CREATE TABLE t (seq INTEGER)"))
            .unwrap();
        let q = Queue::default();
        let slots: Vec<_> = (1..=3).map(|s| q.push(new_report(s))).collect();
        // Writes its row, then fails for seq 2 after writing.
        let write = |c: &mut dyn Conn, r: &NewReport| {
            c.exec("INSERT INTO t (seq) VALUES (?)", &[V::I(r.seq)])?;
            if r.seq == 2 {
                return Err(StoreError::Invalid("boom".into()));
            }
            Ok(Outcome::Stored)
        };
        let mine = db
            .with_conn(true, |c| Ok(q.lead(c, &slots[0], write)))
            .unwrap();
        assert_eq!(mine.unwrap(), Outcome::Stored);
        // The leader answered the others too, in the same transaction.
        assert!(matches!(slots[1].take(), Some(Err(StoreError::Invalid(m))) if m == "boom"));
        assert_eq!(slots[2].take().unwrap().unwrap(), Outcome::Stored);
        let rows = db
            .with_conn(false, |c| c.rows("SELECT seq FROM t ORDER BY seq", &[]))
            .unwrap();
        assert_eq!(rows, vec![vec![V::I(1)], vec![V::I(3)]]);
    }

    #[test]
    fn a_lost_transaction_fails_every_report_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::sqlite::Sqlite::open(&dir.path().join("g.db")).unwrap();
        let q = Queue::default();
        let slots: Vec<_> = (1..=2).map(|s| q.push(new_report(s))).collect();
        // Ending the transaction under the batch's feet: its savepoint is gone.
        let write = |c: &mut dyn Conn, _: &NewReport| {
            c.batch("ROLLBACK")?;
            Ok(Outcome::Stored)
        };
        let mine = db
            .with_conn(true, |c| Ok(q.lead(c, &slots[0], write)))
            .unwrap();
        assert!(mine.is_err());
        assert!(matches!(slots[1].take(), Some(Err(_))));
        // The connection is usable afterwards.
        db.with_conn(true, |c| c.batch("BEGIN; COMMIT")).unwrap();
    }
}
