//! mijian-collector end to end: the real binary, its CLI and its HTTP API,
//! fed hostile input (issue 7). HTTP is spoken by hand over std sockets so
//! the tests control every byte, including slow and oversized bodies.

use mijian_report::{
    AgentKey, Check, CheckStatus, Finding, FindingKind, Jws, Report, Severity, Trigger, sha256_hex,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The collector binary, built once per test run (`util`, never stale).
fn bin() -> PathBuf {
    crate::util::bin("mijian-collector")
}

struct Collector {
    dir: tempfile::TempDir,
    db: String,
    config: PathBuf,
    child: Option<Child>,
    addr: String,
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Collector {
    fn new() -> Collector {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite:{}", dir.path().join("c.db").display());
        let config = dir.path().join("collector.toml");
        std::fs::write(
            &config,
            "[limits]\nmax_body_bytes = 4194304\nheader_timeout_secs = 2\nbody_timeout_secs = 2\n",
        )
        .unwrap();
        Collector {
            dir,
            db,
            config,
            child: None,
            addr: String::new(),
        }
    }

    fn cli(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        let mut c = Command::new(bin())
            .args(args)
            .args(["--database", &self.db, "--config"])
            .arg(&self.config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = c.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn last_line(&self, args: &[&str]) -> String {
        let (code, out, err) = self.cli(args, "");
        assert_eq!(code, 0, "{args:?}: {err}");
        out.lines().last().unwrap().trim().to_string()
    }

    fn start(&mut self) {
        let mut child = Command::new(bin())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database",
                &self.db,
                "--config",
            ])
            .arg(&self.config)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        self.addr = line
            .trim()
            .strip_prefix("listening on http://")
            .expect("listening line")
            .to_string();
        self.child = Some(child);
    }

    fn enroll_key(&self, key: &AgentKey) {
        let jwk = self.dir.path().join(format!("{}.jwk", key.kid()));
        std::fs::write(&jwk, serde_json::to_vec(&key.public_jwk()).unwrap()).unwrap();
        assert_eq!(
            self.last_line(&["agents", "add", "--jwk", jwk.to_str().unwrap()]),
            key.kid()
        );
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: &[u8],
    ) -> (u16, serde_json::Value) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let auth = auth
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(s, "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Content-Length: {}\r\n\r\n", body.len()).unwrap();
        s.write_all(body).unwrap();
        response(&mut s)
    }
}

fn response(s: &mut TcpStream) -> (u16, serde_json::Value) {
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

fn report(key: &AgentKey, seq: u64, prev: Option<String>) -> Report {
    let mut r = Report::new(&key.kid(), seq, prev, Trigger::Schedule);
    r.host.hostname = "ws-e2e".into();
    r.host.os = "linux".into();
    r.host.classification = "内部".into();
    r.policy.digest = sha256_hex(b"rules");
    r.checks
        .push(Check::new("password.min_length", "host", CheckStatus::Pass));
    r
}

/// base64url without padding (RFC 7515), by hand: the test crate has no base64 dependency.
fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn signed(key: &AgentKey, r: &Report) -> Vec<u8> {
    Jws::sign(&r.to_payload(), key).to_json()
}

#[test]
fn collector_ingest_cli_and_hostile_input() {
    let mut c = Collector::new();
    let key = AgentKey::generate();
    c.enroll_key(&key);
    let admin = c.last_line(&["api-token", "create", "--role", "auditor"]);
    assert!(admin.starts_with("mjt_"));
    c.start();

    // Stored, duplicate, conflict.
    let r1 = report(&key, 1, None);
    let b1 = signed(&key, &r1);
    assert_eq!(c.request("POST", "/api/v1/reports", None, &b1).0, 202);
    assert_eq!(c.request("POST", "/api/v1/reports", None, &b1).0, 200);
    let forged = report(&key, 1, None);
    let (st, body) = c.request("POST", "/api/v1/reports", None, &signed(&key, &forged));
    assert_eq!((st, body["error"].as_str()), (409, Some("chain_conflict")));

    // The evidence comes back as signed: same JWS, still verifying.
    let path = format!("/api/v1/hosts/{}/reports/1", key.kid());
    let (st, back) = c.request("GET", &path, Some(&admin), b"");
    assert_eq!(st, 200, "{back}");
    assert_eq!(
        back,
        serde_json::from_slice::<serde_json::Value>(&b1).unwrap()
    );
    assert_eq!(c.request("GET", &path, None, b"").0, 401);
    let missing = format!("/api/v1/hosts/{}/reports/99", key.kid());
    assert_eq!(c.request("GET", &missing, Some(&admin), b"").0, 404);

    // Malformed JWS shapes.
    let good: serde_json::Value = serde_json::from_slice(&b1).unwrap();
    let mut bad_b64 = good.clone();
    bad_b64["payload"] = "@@not base64@@".into();
    let mut extra = good.clone();
    extra["header"] = serde_json::json!({});
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("signature");
    for doc in [bad_b64, extra, missing] {
        let (st, body) = c.request(
            "POST",
            "/api/v1/reports",
            None,
            &serde_json::to_vec(&doc).unwrap(),
        );
        assert_eq!(st, 400, "{doc}: {body}");
        assert!(body["message"].is_string());
    }
    // alg none.
    let mut none = good.clone();
    none["protected"] =
        b64url(format!(r#"{{"alg":"none","kid":"{}"}}"#, key.kid()).as_bytes()).into();
    assert_eq!(
        c.request(
            "POST",
            "/api/v1/reports",
            None,
            &serde_json::to_vec(&none).unwrap()
        )
        .0,
        401
    );
    // Unenrolled key; valid JSON that is not a report; deep nesting.
    let stranger = AgentKey::generate();
    assert_eq!(
        c.request(
            "POST",
            "/api/v1/reports",
            None,
            &signed(&stranger, &report(&stranger, 1, None))
        )
        .0,
        401
    );
    assert_eq!(
        c.request(
            "POST",
            "/api/v1/reports",
            None,
            &Jws::sign(b"[1,2,3]", &key).to_json()
        )
        .0,
        400
    );
    let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    assert_eq!(
        c.request("POST", "/api/v1/reports", None, deep.as_bytes())
            .0,
        400
    );
    let deep_payload = Jws::sign(deep.as_bytes(), &key).to_json();
    assert_eq!(
        c.request("POST", "/api/v1/reports", None, &deep_payload).0,
        400
    );

    // SQL metacharacters in every string field travel as data.
    let evil = "'; DROP TABLE reports; -- \" \\ % _ 密";
    let mut r2 = report(&key, 2, Some(sha256_hex(&r1.to_payload())));
    r2.host.hostname = evil.into();
    r2.host.os = evil.into();
    r2.policy.source = Some(evil.into());
    r2.notes = vec![evil.into()];
    r2.checks = vec![
        Check::new(evil, format!("user:{evil}"), CheckStatus::Fail)
            .evidence(evil)
            .remedy(evil),
    ];
    let mut f = Finding::new(FindingKind::Other(evil.into()), Severity::High);
    f.path = Some(evil.into());
    f.reason = Some(evil.into());
    f.device = Some(evil.into());
    f.message = Some(evil.into());
    f.format = Some(evil.into());
    r2.findings.push(f);
    assert_eq!(
        c.request("POST", "/api/v1/reports", None, &signed(&key, &r2))
            .0,
        202
    );
    let (st, hosts) = c.request("GET", "/api/v1/hosts", Some(&admin), b"");
    assert_eq!(st, 200, "{hosts}");
    assert_eq!(hosts["items"][0]["hostname"], evil);
    assert_eq!(hosts["items"][0]["latest_seq"], 2);
    let q = format!("/api/v1/findings?kind={}", "%27%3B%20DROP");
    assert_eq!(
        c.request("GET", &q, Some(&admin), b"").1["items"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    let (_, findings) = c.request("GET", "/api/v1/findings?severity=high", Some(&admin), b"");
    assert_eq!(findings["items"][0]["path"], evil);
    assert_eq!(c.request("GET", "/api/v1/hosts", None, b"").0, 401);
    assert_eq!(
        c.request("GET", "/api/v1/hosts", Some("mjt_wrong"), b"").0,
        401
    );

    // The same report sent twice concurrently: exactly one stored.
    let r3 = signed(&key, &report(&key, 3, Some(sha256_hex(&r2.to_payload()))));
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| c.request("POST", "/api/v1/reports", None, &r3).0))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );

    // 100 MB declared: refused before it is read.
    let t = Instant::now();
    let mut s = TcpStream::connect(&c.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /api/v1/reports HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n"
    )
    .unwrap();
    s.write_all(&vec![b'{'; 64 * 1024]).unwrap();
    let (st, body) = response(&mut s);
    assert_eq!((st, body["error"].as_str()), (413, Some("too_large")));
    assert!(t.elapsed() < Duration::from_secs(5));
    // Undeclared (chunked) oversize: cut off at the limit.
    let mut s = TcpStream::connect(&c.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /api/v1/reports HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..5 {
        if write!(s, "{:x}\r\n", chunk.len()).is_err()
            || s.write_all(&chunk).is_err()
            || s.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    assert_eq!(response(&mut s).0, 413);

    // Slow body: 408 after the body timeout. Slow headers: disconnected.
    let t = Instant::now();
    let mut s = TcpStream::connect(&c.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    write!(
        s,
        "POST /api/v1/reports HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{{"
    )
    .unwrap();
    let (st, body) = response(&mut s);
    assert_eq!((st, body["error"].as_str()), (408, Some("timeout")));
    assert!(t.elapsed() < Duration::from_secs(10));
    let t = Instant::now();
    let mut s = TcpStream::connect(&c.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    write!(s, "POST /api/v1/rep").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "slow header client was not cut off"
    );

    // Revoked: later reports refused with 401.
    let (code, _, err) = c.cli(&["agents", "revoke", &key.kid()], "");
    assert_eq!(code, 0, "{err}");
    let r4 = signed(&key, &report(&key, 4, None));
    let (st, body) = c.request("POST", "/api/v1/reports", None, &r4);
    assert_eq!((st, body["error"].as_str()), (401, Some("revoked_key")));

    // The store is consistent: three reports, one tamper alert, one host.
    let (_, host) = c.request(
        "GET",
        &format!("/api/v1/hosts/{}", key.kid()),
        Some(&admin),
        b"",
    );
    assert_eq!(host["reports"], 3, "{host}");
    assert_eq!(host["tamper_alerts"], 1);
    assert_eq!(host["revoked"], true);
    let (_, metrics) = {
        let mut s = TcpStream::connect(&c.addr).unwrap();
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut t = String::new();
        s.read_to_string(&mut t).unwrap();
        (0, t)
    };
    assert!(
        metrics.contains("mijian_reports_accepted_total{result=\"stored\"} 3"),
        "{metrics}"
    );
    assert!(metrics.contains("mijian_reports_rejected_total{reason=\"revoked_key\"} 1"));
    assert!(metrics.contains("mijian_reports_rejected_total{reason=\"too_large\"} 2"));

    // A leaked API token is revoked by the id `api-token list` shows.
    let (code, list, err) = c.cli(&["api-token", "list"], "");
    assert_eq!(code, 0, "{err}");
    assert!(!list.contains(&admin), "a listing never shows a token");
    let id = list
        .lines()
        .find(|l| l.contains("auditor"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let (code, _, err) = c.cli(&["api-token", "revoke", &id], "");
    assert_eq!(code, 0, "{err}");
    let (st, _) = c.request("GET", "/api/v1/hosts", Some(&admin), b"");
    assert_eq!(st, 401);
}

#[test]
fn collector_enroll_and_import() {
    let mut c = Collector::new();
    let token = c.last_line(&["token", "create", "--uses", "1", "--expires", "1h"]);
    assert!(token.starts_with("mje_"));
    c.start();
    let key = AgentKey::generate();
    let req = serde_json::json!({"token": token, "jwk": key.public_jwk(), "hostname": "ws-9"});
    let (st, body) = c.request(
        "POST",
        "/api/v1/enroll",
        None,
        &serde_json::to_vec(&req).unwrap(),
    );
    assert_eq!(
        (st, body["agent_id"].as_str()),
        (200, Some(key.kid().as_str()))
    );
    let other = AgentKey::generate();
    let req = serde_json::json!({"token": token, "jwk": other.public_jwk(), "hostname": "ws-10"});
    assert_eq!(
        c.request(
            "POST",
            "/api/v1/enroll",
            None,
            &serde_json::to_vec(&req).unwrap()
        )
        .0,
        401,
        "single use"
    );

    // Import: out of order, a duplicate, a forgery and garbage.
    let dir = c.dir.path().join("outbox");
    std::fs::create_dir(&dir).unwrap();
    let r1 = report(&key, 1, None);
    let r2 = report(&key, 2, Some(sha256_hex(&r1.to_payload())));
    let write = |name: &str, b: &[u8]| std::fs::write(dir.join(name), b).unwrap();
    write("a-2.jws", &signed(&key, &r2));
    write("b-1.jws", &signed(&key, &r1));
    write("c-1-again.jws", &signed(&key, &r1));
    write("d-forged.jws", &signed(&key, &report(&key, 2, None)));
    write("e-garbage.jws", b"hello");
    let (code, out, err) = c.cli(&["import", dir.to_str().unwrap()], "");
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("stored 2, duplicate 1, conflict 1, rejected 1"),
        "{out}"
    );
    assert!(
        out.contains("e-garbage.jws: rejected: malformed_jws"),
        "{out}"
    );
}

#[test]
fn collector_refuses_plain_http_off_loopback() {
    let c = Collector::new();
    let (code, _, err) = c.cli(&["serve", "--listen", "0.0.0.0:0"], "");
    assert_eq!(code, 2);
    assert!(err.contains("--tls-cert"), "{err}");
}

#[test]
fn collector_serves_tls_with_openssl_certificates() {
    let Ok(st) = Command::new("openssl").arg("version").status() else {
        println!("skipped: no openssl");
        return;
    };
    assert!(st.success());
    let c = Collector::new();
    let d = c.dir.path();
    let (cert, key) = (d.join("cert.pem"), d.join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args([
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let mut child = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .args(["--database", &c.db])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or("")
        .to_string();
    assert!(url.starts_with("https://"), "{line}");
    let out = Command::new("curl")
        .args(["-s", "--cacert"])
        .arg(&cert)
        .arg(format!("{url}/healthz"))
        .output();
    let _ = child.kill();
    let _ = child.wait();
    match out {
        Ok(o) => assert!(
            String::from_utf8_lossy(&o.stdout).contains("\"ok\""),
            "{o:?}"
        ),
        Err(_) => println!("skipped: no curl for the TLS handshake"),
    }
    let _ = Path::new("");
}

/// A fresh schema on the local PostgreSQL, through psql; None (and a
/// "skipped" line) when there is no server or no psql.
fn fresh_pg_url() -> Option<String> {
    let server = std::env::var("MIJIAN_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!(
        "e2e_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let ok = Command::new("psql")
        .args([
            server.as_str(),
            "-q",
            "-c",
            &format!("CREATE SCHEMA {schema}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("skipped: no PostgreSQL at {server} (or no psql)");
        return None;
    }
    Some(format!("{server}?options=-c%20search_path%3D{schema}"))
}

/// Two collector processes on one PostgreSQL database ingest the same
/// agent's chain concurrently: every report stored exactly once.
#[test]
fn collector_two_processes_share_postgres() {
    let Some(url) = fresh_pg_url() else { return };
    let mut a = Collector::new();
    a.db = url.clone();
    let mut b = Collector::new();
    b.db = url;
    let key = AgentKey::generate();
    a.enroll_key(&key);
    a.start();
    b.start();
    let mut chain = Vec::new();
    let mut prev = None;
    for seq in 1..=60 {
        let r = report(&key, seq, prev.take());
        prev = Some(sha256_hex(&r.to_payload()));
        chain.push(signed(&key, &r));
    }
    let send = |c: &Collector, order: Vec<&Vec<u8>>| -> Vec<u16> {
        order
            .into_iter()
            .map(|r| c.request("POST", "/api/v1/reports", None, r).0)
            .collect()
    };
    let (sa, sb) = std::thread::scope(|s| {
        let ha = s.spawn(|| send(&a, chain.iter().collect()));
        let hb = s.spawn(|| send(&b, chain.iter().rev().collect()));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    for (i, (x, y)) in sa.iter().zip(sb.iter().rev()).enumerate() {
        let mut pair = [*x, *y];
        pair.sort();
        assert_eq!(
            pair,
            [200, 202],
            "seq {}: one process stores, the other sees a duplicate",
            i + 1
        );
    }
    let token = a.last_line(&["api-token", "create", "--role", "auditor"]);
    let (_, host) = b.request(
        "GET",
        &format!("/api/v1/hosts/{}", key.kid()),
        Some(&token),
        b"",
    );
    assert_eq!(host["reports"], 60, "{host}");
    assert_eq!(host["missing_seqs"], 0);
    assert_eq!(host["tamper_alerts"], 0);
    assert_eq!(host["latest_seq"], 60);
}
