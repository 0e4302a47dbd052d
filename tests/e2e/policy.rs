//! The central policy end to end (issue 13), real binaries on loopback: the
//! collector imports rules as signed versions; an enrolled daemon fetches
//! them with conditional requests, applies them and its next report runs
//! the new version; bundles that are tampered, old or signed by another key
//! are refused by `mijian-agent policy apply` and reported as
//! `agent_alarm`s; an agent offline for several versions catches up in one
//! fetch.

use crate::util;
use mijian_report::{AgentKey, Jws};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn rules_dir(root: &Path, name: &str, terms: &[&str]) -> PathBuf {
    let d = root.join(name);
    std::fs::create_dir_all(d.join("keywords")).unwrap();
    for f in ["baseline.toml", "markings.toml"] {
        std::fs::copy(util::rules().join(f), d.join(f)).unwrap();
    }
    let list: Vec<String> = terms.iter().map(|t| format!("{t:?}")).collect();
    std::fs::write(
        d.join("keywords/fleet.toml"),
        format!(
            "[[keyword]]\nid = \"fleet-codename\"\nterms = [{}]\nseverity = \"high\"\n",
            list.join(", ")
        ),
    )
    .unwrap();
    d
}

struct Served {
    child: Child,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET with optional extra header lines; (status, headers, body).
fn get(port: u16, path: &str, headers: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw.get(split + 4..).unwrap_or_default().to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // Chunked bodies: good enough to de-chunk the small JSON answers here.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(p) = rest.windows(2).position(|w| w == b"\r\n") {
            let n = usize::from_str_radix(std::str::from_utf8(&rest[..p]).unwrap().trim(), 16)
                .unwrap_or(0);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&rest[p + 2..p + 2 + n]);
            rest = &rest[p + 2 + n + 2..];
        }
        out
    } else {
        body
    };
    (status, head, body)
}

