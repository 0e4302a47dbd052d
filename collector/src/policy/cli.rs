//! `mijian-collector policy …` (issue 13): import a rules directory as the
//! next version, show/diff/history, write the signed bundle for air-gapped
//! hosts, print the collector key, add and remove triage exceptions.

use super::{Published, add_exception, collector_key, diff, exceptions_of, files_of, key_path};
use crate::config::Config;
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use mijian_policy::bundle::{Exception, Mode};
use mijian_store::Store;
use std::io::Write;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// Load a rules directory as the next policy version (signed bundle for the fleet).
    Import {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Hidden mode: keyword terms leave the collector only as salted hashes.
        #[arg(long, conflicts_with = "plain")]
        hidden: bool,
        /// Plain mode (keyword terms in clear), the default for a first import.
        #[arg(long)]
        plain: bool,
        /// Change-log message.
        #[arg(long, short, value_name = "TEXT")]
        message: Option<String>,
    },
    /// Print a version's rules (default: the latest) and its exceptions.
    Show {
        #[arg(long, value_name = "N")]
        version: Option<i64>,
    },
    /// Unified diff of two versions' rules (default: the one before the latest, and the latest).
    Diff {
        #[arg(value_name = "FROM")]
        from: Option<i64>,
        #[arg(value_name = "TO")]
        to: Option<i64>,
    },
    /// The change log: every version, newest first.
    History,
    /// Write the signed bundle to FILE (for `mijian-agent policy apply FILE` on air-gapped hosts).
    Bundle {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[arg(long, value_name = "N")]
        version: Option<i64>,
    },
    /// Print the collector's public key (JWK) that agents pin (`mijian-agent policy pin --jwk FILE`).
    Key,
    /// Add a triage exception (a false positive): findings of RULE in the file with this SHA-256 are marked `excepted`.
    Except {
        /// Content SHA-256 of the file (the finding's `sha256`).
        #[arg(long, value_name = "HEX", required_unless_present = "remove")]
        sha256: Option<String>,
        /// Rule id (the finding's `matches[].rule`).
        #[arg(long, value_name = "ID", required_unless_present = "remove")]
        rule: Option<String>,
        /// Until when: a date (2027-01-31), an RFC 3339 time, or a duration from now (90d).
        #[arg(long, value_name = "WHEN", required_unless_present = "remove")]
        expires: Option<String>,
        /// Why this is not a finding (kept in the bundle and the change log).
        #[arg(long, value_name = "TEXT", required_unless_present = "remove")]
        justification: Option<String>,
        /// Remove the exception with this id instead.
        #[arg(long, value_name = "ID", conflicts_with_all = ["sha256", "rule", "expires", "justification"])]
        remove: Option<String>,
    },
}

/// Who made a CLI change, for the change log.
fn actor() -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// `2027-01-31`, RFC 3339, or a duration from now → `YYYY-MM-DDTHH:MM:SSZ`.
pub fn parse_expires(s: &str) -> Result<String> {
    use time::format_description::well_known::Rfc3339;
    let s = s.trim();
    let t = if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        t
    } else if let Ok(d) = time::Date::parse(
        s,
        &time::macros::format_description!("[year]-[month]-[day]"),
    ) {
        d.with_hms(0, 0, 0)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .assume_utc()
    } else {
        let secs = crate::cli::parse_duration(s).with_context(|| {
            format!(
                "--expires `{s}`: give a date (2027-01-31), an RFC 3339 time, or a duration (90d)"
            )
        })?;
        time::OffsetDateTime::now_utc() + time::Duration::seconds(secs)
    };
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if t <= time::OffsetDateTime::now_utc() {
        bail!("--expires {s} is in the past");
    }
    Ok(t.format(&Rfc3339)?)
}

fn report(out: &mut dyn Write, p: &Published) -> Result<()> {
    for w in &p.warnings {
        eprintln!("mijian-collector: warning: {w}");
    }
    if p.unchanged {
        writeln!(
            out,
            "policy unchanged: version {} (digest {})",
            p.version, p.digest
        )?;
    } else {
        writeln!(
            out,
            "policy version {} published (digest {})",
            p.version, p.digest
        )?;
    }
    Ok(())
}

