//! The command line (CONTRACT §7). Every subcommand takes `--config FILE` and
//! `--database URL` and works on that store. Results go to stdout (tokens
//! alone on the last line, for scripts); logs and errors to stderr. Exit
//! status: 0 done, 1 done but something was refused (import), 2 could not run.

use crate::api::App;
use crate::auth::{hash_password, new_token, now, token_hash};
use crate::config::Config;
use crate::ingest::{self, Decision};
use anyhow::{Context, Result, bail};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use mijian_report::Jwk;
use mijian_store::{Role, Store, TokenRevoked};
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "mijian-collector",
    version,
    about = "Verifies, stores and serves signed mijian reports"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct Global {
    /// Configuration file (TOML); default $MIJIAN_COLLECTOR_CONFIG or /etc/mijian/collector.toml if present.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Store: sqlite:PATH or postgres://USER@HOST:PORT/DB (default: a SQLite file in the data directory).
    #[arg(long, global = true, value_name = "URL")]
    database: Option<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the HTTP(S) API.
    Serve(ServeArgs),
    /// Staff accounts.
    #[command(subcommand)]
    User(UserCmd),
    /// Bearer tokens for the API.
    #[command(subcommand, name = "api-token")]
    ApiToken(ApiTokenCmd),
    /// Enrollment tokens for agents.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Agent keys.
    #[command(subcommand)]
    Agents(AgentsCmd),
    /// Ingest signed report files (air-gapped hosts); directories are read one level deep.
    Import {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// The central policy: versions, change log, signed bundle, exceptions (issue 13).
    #[command(subcommand)]
    Policy(crate::policy::cli::PolicyCmd),
    /// Delete history older than the retention period (each host keeps its latest report).
    Prune {
        /// Overrides [retention] days of the config file.
        #[arg(long, value_name = "DAYS")]
        older_than_days: Option<u64>,
    },
    /// Packaging: write the man pages (mijian-collector.1 and one per subcommand) into DIR.
    #[command(name = "__man", hide = true)]
    Man {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Packaging: print the completion script for SHELL on stdout.
    #[command(name = "__completions", hide = true)]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Listen address (default 127.0.0.1:8443 with TLS, 127.0.0.1:8080 without).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<String>,
    /// PEM certificate chain (with --tls-key); overrides [tls] of the config file.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback address (behind a TLS-terminating proxy only).
    #[arg(long)]
    plain_http: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    /// 系统管理员: accounts, tokens, agents.
    Admin,
    /// 安全保密管理员: triage, exceptions, media register, reports.
    Secadmin,
    /// 安全审计员: reads everything, the audit log included.
    Auditor,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::Secadmin => Role::Secadmin,
            RoleArg::Auditor => Role::Auditor,
        }
    }
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add (or reset) a staff account; the password is read from stdin.
    Add {
        name: String,
        #[arg(long)]
        role: RoleArg,
        /// Read the password from the first line of stdin (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum ApiTokenCmd {
    /// Print a new bearer token (alone on the last line).
    Create {
        #[arg(long)]
        role: RoleArg,
        #[arg(long)]
        label: Option<String>,
        /// Expire after DURATION (e.g. 90d, 12h); default never.
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
    /// List API tokens (staff logins included) by id; tokens themselves are never stored.
    List,
    /// Revoke an API token by the id `api-token list` shows (at least 8 hex digits).
    Revoke { id: String },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Print a new enrollment token (alone on the last line).
    Create {
        /// How many agents may enroll with it.
        #[arg(long, default_value_t = 1)]
        uses: i64,
        /// Expire after DURATION (e.g. 24h, 7d, 30m).
        #[arg(long, value_name = "DURATION", default_value = "24h")]
        expires: String,
    },
}

#[derive(Subcommand)]
enum AgentsCmd {
    /// Register an agent's public key by hand (the JWK that `mijian-agent key` prints).
    Add {
        #[arg(long, value_name = "FILE")]
        jwk: PathBuf,
        #[arg(long)]
        hostname: Option<String>,
    },
    /// Revoke an agent key: its later reports are refused with 401.
    Revoke { agent_id: String },
}

/// Parse `30s`, `15m`, `24h`, `7d` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<i64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'h')) => (&s[..i], 3600),
        Some((i, 'd')) => (&s[..i], 86400),
        _ => (s, 1),
    };
    let n: i64 =
        num.parse().ok().filter(|n| *n > 0).with_context(|| {
            format!("duration `{s}` is not understood (write e.g. 30m, 24h, 7d)")
        })?;
    n.checked_mul(mult).context("duration too long")
}

