//! `mijian-agent enroll --collector URL --token TOKEN` (CONTRACT §2, §7):
//! sends this agent's public JWK and host name with a one-time token to
//! `POST /api/v1/enroll`, and on success saves the collector URL in the state
//! directory, where `run` finds it when `collector.url` is not configured.
//! It also pins the collector's policy key from the answer (issue 13).

use anyhow::Result;
use mijian_hostcheck::Root;

use crate::config::AgentConfig;
use crate::daemon::delivery::https::Client;
use crate::state::{self, AgentState};

pub fn enroll(cfg: &AgentConfig, collector: &str, token: &str) -> Result<()> {
    crate::daemon::logging::init();
    let collector = collector.trim_end_matches('/');
    let client = Client::new(collector, cfg.collector.ca_file.as_deref())?;
    let state = AgentState::open(&state::default_state_dir(cfg))?;
    let jwk = serde_json::to_value(state.key().public_jwk())?;
    let hostname = crate::inspect::hostname(&Root::live());
    let answer = client.enroll_answer(token.trim(), &jwk, &hostname)?;
    let agent_id = answer
        .get("agent_id")
        .and_then(|a| a.as_str())
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("the enrollment answer has no agent_id"))?;
    let limit = answer.get("max_report_bytes").and_then(|m| m.as_u64());
    // Issue 13: pin the key that signs the collector's policy bundles.
    match answer.get("collector_jwk") {
        Some(k) => {
            let jwk = mijian_report::Jwk::parse(&serde_json::to_vec(k)?)
                .map_err(|e| anyhow::anyhow!("the collector's policy key is unusable: {e}"))?;
            crate::policy::pin(state.dir(), &jwk)?;
            eprintln!(
                "mijian-agent: pinned the collector's policy key {}",
                jwk.thumbprint()
            );
        }
        None => log::warn!(
            "the collector sent no policy key; signed policy bundles will be refused until one is pinned"
        ),
    }
    let kid = state.key().kid();
    if agent_id != kid {
        log::warn!("the collector registered this agent as {agent_id}; its key id is {kid}");
    }
    state.set_collector(collector, limit)?;
    eprintln!("mijian-agent: enrolled with {collector} as {agent_id}");
    Ok(())
}
