//! Critical alerts: events that must reach the officer without anyone
//! opening a page — a classified file on a non-classified host, an
//! unregistered medium on a classified host, a chain conflict, a revoked
//! key still sending. They are listed in the console (`/alerts`) and
//! forwarded to syslog (RFC 5424 over UDP, or TCP with RFC 6587 octet
//! counting) and a webhook (JSON POST), as `[alerts]` in the config says;
//! each destination is retried every round until it accepts or
//! `max_attempts` is reached, and every outcome is logged.
//!
//! Detection reads the store behind ingest (new findings by `first_seen`,
//! new tamper alerts by id) on a timer, so the ingest path is untouched; a
//! unique key per event makes a re-run harmless. Hand-written senders: a
//! syslog line and one HTTP/1.1 POST are a few lines each on tokio, where a
//! client crate would add a second TLS stack (and, through its default
//! features, aws-lc-rs). An `https://` webhook goes over the collector's own
//! rustls with ring, verified against `[alerts] webhook_ca` (a PEM file: a
//! unit's own CA on an isolated network) or else the Mozilla roots.

use super::causes::level_rank;
use crate::api::App;
use crate::auth::now;
use crate::config::AlertsConfig;
use mijian_store::Store;
use mijian_store::console::{AlertRow, NewAlert};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Alert kinds (also the syslog MSGID).
pub const CLASSIFIED_ON_UNCLASSIFIED: &str = "classified_file_on_unclassified_host";
pub const UNREGISTERED_MEDIUM: &str = "unregistered_medium_on_classified_host";
pub const CHAIN_CONFLICT: &str = "chain_conflict";
pub const REVOKED_KEY: &str = "revoked_key_sending";

const SYSLOG_BIT: i64 = 1;
const WEBHOOK_BIT: i64 = 2;
const NET_TIMEOUT: Duration = Duration::from_secs(5);

/// Turn new findings and tamper alerts into alerts; returns alerts added.
pub fn detect(store: &dyn Store) -> mijian_store::Result<usize> {
    let c = store.console();
    let mut added = 0;
    // Findings: after the last one looked at, by (first_seen, agent,
    // fingerprint), so a batch that ends inside a second resumes exactly.
    let after: (i64, String, String) = c
        .state_get("alerts.findings_after")?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or((0, String::new(), String::new()));
    let cands = c.alert_candidates(
        &[
            "unmarked_classified",
            "marked_classified",
            "removable_media",
        ],
        &after,
        5000,
    )?;
    let mut batch = Vec::new();
    for cand in &cands {
        let f = &cand.finding;
        let host_level = level_rank(cand.classification.as_deref().unwrap_or(""));
        let body: Value = serde_json::from_str(&f.body).unwrap_or(Value::Null);
        let kind = match f.kind.as_str() {
            "unmarked_classified" | "marked_classified" if host_level < 2 => {
                CLASSIFIED_ON_UNCLASSIFIED
            }
            "removable_media"
                if host_level >= 2
                    && body.get("registered").and_then(Value::as_bool) != Some(true) =>
            {
                UNREGISTERED_MEDIUM
            }
            _ => continue,
        };
        let detail = match kind {
            UNREGISTERED_MEDIUM => format!(
                "device {}",
                body.get("device").and_then(Value::as_str).unwrap_or("?")
            ),
            _ => format!("{} {}", f.kind, f.path.as_deref().unwrap_or("")),
        };
        batch.push(NewAlert {
            at: f.first_seen,
            kind: kind.into(),
            agent_id: Some(f.agent_id.clone()),
            hostname: f.hostname.clone(),
            detail,
            dedup: format!("{kind}:{}:{}:{}", f.agent_id, f.fingerprint, f.first_seen),
        });
    }
    added += c.add_alerts(&batch)?;
    if let Some(last) = cands.last() {
        let f = &last.finding;
        let pos =
            serde_json::to_string(&(f.first_seen, &f.agent_id, &f.fingerprint)).unwrap_or_default();
        c.state_set("alerts.findings_after", &pos)?;
    }
    let after: i64 = c
        .state_get("alerts.tamper_after")?
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut last = after;
    let mut batch = Vec::new();
    for (id, t, hostname) in c.tamper_after(after, 5000)? {
        last = id;
        batch.push(NewAlert {
            at: t.received_at,
            kind: CHAIN_CONFLICT.into(),
            agent_id: Some(t.agent_id.clone()),
            hostname,
            detail: format!("seq {}: {}", t.seq, t.reason),
            dedup: format!("{CHAIN_CONFLICT}:{id}"),
        });
    }
    added += c.add_alerts(&batch)?;
    if last > after {
        c.state_set("alerts.tamper_after", &last.to_string())?;
    }
    Ok(added)
}

