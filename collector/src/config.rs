//! The collector's configuration file (TOML, every key optional, unknown keys
//! refused) and the defaults that make `mijian-collector serve` work with no
//! file and no flags: a SQLite store in the data directory, plain HTTP on
//! 127.0.0.1:8080. Command-line flags override the file.

use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where the file is looked for when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/mijian/collector.toml";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `sqlite:PATH` or `postgres://…`.
    pub database: Option<String>,
    /// `ADDR:PORT`.
    pub listen: Option<String>,
    /// Serve plain HTTP on a non-loopback address (only behind a
    /// TLS-terminating proxy on a private network).
    #[serde(default)]
    pub plain_http: bool,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub alerts: AlertsConfig,
    #[serde(default)]
    pub policy: PolicyConfig,
}

/// Forwarding of critical alerts (classified file on a non-classified host,
/// unregistered medium on a classified host, chain conflict, revoked key
/// still sending). Every alert is listed in the console either way.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// RFC 5424 syslog receiver: `udp://HOST:PORT` or `tcp://HOST:PORT`
    /// (TCP frames with octet counting, RFC 6587).
    pub syslog: Option<String>,
    /// Webhook: each alert is POSTed as JSON (`http://` or `https://`).
    pub webhook: Option<String>,
    /// PEM certificates an `https://` webhook is verified against (a unit's
    /// own CA); without it, the Mozilla roots built into the collector.
    pub webhook_ca: Option<std::path::PathBuf>,
    /// Attempts per alert and destination before giving up (logged).
    pub max_attempts: i64,
    /// Seconds between forwarding rounds (and retries).
    pub interval_secs: u64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            syslog: None,
            webhook: None,
            webhook_ca: None,
            max_attempts: 10,
            interval_secs: 5,
        }
    }
}

/// `[policy]` (issue 13).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The collector's signing key for policy bundles (private JWK, 0600);
    /// default: `collector-key.jwk` beside the SQLite database, else in the
    /// data directory. Back it up: agents pin its public key.
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body accepted, bytes.
    pub max_body_bytes: usize,
    /// A client must send its request headers within this time.
    pub header_timeout_secs: u64,
    /// A client must send its whole body within this time.
    pub body_timeout_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_body_bytes: 4 * 1024 * 1024,
            header_timeout_secs: 10,
            body_timeout_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Delete reports older than this many days (each host keeps its latest).
    /// Absent: keep everything.
    pub days: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// `mijian_hosts_silent` counts hosts not heard from for longer than this.
    pub silent_after_secs: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            silent_after_secs: 2 * 24 * 3600,
        }
    }
}

impl Config {
    /// Load `--config FILE`, else `MIJIAN_COLLECTOR_CONFIG`, else
    /// [`DEFAULT_CONFIG`] if it exists, else the defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Config> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => match std::env::var_os("MIJIAN_COLLECTOR_CONFIG") {
                Some(p) => PathBuf::from(p),
                None if Path::new(DEFAULT_CONFIG).exists() => PathBuf::from(DEFAULT_CONFIG),
                None => return Ok(Config::default()),
            },
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
    }

    /// The database URL: flag, file, or a SQLite file in the data directory.
    pub fn database_url(&self, flag: Option<&str>) -> String {
        flag.map(str::to_string)
            .or_else(|| self.database.clone())
            .unwrap_or_else(|| format!("sqlite:{}", default_db_path().display()))
    }
}

/// `/var/lib/mijian-collector/collector.db` as root, else under the XDG data dir.
pub fn default_db_path() -> PathBuf {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        return PathBuf::from("/var/lib/mijian-collector/collector.db");
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("mijian-collector/collector.db")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused_and_defaults_fill_in() {
        let c: Config =
            toml::from_str("listen = \"0.0.0.0:9\"\n[limits]\nmax_body_bytes = 10\n").unwrap();
        assert_eq!(c.limits.max_body_bytes, 10);
        assert_eq!(c.limits.body_timeout_secs, 30);
        assert!(toml::from_str::<Config>("lisen = 1").is_err());
        assert!(c.database_url(None).starts_with("sqlite:"));
        assert_eq!(c.database_url(Some("postgres://x")), "postgres://x");
    }
}
