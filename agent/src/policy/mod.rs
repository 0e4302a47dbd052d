//! The central policy on the agent (issue 13): pin the collector's key,
//! accept signed bundles (fetched, or from a file on air-gapped hosts),
//! refuse what is not the pinned key's or older than what runs, and apply
//! the rest atomically.
//!
//! Design note — layout under the state directory, `policy/`:
//! - `collector-key.jwk` — the pinned public key (written at enrollment or
//!   by `policy pin`); a bundle signed by any other key is refused.
//! - `v<N>/` — the rules of applied version N plus `.bundle.jws` (the signed
//!   bundle as received; loaders skip dotfiles). `current` is a symlink to
//!   the version in force.
//! - `alarms.json` — refusals not yet carried by a report.
//!
//! Apply: write `v<N>.tmp/` (every file synced), load it back as a policy and
//! compare its digest with the bundle's, rename it to `v<N>/`, point a new
//! symlink at it and rename that over `current` (atomic), sync the directory,
//! then delete older versions. A crash at any step leaves `current` on the
//! old or the new version, never on half of one (CONTRACT §3: all or nothing).

pub mod fetch;

use anyhow::{Context, Result, bail};
use mijian_policy::Policy;
use mijian_policy::bundle::{Bundle, BundleError};
use mijian_report::{Finding, Jwk, Report};
use std::fs;
use std::path::{Path, PathBuf};

use crate::state::write_atomic;

const DIR: &str = "policy";
const PIN: &str = "collector-key.jwk";
const CURRENT: &str = "current";
const BUNDLE: &str = ".bundle.jws";
const ALARMS: &str = "alarms.json";
/// Pending alarms kept at most (a flood of bad bundles must not fill the disk).
const MAX_ALARMS: usize = 100;

/// Where `current` points: a symlink on Unix; on Windows (where symlinks
/// need a privilege) a small file naming the version folder.
fn resolve_current(cur: &Path) -> std::io::Result<PathBuf> {
    let meta = fs::symlink_metadata(cur)?;
    if meta.is_file() {
        let name = fs::read_to_string(cur)?;
        let name = name.trim();
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "policy `current` names no version folder",
            ));
        }
        let parent = cur.parent().unwrap_or(Path::new("."));
        return fs::canonicalize(parent.join(name));
    }
    fs::canonicalize(cur)
}

/// Point `current` at version folder `name` atomically (rename over it).
fn switch_current(d: &Path, name: &str) -> Result<()> {
    #[cfg(unix)]
    {
        let link = d.join(format!("{CURRENT}.tmp"));
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(name, &link).context("cannot link the new policy")?;
        fs::rename(&link, d.join(CURRENT)).context("cannot switch to the new policy")?;
        fs::File::open(d)
            .and_then(|f| f.sync_all())
            .context("cannot sync the policy directory")?;
    }
    #[cfg(not(unix))]
    write_atomic(&d.join(CURRENT), name.as_bytes(), 0o600)
        .context("cannot switch to the new policy")?;
    Ok(())
}

pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join(DIR)
}

fn ensure_dir(state_dir: &Path) -> Result<PathBuf> {
    let d = dir(state_dir);
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    // On Windows the state directory's ACL (SYSTEM and Administrators) is inherited.
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(&d)
        .with_context(|| format!("cannot create {}", d.display()))?;
    Ok(d)
}

/// Pin the collector's public key. Replacing a different pinned key is
/// logged: it happens only by an explicit enrollment or `policy pin`.
pub fn pin(state_dir: &Path, jwk: &Jwk) -> Result<()> {
    if jwk.d.is_some() {
        bail!("the collector JWK holds a private key (`d`); pin the public key only");
    }
    let public = jwk.public();
    public.public_key().context("collector JWK")?;
    let d = ensure_dir(state_dir)?;
    if let Some(old) = pinned(state_dir)?
        && old.thumbprint() != public.thumbprint()
    {
        log::warn!(
            "replacing the pinned collector key {} with {}",
            old.thumbprint(),
            public.thumbprint()
        );
    }
    write_atomic(&d.join(PIN), &serde_json::to_vec_pretty(&public)?, 0o600)
}

/// The pinned collector key, if any.
pub fn pinned(state_dir: &Path) -> Result<Option<Jwk>> {
    match fs::read(dir(state_dir).join(PIN)) {
        Ok(b) => Ok(Some(
            Jwk::parse(&b).context("pinned collector key is corrupt")?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).context("cannot read the pinned collector key"),
    }
}

/// The bundle in force: its payload (verified when it was applied) and the
/// directory holding its rules.
pub struct Applied {
    pub bundle: Bundle,
    pub dir: PathBuf,
}

/// The bundle in force, if one was applied.
pub fn applied(state_dir: &Path) -> Result<Option<Applied>> {
    let cur = dir(state_dir).join(CURRENT);
    let target = match resolve_current(&cur) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", cur.display())),
    };
    let bytes = fs::read(target.join(BUNDLE))
        .with_context(|| format!("cannot read {}", target.join(BUNDLE).display()))?;
    let jws = mijian_report::Jws::parse(&bytes).context("applied bundle is corrupt")?;
    use base64::Engine;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jws.payload.as_bytes())
        .context("applied bundle is corrupt")?;
    let bundle: Bundle = serde_json::from_slice(&payload).context("applied bundle is corrupt")?;
    Ok(Some(Applied {
        bundle,
        dir: target,
    }))
}

