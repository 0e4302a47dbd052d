//! `mijian-agent export --out DIR` (CONTRACT §2): every undelivered signed
//! report in the outbox becomes a file `<seq>-<report_id>.jws` in DIR for
//! `mijian-collector import`. Each file is written and synced (file and
//! directory) before its outbox entry is acked, so a crash at any point
//! leaves every report either still queued or safely in DIR (or both, which
//! the collector's idempotent import absorbs).

use anyhow::{Context, Result};
use mijian_outbox::Outbox;
use std::path::Path;

use crate::config::AgentConfig;
use crate::daemon;
use crate::state;

/// Export and ack every queued report; returns how many were written.
pub fn export(cfg: &AgentConfig, out: &Path) -> Result<usize> {
    daemon::logging::init();
    let state_dir = state::default_state_dir(cfg);
    let dir = daemon::outbox_dir(&state_dir);
    if !dir.is_dir() {
        eprintln!(
            "mijian-agent: no outbox in {}: nothing to export",
            state_dir.display()
        );
        return Ok(0);
    }
    let mut outbox = Outbox::open(&dir, daemon::limits(cfg)).with_context(|| {
        "cannot open the outbox (if `mijian-agent run` is running, stop it first — `systemctl stop mijian-agent` — or set [daemon] export_dir so the daemon exports by itself)".to_string()
    })?;
    // Sealed reports whose queueing a crash interrupted (issue 11).
    if let Ok(st) = state::AgentState::open(&state_dir) {
        for p in st.pending()? {
            outbox.push(p.jws.as_bytes(), mijian_outbox::Class::Findings)?;
            st.settle(p.seq)?;
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut n = 0;
    for (id, _class) in outbox.entries() {
        let Some(entry) = outbox.get(id)? else {
            continue;
        };
        let path = daemon::delivery::export::write_report(out, &entry.bytes)?;
        outbox.ack(id)?;
        n += 1;
        log::debug!("exported {}", path.display());
    }
    let q = outbox.recovery().quarantined.len();
    if q > 0 {
        eprintln!(
            "mijian-agent: {q} corrupt outbox entr(ies) were moved to {}/quarantine and not exported",
            dir.display()
        );
    }
    eprintln!("mijian-agent: exported {n} report(s) to {}", out.display());
    Ok(n)
}