/// Called by `POST /api/v1/reports` when a revoked key sent a report: one
/// alert per agent and hour.
pub async fn revoked_key_sending(app: &App, jws: &[u8]) {
    let Some(kid) = mijian_report::Jws::parse(jws)
        .ok()
        .and_then(|j| j.kid().ok())
    else {
        return;
    };
    let store = app.store.clone();
    let t = now();
    let res = tokio::task::spawn_blocking(move || {
        let hostname = store.agent(&kid)?.and_then(|a| a.hostname);
        store.console().add_alert(&NewAlert {
            at: t,
            kind: REVOKED_KEY.into(),
            agent_id: Some(kid.clone()),
            hostname,
            detail: "a report signed with a revoked key was refused".into(),
            dedup: format!("{REVOKED_KEY}:{kid}:{}", t / 3600),
        })
    })
    .await;
    match res {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => log::warn!("alerts: {e}"),
        Err(e) => log::warn!("alerts: {e}"),
    }
}

/// The alert as JSON (webhook body).
pub fn alert_json(a: &AlertRow) -> Value {
    json!({
        "source": "mijian-collector", "id": a.id, "kind": a.kind,
        "at": crate::api::rfc3339(a.at), "agent_id": a.agent_id, "hostname": a.hostname,
        "detail": a.detail, "severity": "critical",
    })
}

/// An RFC 5424 syslog message: facility local4 (20), severity critical (2).
pub fn syslog_line(a: &AlertRow, hostname: &str) -> String {
    fn sd(v: &str) -> String {
        // RFC 5424 §6.3.3: escape `"`, `\` and `]` in PARAM-VALUE.
        v.chars()
            .flat_map(|c| match c {
                '"' | '\\' | ']' => vec!['\\', c],
                c if c.is_control() => vec![' '],
                c => vec![c],
            })
            .collect()
    }
    fn token(v: &str) -> String {
        // HOSTNAME, APP-NAME, MSGID: printable US-ASCII, no spaces.
        let t: String = v
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(48)
            .collect();
        if t.is_empty() { "-".into() } else { t }
    }
    let msg: String = a.detail.chars().filter(|c| !c.is_control()).collect();
    format!(
        "<{}>1 {} {} mijian-collector - {} [mijian@32473 id=\"{}\" agent=\"{}\" host=\"{}\"] \u{feff}{}",
        20 * 8 + 2,
        crate::api::rfc3339(a.at),
        token(hostname),
        token(&a.kind),
        a.id,
        sd(a.agent_id.as_deref().unwrap_or("")),
        sd(a.hostname.as_deref().unwrap_or("")),
        msg
    )
}

fn local_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // or truncates, and we stop at the first NUL.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return "-".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Send one syslog message to `udp://HOST:PORT` or `tcp://HOST:PORT`.
pub async fn send_syslog(url: &str, line: &str) -> Result<(), String> {
    let (scheme, addr) = url
        .split_once("://")
        .ok_or_else(|| format!("syslog `{url}`: write udp://HOST:PORT or tcp://HOST:PORT"))?;
    let work = async {
        match scheme {
            "udp" => {
                let sock = tokio::net::UdpSocket::bind(if addr.starts_with('[') {
                    "[::]:0"
                } else {
                    "0.0.0.0:0"
                })
                .await
                .map_err(|e| e.to_string())?;
                sock.send_to(line.as_bytes(), addr)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(())
            }
            "tcp" => {
                let mut s = tokio::net::TcpStream::connect(addr)
                    .await
                    .map_err(|e| e.to_string())?;
                let framed = format!("{} {line}", line.len());
                s.write_all(framed.as_bytes())
                    .await
                    .map_err(|e| e.to_string())?;
                s.shutdown().await.map_err(|e| e.to_string())
            }
            _ => Err(format!("syslog scheme `{scheme}` (use udp or tcp)")),
        }
    };
    tokio::time::timeout(NET_TIMEOUT, work)
        .await
        .map_err(|_| "timed out".to_string())?
}

