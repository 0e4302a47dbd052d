//! `mijian-agent`: the workstation agent (CONTRACT §2).
//!
//! This file is only the command line: it parses flags, loads config and
//! rules, and hands off to `inspect` (build a report), `state` (seal it into
//! the chain), `output` (print it) and the daemon. Errors end as
//! `mijian-agent: <what went wrong and what to do>` on stderr with exit
//! status 2; a closed stdout (`| head`) is success, as in ripgrep.

mod bound;
mod config;
mod daemon;
mod enroll;
mod export;
mod inspect;
mod output;
mod platform;
mod policy;
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
    long_about = "mijian (密检) workstation agent: confidentiality-compliance inspection.\n\n\
Checks this workstation's passwords, accounts, automatic login and screen lock \
against the rules, lists the removable media mounted now against the media \
register, and scans files for classified content (markings and the unit's \
keywords). Reports are JSON payloads, signed with the agent's Ed25519 key and \
delivered to a collector, or carried on media for an air-gapped host.\n\n\
Tables are in Chinese when the locale is Chinese (LC_ALL, LC_MESSAGES or LANG \
starting with zh), in English otherwise. Colour follows NO_COLOR and is off \
when stdout is not a terminal.",
    after_help = "Exit status: check — 0 compliant, 1 non-compliant, 2 could not run; scan — 0 no finding, 1 findings, 2 could not run; verify — 0 valid, 1 invalid, 2 could not run.",
    after_long_help = "EXIT STATUS:\n    check   0 compliant, 1 non-compliant, 2 could not run\n    scan    0 no finding, 1 findings, 2 could not run\n    verify  0 valid, 1 invalid, 2 could not run (no such file, no key)\n    enroll  0 enrolled, 2 failed\n\nENVIRONMENT:\n    MIJIAN_CONFIG   the agent config where --config is not given\n    LANG, LC_ALL, LC_MESSAGES   zh_* for Chinese output\n    NO_COLOR        no colour in tables\n    COLUMNS         the width tables wrap to (default: the terminal's; none when not a terminal)\n\nEXAMPLES:\n    mijian-agent check\n    mijian-agent check --no-content --format json\n    mijian-agent check --root /mnt/image\n    mijian-agent scan ~/Documents /media/usb\n    mijian-agent verify host.jws --jwk agent.jwk"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One full inspection: host checks, removable media, content scan.
    ///
    /// Runs the host checks (passwords, accounts, automatic login, screen
    /// lock and the other inspection items), lists the removable media
    /// mounted now against the media register, and scans the configured
    /// content paths and every mounted removable medium. Prints the result
    /// grouped by inspection category (系统安全, 违规外联, 痕迹检查, 载体管理,
    /// 文件检查), with what the content scan covered and a verdict.
    ///
    /// Exit status: 0 compliant, 1 non-compliant, 2 could not run.
    Check {
        /// Inspect the file tree at DIR as if it were the host's `/`.
        ///
        /// For a mounted disk image or a chroot: nothing outside DIR is read,
        /// symlinks resolve inside DIR, and live probes (running processes,
        /// live mounts) are skipped. Findings name files as they are on the
        /// inspected system (`/home/a/x.doc`); where this machine read them
        /// is in the report's `scan_path`.
        ///
        /// Default: the live host (`/`). Example: --root /mnt/image
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// The rules directory (baseline.toml, markings.toml, keywords/, media.toml).
        ///
        /// An invalid file stops the agent with its file, line and problem.
        ///
        /// Default: paths.rules_dir of the config, else /etc/mijian/rules, else
        /// the checkout's rules/ (when run from a source tree), else the rules
        /// built into the binary. Example: --rules /etc/mijian/rules
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
        /// The agent configuration file (agent.toml).
        ///
        /// Default: $MIJIAN_CONFIG, else /etc/mijian/agent.toml, else built-in
        /// defaults. Example: --config ./agent.toml
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// How to print the report: `table` for people, `json` for scripts.
        ///
        /// `json` prints the report payload (schema/report.schema.json), one
        /// JSON document on stdout. Default: table when stdout is a terminal,
        /// json otherwise. Example: --format json
        #[arg(long, value_enum, value_name = "FORMAT")]
        format: Option<Format>,
        /// Skip the content scan of the configured paths and of media.
        ///
        /// Host checks and the media list still run; the report then has no
        /// `coverage` and the table says the content scan did not run.
        /// Default: off (the content is scanned).
        #[arg(long)]
        no_content: bool,
        /// Sign the report into the agent's chain and write it to --out.
        ///
        /// For hosts with no network: the signed report (a JWS) is carried
        /// to the collector and imported there. Advances the agent's report
        /// sequence. Needs --out. Example: --sign --out /media/BM-017/host.jws
        #[arg(long, requires = "out")]
        sign: bool,
        /// Where to write the signed report (with --sign).
        ///
        /// Written atomically, mode 0644. Example: --out /media/BM-017/host.jws
        #[arg(long, value_name = "FILE", requires = "sign")]
        out: Option<PathBuf>,
    },
    /// Content scan of the given files and directories only.
    ///
    /// Scans every regular file under each PATH (hidden files included;
    /// /proc-like filesystems never; one filesystem per PATH) for
    /// classification markings and the rules' keywords, inside documents and
    /// archives. Shows progress on stderr when it is a terminal.
    ///
    /// Exit status: 0 no finding, 1 findings, 2 could not run.
    Scan {
        /// The rules directory (markings.toml, keywords/).
        ///
        /// Default: as for `check` (paths.rules_dir, /etc/mijian/rules, the
        /// checkout's rules/, built-in). Example: --rules ./rules
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
        /// The agent configuration file (content.exclude, host.classification).
        ///
        /// Default: $MIJIAN_CONFIG, else /etc/mijian/agent.toml.
        /// Example: --config ./agent.toml
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// How to print the result: `table` for people, `json` for scripts.
        ///
        /// Default: table when stdout is a terminal, json otherwise.
        /// Example: --format json
        #[arg(long, value_enum, value_name = "FORMAT")]
        format: Option<Format>,
        /// Files and directories to scan (at least one).
        ///
        /// Example: mijian-agent scan ~/Documents /media/usb
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// The daemon: boot check, schedule, media watch, file watch, delivery.
    ///
    /// Normally started by systemd (packaging/systemd/mijian-agent.service).
    /// Reloads its config and rules on SIGHUP.
    Run {
        /// The agent configuration file.
        ///
        /// Default: $MIJIAN_CONFIG, else /etc/mijian/agent.toml.
        /// Example: --config /etc/mijian/agent.toml
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Register this agent's key with the collector and save its URL.
    ///
    /// Exit status: 0 enrolled, 2 failed.
    Enroll {
        /// The collector's base URL (https://, or http:// to a loopback address only).
        ///
        /// Saved in the agent's state for delivery. No default.
        /// Example: --collector https://collector.example:8443
        #[arg(long, value_name = "URL")]
        collector: String,
        /// The one-time enrollment token from `mijian-collector token create`.
        ///
        /// No default. Example: --token 3q2+7w...
        #[arg(long, value_name = "TOKEN")]
        token: String,
        /// The agent configuration file (collector.ca_file, paths.state_dir).
        ///
        /// Default: $MIJIAN_CONFIG, else /etc/mijian/agent.toml.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Write every undelivered signed report into DIR for `mijian-collector import`.
    Export {
        /// The directory to write the reports into (created if missing).
        ///
        /// Each report is one file, synced before it leaves the outbox.
        /// No default. Example: --out /media/BM-017/
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The agent configuration file (paths.state_dir).
        ///
        /// Default: $MIJIAN_CONFIG, else /etc/mijian/agent.toml.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Print the agent's public key as a JWK with its kid.
    ///
    /// Creates the key on first use in the state directory
    /// (/var/lib/mijian as root, else ~/.local/state/mijian).
    Key {
        /// The agent configuration file (paths.state_dir).
        ///
        /// Default: $MIJIAN_CONFIG, else /etc/mijian/agent.toml.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// The central policy (signed bundles from the collector).
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Verify a signed report file and print its payload.
    ///
    /// Exit status: 0 valid, 1 invalid, 2 could not run (no such file, no key).
    Verify {
        /// The signed report (a JWS in the flattened JSON serialization).
        ///
        /// Example: mijian-agent verify host.jws --jwk agent.jwk
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The public JWK to verify with (as printed by `mijian-agent key`).
        ///
        /// Default: this agent's own key, if it has one; verify never creates
        /// a key. Example: --jwk agent.jwk
        #[arg(long, value_name = "FILE")]
        jwk: Option<PathBuf>,
        /// The agent configuration file (paths.state_dir, for the default key).
        ///
        /// Default: $MIJIAN_CONFIG, else /etc/mijian/agent.toml.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Write the manual pages (mijian-agent.1 and one per subcommand) into OUTDIR.
    #[command(name = "__man", hide = true)]
    Man {
        #[arg(value_name = "OUTDIR")]
        out: PathBuf,
    },
    /// Print a shell completion script for SHELL (bash, zsh, fish, elvish, powershell).
    #[command(name = "__completions", hide = true)]
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
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

/// `mijian-agent policy …` (issue 13).
#[derive(Subcommand)]
enum PolicyCmd {
    /// Verify and apply a signed policy bundle from a file (air-gapped hosts).
    /// Exit 0 applied or already in force, 1 refused (reported as an agent_alarm in the next report).
    Apply {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Pin the collector's public key (JWK from `mijian-collector policy key`) on a host that did not enroll online.
    Pin {
        #[arg(long, value_name = "FILE")]
        jwk: PathBuf,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Print the pinned collector key and the policy version in force.
    Status {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
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
            let msg = format!("{e:#}");
            let msg = output::escape::visible(&msg);
            match Lang::from_env() {
                Lang::Zh => eprintln!("mijian-agent：错误：{msg}"),
                Lang::En => eprintln!("mijian-agent: {msg}"),
            }
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
    let lang = Lang::from_env();
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
        Command::Man { out } => {
            std::fs::create_dir_all(&out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            clap_mangen::generate_to(<Cli as clap::CommandFactory>::command(), &out)
                .with_context(|| format!("cannot write manual pages into {}", out.display()))?;
            Ok(0)
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "mijian-agent", &mut std::io::stdout());
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
                        bail!(
                            "{}",
                            match lang {
                                Lang::Zh => format!(
                                    "--root {}：不是目录（请给出被检查系统的根目录，如挂载的磁盘镜像）",
                                    dir.display()
                                ),
                                Lang::En => format!(
                                    "--root {}: not a directory (give the root of the inspected system, e.g. a mounted disk image)",
                                    dir.display()
                                ),
                            }
                        );
                    }
                    Root::at(dir)
                }
                None => Root::live(),
            };
            let state_dir = state::default_state_dir(&cfg);
            let state = state::AgentState::open(&state_dir);
            // The scan cache lives in the state dir; without one, scan uncached.
            let cache_dir = state.as_ref().ok().map(|s| s.dir().to_path_buf());
            let progress = std::sync::Arc::new(mijian_scanner::pipeline::Progress::default());
            let inspector = inspect::Inspector::with_progress(
                cfg,
                policy,
                root,
                cache_dir.as_deref(),
                Some(progress.clone()),
            )?;
            let display = (!no_content)
                .then(|| output::progress::Display::start(progress, lang))
                .flatten();
            let mut report = inspector.inspect(Trigger::Manual, !no_content);
            drop(display);
            policy::apply_exceptions(&inspector.policy, &mut report);
            let report = if sign {
                let state = state?;
                // Refusals kept by `policy apply` travel in this signed report.
                report.findings.extend(policy::take_alarms(&state_dir));
                // Never sign what the collector (or its `import`) refuses.
                bound::bound(
                    &mut report,
                    state
                        .collector_limit()
                        .unwrap_or(bound::DEFAULT_MAX_REPORT_BYTES),
                );
                let sealed = state.seal(report)?;
                let out = out.context("--sign needs --out FILE")?;
                state::write_atomic(&out, &sealed.jws, 0o644)
                    .with_context(|| format!("cannot write signed report to {}", out.display()))?;
                state.settle(sealed.report.seq)?;
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
                    Err(e) => unlinked(&mut report, e, lang),
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
                    let p = p.display();
                    bail!(
                        "{}",
                        lang.t(
                            &format!("{p}：文件或目录不存在"),
                            &format!("{p}: no such file or directory")
                        )
                    );
                }
            }
            let state = state::AgentState::open(&state::default_state_dir(&cfg));
            let progress = std::sync::Arc::new(mijian_scanner::pipeline::Progress::default());
            let inspector = inspect::Inspector::with_progress(
                cfg,
                policy,
                Root::live(),
                None,
                Some(progress.clone()),
            )?;
            let display = output::progress::Display::start(progress, lang);
            let mut report = inspector.scan_files(Trigger::Manual, &paths);
            drop(display);
            policy::apply_exceptions(&inspector.policy, &mut report);
            // Like an unsigned `check`: this agent's kid and the position the
            // next signed report will take (schema/report.schema.json).
            match &state {
                Ok(s) => s.preview(&mut report)?,
                Err(e) => unlinked(&mut report, e, lang),
            }
            print_report(&report, Format::resolve(format))?;
            // A file deleted while the scan ran is counted, not a finding;
            // an excepted finding (issue 13) is shown but does not count.
            let found = report
                .findings
                .iter()
                .any(|f| !output::table::is_noise(f) && f.excepted.is_none());
            Ok(if found { 1 } else { 0 })
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
        Command::Verify { file, jwk, config } => {
            verify(&file, jwk.as_deref(), config.as_deref(), lang)
        }
        Command::Policy(cmd) => policy_cmd(cmd),
    }
}

fn policy_cmd(cmd: PolicyCmd) -> Result<u8> {
    let state_dir = |config: Option<&Path>| -> Result<PathBuf> {
        Ok(state::default_state_dir(&AgentConfig::load(config)?))
    };
    match cmd {
        PolicyCmd::Apply { file, config } => {
            policy::apply_file(&state_dir(config.as_deref())?, &file)
        }
        PolicyCmd::Pin { jwk, config } => {
            let raw =
                std::fs::read(&jwk).with_context(|| format!("cannot read {}", jwk.display()))?;
            let key = Jwk::parse(&raw).with_context(|| format!("JWK {}", jwk.display()))?;
            policy::pin(&state_dir(config.as_deref())?, &key)?;
            eprintln!("mijian-agent: pinned collector key {}", key.thumbprint());
            Ok(0)
        }
        PolicyCmd::Status { config } => {
            let dir = state_dir(config.as_deref())?;
            let mut out = std::io::stdout().lock();
            match policy::pinned(&dir)? {
                Some(k) => writeln!(out, "collector key: {}", k.thumbprint())?,
                None => writeln!(out, "collector key: none pinned")?,
            }
            match policy::applied(&dir)? {
                Some(a) => writeln!(
                    out,
                    "policy: version {} ({:?} mode), digest {}, {} exception(s), created {}",
                    a.bundle.version,
                    a.bundle.mode,
                    a.bundle.digest,
                    a.bundle.exceptions.len(),
                    a.bundle.created_at
                )?,
                None => writeln!(out, "policy: no bundle applied (local rules)")?,
            }
            Ok(0)
        }
    }
}

/// No agent state (not writable, broken key): the unsigned report still
/// needs a valid `agent_id` and `seq` (schema/report.schema.json), so it
/// carries a one-off key's kid and seq 1, and a note says it is not linked
/// to this agent's chain.
fn unlinked(report: &mut Report, e: &anyhow::Error, lang: Lang) {
    let why = format!("{e:#}");
    let note = match lang {
        Lang::Zh => {
            format!("代理状态不可用（{why}），本报告未接入本代理的报告链，agent_id 为临时密钥")
        }
        Lang::En => format!(
            "agent state unavailable ({why}); this report is not linked to the agent's chain and its agent_id is a one-off key's"
        ),
    };
    eprintln!("mijian-agent: {}", output::escape::visible(&note));
    report.agent_id = mijian_report::AgentKey::generate().kid();
    report.seq = 1;
    report.prev = None;
    report.notes.push(format!(
        "unlinked: agent state unavailable ({why}); agent_id is a one-off key's kid"
    ));
}

/// Verify a signed report; print the payload on success. Every refusal says
/// why: 1 for a report that is not valid, 2 when the check could not be made
/// (no such file, no key to verify with).
fn verify(file: &Path, jwk: Option<&Path>, config: Option<&Path>, lang: Lang) -> Result<u8> {
    let shown = output::escape::visible(&file.display().to_string()).into_owned();
    let invalid = |msg: String| -> Result<u8> {
        let msg = output::escape::visible(&msg).into_owned();
        match lang {
            Lang::Zh => eprintln!("mijian-agent：无效：{shown}：{msg}"),
            Lang::En => eprintln!("mijian-agent: INVALID: {shown}: {msg}"),
        }
        Ok(1)
    };
    let bytes = std::fs::read(file).with_context(|| {
        lang.t(
            &format!("无法读取报告文件 {}", file.display()),
            &format!("cannot read the report file {}", file.display()),
        )
        .to_string()
    })?;
    let jws = match Jws::parse(&bytes) {
        Ok(j) => j,
        Err(e) => return invalid(e.to_string()),
    };
    let key = match jwk {
        Some(p) => {
            let raw = std::fs::read(p).with_context(|| {
                lang.t(
                    &format!("无法读取公钥文件 {}", p.display()),
                    &format!("cannot read JWK {}", p.display()),
                )
                .to_string()
            })?;
            Jwk::parse(&raw).with_context(|| format!("JWK {}", p.display()))?
        }
        None => {
            let cfg = AgentConfig::load(config)?;
            let dir = state::default_state_dir(&cfg);
            match state::AgentState::existing_public_key(&dir)? {
                Some(k) => k,
                None => bail!(
                    "{}",
                    match lang {
                        Lang::Zh => format!(
                            "本代理在 {} 中没有密钥，无法用它验证；请用 --jwk FILE 给出签名代理的公钥（在该主机上执行 `mijian-agent key` 得到）",
                            dir.display()
                        ),
                        Lang::En => format!(
                            "this agent has no key in {} to verify with; give the signing agent's public key with --jwk FILE (printed by `mijian-agent key` on that host)",
                            dir.display()
                        ),
                    }
                ),
            }
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
    match lang {
        Lang::Zh => eprintln!(
            "mijian-agent：有效：由 {} 签名（序号 {}）",
            verified.kid, report.seq
        ),
        Lang::En => eprintln!(
            "mijian-agent: valid: signed by {} (seq {})",
            verified.kid, report.seq
        ),
    }
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
            let style = output::table::Style::detect();
            let text = output::table::render(report, Lang::from_env(), style);
            // anstream strips the colour codes where the terminal takes none.
            let mut out = anstream::AutoStream::auto(stdout);
            out.write_all(text.as_bytes())?;
            out.flush()?;
            return Ok(());
        }
    }
    stdout.flush()?;
    Ok(())
}

/// "rules: …" in the reader's language (the detail names file and line).
fn rules_error(e: impl std::fmt::Display) -> anyhow::Error {
    match Lang::from_env() {
        Lang::Zh => anyhow::anyhow!("规则有误：{e}（请修正该文件的该行后重试）"),
        Lang::En => anyhow::anyhow!("rules: {e}"),
    }
}

/// Rules: `--rules`, else the signed bundle applied from the collector
/// (issue 13), else `paths.rules_dir`, else `/etc/mijian/rules`, else the
/// checkout's `rules/` (when run from a source tree), else built-in.
fn load_policy(explicit: Option<&Path>, cfg: &AgentConfig) -> Result<Policy> {
    if explicit.is_none() {
        match policy::load_applied(&state::default_state_dir(cfg)) {
            Ok(Some(p)) => return Ok(p),
            Ok(None) => {}
            // E.g. an ordinary user who cannot read root's state directory.
            Err(e) => eprintln!("mijian-agent: note: the signed policy is not used: {e:#}"),
        }
    }
    let dir = explicit
        .map(Path::to_path_buf)
        .or_else(|| cfg.paths.rules_dir.clone());
    if let Some(dir) = dir {
        return Policy::load(&dir).map_err(rules_error);
    }
    let system = platform::system_config_dir().join("rules");
    if system.is_dir() {
        return Policy::load(&system).map_err(rules_error);
    }
    if let Some(dir) = checkout_rules() {
        return Policy::load(&dir).map_err(rules_error);
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