/// The applied policy, with its version and exceptions, if a bundle is in
/// force. Loaded from the version's own directory (not through `current`),
/// so a later swap never changes the rules under a running inspector.
pub fn load_applied(state_dir: &Path) -> Result<Option<Policy>> {
    let Some(a) = applied(state_dir)? else {
        return Ok(None);
    };
    let mut p = Policy::load(&a.dir).map_err(|e| anyhow::anyhow!("applied policy: {e}"))?;
    if p.digest != a.bundle.digest {
        bail!(
            "applied policy {} does not match its bundle's digest (outside damage: apply the bundle again)",
            a.dir.display()
        );
    }
    p.version = Some(a.bundle.version);
    p.exceptions = a.bundle.exceptions.clone();
    Ok(Some(p))
}

/// What accepting a bundle did.
#[derive(Debug, PartialEq, Eq)]
pub enum Accepted {
    Applied {
        version: u64,
        from: Option<u64>,
    },
    /// The same version is already in force.
    Unchanged(u64),
}

/// Why a bundle was refused: the `agent_alarm` reason and a sentence.
#[derive(Debug)]
pub struct Refused {
    pub reason: &'static str,
    pub message: String,
    pub version: Option<u64>,
    pub kid: Option<String>,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

impl Refused {
    /// The `agent_alarm` finding that reports this refusal.
    pub fn finding(&self, source: &str) -> Finding {
        let mut f = crate::daemon::alarm_finding(
            self.reason,
            format!("policy bundle from {source} refused: {}", self.message),
        );
        f.detail = Some(serde_json::json!({
            "source": source, "version": self.version, "kid": self.kid,
        }));
        f
    }
}

/// Verify and apply a signed bundle. `Err(Refused)` for a bundle this agent
/// must not run, and for a local failure to apply it (reason
/// `policy_apply_failed`); the caller raises the alarm. The policy in force
/// is unchanged by every refusal.
pub fn accept(state_dir: &Path, bytes: &[u8]) -> Result<Accepted, Refused> {
    let refuse = |reason: &'static str, message: String, version: Option<u64>| Refused {
        reason,
        message,
        version,
        kid: Bundle::signer(bytes),
    };
    let pin = match pinned(state_dir) {
        Ok(Some(p)) => p,
        Ok(None) => {
            return Err(refuse(
                "policy_no_pinned_key",
                "no collector key is pinned (enroll, or `mijian-agent policy pin --jwk FILE`)"
                    .into(),
                None,
            ));
        }
        Err(e) => return Err(refuse("policy_apply_failed", format!("{e:#}"), None)),
    };
    let pk = match pin.public_key() {
        Ok(k) => k,
        Err(e) => return Err(refuse("policy_apply_failed", e.to_string(), None)),
    };
    let bundle = match Bundle::verify(bytes, &pk) {
        Ok(b) => b,
        Err(e) => {
            let reason = match e {
                BundleError::UnknownKey { .. } => "policy_unknown_key",
                BundleError::Signature(_) | BundleError::Digest { .. } => "policy_tampered",
                _ => "policy_invalid",
            };
            return Err(refuse(reason, e.to_string(), None));
        }
    };
    let v = bundle.version;
    let current = match applied(state_dir) {
        Ok(c) => c,
        Err(e) => {
            log::warn!("the applied policy is unreadable ({e:#}); applying version {v} over it");
            None
        }
    };
    if let Some(c) = &current {
        let have = c.bundle.version;
        if v < have {
            return Err(refuse(
                "policy_rollback",
                format!("version {v} is older than version {have} in force (rollback refused)"),
                Some(v),
            ));
        }
        if v == have {
            if c.bundle.digest == bundle.digest && c.bundle.exceptions == bundle.exceptions {
                return Ok(Accepted::Unchanged(v));
            }
            return Err(refuse(
                "policy_version_conflict",
                format!("version {v} differs from the version {v} in force"),
                Some(v),
            ));
        }
    }
    if let Err(e) = install(state_dir, &bundle, bytes) {
        return Err(refuse("policy_apply_failed", format!("{e:#}"), Some(v)));
    }
    Ok(Accepted::Applied {
        version: v,
        from: current.map(|c| c.bundle.version),
    })
}