/// A rustls client (ring) trusting `ca` (PEM certificates), else the Mozilla roots.
fn tls_connector(ca: Option<&std::path::Path>) -> Result<tokio_rustls::TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(p) => {
            let f =
                std::fs::File::open(p).map_err(|e| format!("webhook_ca {}: {e}", p.display()))?;
            let certs: Vec<_> = rustls_pemfile::certs(&mut std::io::BufReader::new(f))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("webhook_ca {}: not PEM ({e})", p.display()))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!(
                    "webhook_ca {} holds no usable certificate",
                    p.display()
                ));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(std::sync::Arc::new(
        config,
    )))
}

/// Write the request, read the status line: Ok on 2xx.
async fn post_over<S>(mut s: S, req: &[u8]) -> Result<(), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    s.write_all(req).await.map_err(|e| e.to_string())?;
    s.flush().await.map_err(|e| e.to_string())?;
    let mut head = vec![0u8; 64];
    let n = s.read(&mut head).await.map_err(|e| e.to_string())?;
    let status_line = String::from_utf8_lossy(&head[..n]);
    let code = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| "no HTTP status in the answer".to_string())?;
    if (200..300).contains(&code) {
        Ok(())
    } else {
        Err(format!("HTTP {code}"))
    }
}

/// POST `body` as JSON to an `http://` or `https://HOST:PORT/PATH` webhook;
/// Ok on 2xx. `ca`: the PEM certificates an https receiver is checked
/// against (None: the Mozilla roots).
pub async fn send_webhook(
    url: &str,
    body: &str,
    ca: Option<&std::path::Path>,
) -> Result<(), String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("webhook `{url}`: give an http:// or https:// URL"));
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if hostport.is_empty()
        || hostport.contains('@')
        || path.chars().any(|c| c.is_control() || c == ' ')
    {
        return Err(format!("webhook `{url}` is not a usable URL"));
    }
    // The host without its port (`[v6]:port`, `name:port`, `name`).
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        hostport.rsplit_once(':').map_or(hostport, |(h, _)| h)
    };
    let connect_to = if hostport.starts_with('[') || hostport.rsplit_once(':').is_some() {
        hostport.to_string()
    } else {
        format!("{hostport}:{}", if tls { 443 } else { 80 })
    };
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\n\
         User-Agent: mijian-collector\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let connector = if tls { Some(tls_connector(ca)?) } else { None };
    let server_name = if tls {
        Some(
            rustls::pki_types::ServerName::try_from(host.to_string())
                .map_err(|_| format!("webhook `{url}`: `{host}` is not a host name"))?,
        )
    } else {
        None
    };
    let work = async {
        let s = tokio::net::TcpStream::connect(&connect_to)
            .await
            .map_err(|e| e.to_string())?;
        match (connector, server_name) {
            (Some(c), Some(name)) => {
                let s = c.connect(name, s).await.map_err(|e| format!("TLS: {e}"))?;
                post_over(s, req.as_bytes()).await
            }
            _ => post_over(s, req.as_bytes()).await,
        }
    };
    tokio::time::timeout(NET_TIMEOUT, work)
        .await
        .map_err(|_| "timed out".to_string())?
}

