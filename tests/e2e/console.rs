//! The console end to end (issue 16): real agents inspect copies of the
//! fixture host trees (one with a document named like an `<img>` tag), the
//! collector imports their signed reports and serves the console, a webhook
//! listener on 127.0.0.1 receives the critical alert, and
//! `tests/browser/console.mjs` drives Debian's chromium through it:
//! logins per role, triage, an exception that expires, exports opened by
//! libraries. Screenshots land in `target/screenshots/`.
//!
//! Besides the imported `check --sign` reports, two real daemons
//! (`mijian-agent enroll` on loopback, then `mijian-agent run`) fetch the
//! central policy imported with `policy import` and deliver their reports
//! over HTTP; the browser then finds them on the host list, their host
//! pages and the policy page (running the latest version), and edits the
//! policy as the secadmin.
//!
//! Needs node, /usr/bin/chromium and `npm ci` in tests/browser; without
//! them it prints `skipped: …` and passes (`.ci/run` installs them).

use crate::util::{bin, fixtures, rules_with_example, workspace, write_config};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "Mijian-Console-2026";
const XSS_NAME: &str = "<img src=x onerror=alert(1)>.docx";

fn missing_setup() -> Option<String> {
    let browser_dir = workspace().join("tests/browser");
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node is not installed".into());
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!("{chromium} is not installed"));
    }
    for m in ["playwright-core", "mammoth", "exceljs"] {
        if !browser_dir.join("node_modules").join(m).exists() {
            return Some(format!("tests/browser/node_modules/{m} is missing"));
        }
    }
    None
}

fn collector(db: &str, config: &Path, args: &[&str], stdin: &str) -> String {
    let mut c = Command::new(bin("mijian-collector"))
        .args(args)
        .args(["--database", db, "--config"])
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(
        out.status.success() || args[0] == "import",
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn copy_tree(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success(), "cp -a {}", from.display());
}

/// One inspected host: a copy of a fixture root, its documents, its agent.
fn inspect_host(
    dir: &Path,
    fixture: &str,
    classification: &str,
    docs: &[(&str, &str)],
    runs: usize,
) -> (PathBuf, Vec<PathBuf>) {
    let host = dir.join(fixture);
    std::fs::create_dir_all(&host).unwrap();
    let root = host.join("root");
    copy_tree(&fixtures().join("hosts").join(fixture).join("root"), &root);
    // Each copy gets a host name of its own (the fixtures have none).
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/hostname"), format!("ws-{fixture}\n")).unwrap();
    let docdir = root.join("home/zhangsan/文档");
    std::fs::create_dir_all(&docdir).unwrap();
    for (name, text) in docs {
        std::fs::write(docdir.join(name), text).unwrap();
    }
    let state = host.join("agent");
    let config = write_config(
        &state,
        &format!(
            "[host]\nclassification = \"{classification}\"\n[content]\npaths = [\"/home\"]\n[media]\nroots = []\n"
        ),
    );
    let mut reports = Vec::new();
    for i in 0..runs {
        let out = host.join(format!("report-{i}.json"));
        let o = Command::new(bin("mijian-agent"))
            .env("MIJIAN_CONFIG", &config)
            .args(["check", "--root"])
            .arg(&root)
            .arg("--rules")
            .arg(rules_with_example(dir))
            .args(["--format", "json", "--sign", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "agent check {fixture}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        reports.push(out);
    }
    let key = Command::new(bin("mijian-agent"))
        .env("MIJIAN_CONFIG", &config)
        .arg("key")
        .output()
        .unwrap();
    assert!(key.status.success());
    let jwk = host.join("agent.jwk");
    std::fs::write(&jwk, &key.stdout).unwrap();
    (jwk, reports)
}

/// A webhook receiver on 127.0.0.1: every POST body goes to the channel.
fn webhook() -> (String, mpsc::Receiver<String>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut len = 0usize;
            let mut line = String::new();
            while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0u8; len.min(1 << 20)];
            let _ = r.read_exact(&mut body);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
        }
    });
    (url, rx)
}