/// Entry point; returns the exit status.
pub fn main() -> i32 {
    init_log();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return 0;
            }
            eprintln!("mijian-collector: {e:#}");
            2
        }
    }
}

fn init_log() {
    struct Stderr(log::LevelFilter);
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= self.0
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) && r.target().starts_with("mijian") {
                eprintln!(
                    "mijian-collector: {}: {}",
                    r.level().as_str().to_lowercase(),
                    r.args()
                );
            }
        }
        fn flush(&self) {}
    }
    let level = match std::env::var("MIJIAN_LOG").as_deref() {
        Ok("debug") => log::LevelFilter::Debug,
        Ok("warn") => log::LevelFilter::Warn,
        Ok("error") => log::LevelFilter::Error,
        _ => log::LevelFilter::Info,
    };
    if log::set_boxed_logger(Box::new(Stderr(level))).is_ok() {
        log::set_max_level(level);
    }
}

fn open_store(config: &Config, g: &Global) -> Result<Arc<dyn Store>> {
    let url = config.database_url(g.database.as_deref());
    let store =
        mijian_store::open(&url).with_context(|| format!("cannot open store {}", redact(&url)))?;
    Ok(store.into())
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Unix seconds as RFC 3339 (UTC), for listings.
fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// Man pages and completions come from the command-line definition itself,
/// so they cannot drift from the binary; generated by the packaging build
/// (`packaging/build.sh`), without reading any config or store.
fn generate_docs(cmd: &Cmd) -> Result<Option<i32>> {
    match cmd {
        Cmd::Man { dir } => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(Cli::command(), dir)
                .with_context(|| format!("cannot write man pages into {}", dir.display()))?;
            Ok(Some(0))
        }
        Cmd::Completions { shell } => {
            // Rendered into memory first: clap_complete panics when its
            // writer fails (a closed pipe), a Vec cannot fail.
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "mijian-collector", &mut script);
            let mut out = std::io::stdout().lock();
            out.write_all(&script)?;
            out.flush()?;
            Ok(Some(0))
        }
        _ => Ok(None),
    }
}

