//! Agent configuration (CONTRACT §8): `/etc/mijian/agent.toml`, `--config
//! FILE`, or `$MIJIAN_CONFIG`. Every key is optional and has the default shown
//! in `docs/agent.toml` (the documented example). Unknown keys are errors that
//! name the file and line, so a typo never silently weakens an inspection.
//!
//! Each section belongs to the part of the agent that uses it: `[content]` to
//! the scanner, `[media]` to removable media, `[schedule]`/`[daemon]`/
//! `[collector]` to the daemon.

use anyhow::{Context, Result, bail};
use mijian_policy::Classification;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The system-wide config file.
pub const SYSTEM_CONFIG: &str = "/etc/mijian/agent.toml";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    pub host: HostConfig,
    pub paths: PathsConfig,
    pub collector: CollectorConfig,
    pub content: ContentConfig,
    pub media: MediaConfig,
    pub schedule: ScheduleConfig,
    pub daemon: DaemonConfig,
    /// Where this config was read from (`None`: built-in defaults).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostConfig {
    /// 非涉密 | 内部 | 秘密 | 机密 | 绝密
    pub classification: Classification,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PathsConfig {
    /// Key, chain state, outbox, scan cache. Default: `/var/lib/mijian` as
    /// root, else `$XDG_STATE_HOME/mijian` (`~/.local/state/mijian`).
    pub state_dir: Option<PathBuf>,
    /// Default: `/etc/mijian/rules`, else the repository's `rules/` when run
    /// from a checkout, else the rules built into the binary.
    pub rules_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorConfig {
    /// `https://...`; `http://` only to a loopback address.
    pub url: Option<String>,
    /// PEM CA (or the collector's own certificate) to pin.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContentConfig {
    /// Scanned by `check` and watched by `run`. Default: every interactive
    /// user's home plus the media roots.
    pub paths: Option<Vec<PathBuf>>,
    /// Glob patterns of paths not to scan.
    pub exclude: Vec<String>,
}

impl Default for ContentConfig {
    fn default() -> Self {
        ContentConfig {
            paths: None,
            exclude: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Anything mounted under these is treated as removable media.
    pub roots: Vec<PathBuf>,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            roots: ["/media", "/run/media", "/mnt"].map(PathBuf::from).to_vec(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// Full check period for `run` (humantime: `24h`, `90m`).
    pub interval: String,
    /// Random delay added to each scheduled check (`30m`).
    pub jitter: String,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            interval: "24h".into(),
            jitter: "30m".into(),
        }
    }
}

impl ScheduleConfig {
    pub fn interval(&self) -> Result<Duration> {
        parse_duration("schedule.interval", &self.interval)
    }
    pub fn jitter(&self) -> Result<Duration> {
        parse_duration("schedule.jitter", &self.jitter)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {}

/// Parse a humantime duration with an error naming the key.
pub fn parse_duration(key: &str, s: &str) -> Result<Duration> {
    humantime::parse_duration(s.trim())
        .with_context(|| format!("{key} = {s:?} is not a duration (write e.g. \"24h\", \"30m\", \"90s\")"))
}

impl AgentConfig {
    /// Load from `--config`, else `$MIJIAN_CONFIG`, else `/etc/mijian/agent.toml`
    /// when it exists, else the built-in defaults. An explicitly named file
    /// must exist.
    pub fn load(explicit: Option<&Path>) -> Result<AgentConfig> {
        let env = std::env::var_os("MIJIAN_CONFIG").map(PathBuf::from);
        let (path, must_exist) = match (explicit, env) {
            (Some(p), _) => (p.to_path_buf(), true),
            (None, Some(p)) if !p.as_os_str().is_empty() => (p, true),
            _ => (PathBuf::from(SYSTEM_CONFIG), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if !must_exist && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(AgentConfig::default());
            }
            Err(e) => bail!("cannot read config {}: {e}", path.display()),
        };
        let mut cfg = Self::parse(&path, &text)?;
        cfg.source = Some(path);
        Ok(cfg)
    }

    /// Parse config text; errors name the file and line.
    pub fn parse(path: &Path, text: &str) -> Result<AgentConfig> {
        let cfg: AgentConfig = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                .unwrap_or(0);
            anyhow::anyhow!("{}:{line}: {}", path.display(), e.message())
        })?;
        cfg.schedule.interval()?;
        cfg.schedule.jitter()?;
        if let Some(url) = &cfg.collector.url {
            check_collector_url(url)?;
        }
        Ok(cfg)
    }
}

/// `https://` anywhere; `http://` only to a loopback address (CONTRACT §8).
pub fn check_collector_url(url: &str) -> Result<()> {
    if url.starts_with("https://") {
        return Ok(());
    }
    if let Some(rest) = url.strip_prefix("http://") {
        let host = rest.split(['/', '?']).next().unwrap_or("");
        let host = if let Some(h) = host.strip_prefix('[') {
            h.split(']').next().unwrap_or("")
        } else {
            host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
        };
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if loopback {
            return Ok(());
        }
        bail!("collector.url {url:?}: plain http:// is allowed only to a loopback address; use https://");
    }
    bail!("collector.url {url:?} must start with https:// (or http:// to a loopback address)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_example_parses() {
        let text = r#"
[host]
classification = "机密"
[paths]
state_dir = "/var/lib/mijian"
rules_dir = "/etc/mijian/rules"
[collector]
url = "https://collector.example:8443"
ca_file = "/etc/mijian/collector-ca.pem"
[content]
paths = ["/home"]
exclude = []
[media]
roots = ["/media", "/run/media", "/mnt"]
[schedule]
interval = "24h"
jitter = "30m"
"#;
        let c = AgentConfig::parse(Path::new("a.toml"), text).unwrap();
        assert_eq!(c.host.classification, Classification::Confidential);
        assert_eq!(c.schedule.interval().unwrap(), Duration::from_secs(86400));
    }

    #[test]
    fn typo_names_line() {
        let e = AgentConfig::parse(Path::new("a.toml"), "[host]\n\nclasification = \"秘密\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("a.toml:3:"), "{e}");
    }

    #[test]
    fn http_only_to_loopback() {
        assert!(check_collector_url("http://127.0.0.1:8080").is_ok());
        assert!(check_collector_url("http://[::1]:8080/x").is_ok());
        assert!(check_collector_url("http://localhost").is_ok());
        assert!(check_collector_url("http://10.0.0.1:8080").is_err());
        assert!(check_collector_url("ftp://x").is_err());
    }
}