#[test]
fn console_in_a_real_browser() {
    if let Some(why) = missing_setup() {
        println!(
            "skipped: console browser test: {why} (run: apt-get install chromium && cd tests/browser && npm ci)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("c.db").display());
    let (hook_url, hook) = webhook();
    let config = dir.path().join("collector.toml");
    std::fs::write(
        &config,
        format!("[alerts]\nwebhook = \"{hook_url}\"\ninterval_secs = 1\n"),
    )
    .unwrap();
    for (name, role) in [("root", "admin"), ("sec", "secadmin"), ("aud", "auditor")] {
        collector(
            &db,
            &config,
            &["user", "add", name, "--role", role, "--password-stdin"],
            &format!("{PASSWORD}\n"),
        );
    }
    // Real agents on real host trees: a non-classified host holding a
    // classified document (named to attack the page), and two others.
    let hosts = [
        inspect_host(
            dir.path(),
            "debian-gnome",
            "非涉密",
            &[
                (XSS_NAME, "关于玄鸟柒号项目的技术方案\n"),
                ("会议纪要.txt", "机密★5年\n会议纪要 示例工程 进度\n"),
            ],
            2,
        ),
        inspect_host(
            dir.path(),
            "dde-uos",
            "秘密",
            &[("周报.txt", "本周工作正常。\n")],
            1,
        ),
        inspect_host(dir.path(), "broken-pwquality", "内部", &[], 1),
    ];
    for (jwk, reports) in &hosts {
        collector(
            &db,
            &config,
            &["agents", "add", "--jwk", jwk.to_str().unwrap()],
            "",
        );
        let mut args = vec!["import".to_string()];
        args.extend(reports.iter().map(|r| r.display().to_string()));
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = collector(&db, &config, &a, "");
        assert!(out.contains("rejected 0"), "{out}");
    }

    // The central policy the daemons fetch (the console edits it later).
    let rules = rules_with_example(dir.path());
    let out = collector(
        &db,
        &config,
        &[
            "policy",
            "import",
            rules.to_str().unwrap(),
            "--message",
            "初始策略：基线与示例关键词",
        ],
        "",
    );
    assert!(out.contains("version 1 published"), "{out}");
    let enroll_tokens: Vec<String> = (0..2)
        .map(|_| {
            collector(&db, &config, &["token", "create"], "")
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .collect();
    let api_token = collector(
        &db,
        &config,
        &["api-token", "create", "--role", "auditor"],
        "",
    )
    .lines()
    .last()
    .unwrap_or_default()
    .trim()
    .to_string();

    let mut child = Command::new(bin("mijian-collector"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &db,
            "--config",
        ])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_string();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Kill(child);

    // Two enrolled daemons deliver over HTTP under the central policy.
    let mut daemons = Vec::new();
    for (i, token) in enroll_tokens.iter().enumerate() {
        let home = dir.path().join(format!("daemon-{i}"));
        let docs = home.join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        if i == 0 {
            std::fs::write(docs.join("项目进度.txt"), "玄鸟柒号 项目进度汇报\n").unwrap();
        }
        let cfg = write_config(
            &home,
            &format!(
                "[host]\nclassification = \"秘密\"\n[content]\npaths = [{:?}]\n[media]\nroots = []\n[schedule]\ninterval = \"24h\"\njitter = \"0s\"\n[daemon]\nheartbeat = \"2s\"\nfile_watch = false\nmedia_watch = false\npolicy_poll = \"500ms\"\nretry_min = \"100ms\"\nretry_max = \"1s\"\n",
                docs.display().to_string()
            ),
        );
        let o = Command::new(bin("mijian-agent"))
            .args(["enroll", "--collector", &base, "--token", token, "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "enroll: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let log = home.join("agent.log");
        let d = Command::new(bin("mijian-agent"))
            .arg("run")
            .arg("--config")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        daemons.push((Kill(d), log));
    }
    // Both report under policy version 1 (fetched, verified, applied).
    let hosts_policy = || -> serde_json::Value {
        let o = Command::new("curl")
            .args(["-s", "-H", &format!("Authorization: Bearer {api_token}")])
            .arg(format!("{base}/api/v1/policy/hosts?limit=100"))
            .output()
            .unwrap();
        serde_json::from_slice(&o.stdout).unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = hosts_policy();
        let current = v["items"]
            .as_array()
            .map_or(0, |a| a.iter().filter(|h| h["current"] == true).count());
        if current >= 2 {
            break;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = daemons
                .iter()
                .map(|(_, l)| std::fs::read_to_string(l).unwrap_or_default())
                .collect();
            panic!(
                "daemons did not report under policy v1: {v}\n{}",
                logs.join("\n----\n")
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let daemon_host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string();

    // The critical alert reaches the webhook without anyone opening a page.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    while Instant::now() < deadline
        && !got
            .iter()
            .any(|b: &String| b.contains("classified_file_on_unclassified_host"))
    {
        if let Ok(b) = hook.recv_timeout(Duration::from_millis(500)) {
            got.push(b);
        }
    }
    assert!(
        got.iter()
            .any(|b| b.contains("classified_file_on_unclassified_host")),
        "webhook received: {got:?}"
    );

    let shots = workspace().join("target/screenshots");
    let out = Command::new("node")
        .arg("console.mjs")
        .current_dir(workspace().join("tests/browser"))
        .env("BASE_URL", &base)
        .env("PASSWORD", PASSWORD)
        .env("SHOT_DIR", &shots)
        .env("XSS_NAME", XSS_NAME)
        .env("DAEMON_HOST", &daemon_host)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "browser test failed:\n{text}");
    assert!(shots.join("overview.png").exists());
    assert!(shots.join("policy.png").exists());
    drop(daemons);
}
