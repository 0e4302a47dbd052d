//! `mijian-agent run`, `export` and the systemd unit, end to end (issue 6):
//! the real agent binary against a test-double collector on loopback that
//! verifies each report's signature and stores it once by `report_id`.

use crate::util;
use mijian_report::{Jwk, Jws, Report};
use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the double collector stored: reports in first-arrival order.
#[derive(Default)]
struct Store {
    reports: Vec<Report>,
    by_id: HashMap<String, Vec<u8>>,
    duplicates: u64,
    bad: Vec<String>,
}

/// A test-double collector: `POST /api/v1/reports` → 202 stored, 200
/// duplicate (same report_id and bytes), 409 same report_id other bytes.
struct Collector {
    port: u16,
    jwk: Jwk,
    store: Arc<Mutex<Store>>,
    up: Arc<AtomicBool>,
    delay_ms: Arc<AtomicU64>,
}

impl Collector {
    fn new(jwk: Jwk) -> Collector {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Collector {
            port,
            jwk,
            store: Arc::default(),
            up: Arc::default(),
            delay_ms: Arc::default(),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Listen (again) on the same port.
    fn start(&self) {
        let l = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        self.up.store(true, Ordering::SeqCst);
        let (store, up, delay, jwk) = (
            self.store.clone(),
            self.up.clone(),
            self.delay_ms.clone(),
            self.jwk.clone(),
        );
        std::thread::spawn(move || {
            for conn in l.incoming() {
                if !up.load(Ordering::SeqCst) {
                    return; // drops the listener: connection refused from now on
                }
                let Ok(conn) = conn else { continue };
                let (store, up, delay, jwk) =
                    (store.clone(), up.clone(), delay.clone(), jwk.clone());
                std::thread::spawn(move || serve(conn, &store, &up, &delay, &jwk));
            }
        });
    }

    /// Stop listening and drop open connections.
    fn stop(&self) {
        self.up.store(false, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        std::thread::sleep(Duration::from_millis(100));
    }

    fn seqs(&self) -> Vec<u64> {
        self.store
            .lock()
            .unwrap()
            .reports
            .iter()
            .map(|r| r.seq)
            .collect()
    }

    fn wait_for(&self, what: &str, timeout: Duration, ok: impl Fn(&Store) -> bool) {
        let t = Instant::now();
        while t.elapsed() < timeout {
            if ok(&self.store.lock().unwrap()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let s = self.store.lock().unwrap();
        panic!(
            "timed out after {timeout:?} waiting for {what}; stored seqs {:?}, bad {:?}",
            s.reports.iter().map(|r| r.seq).collect::<Vec<_>>(),
            s.bad
        );
    }
}

fn serve(conn: TcpStream, store: &Mutex<Store>, up: &AtomicBool, delay: &AtomicU64, jwk: &Jwk) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut w = match conn.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(delay.load(Ordering::SeqCst)));
        if !up.load(Ordering::SeqCst) {
            return; // "crashed" before answering
        }
        let status = if path == "/api/v1/reports" {
            ingest(store, &body, jwk)
        } else {
            404
        };
        let resp = format!(
            "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{{}}"
        );
        if w.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

fn ingest(store: &Mutex<Store>, body: &[u8], jwk: &Jwk) -> u16 {
    let mut s = store.lock().unwrap();
    let verified = match Jws::parse(body)
        .map_err(|e| e.to_string())
        .and_then(|j| j.verify(jwk).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => {
            s.bad.push(e);
            return 401;
        }
    };
    let report = match Report::from_payload(&verified.payload) {
        Ok(r) => r,
        Err(e) => {
            s.bad.push(e.to_string());
            return 400;
        }
    };
    match s.by_id.get(&report.report_id) {
        Some(b) if b == body => {
            s.duplicates += 1;
            200
        }
        Some(_) => 409,
        None => {
            s.by_id.insert(report.report_id.clone(), body.to_vec());
            s.reports.push(report);
            202
        }
    }
}

/// A temp home for one agent: config, state, content and media dirs.
pub(crate) struct Agent {
    dir: tempfile::TempDir,
    child: Option<Child>,
    log: PathBuf,
}

impl Agent {
    pub(crate) fn new() -> Agent {
        let dir = tempfile::tempdir().unwrap();
        for d in ["home", "media"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let log = dir.path().join("agent.log");
        Agent {
            dir,
            child: None,
            log,
        }
    }

    pub(crate) fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub(crate) fn configure(&self, collector: Option<&str>, daemon: &str) -> PathBuf {
        let collector = collector
            .map(|u| format!("[collector]\nurl = {u:?}\n"))
            .unwrap_or_default();
        util::write_config(
            self.dir.path(),
            &format!(
                "rules_dir = {:?}\n{collector}[content]\npaths = [{:?}]\n[media]\nroots = [{:?}]\n[schedule]\ninterval = \"24h\"\njitter = \"0s\"\n[daemon]\nretry_min = \"100ms\"\nretry_max = \"1s\"\ndebounce = \"300ms\"\n{daemon}",
                util::rules().display().to_string(),
                self.path("home").display().to_string(),
                self.path("media").display().to_string(),
            ),
        )
    }

    pub(crate) fn config(&self) -> PathBuf {
        self.dir.path().join("agent.toml")
    }

    pub(crate) fn jwk(&self) -> Jwk {
        let out = util::run(
            Command::new(util::bin("mijian-agent"))
                .arg("key")
                .arg("--config")
                .arg(self.config()),
        );
        assert!(out.status.success(), "key: {}", util::stderr(&out));
        Jwk::parse(&out.stdout).unwrap()
    }

    pub(crate) fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(util::bin("mijian-agent"))
            .arg("run")
            .arg("--config")
            .arg(self.config())
            .env("MIJIAN_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    pub(crate) fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid)
            .status()
            .unwrap();
        assert!(st.success());
    }

    pub(crate) fn kill9(&mut self) {
        let mut c = self.child.take().unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
    }

    /// SIGTERM; returns how long the agent took to exit and its status.
    pub(crate) fn terminate(&mut self) -> (Duration, std::process::ExitStatus) {
        self.signal("TERM");
        let mut c = self.child.take().unwrap();
        let t = Instant::now();
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return (t.elapsed(), st);
            }
            if t.elapsed() > Duration::from_secs(20) {
                let _ = c.kill();
                panic!("agent did not exit after SIGTERM\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn chain_seq(&self) -> u64 {
        std::fs::read(self.path("state/chain.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["seq"].as_u64())
            .unwrap_or(0)
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn wait_log(&self, needle: &str, timeout: Duration) {
        let t = Instant::now();
        while t.elapsed() < timeout {
            if self.log_text().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "no {needle:?} in the agent log after {timeout:?}:\n{}",
            self.log_text()
        );
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Reports arrive exactly once and in order although the collector goes
/// down for a while and the agent is SIGKILLed during delivery.
#[test]
fn delivery_survives_collector_outage_and_agent_sigkill() {
    let mut agent = Agent::new();
    agent.configure(None, "");
    let c = Collector::new(agent.jwk());
    c.start();
    agent.configure(Some(&c.url()), "heartbeat = \"300ms\"\n");
    agent.start();
    c.wait_for(
        "the boot report and heartbeats",
        Duration::from_secs(60),
        |s| s.reports.len() >= 3,
    );
    assert_eq!(
        c.store.lock().unwrap().reports[0].trigger,
        mijian_report::Trigger::Boot
    );

    // Collector down: reports pile up in the outbox.
    c.stop();
    let before = c.seqs().len();
    std::thread::sleep(Duration::from_secs(2));
    // Stop making reports (SIGHUP reload with the heartbeat off), so the
    // kill below lands in delivery, not in sealing.
    agent.configure(Some(&c.url()), "heartbeat = \"0s\"\n");
    agent.signal("HUP");
    agent.wait_log("reloaded config and rules", Duration::from_secs(10));
    let mut last = agent.chain_seq();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = agent.chain_seq();
        if now == last {
            break;
        }
        last = now;
    }
    let total = last;
    assert!(
        total as usize >= before + 3,
        "reports were made while the collector was down: {total} vs {before}"
    );

    // Collector back, slow: kill the agent while it delivers the backlog.
    c.delay_ms.store(150, Ordering::SeqCst);
    c.start();
    c.wait_for("delivery to resume", Duration::from_secs(30), |s| {
        s.reports.len() > before
    });
    agent.kill9();
    let at_kill = c.seqs().len();
    assert!(
        (at_kill as u64) < total,
        "the kill landed before the backlog was delivered"
    );

    // Restart: the rest arrives.
    c.delay_ms.store(0, Ordering::SeqCst);
    agent.configure(Some(&c.url()), "heartbeat = \"0s\"\nboot_check = false\n");
    agent.start();
    c.wait_for("every sealed report", Duration::from_secs(60), |s| {
        s.reports.len() as u64 >= total
    });
    let (took, status) = agent.terminate();
    assert!(
        status.success(),
        "exit status {status:?}\n{}",
        agent.log_text()
    );
    assert!(took < Duration::from_secs(5), "SIGTERM took {took:?}");

    let seqs = c.seqs();
    assert_eq!(
        seqs,
        (1..=total).collect::<Vec<_>>(),
        "exactly once, in order"
    );
    let s = c.store.lock().unwrap();
    assert!(s.bad.is_empty(), "{:?}", s.bad);
    eprintln!(
        "delivery: {total} reports, {} resent after the SIGKILL and answered 200 (already stored)",
        s.duplicates
    );
}

/// A document created under a watched path shows up within seconds.
#[test]
fn file_created_under_watched_path_is_reported() {
    let mut agent = Agent::new();
    agent.configure(None, "");
    let c = Collector::new(agent.jwk());
    c.start();
    agent.configure(Some(&c.url()), "heartbeat = \"0s\"\n");
    agent.start();
    c.wait_for("the boot report", Duration::from_secs(60), |s| {
        !s.reports.is_empty()
    });
    agent.wait_log("file watch mode: watch", Duration::from_secs(20));

    let doc = agent.path("home/报告.txt");
    let t = Instant::now();
    std::fs::write(&doc, "机密★5年\n\n关于玄鸟柒号工程的进展报告\n").unwrap();
    c.wait_for(
        "a file_change report naming the new file",
        Duration::from_secs(20),
        |s| {
            s.reports.iter().any(|r| {
                r.trigger == mijian_report::Trigger::FileChange
                    && r.findings
                        .iter()
                        .any(|f| f.path.as_deref().is_some_and(|p| p.ends_with("报告.txt")))
            })
        },
    );
    eprintln!(
        "file change → report delivered in {} ms",
        t.elapsed().as_millis()
    );
    let (took, _) = agent.terminate();
    assert!(took < Duration::from_secs(5), "SIGTERM took {took:?}");
}

/// A loop-device mount under a media root shows up (needs root, mkfs.ext4
/// and mount; skipped with a message otherwise).
#[test]
fn loop_mount_under_media_root_is_reported() {
    let root = util::stdout(&util::run(Command::new("id").arg("-u"))).trim() == "0";
    if !root || !util::have("mkfs.ext4") || !util::have("losetup") {
        eprintln!("skipped: needs root, mkfs.ext4 and losetup");
        return;
    }
    let mut agent = Agent::new();
    let img = agent.path("usb.img");
    let mnt = agent.path("media/usb");
    std::fs::create_dir_all(&mnt).unwrap();
    let f = std::fs::File::create(&img).unwrap();
    f.set_len(16 << 20).unwrap();
    drop(f);
    let ok = |c: &mut Command| {
        c.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(ok(Command::new("mkfs.ext4")
        .args(["-q", "-L", "MJTEST"])
        .arg(&img)));
    agent.configure(None, "");
    let c = Collector::new(agent.jwk());
    c.start();
    agent.configure(Some(&c.url()), "heartbeat = \"0s\"\nfile_watch = false\n");
    agent.start();
    c.wait_for("the boot report", Duration::from_secs(60), |s| {
        !s.reports.is_empty()
    });
    agent.wait_log("running (ready", Duration::from_secs(20));

    let t = Instant::now();
    if !ok(Command::new("mount")
        .args(["-o", "loop"])
        .arg(&img)
        .arg(&mnt))
    {
        eprintln!("skipped: cannot loop-mount here");
        return;
    }
    struct Umount(PathBuf);
    impl Drop for Umount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Umount(mnt.clone());
    c.wait_for("a media report", Duration::from_secs(20), |s| {
        s.reports.iter().any(|r| {
            r.trigger == mijian_report::Trigger::Media
                && r.findings
                    .iter()
                    .any(|f| f.kind == mijian_report::FindingKind::RemovableMedia)
        })
    });
    eprintln!(
        "loop mount → media report delivered in {} ms",
        t.elapsed().as_millis()
    );
    agent.terminate();
}

/// `export --out DIR` writes every undelivered report and empties the outbox.
#[test]
fn export_writes_undelivered_reports() {
    let mut agent = Agent::new();
    agent.configure(
        None,
        "heartbeat = \"200ms\"\nfile_watch = false\nmedia_watch = false\n",
    );
    agent.start();
    let t = Instant::now();
    while agent.chain_seq() < 3 && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    agent.terminate();
    let seq = agent.chain_seq();
    assert!(seq >= 3);
    let out = agent.path("export");
    let run = |args: &[&str]| {
        util::run(
            Command::new(util::bin("mijian-agent"))
                .args(args)
                .arg("--config")
                .arg(agent.config()),
        )
    };
    let o = run(&["export", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", util::stderr(&o));
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort_by_key(|n| n.split('-').next().unwrap().parse::<u64>().unwrap());
    assert_eq!(names.len() as u64, seq, "{names:?}");
    let jwk = agent.jwk();
    for (i, n) in names.iter().enumerate() {
        assert!(
            n.starts_with(&format!("{}-", i + 1)) && n.ends_with(".jws"),
            "{n}"
        );
        let bytes = std::fs::read(out.join(n)).unwrap();
        let v = Jws::parse(&bytes).unwrap().verify(&jwk).unwrap();
        let r = Report::from_payload(&v.payload).unwrap();
        assert_eq!(n, &format!("{}-{}.jws", r.seq, r.report_id));
    }
    // The outbox is empty now.
    let o = run(&["export", "--out", agent.path("export2").to_str().unwrap()]);
    assert!(o.status.success());
    assert!(
        util::stderr(&o).contains("exported 0 report"),
        "{}",
        util::stderr(&o)
    );
}

/// A full outbox evicts superseded heartbeats; every seq it drops is declared
/// (`declared_gaps`, reason `evicted`) in a signed report, so the collector
/// never sees an undeclared gap from eviction (issue 11).
#[test]
fn evicted_reports_are_declared() {
    let mut agent = Agent::new();
    agent.configure(
        None,
        "heartbeat = \"150ms\"\nfile_watch = false\nmedia_watch = false\noutbox_max_entries = 3\n",
    );
    agent.start();
    let t = Instant::now();
    while agent.chain_seq() < 9 && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    agent.terminate();
    let seq = agent.chain_seq();
    assert!(seq >= 9, "only {seq} reports in 60 s");
    let out = agent.path("export");
    let o = util::run(
        Command::new(util::bin("mijian-agent"))
            .args(["export", "--out", out.to_str().unwrap(), "--config"])
            .arg(agent.config()),
    );
    assert!(o.status.success(), "{}", util::stderr(&o));
    let jwk = agent.jwk();
    let mut kept = BTreeSet::new();
    let mut declared = BTreeSet::new();
    for e in std::fs::read_dir(&out).unwrap() {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        let v = Jws::parse(&bytes).unwrap().verify(&jwk).unwrap();
        let r = Report::from_payload(&v.payload).unwrap();
        kept.insert(r.seq);
        for g in &r.declared_gaps {
            assert_eq!(g.reason, "evicted", "{g:?}");
            declared.extend(g.from..=g.to);
        }
    }
    assert!(kept.len() <= 3, "outbox bound not applied: {kept:?}");
    assert!(!declared.is_empty(), "nothing evicted? kept {kept:?}");
    let missing: Vec<u64> = (1..=seq)
        .filter(|s| !kept.contains(s) && !declared.contains(s))
        .collect();
    assert!(
        missing.is_empty(),
        "undeclared gaps {missing:?} (kept {kept:?}, declared {declared:?})"
    );
}

/// The systemd unit passes `systemd-analyze verify` (with the binary path
/// pointed at the built agent).
#[test]
fn systemd_unit_verifies() {
    if !util::have("systemd-analyze") {
        eprintln!("skipped: systemd-analyze not available");
        return;
    }
    let unit =
        std::fs::read_to_string(util::workspace().join("packaging/systemd/mijian-agent.service"))
            .unwrap();
    assert!(
        unit.contains("Type=notify")
            && unit.contains("WatchdogSec=")
            && unit.contains("Restart=on-failure")
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mijian-agent.service");
    let bin = util::bin("mijian-agent");
    std::fs::write(
        &p,
        unit.replace("/usr/bin/mijian-agent", &bin.display().to_string()),
    )
    .unwrap();
    // --man=no: the unit names its man page (installed by the package, see
    // packaging/test-install.sh); this tree has none installed.
    let o = util::run(
        Command::new("systemd-analyze")
            .arg("verify")
            .arg("--man=no")
            .arg(&p),
    );
    let err = util::stderr(&o);
    assert!(o.status.success(), "systemd-analyze verify: {err}");
    assert!(
        !err.contains("mijian-agent.service:"),
        "warnings about the unit: {err}"
    );
}

/// The real collector: `enroll` with a token, then `run` delivers every
/// report, which the collector stores as one gap-free chain; the collector
/// is stopped for a while and restarted in between.
#[test]
fn real_collector_enroll_and_deliver() {
    let col = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", col.path().join("c.db").display());
    let collector = |args: &[&str]| {
        let o = util::run(
            Command::new(util::bin("mijian-collector"))
                .args(args)
                .args(["--database", &db]),
        );
        assert!(
            o.status.success(),
            "mijian-collector {args:?}: {}",
            util::stderr(&o)
        );
        util::stdout(&o)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let token = collector(&["token", "create"]);
    let api = collector(&["api-token", "create", "--role", "auditor"]);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let serve = || {
        let c = Command::new(util::bin("mijian-collector"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--database",
                &db,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "collector did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        c
    };
    let mut server = serve();

    let mut agent = Agent::new();
    agent.configure(None, "heartbeat = \"300ms\"\nfile_watch = false\n");
    let o = util::run(
        Command::new(util::bin("mijian-agent"))
            .args(["enroll", "--collector", &url, "--token", &token, "--config"])
            .arg(agent.config()),
    );
    assert!(o.status.success(), "enroll: {}", util::stderr(&o));
    let kid = agent.jwk().kid.unwrap_or_default();
    agent.start();

    let host = || -> serde_json::Value {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            s,
            "GET /api/v1/hosts/{kid} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {api}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
    };
    let wait_reports = |n: u64, agent: &Agent| {
        let t = Instant::now();
        loop {
            let h = host();
            if h["reports"].as_u64().unwrap_or(0) >= n {
                return h;
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "collector has {h}\n{}",
                agent.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_reports(3, &agent);
    // Collector down for two seconds, then back.
    server.kill().unwrap();
    server.wait().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let mut server = serve();
    let made = agent.chain_seq();
    let h = wait_reports(made, &agent);
    let (took, status) = agent.terminate();
    assert!(status.success() && took < Duration::from_secs(5));
    let h2 = wait_reports(agent.chain_seq(), &agent);
    assert_eq!(h2["missing_seqs"].as_u64(), Some(0), "{h} / {h2}");
    assert_eq!(h2["tamper_alerts"].as_u64(), Some(0), "{h2}");
    assert_eq!(h2["latest_seq"].as_u64(), Some(agent.chain_seq()), "{h2}");
    server.kill().unwrap();
    let _ = server.wait();
}
