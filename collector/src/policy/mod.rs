//! The central policy (issue 13): the collector holds the fleet's rules as
//! numbered versions with a change log, and publishes each version as a
//! bundle signed with its own Ed25519 key (`mijian_policy::bundle`).
//!
//! - [`collector_key`]: the collector's signing key, created on first use and
//!   kept like the agent key (private JWK, mode 0600, written atomically);
//!   its public JWK is returned at enrollment so agents pin it.
//! - [`import`], [`add_exception`], [`remove_exception`]: every change makes
//!   a new version (never rewritten), signed once and stored with the rules
//!   in clear (for `show` and `diff`) and the change's actor and message.
//! - `cli` (the `policy` subcommands) and `api` (the bundle route with
//!   ETag/If-None-Match, the status of the fleet) call these.
//!
//! Hidden mode hashes the keyword terms with the scanner's own `normalise`
//! (the one place the collector uses `mijian-scanner`): a different fold
//! here would make hidden terms silently never match on the agents.

pub mod api;
pub mod cli;

use crate::config::Config;
use anyhow::{Context, Result, bail};
use mijian_policy::Policy;
use mijian_policy::bundle::{self, Bundle, Exception, Mode, RuleFile};
use mijian_report::AgentKey;
use mijian_store::{NewPolicyVersion, PolicyVersion, Store};
use std::path::{Path, PathBuf};

/// File name of the collector key beside the SQLite database.
pub const KEY_FILE: &str = "collector-key.jwk";

/// Where the collector key lives: `[policy] key_file`, else beside the
/// SQLite database, else in the default data directory.
pub fn key_path(config: &Config, db_url: &str) -> PathBuf {
    if let Some(p) = &config.policy.key_file {
        return p.clone();
    }
    let sqlite = db_url
        .strip_prefix("sqlite://")
        .or_else(|| db_url.strip_prefix("sqlite:"));
    let db = match sqlite {
        Some(p) => PathBuf::from(p),
        None => crate::config::default_db_path(),
    };
    match db.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.join(KEY_FILE),
        _ => PathBuf::from(KEY_FILE),
    }
}

