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

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContentConfig {
    /// Scanned by `check` and watched by `run`. Default: every interactive
    /// user's home plus the media roots.
    pub paths: Option<Vec<PathBuf>>,
    /// Glob patterns of paths not to scan.
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Anything mounted under these is treated as removable media.
    pub roots: Vec<PathBuf>,
    /// What to do with an unregistered medium: `none` (report only, the
    /// default), `read_only` (remount it read-only) or `unmount`.
    pub enforcement: mijian_media::Enforcement,
    /// Per host level, overriding `enforcement`: `{ "机密" = "unmount" }`.
    pub enforcement_by_level: std::collections::BTreeMap<Classification, mijian_media::Enforcement>,
    /// Report earlier USB storage insertions found in the kernel log and journal.
    pub usb_history: bool,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            roots: ["/media", "/run/media", "/mnt"].map(PathBuf::from).to_vec(),
            enforcement: mijian_media::Enforcement::None,
            enforcement_by_level: Default::default(),
            usb_history: true,
        }
    }
}

impl MediaConfig {
    /// The enforcement in force for a host of `level`.
    pub fn enforcement_for(&self, level: Classification) -> mijian_media::Enforcement {
        self.enforcement_by_level
            .get(&level)
            .copied()
            .unwrap_or(self.enforcement)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// Full check period for `run` (humantime: `24h`, `90m`).
    pub interval: String,
    /// Random delay added to each scheduled check (`30m`), so that many
    /// hosts do not all scan at the same minute.
    pub jitter: String,
    /// Addition: local time window for scheduled checks, `"HH:MM-HH:MM"`
    /// (may wrap midnight, e.g. `"22:00-06:00"`); empty = any time. The boot
    /// check, media and file changes are never held back by it.
    pub window: String,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            interval: "24h".into(),
            jitter: "30m".into(),
            window: String::new(),
        }
    }
}

impl ScheduleConfig {
    pub fn interval(&self) -> Result<Duration> {
        let d = parse_duration("schedule.interval", &self.interval)?;
        if d < Duration::from_secs(10) {
            bail!(
                "schedule.interval = {:?} is shorter than 10 s; full checks that often would never let the host rest",
                self.interval
            );
        }
        Ok(d)
    }
    pub fn jitter(&self) -> Result<Duration> {
        parse_duration("schedule.jitter", &self.jitter)
    }
    /// The window as minutes after local midnight `(start, end)`, `None` if unset.
    pub fn window(&self) -> Result<Option<(u32, u32)>> {
        let w = self.window.trim();
        if w.is_empty() {
            return Ok(None);
        }
        let hm = |t: &str| -> Option<u32> {
            let (h, m) = t.trim().split_once(':')?;
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (h < 24 && m < 60).then_some(h * 60 + m)
        };
        match w.split_once('-').and_then(|(a, b)| Some((hm(a)?, hm(b)?))) {
            Some((a, b)) if a != b => Ok(Some((a, b))),
            _ => bail!(
                "schedule.window = {w:?}: write \"HH:MM-HH:MM\" in local time, e.g. \"09:00-17:00\" or \"22:00-06:00\""
            ),
        }
    }
}

