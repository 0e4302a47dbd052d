//! The console and the API behind the one auth layer: every route walked
//! with each role and with none, against the 三员分立 table written out
//! here (not derived from `auth::allowed`, so a change there shows up).

use crate::api::{App, router};
use crate::auth::{hash_password, now};
use crate::config::LimitsConfig;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use mijian_store::Role;
use std::sync::Arc;
use tower::ServiceExt;

struct Fixture {
    _dir: tempfile::TempDir,
    app: App,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("c.db").display());
    let store: Arc<dyn mijian_store::Store> = mijian_store::open(&url).unwrap().into();
    let hash = hash_password("correct-horse-battery").unwrap();
    for (name, role) in [
        ("root", Role::Admin),
        ("sec", Role::Secadmin),
        ("aud", Role::Auditor),
    ] {
        store.put_user(name, role, &hash, now()).unwrap();
    }
    let app = App::new(store, LimitsConfig::default(), 86400, false);
    Fixture { _dir: dir, app }
}

async fn send(app: &App, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let resp = router(app.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 10 << 20)
        .await
        .unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// Log in through the form; (cookie, csrf token).
async fn login(app: &App, name: &str) -> (String, String) {
    let (status, headers, _) = send(
        app,
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "name={name}&password=correct-horse-battery"
            )))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "login {name}");
    let set = headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "no TLS here: {set}");
    let cookie = set.split(';').next().unwrap().to_string();
    let (status, _, page) = send(
        app,
        Request::get("/")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let csrf = page
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    (cookie, csrf)
}

/// (method, path, form body, roles allowed: d admin, s secadmin, a auditor).
const ROUTES: &[(&str, &str, &str, &str)] = &[
    ("GET", "/", "", "dsa"),
    ("GET", "/hosts", "", "dsa"),
    ("GET", "/hosts/nope", "", "dsa"),
    ("GET", "/findings", "", "dsa"),
    ("GET", "/finding?agent=x&fp=y", "", "dsa"),
    ("GET", "/alerts", "", "dsa"),
    ("GET", "/media", "", "dsa"),
    ("GET", "/media/media.toml", "", "sa"),
    ("GET", "/media/media.xlsx", "", "sa"),
    ("GET", "/reports", "", "sa"),
    ("GET", "/reports/inspection", "", "sa"),
    ("GET", "/reports/inspection.docx", "", "sa"),
    ("GET", "/reports/findings.xlsx", "", "sa"),
    ("GET", "/reports/findings.csv", "", "sa"),
    ("GET", "/audit", "", "a"),
    ("GET", "/admin", "", "d"),
    (
        "POST",
        "/findings/triage",
        "key=x|y&action=acknowledged",
        "s",
    ),
    ("POST", "/media", "id=M-1&serial=S1&level=秘密", "s"),
    ("POST", "/media/delete", "id=nope", "s"),
    (
        "POST",
        "/admin/users",
        "name=newbie&role=auditor&password=0123456789abc",
        "d",
    ),
    ("POST", "/admin/users/delete", "name=nobody", "d"),
    ("POST", "/admin/tokens", "role=auditor&label=t", "d"),
    ("POST", "/admin/tokens/revoke", "id=deadbeefdead", "d"),
    ("POST", "/admin/enroll", "uses=1&expires=1h", "d"),
    ("POST", "/admin/agents/revoke", "id=nope", "d"),
    ("GET", "/api/v1/hosts", "", "dsa"),
    ("GET", "/api/v1/hosts/nope", "", "dsa"),
    ("GET", "/api/v1/findings", "", "dsa"),
    ("GET", "/api/v1/hosts/nope/reports/1", "", "dsa"),
];