fn run(cli: Cli) -> Result<i32> {
    if let Some(code) = generate_docs(&cli.cmd)? {
        return Ok(code);
    }
    let config = Config::load(cli.global.config.as_deref())?;
    let out = std::io::stdout();
    let mut out = out.lock();
    match cli.cmd {
        Cmd::Serve(args) => {
            serve(&config, &cli.global, args)?;
            Ok(0)
        }
        Cmd::Policy(cmd) => {
            let store = open_store(&config, &cli.global)?;
            let url = config.database_url(cli.global.database.as_deref());
            crate::policy::cli::run(cmd, &config, &url, &*store, &mut out)
        }
        Cmd::User(UserCmd::Add { name, role, .. }) => {
            crate::auth::check_user_name(&name).map_err(anyhow::Error::msg)?;
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("cannot read the password from stdin")?;
            let password = password.trim_end_matches(['\n', '\r']);
            crate::auth::check_password(password).map_err(anyhow::Error::msg)?;
            let hash = hash_password(password)?;
            let store = open_store(&config, &cli.global)?;
            store.put_user(&name, role.into(), &hash, now())?;
            cli_audit(
                &*store,
                "user.add",
                Some(name.clone()),
                Some(format!("role {}", Role::from(role).as_str())),
            );
            writeln!(
                out,
                "user {name} saved with role {}",
                Role::from(role).as_str()
            )?;
            Ok(0)
        }
        Cmd::ApiToken(ApiTokenCmd::List) => {
            let store = open_store(&config, &cli.global)?;
            writeln!(
                out,
                "ID            ROLE     CREATED               EXPIRES               LABEL"
            )?;
            for t in store.api_tokens()? {
                writeln!(
                    out,
                    "{:<13} {:<8} {:<21} {:<21} {}",
                    t.id,
                    t.role.as_str(),
                    rfc3339(t.created_at),
                    t.expires_at.map_or_else(|| "never".to_string(), rfc3339),
                    t.label.as_deref().unwrap_or("-")
                )?;
            }
            Ok(0)
        }
        Cmd::ApiToken(ApiTokenCmd::Revoke { id }) => {
            let store = open_store(&config, &cli.global)?;
            match store.revoke_api_token(&id)? {
                TokenRevoked::Revoked => {
                    cli_audit(&*store, "api_token.revoke", Some(id.clone()), None);
                    writeln!(out, "API token {id} revoked")?;
                    Ok(0)
                }
                TokenRevoked::NotFound => {
                    eprintln!("mijian-collector: no API token has id {id} (see `api-token list`)");
                    Ok(1)
                }
                TokenRevoked::Ambiguous(n) => {
                    eprintln!(
                        "mijian-collector: {n} API tokens have ids starting {id}; give more digits"
                    );
                    Ok(1)
                }
            }
        }
        Cmd::ApiToken(ApiTokenCmd::Create {
            role,
            label,
            expires,
        }) => {
            let expires_at = expires
                .as_deref()
                .map(parse_duration)
                .transpose()?
                .map(|d| now() + d);
            let store = open_store(&config, &cli.global)?;
            let token = new_token("mjt_");
            store.create_api_token(
                &token_hash(&token),
                role.into(),
                label.as_deref(),
                expires_at,
                now(),
            )?;
            cli_audit(
                &*store,
                "api_token.create",
                label.clone(),
                Some(format!("role {}", Role::from(role).as_str())),
            );
            writeln!(
                out,
                "API token, role {} (shown once; send as Authorization: Bearer TOKEN):",
                Role::from(role).as_str()
            )?;
            writeln!(out, "{token}")?;
            Ok(0)
        }
        Cmd::Token(TokenCmd::Create { uses, expires }) => {
            if uses < 1 {
                bail!("--uses must be at least 1");
            }
            let expires_at = now() + parse_duration(&expires)?;
            let store = open_store(&config, &cli.global)?;
            let token = new_token("mje_");
            store.create_enroll_token(&token_hash(&token), uses, Some(expires_at), now())?;
            writeln!(
                out,
                "enrollment token for {uses} agent(s), valid until {} (mijian-agent enroll --collector URL --token TOKEN):",
                crate::api::rfc3339(expires_at)
            )?;
            writeln!(out, "{token}")?;
            Ok(0)
        }
        Cmd::Agents(AgentsCmd::Add { jwk, hostname }) => {
            let bytes =
                std::fs::read(&jwk).with_context(|| format!("cannot read {}", jwk.display()))?;
            let key = Jwk::parse(&bytes).with_context(|| format!("{}", jwk.display()))?;
            if key.d.is_some() {
                bail!(
                    "{} holds a private key; give the public JWK (mijian-agent key)",
                    jwk.display()
                );
            }
            let public = key.public();
            let kid = public.thumbprint();
            let store = open_store(&config, &cli.global)?;
            let new = store.add_agent(
                &kid,
                &serde_json::to_string(&public)?,
                hostname.as_deref(),
                now(),
            )?;
            writeln!(
                out,
                "{}",
                if new {
                    "agent registered:"
                } else {
                    "agent already registered:"
                }
            )?;
            if new {
                log::info!("agent {kid} registered by hand (agents add --jwk)");
            }
            writeln!(out, "{kid}")?;
            Ok(0)
        }
        Cmd::Agents(AgentsCmd::Revoke { agent_id }) => {
            let store = open_store(&config, &cli.global)?;
            if !store.revoke_agent(&agent_id, now())? {
                bail!(
                    "no agent {agent_id} (agent ids are the JWK thumbprints that `mijian-agent key` prints)"
                );
            }
            log::info!("agent {agent_id} revoked");
            cli_audit(&*store, "agent.revoke", Some(agent_id.clone()), None);
            writeln!(out, "agent {agent_id} revoked")?;
            Ok(0)
        }
        Cmd::Import { files } => {
            let store = open_store(&config, &cli.global)?;
            import(&*store, &files, config.limits.max_body_bytes, &mut out)
        }
        Cmd::Man { .. } | Cmd::Completions { .. } => bail!("handled by generate_docs"),
        Cmd::Prune { older_than_days } => {
            let days = older_than_days
                .or(config.retention.days)
                .context("give --older-than-days or set [retention] days in the config file")?;
            let store = open_store(&config, &cli.global)?;
            let n = store.prune(now() - (days.min(1_000_000) as i64) * 86400)?;
            writeln!(out, "pruned {n} report(s) older than {days} days")?;
            Ok(0)
        }
    }
}

