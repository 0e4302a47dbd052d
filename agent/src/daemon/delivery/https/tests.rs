//! The client against a real rustls server on loopback (certificates made
//! with the `openssl` command; skipped, saying so, where it is missing).

use super::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// Requests seen: (path, body).
type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

fn openssl_cert(dir: &Path, name: &str) -> Option<(PathBuf, PathBuf)> {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some((cert, key))
}

fn read_request(r: &mut impl BufRead) -> Option<(String, Vec<u8>)> {
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; len];
    std::io::Read::read_exact(r, &mut body).ok()?;
    Some((path, body))
}

/// A TLS server answering every request with `status` and `body`.
fn tls_server(cert: &Path, key: &Path, status: u16, body: &'static str) -> (String, Seen) {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key).unwrap();
    let cfg = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(tcp) = conn else { continue };
            let Ok(sc) = rustls::ServerConnection::new(cfg.clone()) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(sc, tcp);
            let mut r = BufReader::new(&mut tls);
            let Some(req) = read_request(&mut r) else {
                continue;
            };
            s2.lock().unwrap().push(req);
            let _ = write!(
                tls,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    (format!("https://localhost:{port}"), seen)
}

#[test]
fn pinned_self_signed_certificate_delivers_and_other_certificates_fail() {
    let dir = tempfile::tempdir().unwrap();
    let (Some((cert, key)), Some((other, _))) =
        (openssl_cert(dir.path(), "c"), openssl_cert(dir.path(), "o"))
    else {
        eprintln!("skipped: openssl not available");
        return;
    };
    let (url, seen) = tls_server(&cert, &key, 202, "{}");
    let client = Client::new(&url, Some(&cert)).unwrap();
    assert_eq!(client.post_report(b"{\"jws\":1}"), Outcome::Delivered(202));
    assert_eq!(
        seen.lock().unwrap()[0],
        ("/api/v1/reports".to_string(), b"{\"jws\":1}".to_vec())
    );

    // A collector presenting a certificate other than the pinned one.
    let client = Client::new(&url, Some(&other)).unwrap();
    match client.post_report(b"x") {
        Outcome::Retry { reason, .. } => {
            assert!(reason.to_lowercase().contains("cert"), "{reason}")
        }
        o => panic!("expected a TLS failure, got {o:?}"),
    }
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "nothing was sent to the wrong server"
    );
    // Default roots do not trust a self-signed collector either.
    let client = Client::new(&url, None).unwrap();
    assert!(matches!(client.post_report(b"x"), Outcome::Retry { .. }));
}

#[test]
fn status_codes_map_to_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let Some((cert, key)) = openssl_cert(dir.path(), "c") else {
        eprintln!("skipped: openssl not available");
        return;
    };
    type Expect = fn(&Outcome) -> bool;
    let cases: [(u16, Expect); 8] = [
        // Refused for good: set aside, the queue goes on (issue 11).
        (400, |o| matches!(o, Outcome::Refused { status: 400, .. })),
        (413, |o| matches!(o, Outcome::Refused { status: 413, .. })),
        (408, |o| matches!(o, Outcome::Retry { .. })),
        (200, |o| *o == Outcome::Delivered(200)),
        (
            409,
            |o| matches!(o, Outcome::Conflict(b) if b.contains("chain")),
        ),
        (401, |o| matches!(o, Outcome::Rejected { status: 401, .. })),
        (429, |o| matches!(o, Outcome::Retry { .. })),
        (503, |o| matches!(o, Outcome::Retry { .. })),
    ];
    for (status, ok) in cases {
        let (url, _) = tls_server(&cert, &key, status, "{\"error\":\"chain\"}");
        let o = Client::new(&url, Some(&cert)).unwrap().post_report(b"r");
        assert!(ok(&o), "{status}: {o:?}");
    }
}

#[test]
fn enroll_returns_agent_id() {
    let dir = tempfile::tempdir().unwrap();
    let Some((cert, key)) = openssl_cert(dir.path(), "c") else {
        eprintln!("skipped: openssl not available");
        return;
    };
    let (url, seen) = tls_server(
        &cert,
        &key,
        200,
        "{\"agent_id\":\"kid-1\",\"max_report_bytes\":1048576}",
    );
    let id = Client::new(&url, Some(&cert))
        .unwrap()
        .enroll("tok", &serde_json::json!({"kty":"OKP"}), "ws-1")
        .unwrap();
    assert_eq!(id, ("kid-1".to_string(), Some(1_048_576)));
    let (path, body) = seen.lock().unwrap()[0].clone();
    assert_eq!(path, "/api/v1/enroll");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["token"], "tok");
    assert_eq!(v["hostname"], "ws-1");
    assert_eq!(v["jwk"]["kty"], "OKP");
}

#[test]
fn plain_http_only_to_loopback() {
    assert!(Client::new("http://127.0.0.1:1", None).is_ok());
    assert!(Client::new("http://192.0.2.1:80", None).is_err());
}

#[test]
fn empty_ca_file_is_an_error_that_says_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ca.pem");
    std::fs::write(&p, "not pem").unwrap();
    let e = Client::new("https://localhost:1", Some(&p))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no certificate"), "{e}");
}

#[test]
fn tls_failures_say_what_to_do() {
    assert!(tls_hint("invalid peer certificate: CaUsedAsEndEntity").contains("collector.ca_file"));
    assert!(tls_hint("invalid peer certificate: UnknownIssuer").contains("collector.ca_file"));
    assert_eq!(tls_hint("connection refused"), "");
}
