//! `mijian-agent enroll --collector URL --token TOKEN` (CONTRACT §2, §7):
//! sends this agent's public JWK and host name with a one-time token to
//! `POST /api/v1/enroll`, and on success saves the collector URL in the state
//! directory, where `run` finds it when `collector.url` is not configured.

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
    let (agent_id, limit) = client.enroll(token.trim(), &jwk, &hostname)?;
    let kid = state.key().kid();
    if agent_id != kid {
        log::warn!("the collector registered this agent as {agent_id}; its key id is {kid}");
    }
    state.set_collector(collector, limit)?;
    eprintln!("mijian-agent: enrolled with {collector} as {agent_id}");
    Ok(())
}
