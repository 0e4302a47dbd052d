//! Ingest: one signed report in, one decision out — the single path shared by
//! `POST /api/v1/reports` and `mijian-collector import` (CONTRACT §7).
//!
//! Order matters and is fixed: strict JWS parse → protected header (`alg`
//! must be EdDSA, so `none` is refused before any key is touched) → the
//! enrolled key of `kid` ([`crate::keys`]; unknown or revoked → unauthorised,
//! and the store checks both again in the storing transaction) → signature →
//! payload validation ([`crate::validate`]) → payload `agent_id` = `kid` →
//! chain linking and storage in one transaction ([`mijian_store::Store::ingest`]).
//! This module knows nothing of HTTP; [`Decision::status`] maps to it.

use crate::validate;
use mijian_report::{CheckScope, ContentScope};
use mijian_report::{Finding, Jwk, Jws, JwsError, PublicKey, sha256_hex};
use mijian_store::{ContentCoverage, Coverage, NewCheck, NewFinding, NewReport, Outcome, Store};
use std::sync::Arc;

/// What happened to one signed report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Stored {
        agent_id: String,
        seq: u64,
    },
    Duplicate {
        agent_id: String,
        seq: u64,
    },
    /// Conflicts with the agent's chain; kept as a tamper alert.
    Conflict {
        agent_id: String,
        seq: u64,
        reason: String,
    },
    Rejected(Rejection),
}

/// Why a report was refused before it reached the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub kind: RejectKind,
    /// Stable label for metrics and the JSON `error` field.
    pub reason: &'static str,
    /// One sentence for people.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectKind {
    /// 400: not a well-formed signed report.
    Malformed,
    /// 401: unknown key, revoked key, bad signature, alg other than EdDSA.
    Unauthorized,
    /// 500: the store failed.
    Internal,
}

fn reject(kind: RejectKind, reason: &'static str, message: impl Into<String>) -> Decision {
    Decision::Rejected(Rejection {
        kind,
        reason,
        message: message.into(),
    })
}

impl Decision {
    /// The HTTP status of this decision (CONTRACT §7).
    pub fn status(&self) -> u16 {
        match self {
            Decision::Stored { .. } => 202,
            Decision::Duplicate { .. } => 200,
            Decision::Conflict { .. } => 409,
            Decision::Rejected(r) => match r.kind {
                RejectKind::Malformed => 400,
                RejectKind::Unauthorized => 401,
                RejectKind::Internal => 500,
            },
        }
    }

    /// Label for metrics: `stored`, `duplicate`, `chain_conflict` or the rejection reason.
    pub fn label(&self) -> &'static str {
        match self {
            Decision::Stored { .. } => "stored",
            Decision::Duplicate { .. } => "duplicate",
            Decision::Conflict { .. } => "chain_conflict",
            Decision::Rejected(r) => r.reason,
        }
    }
}

fn jws_rejection(e: &JwsError) -> Decision {
    match e {
        JwsError::Alg(_) => reject(RejectKind::Unauthorized, "bad_alg", e.to_string()),
        JwsError::KidMismatch { .. } | JwsError::SignatureLength | JwsError::BadSignature => {
            reject(RejectKind::Unauthorized, "bad_signature", e.to_string())
        }
        _ => reject(RejectKind::Malformed, "malformed_jws", e.to_string()),
    }
}

/// Decide on one signed report (the JWS bytes as received) and store it.
pub fn ingest(store: &dyn Store, bytes: &[u8], received_at: i64) -> Decision {
    let jws = match Jws::parse(bytes) {
        Ok(j) => j,
        Err(e) => return jws_rejection(&e),
    };
    let kid = match jws.kid() {
        Ok(k) => k,
        Err(e) => return jws_rejection(&e),
    };
    let key = match crate::keys::get(&kid) {
        Some(k) => k,
        None => match enrolled_key(store, &kid) {
            Ok(k) => k,
            Err(d) => return d,
        },
    };
    let verified = match jws.verify_with(&key) {
        Ok(v) => v,
        Err(e) => return jws_rejection(&e),
    };
    let valid = match validate::payload(&verified.payload) {
        Ok(v) => v,
        Err(why) => {
            return reject(
                RejectKind::Malformed,
                "invalid_report",
                format!("payload is not a valid report: {why}"),
            );
        }
    };
    if valid.wire.agent_id != kid {
        return reject(
            RejectKind::Malformed,
            "agent_id_mismatch",
            format!(
                "payload agent_id {} is not the signing key {kid}",
                valid.wire.agent_id
            ),
        );
    }
    let stored = crate::archive::pack(&jws, &verified.payload);
    let new = prepare(&valid, &verified.payload, stored, received_at);
    let (agent_id, seq) = (valid.wire.agent_id.to_string(), valid.wire.seq);
    match store.ingest(new) {
        Ok(Outcome::Stored) => Decision::Stored { agent_id, seq },
        Ok(Outcome::Duplicate) => Decision::Duplicate { agent_id, seq },
        Ok(Outcome::Conflict(reason)) => Decision::Conflict {
            agent_id,
            seq,
            reason,
        },
        // Revoked (or removed) between the key lookup and the transaction.
        Ok(Outcome::UnknownAgent) => unknown_key(&agent_id),
        Ok(Outcome::Revoked) => revoked_key(&agent_id),
        Err(e) => {
            log::error!("store: ingest of {agent_id} seq {seq}: {e}");
            reject(
                RejectKind::Internal,
                "store_error",
                "internal storage error",
            )
        }
    }
}

