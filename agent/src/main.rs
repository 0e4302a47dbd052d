//! `mijian-agent`: the workstation agent (CONTRACT §2).
//!
//! This file is only the command line: it parses flags, loads config and
//! rules, and hands off to `inspect` (build a report), `state` (seal it into
//! the chain), `output` (print it) and the daemon. Errors end as
//! `mijian-agent: <what went wrong and what to do>` on stderr with exit
//! status 2; a closed stdout (`| head`) is success, as in ripgrep.

mod config;
mod daemon;
mod enroll;
mod export;
mod inspect;
mod output;
mod platform;
#[cfg(windows)]
mod service;
mod state;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use config::AgentConfig;
use mijian_hostcheck::Root;
use mijian_policy::Policy;
use mijian_report::{Jwk, Jws, Report, Trigger};
use output::Format;
use output::lang::Lang;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "mijian-agent",
    version,
    about = "mijian (密检) workstation agent: confidentiality-compliance inspection",
    after_help = "Exit status: check — 0 compliant, 1 non-compliant, 2 could not run; scan — 0 no finding, 1 findings, 2 could not run; verify — 0 valid, 1 invalid."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One full inspection: host checks, removable media, content scan.
    Check {
        /// Inspect the file tree at DIR as if it were the host's `/`.
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// Rules directory (default: /etc/mijian/rules, the checkout's rules/, or the built-in rules).
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
        /// Agent config (default: $MIJIAN_CONFIG or /etc/mijian/agent.toml).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Output format (default: table on a terminal, json otherwise).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Skip the content scan of configured paths and media.
        #[arg(long)]
        no_content: bool,
        /// Sign the report into the agent's chain (with --out).
        #[arg(long, requires = "out")]
        sign: bool,
        /// Where to write the signed report (with --sign).
        #[arg(long, value_name = "FILE", requires = "sign")]
        out: Option<PathBuf>,
    },
    /// Content scan of the given files and directories only.
    Scan {
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[arg(long, value_enum)]
        format: Option<Format>,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// The daemon: boot check, schedule, media watch, file watch, delivery.
    Run {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Register this agent's key with the collector and save its URL.
    Enroll {
        #[arg(long, value_name = "URL")]
        collector: String,
        #[arg(long, value_name = "TOKEN")]
        token: String,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Write every undelivered signed report into DIR for `mijian-collector import`.
    Export {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Print the agent's public key as a JWK with its kid.
    Key {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Verify a signed report file and print its payload.
    Verify {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Public JWK to verify with (default: this agent's own key).
        #[arg(long, value_name = "FILE")]
        jwk: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Windows service: install, uninstall, or run under the service control manager.
    #[cfg(windows)]
    Service {
        #[arg(value_enum)]
        action: ServiceAction,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// `mijian-agent service ACTION` (Windows).
#[cfg(windows)]
#[derive(Clone, Copy, clap::ValueEnum)]
enum ServiceAction {
    /// Register the service (automatic start at boot) and start it.
    Install,
    /// Stop and remove the service.
    Uninstall,
    /// Run as the service (started by the service control manager).
    Run,
}

/// Hidden subcommand: the scanner's isolated document-parser worker process.
const SCAN_WORKER: &str = "__scan-worker";

fn main() -> ExitCode {
    if std::env::args_os().nth(1).is_some_and(|a| a == SCAN_WORKER) {
        std::process::exit(mijian_scanner::worker::main());
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("mijian-agent: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        #[cfg(windows)]
        Command::Service { action, config } => {
            match action {
                ServiceAction::Install => service::install(config)?,
                ServiceAction::Uninstall => service::uninstall()?,
                ServiceAction::Run => service::run(config)?,
            }
            Ok(0)
        }
        Command::Run { config } => {
            let cfg = AgentConfig::load(config.as_deref())?;
            daemon::run(cfg, config)?;
            Ok(0)
        }
        Command::Enroll {
            collector,
            token,
            config,
        } => {
            let cfg = AgentConfig::load(config.as_deref())?;
            enroll::enroll(&cfg, &collector, &token)?;
            Ok(0)
        }
        Command::Export { out, config } => {
            let cfg = AgentConfig::load(config.as_deref())?;
            export::export(&cfg, &out)?;
            Ok(0)
        }
        Command::Check {
            root,
            rules,
            config,
            format,
            no_content,
            sign,
            out,
        } => {
            let cfg = AgentConfig::load(config.as_deref())?;
            let policy = load_policy(rules.as_deref(), &cfg)?;
            let root = match root {
                Some(dir) => {
                    if !dir.is_dir() {
                        bail!("--root {}: not a directory", dir.display());
                    }
                    Root::at(dir)
                }
                None => Root::live(),
            };
            let state_dir = state::default_state_dir(&cfg);
            let state = state::AgentState::open(&state_dir);
            // The scan cache lives in the state dir; without one, scan uncached.
            let cache_dir = state.as_ref().ok().map(|s| s.dir().to_path_buf());
            let inspector = inspect::Inspector::new(cfg, policy, root, cache_dir.as_deref())?;
            let report = inspector.inspect(Trigger::Manual, !no_content);
            let report = if sign {
                let state = state?;
                let sealed = state.seal(report)?;
                let out = out.context("--sign needs --out FILE")?;
                state::write_atomic(&out, &sealed.jws, 0o644)
                    .with_context(|| format!("cannot write signed report to {}", out.display()))?;
                eprintln!(
                    "mijian-agent: signed report seq {} written to {}",
                    sealed.report.seq,
                    out.display()
                );
                sealed.report
            } else {
                let mut report = report;
                match &state {
                    Ok(s) => s.preview(&mut report)?,
                    Err(e) => {
                        eprintln!("mijian-agent: note: {e:#}; report is not linked to a chain")
                    }
                }
                report
            };
            print_report(&report, Format::resolve(format))?;
            Ok(if report.compliant() { 0 } else { 1 })
        }
        Command::Scan {
            rules,
            config,
            format,
            paths,
        } => {
            let cfg = AgentConfig::load(config.as_deref())?;
            let policy = load_policy(rules.as_deref(), &cfg)?;
            for p in &paths {
                if std::fs::symlink_metadata(p).is_err() {
                    bail!("{}: no such file or directory", p.display());
                }
            }
            let inspector = inspect::Inspector::new(cfg, policy, Root::live(), None)?;
            let report = inspector.scan_files(Trigger::Manual, &paths);
            print_report(&report, Format::resolve(format))?;
            Ok(if report.findings.is_empty() { 0 } else { 1 })
        }
        Command::Key { config } => {
            let cfg = AgentConfig::load(config.as_deref())?;
            let state = state::AgentState::open(&state::default_state_dir(&cfg))?;
            let jwk = state.key().public_jwk();
            let mut stdout = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut stdout, &jwk)?;
            writeln!(stdout)?;
            Ok(0)
        }
        Command::Verify { file, jwk, config } => verify(&file, jwk.as_deref(), config.as_deref()),
    }
}

/// Verify a signed report; print the payload on success. Every refusal says why.
fn verify(file: &Path, jwk: Option<&Path>, config: Option<&Path>) -> Result<u8> {
    let invalid = |msg: String| -> Result<u8> {
        eprintln!("mijian-agent: INVALID: {}: {msg}", file.display());
        Ok(1)
    };
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => return invalid(format!("cannot read: {e}")),
    };
    let jws = match Jws::parse(&bytes) {
        Ok(j) => j,
        Err(e) => return invalid(e.to_string()),
    };
    let key = match jwk {
        Some(p) => {
            let raw =
                std::fs::read(p).with_context(|| format!("cannot read JWK {}", p.display()))?;
            Jwk::parse(&raw).with_context(|| format!("JWK {}", p.display()))?
        }
        None => {
            let cfg = AgentConfig::load(config)?;
            let state = state::AgentState::open(&state::default_state_dir(&cfg))?;
            state.key().public_jwk()
        }
    };
    let verified = match jws.verify(&key) {
        Ok(v) => v,
        Err(e) => return invalid(e.to_string()),
    };
    let report = match Report::from_payload(&verified.payload) {
        Ok(r) => r,
        Err(e) => {
            return invalid(format!(
                "signature is valid but the payload is not a mijian report: {e}"
            ));
        }
    };
    if report.agent_id != verified.kid {
        return invalid(format!(
            "payload agent_id {} does not match the signing key {}",
            report.agent_id, verified.kid
        ));
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&verified.payload)?;
    writeln!(stdout)?;
    eprintln!(
        "mijian-agent: valid: signed by {} (seq {})",
        verified.kid, report.seq
    );
    Ok(0)
}

fn print_report(report: &Report, format: Format) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match format {
        Format::Json => {
            stdout.write_all(&report.to_payload())?;
            writeln!(stdout)?;
        }
        Format::Table => {
            stdout.write_all(output::table::render(report, Lang::from_env()).as_bytes())?;
        }
    }
    stdout.flush()?;
    Ok(())
}

/// Rules: `--rules`, else `paths.rules_dir`, else `/etc/mijian/rules`, else
/// the checkout's `rules/` (when run from a source tree), else built-in.
fn load_policy(explicit: Option<&Path>, cfg: &AgentConfig) -> Result<Policy> {
    let dir = explicit
        .map(Path::to_path_buf)
        .or_else(|| cfg.paths.rules_dir.clone());
    if let Some(dir) = dir {
        return Policy::load(&dir).map_err(|e| anyhow::anyhow!("rules: {e}"));
    }
    let system = platform::system_config_dir().join("rules");
    if system.is_dir() {
        return Policy::load(&system).map_err(|e| anyhow::anyhow!("rules: {e}"));
    }
    if let Some(dir) = checkout_rules() {
        return Policy::load(&dir).map_err(|e| anyhow::anyhow!("rules: {e}"));
    }
    Policy::builtin().map_err(|e| anyhow::anyhow!("built-in rules: {e}"))
}

/// The repository's `rules/` when this binary runs from a checkout
/// (`target/<profile>/mijian-agent`).
fn checkout_rules() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    for dir in exe.ancestors().skip(1).take(4) {
        let rules = dir.join("rules");
        if rules.join("baseline.toml").is_file() && dir.join("Cargo.toml").is_file() {
            return Some(rules);
        }
    }
    None
}