/// One forwarding round: every alert not yet accepted by each configured
/// destination gets one more attempt.
pub async fn forward(store: std::sync::Arc<dyn Store>, cfg: &AlertsConfig) -> usize {
    let want = if cfg.syslog.is_some() { SYSLOG_BIT } else { 0 }
        | if cfg.webhook.is_some() {
            WEBHOOK_BIT
        } else {
            0
        };
    if want == 0 {
        return 0;
    }
    let s = store.clone();
    let max = cfg.max_attempts;
    let pending =
        match tokio::task::spawn_blocking(move || s.console().pending_alerts(want, max, 200)).await
        {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                log::warn!("alerts: {e}");
                return 0;
            }
            Err(_) => return 0,
        };
    let host = local_hostname();
    let mut sent = 0;
    for a in pending {
        let mut done = a.forwarded;
        let mut errors = Vec::new();
        if let Some(url) = &cfg.syslog
            && done & SYSLOG_BIT == 0
        {
            match send_syslog(url, &syslog_line(&a, &host)).await {
                Ok(()) => {
                    done |= SYSLOG_BIT;
                    log::info!("alert {} ({}) sent to syslog {url}", a.id, a.kind);
                }
                Err(e) => errors.push(format!("syslog: {e}")),
            }
        }
        if let Some(url) = &cfg.webhook
            && done & WEBHOOK_BIT == 0
        {
            match send_webhook(url, &alert_json(&a).to_string(), cfg.webhook_ca.as_deref()).await {
                Ok(()) => {
                    done |= WEBHOOK_BIT;
                    log::info!("alert {} ({}) sent to webhook {url}", a.id, a.kind);
                }
                Err(e) => errors.push(format!("webhook: {e}")),
            }
        }
        let error = (!errors.is_empty()).then(|| errors.join("; "));
        if let Some(e) = &error {
            let left = cfg.max_attempts - a.attempts - 1;
            if left <= 0 {
                log::error!("alert {} ({}): giving up: {e}", a.id, a.kind);
            } else {
                log::warn!("alert {} ({}): {e}; {left} attempt(s) left", a.id, a.kind);
            }
        } else {
            sent += 1;
        }
        let s = store.clone();
        let id = a.id;
        let _ =
            tokio::task::spawn_blocking(move || s.console().mark_alert(id, done, error.as_deref()))
                .await;
    }
    sent
}