/// Write, check and swap in one verified bundle (see the design note).
fn install(state_dir: &Path, bundle: &Bundle, bytes: &[u8]) -> Result<()> {
    let d = ensure_dir(state_dir)?;
    let name = format!("v{}", bundle.version);
    let tmp = d.join(format!("{name}.tmp"));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let result = (|| -> Result<()> {
        bundle.write_dir(&tmp).map_err(|e| anyhow::anyhow!("{e}"))?;
        write_atomic(&tmp.join(BUNDLE), bytes, 0o600)?;
        let back = Policy::load(&tmp).map_err(|e| anyhow::anyhow!("{e}"))?;
        if back.digest != bundle.digest {
            bail!("written rules do not match the bundle digest");
        }
        let final_dir = d.join(&name);
        let _ = fs::remove_dir_all(&final_dir);
        fs::rename(&tmp, &final_dir).context("cannot rename the new policy into place")?;
        switch_current(&d, &name)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
        return result;
    }
    // Older versions are no longer in force.
    if let Ok(rd) = fs::read_dir(&d) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n != name && n.starts_with('v') && e.path().is_dir() {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(())
}

/// Keep a refusal for the next report (CLI, or a daemon that cannot queue now).
pub fn record_alarm(state_dir: &Path, f: &Finding) -> Result<()> {
    let d = ensure_dir(state_dir)?;
    let path = d.join(ALARMS);
    let mut list: Vec<Finding> = fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    list.push(f.clone());
    if list.len() > MAX_ALARMS {
        let drop = list.len() - MAX_ALARMS;
        list.drain(..drop);
    }
    write_atomic(&path, &serde_json::to_vec(&list)?, 0o600)
}

/// Take the pending alarms (they are removed from disk).
pub fn take_alarms(state_dir: &Path) -> Vec<Finding> {
    let path = dir(state_dir).join(ALARMS);
    let list: Vec<Finding> = match fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
            log::warn!("{} is corrupt ({e}); its alarms are lost", path.display());
            Vec::new()
        }),
        Err(_) => return Vec::new(),
    };
    let _ = fs::remove_file(&path);
    list
}

/// Mark the findings a policy exception covers (`excepted`), never drop
/// them. A finding is covered when its file's SHA-256 and every matched
/// rule are excepted and the exception has not expired.
pub fn apply_exceptions(policy: &Policy, report: &mut Report) {
    if policy.exceptions.is_empty() {
        return;
    }
    let now = mijian_report::now_rfc3339();
    for f in &mut report.findings {
        let (Some(sha), false) = (f.sha256.as_deref(), f.matches.is_empty()) else {
            continue;
        };
        let covering: Vec<_> = f
            .matches
            .iter()
            .map(|m| {
                policy
                    .exceptions
                    .iter()
                    .find(|e| e.covers(sha, &m.rule, &now))
            })
            .collect();
        // A marking (marked_classified) is not a keyword rule: never excepted here.
        if f.marking.is_some() || covering.iter().any(Option::is_none) {
            continue;
        }
        let ids: Vec<&str> = covering.iter().flatten().map(|e| e.id.as_str()).collect();
        let first = covering.iter().flatten().next();
        if let Some(e) = first {
            f.excepted = Some(serde_json::json!({
                "id": ids.join(","),
                "expires": e.expires,
                "justification": e.justification,
            }));
        }
    }
}

/// What every report gets from the policy module: exceptions marked,
/// pending refusals attached.
pub fn finish_report(policy: &Policy, state_dir: &Path, report: &mut Report) {
    apply_exceptions(policy, report);
    report.findings.extend(take_alarms(state_dir));
}

/// `mijian-agent policy apply FILE`: exit 0 applied or unchanged, 1 refused
/// (and an alarm is kept for the next report).
pub fn apply_file(state_dir: &Path, file: &Path) -> Result<u8> {
    let bytes = read_bounded(file)?;
    match accept(state_dir, &bytes) {
        Ok(Accepted::Applied { version, from }) => {
            match from {
                Some(f) => eprintln!("mijian-agent: policy version {version} applied (was {f})"),
                None => eprintln!("mijian-agent: policy version {version} applied"),
            }
            eprintln!(
                "mijian-agent: a running daemon picks it up on SIGHUP (systemctl reload mijian-agent)"
            );
            Ok(0)
        }
        Ok(Accepted::Unchanged(v)) => {
            eprintln!("mijian-agent: policy version {v} is already in force");
            Ok(0)
        }
        Err(r) => {
            eprintln!("mijian-agent: REFUSED: {}: {r}", file.display());
            record_alarm(state_dir, &r.finding(&file.display().to_string()))?;
            Ok(1)
        }
    }
}

fn read_bounded(file: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let f = fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut buf = Vec::new();
    f.take(mijian_policy::bundle::MAX_BUNDLE_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .with_context(|| format!("cannot read {}", file.display()))?;
    Ok(buf)
}

#[cfg(test)]
mod tests;