/// `[daemon]`: how `mijian-agent run` behaves. Defaults in `docs/agent.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// A small liveness report this often, so the collector can tell a
    /// silent host from a healthy one. `"0s"` disables it.
    pub heartbeat: String,
    /// Run a full check (trigger `boot`) when the daemon starts.
    pub boot_check: bool,
    /// Watch removable-media mounts (trigger `media`).
    pub media_watch: bool,
    /// Watch the content paths for changes (trigger `file_change`).
    pub file_watch: bool,
    /// Quiet time after the last change before the changed files are scanned.
    pub debounce: String,
    /// Most inotify watches (one per directory) to use; `0` = half of
    /// `fs.inotify.max_user_watches`. Directories beyond it are rescanned
    /// every `rescan_interval` instead.
    pub max_watches: u64,
    /// Period of the incremental rescan of what is not watched (through the
    /// scan cache: only changed files are read again).
    pub rescan_interval: String,
    /// Average CPU the daemon's inspections may use, in percent of one core
    /// (`100` = no limit). Enforced by pausing between inspections; the
    /// systemd unit also sets `CPUQuota`.
    pub cpu_budget_percent: u32,
    /// Scheduling niceness of the inspection thread (0..19).
    pub nice: i32,
    /// Put the inspection thread in the idle I/O class (Linux `ioprio`).
    pub io_idle: bool,
    /// Size bound of the outbox in MiB; see `mijian-outbox` for what is
    /// evicted when it is reached (never evidence).
    pub outbox_max_mb: u64,
    /// Entry bound of the outbox.
    pub outbox_max_entries: usize,
    /// First delay after a failed delivery; doubles up to `retry_max`.
    pub retry_min: String,
    /// Longest delay between delivery attempts.
    pub retry_max: String,
    /// Air-gapped hosts: write each signed report into this directory (as
    /// `export` does) instead of, or while no, collector is configured.
    pub export_dir: Option<PathBuf>,
    /// How often to ask the collector whether the central policy changed
    /// (a conditional request: 304 and no body when it did not); `"0s"`
    /// disables it (issue 13).
    pub policy_poll: String,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            heartbeat: "15m".into(),
            boot_check: true,
            media_watch: true,
            file_watch: true,
            debounce: "2s".into(),
            max_watches: 0,
            rescan_interval: "1h".into(),
            cpu_budget_percent: 25,
            nice: 10,
            io_idle: true,
            outbox_max_mb: 256,
            outbox_max_entries: 100_000,
            retry_min: "1s".into(),
            retry_max: "5m".into(),
            export_dir: None,
            policy_poll: "10m".into(),
        }
    }
}

impl DaemonConfig {
    pub fn heartbeat(&self) -> Result<Option<Duration>> {
        let d = parse_duration("daemon.heartbeat", &self.heartbeat)?;
        Ok((!d.is_zero()).then_some(d))
    }
    pub fn debounce(&self) -> Result<Duration> {
        parse_duration("daemon.debounce", &self.debounce)
    }
    pub fn rescan_interval(&self) -> Result<Duration> {
        parse_duration("daemon.rescan_interval", &self.rescan_interval)
    }
    pub fn retry_min(&self) -> Result<Duration> {
        parse_duration("daemon.retry_min", &self.retry_min)
    }
    pub fn retry_max(&self) -> Result<Duration> {
        parse_duration("daemon.retry_max", &self.retry_max)
    }
    pub fn policy_poll(&self) -> Result<Option<Duration>> {
        let d = parse_duration("daemon.policy_poll", &self.policy_poll)?;
        Ok((!d.is_zero()).then_some(d))
    }
    /// Check every value (called by `AgentConfig::parse`).
    pub fn validate(&self) -> Result<()> {
        self.heartbeat()?;
        self.policy_poll()?;
        self.debounce()?;
        self.rescan_interval()?;
        if self.retry_min()? > self.retry_max()? {
            bail!(
                "daemon.retry_min ({}) is longer than daemon.retry_max ({})",
                self.retry_min,
                self.retry_max
            );
        }
        if !(1..=100).contains(&self.cpu_budget_percent) {
            bail!(
                "daemon.cpu_budget_percent = {}: give 1..100 (percent of one core)",
                self.cpu_budget_percent
            );
        }
        if !(0..=19).contains(&self.nice) {
            bail!("daemon.nice = {}: give 0..19", self.nice);
        }
        if self.outbox_max_mb == 0 || self.outbox_max_entries == 0 {
            bail!("daemon.outbox_max_mb and daemon.outbox_max_entries must be at least 1");
        }
        Ok(())
    }
}

/// Parse a humantime duration with an error naming the key.
pub fn parse_duration(key: &str, s: &str) -> Result<Duration> {
    humantime::parse_duration(s.trim()).with_context(|| {
        format!("{key} = {s:?} is not a duration (write e.g. \"24h\", \"30m\", \"90s\")")
    })
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
            _ => (
                crate::platform::system_config_dir().join("agent.toml"),
                false,
            ),
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
        cfg.schedule.window()?;
        cfg.daemon.validate()?;
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
        bail!(
            "collector.url {url:?}: plain http:// is allowed only to a loopback address; use https://"
        );
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