pub(super) fn spawn(app: App) {
    tokio::spawn(async move {
        let every = Duration::from_secs(app.alerts.interval_secs.clamp(1, 3600));
        loop {
            let store = app.store.clone();
            match tokio::task::spawn_blocking(move || detect(&*store)).await {
                Ok(Ok(n)) if n > 0 => log::warn!("{n} new critical alert(s)"),
                Ok(Err(e)) => log::warn!("alerts: {e}"),
                _ => {}
            }
            forward(app.store.clone(), &app.alerts).await;
            tokio::time::sleep(every).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> AlertRow {
        AlertRow {
            id: 7,
            at: 1_800_000_000,
            kind: CHAIN_CONFLICT.into(),
            agent_id: Some("kid\"]x".into()),
            hostname: Some("ws-01".into()),
            detail: "seq 3: prev mismatch\nsecond line".into(),
            forwarded: 0,
            attempts: 0,
            last_error: None,
        }
    }

    #[test]
    fn syslog_lines_follow_rfc5424() {
        let l = syslog_line(&alert(), "collector host");
        assert!(l.starts_with("<162>1 2027-01-15T08:00:00Z collectorhost mijian-collector - chain_conflict [mijian@32473 id=\"7\" "), "{l}");
        assert!(l.contains("agent=\"kid\\\"\\]x\""), "{l}");
        assert!(!l.contains('\n'));
    }

    #[tokio::test]
    async fn alerts_reach_syslog_and_webhook_on_loopback() {
        // Syslog over UDP and TCP.
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let url = format!("udp://{}", udp.local_addr().unwrap());
        send_syslog(&url, "<162>1 hello").await.unwrap();
        let mut buf = [0u8; 128];
        let (n, _) = udp.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"<162>1 hello");

        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("tcp://{}", tcp.local_addr().unwrap());
        let recv = tokio::spawn(async move {
            let (mut s, _) = tcp.accept().await.unwrap();
            let mut got = String::new();
            s.read_to_string(&mut got).await.unwrap();
            got
        });
        send_syslog(&url, "<162>1 hi").await.unwrap();
        assert_eq!(recv.await.unwrap(), "9 <162>1 hi");

        // Webhook: 200 accepted, 500 refused (to be retried).
        for (status, ok) in [("200 OK", true), ("500 Internal Server Error", false)] {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/hook", l.local_addr().unwrap());
            let srv = tokio::spawn(async move {
                let (mut s, _) = l.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap();
                s.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await
                    .unwrap();
                String::from_utf8_lossy(&buf[..n]).into_owned()
            });
            let r = send_webhook(&url, r#"{"kind":"x"}"#, None).await;
            assert_eq!(r.is_ok(), ok, "{r:?}");
            let req = srv.await.unwrap();
            assert!(req.starts_with("POST /hook HTTP/1.1\r\n"), "{req}");
            assert!(req.ends_with(r#"{"kind":"x"}"#));
        }
        // Nobody listening: an error, not a hang.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", l.local_addr().unwrap());
        drop(l);
        assert!(send_webhook(&url, "{}", None).await.is_err());
        assert!(send_webhook("ftp://x/", "{}", None).await.is_err());
    }

    /// A unit CA and a receiver certificate it signed (localhost,
    /// 127.0.0.1), by `openssl`: (ca.pem, hook.pem, hook.key).
    fn openssl_ca_and_cert(
        dir: &std::path::Path,
    ) -> Option<(std::path::PathBuf, std::path::PathBuf, std::path::PathBuf)> {
        let p = |n: &str| dir.join(n);
        std::fs::write(
            p("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .ok()?;
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let steps: [Vec<std::ffi::OsString>; 3] = [
            ["req", "-x509"]
                .iter()
                .chain(&ec)
                .map(Into::into)
                .chain(
                    ["-days", "2", "-subj", "/CN=mijian test unit CA", "-keyout"].map(Into::into),
                )
                .chain([p("ca.key").into(), "-out".into(), p("ca.pem").into()])
                .collect(),
            ["req"]
                .iter()
                .chain(&ec)
                .map(Into::into)
                .chain(["-subj", "/CN=localhost", "-keyout"].map(Into::into))
                .chain([p("hook.key").into(), "-out".into(), p("hook.csr").into()])
                .collect(),
            ["x509", "-req", "-days", "2", "-in"]
                .map(Into::into)
                .into_iter()
                .chain([
                    p("hook.csr").into(),
                    "-CA".into(),
                    p("ca.pem").into(),
                    "-CAkey".into(),
                    p("ca.key").into(),
                    "-CAcreateserial".into(),
                    "-extfile".into(),
                    p("ext.cnf").into(),
                    "-out".into(),
                    p("hook.pem").into(),
                ])
                .collect(),
        ];
        for args in steps {
            let ok = std::process::Command::new("openssl")
                .args(&args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return None;
            }
        }
        Some((p("ca.pem"), p("hook.pem"), p("hook.key")))
    }

    #[tokio::test]
    async fn webhook_over_https_checks_the_receivers_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let Some((ca, cert, key)) = openssl_ca_and_cert(dir.path()) else {
            println!("skipped: no openssl to make a certificate");
            return;
        };
        let acceptor = crate::tls::acceptor(&cert, &key).unwrap();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let srv = tokio::spawn(async move {
            let mut seen = Vec::new();
            // Two connections: the trusted POST, then the untrusted attempt.
            for _ in 0..2 {
                let (s, _) = l.accept().await.unwrap();
                let Ok(mut s) = acceptor.accept(s).await else {
                    seen.push(String::new());
                    continue;
                };
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap();
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    .await
                    .unwrap();
                let _ = s.shutdown().await;
                seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
            seen
        });
        let url = format!("https://127.0.0.1:{port}/hook");
        send_webhook(&url, r#"{"kind":"x"}"#, Some(&ca))
            .await
            .unwrap();
        // The Mozilla roots do not know this certificate: refused.
        let e = send_webhook(&url, r#"{"kind":"y"}"#, None)
            .await
            .unwrap_err();
        assert!(e.contains("TLS"), "{e}");
        let seen = srv.await.unwrap();
        assert!(
            seen[0].starts_with("POST /hook HTTP/1.1\r\n") && seen[0].ends_with(r#"{"kind":"x"}"#),
            "{seen:?}"
        );
        assert!(
            seen[1].is_empty(),
            "nothing sent to an unverified receiver: {seen:?}"
        );
    }
}