fn json(port: u16, path: &str, token: &str) -> serde_json::Value {
    let (status, _, body) = get(port, path, &format!("Authorization: Bearer {token}\r\n"));
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn wait(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool, log: &Path) {
    let t = Instant::now();
    while t.elapsed() < timeout {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "timed out waiting for {what}\nagent log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[test]
fn central_policy_reaches_the_daemon_and_bad_bundles_are_refused() {
    let col = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", col.path().join("c.db").display());
    let collector = |args: &[&str]| -> (bool, String, String) {
        let o = util::run(
            Command::new(util::bin("mijian-collector"))
                .args(args)
                .args(["--database", &db]),
        );
        (o.status.success(), util::stdout(&o), util::stderr(&o))
    };
    let last = |args: &[&str]| -> String {
        let (ok, out, err) = collector(args);
        assert!(ok, "mijian-collector {args:?}: {err}");
        out.lines().last().unwrap_or_default().trim().to_string()
    };
    let v1 = rules_dir(col.path(), "v1", &["甲乙丙丁工程"]);
    assert!(last(&["policy", "import", v1.to_str().unwrap()]).contains("version 1 published"));
    // The same rules again: no new version.
    assert!(last(&["policy", "import", v1.to_str().unwrap()]).contains("unchanged: version 1"));
    let token = last(&["token", "create"]);
    let api = last(&["api-token", "create", "--role", "auditor"]);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let serve = || {
        let child = Command::new(util::bin("mijian-collector"))
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
        Served { child }
    };
    let _server = serve();

    // The agent: a document that only version 2's rules find.
    let home = tempfile::tempdir().unwrap();
    let a = home.path();
    std::fs::create_dir_all(a.join("docs")).unwrap();
    std::fs::write(a.join("docs/plan.txt"), "关于青龙九号的会议纪要\n").unwrap();
    let config = util::write_config(
        a,
        &format!(
            "[content]\npaths = [{:?}]\n[media]\nroots = []\n[schedule]\ninterval = \"24h\"\njitter = \"0s\"\n[daemon]\nheartbeat = \"400ms\"\nfile_watch = false\nmedia_watch = false\npolicy_poll = \"300ms\"\nretry_min = \"100ms\"\nretry_max = \"1s\"\n",
            a.join("docs").display().to_string()
        ),
    );
    let agent = |args: &[&str]| {
        util::run(
            Command::new(util::bin("mijian-agent"))
                .args(args)
                .arg("--config")
                .arg(&config),
        )
    };
    let url = format!("http://127.0.0.1:{port}");
    let o = agent(&["enroll", "--collector", &url, "--token", &token]);
    assert!(o.status.success(), "enroll: {}", util::stderr(&o));
    assert!(util::stderr(&o).contains("pinned the collector's policy key"));
    let state = a.join("state");
    let key =
        AgentKey::from_private_jwk(&std::fs::read(state.join("agent-key.jwk")).unwrap()).unwrap();
    let kid = key.kid();

    let log = a.join("agent.log");
    let start = || -> Served {
        let child = Command::new(util::bin("mijian-agent"))
            .arg("run")
            .arg("--config")
            .arg(&config)
            .env("MIJIAN_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap(),
            )
            .spawn()
            .unwrap();
        Served { child }
    };
    let host_policy = || -> serde_json::Value {
        let v = json(port, "/api/v1/policy/hosts", &api);
        v["items"]
            .as_array()
            .and_then(|i| i.iter().find(|h| h["agent_id"] == kid.as_str()).cloned())
            .unwrap_or_default()
    };
    let findings = |q: &str| -> String {
        json(
            port,
            &format!("/api/v1/findings?host={kid}&status=all{q}"),
            &api,
        )
        .to_string()
    };

    let mut daemon = start();
    wait(
        "a report under policy version 1",
        Duration::from_secs(60),
        || host_policy()["policy_version"] == 1,
        &log,
    );
    assert_eq!(host_policy()["current"], true);
    assert!(
        !findings("").contains("plan.txt"),
        "v1 does not know 青龙九号"
    );

    // The conditional request: 304 with the ETag, 200 without, 401 for strangers.
    let proof = {
        let payload = serde_json::json!({"agent_id": kid, "iat": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(), "aud": "policy"});
        let j = Jws::sign_typed(payload.to_string().as_bytes(), &key, "mijian-fetch+jws");
        format!(
            "X-Mijian-Agent-Proof: {}.{}.{}\r\n",
            j.protected, j.payload, j.signature
        )
    };
    let (st, head, body) = get(port, "/api/v1/policy/bundle", &proof);
    assert_eq!(st, 200, "{head}");
    let etag = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("etag: ")
                .or_else(|| l.strip_prefix("ETag: "))
        })
        .expect("ETag header")
        .trim()
        .to_string();
    assert!(body.len() > 200);
    let (st, _, body) = get(
        port,
        "/api/v1/policy/bundle",
        &format!("{proof}If-None-Match: {etag}\r\n"),
    );
    assert_eq!((st, body.len()), (304, 0));
    let (st, _, _) = get(port, "/api/v1/policy/bundle", "");
    assert_eq!(st, 401);
    let stranger = AgentKey::generate();
    let forged = {
        let payload = serde_json::json!({"agent_id": stranger.kid(), "iat": 0, "aud": "policy"});
        let j = Jws::sign_typed(
            payload.to_string().as_bytes(),
            &stranger,
            "mijian-fetch+jws",
        );
        format!(
            "X-Mijian-Agent-Proof: {}.{}.{}\r\n",
            j.protected, j.payload, j.signature
        )
    };
    assert_eq!(get(port, "/api/v1/policy/bundle", &forged).0, 401);

    // Version 2 reaches the running daemon and changes its next report.
    let v2 = rules_dir(col.path(), "v2", &["甲乙丙丁工程", "青龙九号"]);
    assert!(
        last(&[
            "policy",
            "import",
            v2.to_str().unwrap(),
            "-m",
            "add 青龙九号"
        ])
        .contains("version 2")
    );
    wait(
        "a report under policy version 2 that finds plan.txt",
        Duration::from_secs(60),
        || host_policy()["policy_version"] == 2 && findings("").contains("plan.txt"),
        &log,
    );
    let (ok, diff, _) = collector(&["policy", "diff"]);
    assert!(
        ok && diff.contains("+terms = [\"甲乙丙丁工程\", \"青龙九号\"]"),
        "{diff}"
    );
    let (ok, history, _) = collector(&["policy", "history"]);
    assert!(ok && history.contains("add 青龙九号"), "{history}");

    // Refusals: an old bundle (rollback), another key's bundle, a tampered one.
    let old = col.path().join("v1.jws");
    last(&[
        "policy",
        "bundle",
        "--version",
        "1",
        "--out",
        old.to_str().unwrap(),
    ]);
    let cur = col.path().join("v2.jws");
    last(&["policy", "bundle", "--out", cur.to_str().unwrap()]);
    let foreign = tempfile::tempdir().unwrap();
    let fdb = format!("sqlite:{}", foreign.path().join("f.db").display());
    let o = util::run(Command::new(util::bin("mijian-collector")).args([
        "policy",
        "import",
        v2.to_str().unwrap(),
        "--database",
        &fdb,
    ]));
    assert!(o.status.success());
    let other_key = foreign.path().join("other.jws");
    let o = util::run(Command::new(util::bin("mijian-collector")).args([
        "policy",
        "bundle",
        "--out",
        other_key.to_str().unwrap(),
        "--database",
        &fdb,
    ]));
    assert!(o.status.success());
    let tampered = col.path().join("tampered.jws");
    let text = std::fs::read_to_string(&cur).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut p = v["payload"].as_str().unwrap().as_bytes().to_vec();
    let i = p.len() / 3;
    p[i] = if p[i] == b'A' { b'B' } else { b'A' };
    v["payload"] = String::from_utf8(p).unwrap().into();
    std::fs::write(&tampered, serde_json::to_vec(&v).unwrap()).unwrap();
    for (file, reason) in [
        (&old, "policy_rollback"),
        (&other_key, "policy_unknown_key"),
        (&tampered, "policy_tampered"),
    ] {
        let o = agent(&["policy", "apply", file.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{reason}: {}", util::stderr(&o));
        assert!(util::stderr(&o).contains(reason), "{}", util::stderr(&o));
    }
    // The current bundle applies as "already in force".
    let o = agent(&["policy", "apply", cur.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", util::stderr(&o));
    wait(
        "the three refusals as agent_alarm findings at the collector",
        Duration::from_secs(60),
        || {
            let f = findings("&kind=agent_alarm");
            ["policy_rollback", "policy_unknown_key", "policy_tampered"]
                .iter()
                .all(|r| f.contains(r))
        },
        &log,
    );
    assert_eq!(
        host_policy()["policy_version"],
        2,
        "refusals changed nothing"
    );

    // Offline for several versions: one fetch brings the latest.
    drop(daemon);
    for (n, extra) in ["三", "四", "五"].iter().enumerate() {
        let d = rules_dir(
            col.path(),
            &format!("v{}", n + 3),
            &["甲乙丙丁工程", "青龙九号", extra],
        );
        last(&["policy", "import", d.to_str().unwrap()]);
    }
    assert_eq!(
        json(port, "/api/v1/policy/hosts", &api)["latest_version"],
        5
    );
    assert_eq!(host_policy()["behind"], 3);
    daemon = start();
    wait(
        "a report under policy version 5",
        Duration::from_secs(60),
        || host_policy()["policy_version"] == 5,
        &log,
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("policy version 5 applied (was version 2)"),
        "one fetch from 2 to 5:\n{text}"
    );
    assert!(
        !text.contains("policy version 3 applied") && !text.contains("policy version 4 applied")
    );
    drop(daemon);
}

/// `policy import --hidden` (issue 13): the published bundle names no term
/// (neither normalised nor as raw bytes), carries the raw-byte spellings'
/// hashes, and the import warns on stderr for a regex rule (it stays in
/// clear) and for a term short enough to be brute-forced.
#[test]
fn hidden_import_hides_every_term_and_warns_on_regex_and_short_terms() {
    let col = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", col.path().join("c.db").display());
    let collector = |args: &[&str]| {
        util::run(
            Command::new(util::bin("mijian-collector"))
                .args(args)
                .args(["--database", &db]),
        )
    };
    let d = rules_dir(col.path(), "r", &["甲乙丙丁工程", "天枢"]);
    std::fs::write(
        d.join("keywords/models.toml"),
        "[[keyword]]\nid = \"model-pattern\"\nregex = 'qx-\\d{2}型'\nseverity = \"low\"\n",
    )
    .unwrap();
    let o = collector(&["policy", "import", "--hidden", d.to_str().unwrap()]);
    let err = util::stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(util::stdout(&o).contains("version 1 published"));
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("mijian-collector: warning:"))
        .collect();
    assert_eq!(warnings.len(), 2, "{err}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("model-pattern") && w.contains("regex") && w.contains("clear")),
        "{err}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("fleet-codename") && w.contains("shorter than 4")),
        "{err}"
    );
    // The warning names the rule, never the short term.
    assert!(!err.contains("天枢"), "{err}");
    let out = col.path().join("b.jws");
    let o = collector(&["policy", "bundle", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", util::stderr(&o));
    let jws: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let payload = jws["payload"].as_str().unwrap();
    use base64::Engine;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let b: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(b["mode"], "hidden");
    let fleet = b["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "keywords/fleet.toml")
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        fleet.contains("hashed = [") && fleet.contains("hashed_raw = ["),
        "{fleet}"
    );
    for term in ["甲乙丙丁工程", "天枢", "甲乙", "工程"] {
        assert!(!fleet.contains(term), "{term} in clear:\n{fleet}");
    }
    // Nor anywhere else in the signed payload (descriptions, other files).
    let text = String::from_utf8(payload).unwrap();
    assert!(!text.contains("甲乙丙丁") && !text.contains("天枢"));
}