/// Record a command-line change in the audit log (actor `cli`): the console's
/// auditor sees accounts and tokens made at the shell too.
fn cli_audit(store: &dyn Store, action: &str, target: Option<String>, detail: Option<String>) {
    let e = mijian_store::console::AuditEntry {
        at: now(),
        actor: "cli".into(),
        role: None,
        action: action.into(),
        target,
        detail,
        addr: None,
        outcome: "ok".into(),
    };
    if let Err(e) = store.console().audit(&e) {
        log::warn!("cannot write the audit log: {e}");
    }
}

/// Files to import: each FILE, or the regular files directly inside a directory.
fn expand(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for f in files {
        match std::fs::read_dir(f) {
            Ok(dir) => {
                let mut inner: Vec<PathBuf> = dir
                    .filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.is_file())
                    .collect();
                inner.sort();
                out.extend(inner);
            }
            Err(_) => out.push(f.clone()),
        }
    }
    out
}

/// Ingest files; a line per refused file, then the summary.
pub fn import(
    store: &dyn Store,
    files: &[PathBuf],
    max_bytes: usize,
    out: &mut dyn Write,
) -> Result<i32> {
    let (mut stored, mut duplicate, mut conflict, mut rejected) = (0u64, 0u64, 0u64, 0u64);
    for path in expand(files) {
        let bytes = match read_bounded(&path, max_bytes) {
            Ok(b) => b,
            Err(e) => {
                rejected += 1;
                writeln!(out, "{}: rejected: {e:#}", path.display())?;
                continue;
            }
        };
        match ingest::ingest(store, &bytes, now()) {
            Decision::Stored { .. } => stored += 1,
            Decision::Duplicate { .. } => duplicate += 1,
            Decision::Conflict { seq, reason, .. } => {
                conflict += 1;
                writeln!(
                    out,
                    "{}: conflict (kept as tamper alert): seq {seq}: {reason}",
                    path.display()
                )?;
            }
            Decision::Rejected(r) => {
                rejected += 1;
                writeln!(
                    out,
                    "{}: rejected: {}: {}",
                    path.display(),
                    r.reason,
                    r.message
                )?;
            }
        }
    }
    writeln!(
        out,
        "stored {stored}, duplicate {duplicate}, conflict {conflict}, rejected {rejected}"
    )?;
    Ok(if conflict + rejected > 0 { 1 } else { 0 })
}

fn read_bounded(path: &Path, max: usize) -> Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path).context("cannot open")?;
    let mut buf = Vec::new();
    f.take(max as u64 + 1)
        .read_to_end(&mut buf)
        .context("cannot read")?;
    if buf.len() > max {
        bail!("too_large: larger than {max} bytes");
    }
    Ok(buf)
}

fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

fn serve(config: &Config, g: &Global, args: ServeArgs) -> Result<()> {
    crate::tls::install_provider();
    let tls_files = match (args.tls_cert, args.tls_key) {
        (Some(c), Some(k)) => Some((c, k)),
        _ => config.tls.as_ref().map(|t| (t.cert.clone(), t.key.clone())),
    };
    let default_listen = if tls_files.is_some() {
        "127.0.0.1:8443"
    } else {
        "127.0.0.1:8080"
    };
    let listen = args
        .listen
        .or_else(|| config.listen.clone())
        .unwrap_or_else(|| default_listen.to_string());
    let addr: SocketAddr = listen.parse().with_context(|| {
        format!("listen address `{listen}` is not ADDR:PORT (e.g. 0.0.0.0:8443)")
    })?;
    if tls_files.is_none() && !is_loopback(&addr) && !(args.plain_http || config.plain_http) {
        bail!(
            "refusing plain HTTP on non-loopback address {addr}: reports and staff logins would travel in clear. \
             Configure TLS (--tls-cert FILE --tls-key FILE, or [tls] cert/key in the config file; \
             docs/collector.md shows how to make them with openssl), or listen on 127.0.0.1"
        );
    }
    let acceptor = tls_files
        .as_ref()
        .map(|(c, k)| crate::tls::acceptor(c, k))
        .transpose()?;
    let store = open_store(config, g)?;
    let mut app = App::new(
        store.clone(),
        config.limits.clone(),
        config.metrics.silent_after_secs,
        acceptor.is_some(),
    );
    app.alerts = config.alerts.clone();
    let url = config.database_url(g.database.as_deref());
    let policy_key = crate::policy::collector_key(&crate::policy::key_path(config, &url))?;
    app.policy_key = Some(Arc::new(policy_key.public_jwk()));
    app.policy_signer = Some(Arc::new(policy_key));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        let scheme = if acceptor.is_some() { "https" } else { "http" };
        log::info!(
            "listening on {scheme}://{local} (store: {})",
            store.backend()
        );
        // Machine-readable for tests and scripts that pass port 0.
        println!("listening on {scheme}://{local}");
        if let Some(days) = config.retention.days {
            let store = store.clone();
            tokio::spawn(async move {
                loop {
                    let s = store.clone();
                    let before = now() - (days.min(1_000_000) as i64) * 86400;
                    match tokio::task::spawn_blocking(move || s.prune(before)).await {
                        Ok(Ok(n)) if n > 0 => log::info!("retention: pruned {n} report(s)"),
                        Ok(Err(e)) => log::warn!("retention: {e}"),
                        _ => {}
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                }
            });
        }
        crate::ui::spawn_background(&app);
        crate::server::run(listener, app, acceptor).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h").unwrap(), 86400);
        assert_eq!(parse_duration("7d").unwrap(), 7 * 86400);
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-5m").is_err());
    }

    #[test]
    fn man_pages_cover_every_visible_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        let cli = Cli::try_parse_from(["mijian-collector", "__man", dir.path().to_str().unwrap()])
            .unwrap();
        assert_eq!(generate_docs(&cli.cmd).unwrap(), Some(0));
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for want in [
            "mijian-collector.1",
            "mijian-collector-serve.1",
            "mijian-collector-user-add.1",
            "mijian-collector-import.1",
        ] {
            assert!(
                names.iter().any(|n| n == want),
                "{want} missing in {names:?}"
            );
        }
        assert!(
            !names.iter().any(|n| n.contains("__")),
            "hidden command paged: {names:?}"
        );
        let top = std::fs::read_to_string(dir.path().join("mijian-collector.1")).unwrap();
        assert!(
            top.starts_with(".ie") || top.contains(".TH"),
            "not roff: {top:.80}"
        );
        assert!(top.contains("prune"));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite:/x"), "sqlite:/x");
    }
}