fn unknown_key(kid: &str) -> Decision {
    reject(
        RejectKind::Unauthorized,
        "unknown_key",
        format!(
            "no enrolled agent has key {kid}: enroll first (`mijian-agent enroll --collector URL --token TOKEN`), or for an air-gapped host register its key by hand: `mijian-collector agents add --jwk FILE` with the JWK that `mijian-agent key` prints on that host"
        ),
    )
}

/// One journald-friendly line per refused report (never its content): 401s
/// with their reason, 409 as a tamper alert, 400s. `via` is `POST` or `import`.
pub fn log_decision(d: &Decision, via: &str) {
    match d {
        Decision::Stored { .. } | Decision::Duplicate { .. } => {}
        Decision::Conflict {
            agent_id,
            seq,
            reason,
        } => log::error!(
            "TAMPER ALERT: report of agent {agent_id} seq {seq} ({via}) conflicts with its chain (HTTP 409): {reason}"
        ),
        Decision::Rejected(r) => log::warn!(
            "report rejected ({via}): HTTP {} {}: {}",
            d.status(),
            r.reason,
            r.message
        ),
    }
}

fn revoked_key(kid: &str) -> Decision {
    reject(
        RejectKind::Unauthorized,
        "revoked_key",
        format!("agent key {kid} is revoked"),
    )
}

/// The key of an enrolled, unrevoked agent, read from the store and cached.
fn enrolled_key(store: &dyn Store, kid: &str) -> Result<Arc<PublicKey>, Decision> {
    let internal = || {
        reject(
            RejectKind::Internal,
            "store_error",
            "internal storage error",
        )
    };
    let agent = match store.agent(kid) {
        Ok(Some(a)) => a,
        Ok(None) => return Err(unknown_key(kid)),
        Err(e) => {
            log::error!("store: agent lookup: {e}");
            return Err(internal());
        }
    };
    if agent.revoked_at.is_some() {
        return Err(revoked_key(kid));
    }
    let key = Jwk::parse(agent.jwk.as_bytes()).and_then(|j| j.public_key());
    match key {
        Ok(k) if k.kid() == kid => Ok(crate::keys::put(k)),
        Ok(k) => {
            log::error!("stored JWK of {kid} has thumbprint {}", k.kid());
            Err(internal())
        }
        Err(e) => {
            log::error!("stored JWK of {kid} is unusable: {e}");
            Err(internal())
        }
    }
}

/// The identity of "the same finding" across a host's reports.
pub fn fingerprint(f: &Finding) -> String {
    let mut id = String::new();
    for part in [
        Some(f.kind.as_str()),
        f.path_b64.as_deref().or(f.path.as_deref()),
        f.device.as_deref(),
        f.medium_id.as_deref(),
        f.mount_point.as_deref(),
    ] {
        id.push_str(part.unwrap_or(""));
        id.push('\0');
    }
    if f.path.is_none() && f.device.is_none() && f.medium_id.is_none() {
        id.push_str(f.message.as_deref().unwrap_or(""));
    }
    sha256_hex(id.as_bytes())[..32].to_string()
}

fn prepare(v: &validate::Valid, payload: &[u8], jws: Vec<u8>, received_at: i64) -> NewReport {
    let r = &v.wire;
    let findings = v
        .findings
        .iter()
        .zip(&r.findings_raw)
        .map(|(f, raw)| NewFinding {
            fingerprint: fingerprint(f),
            kind: f.kind.as_str().to_string(),
            severity: f.severity.as_str().to_string(),
            severity_rank: f.severity as i64,
            path: f.path.clone(),
            // As the agent sent it: valid JSON, never re-serialised.
            body: raw.get().to_string(),
        })
        .collect();
    let check_rows = v
        .checks
        .iter()
        .zip(&v.checks_raw)
        .map(|(c, raw)| NewCheck {
            id: c.id.to_string(),
            subject: c.subject.to_string(),
            status: c.status.as_str().to_string(),
            body: raw.get().to_string(),
        })
        .collect();
    let scope = v.scope();
    let scope = Coverage {
        all_checks: matches!(scope.checks, CheckScope::All(_)),
        check_ids: match scope.checks {
            CheckScope::All(_) => Vec::new(),
            CheckScope::Ids(ids) => ids,
        },
        content: match scope.content {
            ContentScope::All => ContentCoverage::All,
            ContentScope::Paths => ContentCoverage::Paths(scope.paths),
            ContentScope::None => ContentCoverage::None,
        },
        media: scope.media,
    };
    let declared_gaps = r
        .declared_gaps
        .iter()
        .map(|g| mijian_store::DeclaredGap {
            // validate::payload bounds them below seq, so below i64::MAX.
            from: g.from as i64,
            to: g.to as i64,
            reason: g.reason.clone(),
        })
        .collect();
    NewReport {
        check_rows,
        scope,
        declared_gaps,
        agent_id: r.agent_id.to_string(),
        report_id: r.report_id.to_string(),
        // validate::payload bounds seq to i64.
        seq: r.seq as i64,
        prev: r.prev.0.as_deref().map(str::to_string),
        payload_sha256: sha256_hex(payload),
        jws,
        created_at: r.created_at.to_string(),
        received_at,
        trigger: r.trigger.as_str().to_string(),
        compliant: v.compliant(),
        hostname: r.host.hostname.clone(),
        os: r.host.os.clone(),
        classification: r.host.classification.clone(),
        checks: r.checks_raw.get().to_string(),
        failed_checks: v.failed_checks() as i64,
        findings,
        // A version past i64 is no version the collector published.
        policy_version: r.policy.version.and_then(|v| i64::try_from(v).ok()),
        policy_digest: Some(r.policy.digest.clone()),
    }
}

#[cfg(test)]
mod tests;