fn request(
    method: &str,
    path: &str,
    body: &str,
    cookie: Option<&str>,
    csrf: &str,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    if method == "POST" {
        b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        let body = if cookie.is_some() {
            format!("_csrf={csrf}&{body}")
        } else {
            body.to_string()
        };
        return b.body(Body::from(body)).unwrap();
    }
    b.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn every_route_allows_exactly_its_roles() {
    let f = fixture();
    let mut sessions = Vec::new();
    for (name, letter) in [("root", 'd'), ("sec", 's'), ("aud", 'a')] {
        let (cookie, csrf) = login(&f.app, name).await;
        sessions.push((letter, cookie, csrf));
    }
    let mut failures = Vec::new();
    for (method, path, body, allowed) in ROUTES {
        // Nobody logged in: pages send to the login form, the API says 401.
        let (status, headers, _) = send(&f.app, request(method, path, body, None, "")).await;
        let expect_none = if path.starts_with("/api/") {
            status == StatusCode::UNAUTHORIZED
        } else {
            status == StatusCode::SEE_OTHER
                && headers.get(header::LOCATION).is_some_and(|l| l == "/login")
        };
        if !expect_none {
            failures.push(format!("{method} {path} without login: {status}"));
        }
        for (letter, cookie, csrf) in &sessions {
            let (status, _, text) =
                send(&f.app, request(method, path, body, Some(cookie), csrf)).await;
            let should = allowed.contains(*letter);
            let ok = if should {
                status != StatusCode::FORBIDDEN
                    && status != StatusCode::UNAUTHORIZED
                    && !status.is_server_error()
            } else {
                status == StatusCode::FORBIDDEN
            };
            if !ok {
                failures.push(format!(
                    "{method} {path} as {letter}: {status} (allowed: {should}) {}",
                    text.chars().take(200).collect::<String>()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The auditor reads the log of all that, logins included; nobody can change it.
    let audit = f.app.store.console().audit_log(None, None, 1000).unwrap();
    assert!(
        audit
            .iter()
            .any(|r| r.entry.action == "login.console" && r.entry.actor == "sec")
    );
    assert!(
        audit
            .iter()
            .any(|r| r.entry.action == "media.save" && r.entry.actor == "sec")
    );
    assert!(
        audit
            .iter()
            .any(|r| r.entry.action == "user.save" && r.entry.actor == "root")
    );
}

#[tokio::test]
async fn state_changes_need_the_csrf_token_and_this_origin() {
    let f = fixture();
    let (cookie, csrf) = login(&f.app, "sec").await;
    let post = |body: &str, origin: Option<&str>| {
        let mut b = Request::post("/media")
            .header(header::COOKIE, &cookie)
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(o) = origin {
            b = b.header(header::ORIGIN, o);
        }
        b.body(Body::from(body.to_string())).unwrap()
    };
    let (s, _, _) = send(&f.app, post("id=M-2&serial=S", None)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "no token");
    let (s, _, _) = send(&f.app, post("_csrf=wrong&id=M-2&serial=S", None)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "wrong token");
    let body = format!("_csrf={csrf}&id=M-2&serial=S");
    let (s, _, _) = send(&f.app, post(&body, Some("http://evil.example"))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "other origin");
    let (s, _, _) = send(&f.app, post(&body, Some("http://127.0.0.1:8080"))).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "same origin with token");
    assert_eq!(f.app.store.console().media_register().unwrap().len(), 1);
}

#[tokio::test]
async fn five_failures_lock_the_account_and_floods_are_refused_before_argon2() {
    let f = fixture();
    let attempt = |pw: &str| {
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("name=aud&password={pw}")))
            .unwrap()
    };
    for _ in 0..5 {
        let (s, _, _) = send(&f.app, attempt("wrong-password-x")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let st = f.app.store.console().login_state("aud").unwrap().unwrap();
    assert!(
        st.locked_until.is_some_and(|l| l > now() + 500),
        "locked ~10 min"
    );
    // The right password no longer helps while locked (or rate-limited).
    let (s, _, page) = send(&f.app, attempt("correct-horse-battery")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(page.contains("锁定") || page.contains("频繁"), "{page}");
    let log = f
        .app
        .store
        .console()
        .audit_log(None, Some("aud"), 100)
        .unwrap();
    assert!(log.iter().filter(|r| r.entry.outcome == "failed").count() >= 5);
    assert!(log.iter().any(|r| r.entry.outcome == "denied"));

    // An unknown name flooded from one address: after the burst, refused
    // without a hash being computed (fast), and audited.
    let t = std::time::Instant::now();
    let mut limited = 0;
    for i in 0..40 {
        let r = Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "name=ghost{}&password=whatever-123",
                i % 3
            )))
            .unwrap();
        let (_, _, page) = send(&f.app, r).await;
        limited += page.contains("频繁") as usize;
    }
    assert!(limited >= 20, "{limited} of 40 rate-limited");
    // 40 argon2 verifications take seconds; the limited ones take none.
    assert!(t.elapsed() < std::time::Duration::from_secs(30));
}

#[tokio::test]
async fn pages_escape_agent_strings_and_send_a_strict_csp() {
    let f = fixture();
    let store = &f.app.store;
    store
        .add_agent("agent-x", "{}", Some("ws-<b>"), now())
        .unwrap();
    let evil = "<img src=x onerror=alert(1)>.docx";
    let report = mijian_store::NewReport {
        agent_id: "agent-x".into(),
        report_id: "r1".into(),
        seq: 1,
        prev: None,
        payload_sha256: "00".repeat(32),
        jws: b"{}".to_vec(),
        created_at: "2026-01-01T00:00:00Z".into(),
        received_at: now(),
        trigger: "manual".into(),
        compliant: false,
        hostname: "ws-<script>alert(1)</script>".into(),
        os: "Kylin".into(),
        classification: "非涉密".into(),
        checks: r#"[{"id":"password.min_length","subject":"host","status":"fail","evidence":"<svg onload=alert(1)>"}]"#.into(),
        failed_checks: 1,
        check_rows: vec![mijian_store::NewCheck {
            id: "password.min_length".into(),
            subject: "host".into(),
            status: "fail".into(),
            body: r#"{"id":"password.min_length","subject":"host","status":"fail","evidence":"<svg onload=alert(1)>"}"#.into(),
        }],
        scope: mijian_store::Coverage::full(),
        declared_gaps: Vec::new(),
        findings: vec![mijian_store::NewFinding {
            fingerprint: "fp1".into(),
            kind: "unmarked_classified".into(),
            severity: "high".into(),
            severity_rank: 3,
            path: Some(format!("/home/u/{evil}")),
            body: serde_json::json!({"kind": "unmarked_classified", "severity": "high",
                "path": format!("/home/u/{evil}"), "matches": [{"rule": "<i>r</i>", "count": 1}]})
            .to_string(),
        }],
    };
    assert_eq!(store.ingest(report).unwrap(), mijian_store::Outcome::Stored);
    let (cookie, _) = login(&f.app, "aud").await;
    for path in [
        "/hosts",
        "/hosts/agent-x",
        "/findings",
        "/finding?agent=agent-x&fp=fp1",
        "/",
    ] {
        let (s, h, page) = send(
            &f.app,
            Request::get(path)
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{path}");
        for raw in ["<img src=x", "<script>alert", "<svg onload", "<i>r</i>"] {
            assert!(!page.contains(raw), "{path} carries raw {raw}");
        }
        let csp = h
            .get(header::CONTENT_SECURITY_POLICY)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
        assert!(
            !page.contains("<script>") && !page.contains(" style="),
            "{path}: inline script/style"
        );
    }
    let (_, _, page) = send(
        &f.app,
        Request::get("/findings")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;.docx"),
        "shown as text"
    );
}

#[tokio::test]
async fn exceptions_expire_and_the_finding_comes_back() {
    let f = fixture();
    let store = &f.app.store;
    store.add_agent("a1", "{}", Some("ws-1"), now()).unwrap();
    let mut r = mijian_store::NewReport {
        agent_id: "a1".into(),
        report_id: "r1".into(),
        seq: 1,
        prev: None,
        payload_sha256: "11".repeat(32),
        jws: b"{}".to_vec(),
        created_at: "2026-01-01T00:00:00Z".into(),
        received_at: now(),
        trigger: "manual".into(),
        compliant: false,
        hostname: "ws-1".into(),
        os: "x".into(),
        classification: "秘密".into(),
        checks: "[]".into(),
        failed_checks: 0,
        check_rows: Vec::new(),
        scope: mijian_store::Coverage::full(),
        declared_gaps: Vec::new(),
        findings: vec![mijian_store::NewFinding {
            fingerprint: "fp".into(),
            kind: "removable_media".into(),
            severity: "critical".into(),
            severity_rank: 4,
            path: None,
            body: r#"{"kind":"removable_media","severity":"critical","device":"/dev/sdb1","registered":false}"#.into(),
        }],
    };
    store.ingest(r.clone()).unwrap();
    let c = store.console();
    let pending = |t: i64| {
        c.finding_page(
            &mijian_store::console::FindingPageQuery {
                triage: mijian_store::console::TriageFilter::Pending,
                status: Some("open".into()),
                limit: 10,
                ..Default::default()
            },
            t,
        )
        .unwrap()
        .len()
    };
    assert_eq!(pending(now()), 1);
    let t = mijian_store::console::Triage {
        state: mijian_store::console::TriageState::Exception,
        justification: Some("approved by office".into()),
        expires_at: Some(now() + 100),
        actor: "sec".into(),
        now: now(),
    };
    assert_eq!(c.triage(&[("a1".into(), "fp".into())], &t).unwrap(), 1);
    assert_eq!(pending(now()), 0, "waived");
    assert_eq!(pending(now() + 101), 1, "back after expiry");
    // Resolved by staff holds until a later report carries it again.
    let t = mijian_store::console::Triage {
        state: mijian_store::console::TriageState::Resolved,
        expires_at: None,
        ..t
    };
    c.triage(&[("a1".into(), "fp".into())], &t).unwrap();
    assert_eq!(pending(now()), 0);
    r.seq = 2;
    r.report_id = "r2".into();
    r.prev = Some("11".repeat(32));
    r.payload_sha256 = "22".repeat(32);
    store.ingest(r).unwrap();
    assert_eq!(pending(now()), 1, "reported again");

    // The alert task sees an unregistered medium on a 秘密 host.
    assert_eq!(super::alerts::detect(&**store).unwrap(), 1);
    assert_eq!(super::alerts::detect(&**store).unwrap(), 0, "once");
    let a = c.alerts(None, 10).unwrap();
    assert_eq!(a[0].kind, super::alerts::UNREGISTERED_MEDIUM);
}
