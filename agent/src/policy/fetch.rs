//! Fetching the central policy from the collector (issue 13): `GET
//! /api/v1/policy/bundle` with `If-None-Match` (the applied version's ETag),
//! so a poll while nothing changed is a 304 without a body; the request
//! carries a proof signed with the agent key (`X-Mijian-Agent-Proof`), since
//! only enrolled agents may read the rules. An agent offline for many
//! versions gets the latest in one fetch: bundles are whole, not deltas.
//!
//! The daemon runs [`spawn`]: one thread, one request per `policy_poll`,
//! reporting what happened as daemon events.

use anyhow::{Context, Result, anyhow};
use mijian_policy::bundle::{FETCH_TYP, MAX_BUNDLE_BYTES, etag};
use mijian_report::{AgentKey, Jws};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

use super::{Accepted, accept, applied};
use crate::daemon::Event;

/// What the collector answered.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    NotModified,
    /// The collector holds no policy yet.
    NoPolicy,
    Bundle(Vec<u8>),
}

/// The compact JWS proving the request comes from this enrolled agent.
pub fn proof(key: &AgentKey) -> String {
    let iat = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let payload = serde_json::json!({"agent_id": key.kid(), "iat": iat, "aud": "policy"});
    let jws = Jws::sign_typed(payload.to_string().as_bytes(), key, FETCH_TYP);
    format!("{}.{}.{}", jws.protected, jws.payload, jws.signature)
}

pub struct Fetcher {
    agent: ureq::Agent,
    url: String,
}

impl Fetcher {
    pub fn new(base: &str, ca_file: Option<&Path>) -> Result<Fetcher> {
        crate::config::check_collector_url(base)?;
        let tls = crate::daemon::delivery::https::tls_config(ca_file)?;
        let agent = ureq::AgentBuilder::new()
            .tls_config(Arc::new(tls))
            .timeout_connect(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("mijian-agent/", env!("CARGO_PKG_VERSION")))
            .redirects(0)
            .build();
        Ok(Fetcher {
            agent,
            url: format!("{}/api/v1/policy/bundle", base.trim_end_matches('/')),
        })
    }

    /// One conditional request.
    pub fn fetch(&self, key: &AgentKey, if_none_match: Option<&str>) -> Result<Fetched> {
        let mut req = self
            .agent
            .get(&self.url)
            .set("X-Mijian-Agent-Proof", &proof(key));
        if let Some(tag) = if_none_match {
            req = req.set("If-None-Match", tag);
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(404, _)) => return Ok(Fetched::NoPolicy),
            Err(ureq::Error::Status(code, resp)) => {
                let mut body = String::new();
                let _ = resp.into_reader().take(1024).read_to_string(&mut body);
                return Err(anyhow!(
                    "collector answered HTTP {code} to the policy fetch: {}",
                    body.trim()
                ));
            }
            Err(ureq::Error::Transport(t)) => {
                return Err(anyhow!("cannot reach the collector at {}: {t}", self.url));
            }
        };
        if resp.status() == 304 {
            return Ok(Fetched::NotModified);
        }
        let mut body = Vec::new();
        resp.into_reader()
            .take(MAX_BUNDLE_BYTES as u64 + 1)
            .read_to_end(&mut body)
            .context("cannot read the policy bundle")?;
        Ok(Fetched::Bundle(body))
    }
}

/// One poll: fetch, and accept what came. Returns the event to send, if any.
pub fn poll_once(fetcher: &Fetcher, state_dir: &Path, key: &AgentKey) -> Result<Option<Event>> {
    let tag = applied(state_dir)
        .ok()
        .flatten()
        .map(|a| etag(a.bundle.version, &a.bundle.digest));
    match fetcher.fetch(key, tag.as_deref())? {
        Fetched::NotModified | Fetched::NoPolicy => Ok(None),
        Fetched::Bundle(bytes) => match accept(state_dir, &bytes) {
            Ok(Accepted::Applied { version, from }) => {
                log::info!(
                    "policy version {version} applied (was {})",
                    from.map_or("local rules".to_string(), |f| format!("version {f}"))
                );
                Ok(Some(Event::PolicyApplied(version)))
            }
            Ok(Accepted::Unchanged(_)) => Ok(None),
            Err(r) => {
                log::error!("policy bundle refused: {r}");
                Ok(Some(Event::PolicyAlarm(Box::new(r.finding("collector")))))
            }
        },
    }
}

/// The daemon's policy thread: a poll now, then every `every`.
pub fn spawn(
    url: String,
    ca_file: Option<PathBuf>,
    state_dir: PathBuf,
    key: AgentKey,
    every: Duration,
    tx: Sender<Event>,
) -> Result<()> {
    let fetcher = Fetcher::new(&url, ca_file.as_deref())?;
    std::thread::Builder::new()
        .name("policy".into())
        .spawn(move || {
            loop {
                match poll_once(&fetcher, &state_dir, &key) {
                    Ok(Some(ev)) => {
                        if tx.send(ev).is_err() {
                            return;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => log::warn!("policy fetch: {e:#}"),
                }
                std::thread::sleep(every);
            }
        })
        .context("cannot start the policy thread")?;
    Ok(())
}