pub fn run(
    cmd: PolicyCmd,
    config: &Config,
    db_url: &str,
    store: &dyn Store,
    out: &mut dyn Write,
) -> Result<i32> {
    let version = |v: Option<i64>| -> Result<mijian_store::PolicyVersion> {
        match v {
            Some(n) => store
                .policy_version(n)?
                .with_context(|| format!("no policy version {n} (see `policy history`)")),
            None => store
                .policy_latest()?
                .context("no policy yet: run `mijian-collector policy import DIR`"),
        }
    };
    match cmd {
        PolicyCmd::Import {
            dir,
            hidden,
            plain,
            message,
        } => {
            let key = collector_key(&key_path(config, db_url))?;
            let mode = match (hidden, plain) {
                (true, _) => Some(Mode::Hidden),
                (_, true) => Some(Mode::Plain),
                _ => None,
            };
            let p = super::import(store, &key, &dir, mode, &actor(), message)?;
            report(out, &p)?;
        }
        PolicyCmd::Show { version: v } => {
            let v = version(v)?;
            writeln!(
                out,
                "# policy version {} ({} mode), digest {}",
                v.version, v.mode, v.digest
            )?;
            for (path, content) in files_of(&v)? {
                writeln!(out, "\n# ==== {path} ====")?;
                out.write_all(&content)?;
            }
            let ex = exceptions_of(&v)?;
            writeln!(out, "\n# ==== exceptions ({}) ====", ex.len())?;
            for e in ex {
                writeln!(
                    out,
                    "{}  rule {}  file {}  until {}  {}",
                    e.id, e.rule, e.sha256, e.expires, e.justification
                )?;
            }
        }
        PolicyCmd::Diff { from, to } => {
            let new = version(to)?;
            let from = from.unwrap_or(new.version - 1);
            let old = version(Some(from))?;
            out.write_all(diff(&old, &new)?.as_bytes())?;
        }
        PolicyCmd::History => {
            writeln!(
                out,
                "VERSION  CREATED               ACTOR             ACTION    MODE    DIGEST        MESSAGE"
            )?;
            for v in store.policy_history()? {
                writeln!(
                    out,
                    "{:<8} {:<21} {:<17} {:<9} {:<7} {:<13} {}",
                    v.version,
                    crate::api::rfc3339(v.created_at),
                    v.actor,
                    v.action,
                    v.mode,
                    &v.digest[..v.digest.len().min(12)],
                    v.message
                )?;
            }
        }
        PolicyCmd::Bundle {
            out: file,
            version: v,
        } => {
            let v = version(v)?;
            std::fs::write(&file, &v.bundle)
                .with_context(|| format!("cannot write {}", file.display()))?;
            writeln!(
                out,
                "policy bundle version {} written to {}",
                v.version,
                file.display()
            )?;
        }
        PolicyCmd::Key => {
            let key = collector_key(&key_path(config, db_url))?;
            serde_json::to_writer_pretty(&mut *out, &key.public_jwk())?;
            writeln!(out)?;
        }
        PolicyCmd::Except {
            sha256,
            rule,
            expires,
            justification,
            remove,
        } => {
            let key = collector_key(&key_path(config, db_url))?;
            if let Some(id) = remove {
                let p = super::remove_exception(store, &key, &id, &actor())?;
                report(out, &p)?;
                return Ok(0);
            }
            let (Some(sha256), Some(rule), Some(expires), Some(justification)) =
                (sha256, rule, expires, justification)
            else {
                bail!("--sha256, --rule, --expires and --justification are all needed");
            };
            let ex = Exception {
                id: String::new(),
                sha256: sha256.trim().to_ascii_lowercase(),
                rule,
                expires: parse_expires(&expires)?,
                justification,
                created_by: Some(actor()),
            };
            let (p, id) = add_exception(store, &key, ex, &actor())?;
            writeln!(out, "exception {id} added")?;
            report(out, &p)?;
        }
    }
    Ok(0)
}