/// Load the collector key, creating it (0600, atomically) on first use.
pub fn collector_key(path: &Path) -> Result<AgentKey> {
    match std::fs::read(path) {
        Ok(b) => AgentKey::from_private_jwk(&b).with_context(|| {
            format!(
                "collector key {} is unreadable (restore it from a backup: agents pin its public key)",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let key = AgentKey::generate();
            write_private(path, &key.to_private_jwk())?;
            log::info!(
                "created the collector key {} (kid {})",
                path.display(),
                key.kid()
            );
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read collector key {}", path.display())),
    }
}

/// Temp file, fsync, rename, fsync the directory; mode 0600. `create_new`
/// on the temp name, so two collectors starting at once never share one.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    drop(f);
    // Another process may have won the race: keep its key, not ours.
    if path.exists() {
        let _ = std::fs::remove_file(&tmp);
        return Ok(());
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot create {}", path.display()))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The result of a change.
#[derive(Debug)]
pub struct Published {
    pub version: i64,
    pub digest: String,
    /// Nothing changed: no new version was made.
    pub unchanged: bool,
    /// Hidden mode: regex rules that stay in clear.
    pub warnings: Vec<String>,
}

/// A change to make: the rules in clear, the exceptions, the mode.
pub struct Change<'a> {
    pub files: Vec<(String, Vec<u8>)>,
    pub exceptions: Vec<Exception>,
    pub mode: Mode,
    pub actor: &'a str,
    pub action: &'a str,
    pub message: String,
}

/// The rules in clear of a stored version.
pub fn files_of(v: &PolicyVersion) -> Result<Vec<(String, Vec<u8>)>> {
    let files: Vec<RuleFile> =
        serde_json::from_str(&v.files).context("stored policy files are corrupt")?;
    Ok(files
        .into_iter()
        .map(|f| (f.path, f.content.into_bytes()))
        .collect())
}

/// The exceptions of a stored version.
pub fn exceptions_of(v: &PolicyVersion) -> Result<Vec<Exception>> {
    serde_json::from_str(&v.exceptions).context("stored policy exceptions are corrupt")
}

pub fn mode_of(v: &PolicyVersion) -> Mode {
    if v.mode == "hidden" {
        Mode::Hidden
    } else {
        Mode::Plain
    }
}

fn mode_str(m: Mode) -> &'static str {
    match m {
        Mode::Plain => "plain",
        Mode::Hidden => "hidden",
    }
}

/// Make, sign and store the next version. Retries when another collector
/// process took the version number first.
pub fn publish(store: &dyn Store, key: &AgentKey, change: Change<'_>) -> Result<Published> {
    // The clear rules must load as a whole before anything is signed.
    Policy::from_files(Path::new("<import>"), &change.files, None)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for _ in 0..5 {
        let latest = store.policy_latest()?;
        if let Some(l) = &latest
            && files_of(l)? == change.files
            && exceptions_of(l)? == change.exceptions
            && mode_of(l) == change.mode
        {
            return Ok(Published {
                version: l.version,
                digest: l.digest.clone(),
                unchanged: true,
                warnings: Vec::new(),
            });
        }
        let version = latest.as_ref().map_or(1, |l| l.version + 1);
        let (bundle_files, warnings) = match change.mode {
            Mode::Plain => (change.files.clone(), Vec::new()),
            Mode::Hidden => {
                let mut salt = [0u8; mijian_policy::hashed::SALT_BYTES];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
                bundle::hide(
                    &change.files,
                    &salt,
                    &mijian_scanner::normalise::normalise,
                    &mijian_scanner::raw::byte_spellings,
                )
                .map_err(|e| anyhow::anyhow!("{e}"))?
            }
        };
        let b = Bundle::new(
            version as u64,
            mijian_report::now_rfc3339(),
            &bundle_files,
            change.exceptions.clone(),
            change.mode,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let rules: Vec<RuleFile> = change
            .files
            .iter()
            .map(|(p, c)| RuleFile {
                path: p.clone(),
                content: String::from_utf8_lossy(c).into_owned(),
            })
            .collect();
        let row = NewPolicyVersion {
            version,
            created_at: crate::auth::now(),
            actor: change.actor.to_string(),
            action: change.action.to_string(),
            message: change.message.clone(),
            digest: b.digest.clone(),
            mode: mode_str(change.mode).into(),
            files: serde_json::to_string(&rules)?,
            exceptions: serde_json::to_string(&change.exceptions)?,
            bundle: b.sign(key),
        };
        if store.policy_insert(&row)? {
            return Ok(Published {
                version,
                digest: b.digest,
                unchanged: false,
                warnings,
            });
        }
    }
    bail!("the policy kept changing under this command; try again")
}

/// `policy import DIR`: the rules directory becomes the next version
/// (exceptions carried over; mode as given, else as before).
pub fn import(
    store: &dyn Store,
    key: &AgentKey,
    dir: &Path,
    mode: Option<Mode>,
    actor: &str,
    message: Option<String>,
) -> Result<Published> {
    let files = Policy::read_files(dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let latest = store.policy_latest()?;
    let exceptions = match &latest {
        Some(l) => exceptions_of(l)?,
        None => Vec::new(),
    };
    let mode = mode.unwrap_or_else(|| latest.as_ref().map_or(Mode::Plain, mode_of));
    publish(
        store,
        key,
        Change {
            files,
            exceptions,
            mode,
            actor,
            action: "import",
            message: message.unwrap_or_else(|| format!("import {}", dir.display())),
        },
    )
}

/// `policy except`: add an exception to the latest version.
pub fn add_exception(
    store: &dyn Store,
    key: &AgentKey,
    mut ex: Exception,
    actor: &str,
) -> Result<(Published, String)> {
    let latest = store
        .policy_latest()?
        .context("no policy yet: run `mijian-collector policy import DIR` first")?;
    let mut exceptions = exceptions_of(&latest)?;
    let now = mijian_report::now_rfc3339();
    // Expired exceptions leave the bundle with the next change.
    exceptions.retain(|e| now < e.expires);
    if ex.id.is_empty() {
        ex.id = format!("ex-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    }
    if exceptions.iter().any(|e| e.id == ex.id) {
        bail!("an exception with id {} already exists", ex.id);
    }
    let id = ex.id.clone();
    let message = format!(
        "except rule {} in file {} until {}: {}",
        ex.rule, ex.sha256, ex.expires, ex.justification
    );
    exceptions.push(ex);
    let p = publish(
        store,
        key,
        Change {
            files: files_of(&latest)?,
            exceptions,
            mode: mode_of(&latest),
            actor,
            action: "except",
            message,
        },
    )?;
    Ok((p, id))
}

/// `policy except --remove ID`.
pub fn remove_exception(
    store: &dyn Store,
    key: &AgentKey,
    id: &str,
    actor: &str,
) -> Result<Published> {
    let latest = store.policy_latest()?.context("no policy yet")?;
    let mut exceptions = exceptions_of(&latest)?;
    let before = exceptions.len();
    exceptions.retain(|e| e.id != id);
    if exceptions.len() == before {
        bail!("no exception with id {id} in version {}", latest.version);
    }
    publish(
        store,
        key,
        Change {
            files: files_of(&latest)?,
            exceptions,
            mode: mode_of(&latest),
            actor,
            action: "unexcept",
            message: format!("remove exception {id}"),
        },
    )
}

/// A unified diff of two versions' rules (and exceptions), file by file.
pub fn diff(old: &PolicyVersion, new: &PolicyVersion) -> Result<String> {
    let mut out = String::new();
    let a = files_of(old)?;
    let b = files_of(new)?;
    let mut paths: Vec<&String> = a.iter().chain(b.iter()).map(|(p, _)| p).collect();
    paths.sort();
    paths.dedup();
    let text = |files: &[(String, Vec<u8>)], p: &str| {
        files
            .iter()
            .find(|(q, _)| q == p)
            .map(|(_, c)| String::from_utf8_lossy(c).into_owned())
            .unwrap_or_default()
    };
    for p in paths {
        let (x, y) = (text(&a, p), text(&b, p));
        if x == y {
            continue;
        }
        let d = similar::TextDiff::from_lines(&x, &y);
        out.push_str(
            &d.unified_diff()
                .context_radius(3)
                .header(
                    &format!("v{}/{p}", old.version),
                    &format!("v{}/{p}", new.version),
                )
                .to_string(),
        );
    }
    let (ea, eb) = (
        serde_json::to_string_pretty(&exceptions_of(old)?)?,
        serde_json::to_string_pretty(&exceptions_of(new)?)?,
    );
    if ea != eb {
        let d = similar::TextDiff::from_lines(&ea, &eb);
        out.push_str(
            &d.unified_diff()
                .header(
                    &format!("v{}/exceptions", old.version),
                    &format!("v{}/exceptions", new.version),
                )
                .to_string(),
        );
    }
    if old.mode != new.mode {
        out.push_str(&format!("mode: {} -> {}\n", old.mode, new.mode));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
