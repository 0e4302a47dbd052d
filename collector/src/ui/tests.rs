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
    let mut app = App::new(store, LimitsConfig::default(), 86400, false);
    let key = mijian_report::AgentKey::generate();
    app.policy_key = Some(Arc::new(key.public_jwk()));
    app.policy_signer = Some(Arc::new(key));
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
    ("GET", "/policy", "", "sa"),
    ("GET", "/policy?all=1&offset=50", "", "sa"),
    ("GET", "/policy/diff", "", "sa"),
    ("GET", "/policy/file?path=media.toml", "", "sa"),
    (
        "POST",
        "/policy/file",
        "path=media.toml&content=&message=empty+register&base=0",
        "s",
    ),
    (
        "POST",
        "/policy/mode",
        "mode=hidden&message=hide+terms&base=1",
        "s",
    ),
    (
        "POST",
        "/policy/exceptions",
        "sha256=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&rule=r&expires=2000-01-01&justification=false+positive",
        "s",
    ),
    ("POST", "/policy/exceptions/remove", "id=nope", "s"),
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
    assert!(
        audit
            .iter()
            .any(|r| r.entry.action == "policy.edit" && r.entry.actor == "sec")
    );
    // Only the secadmin's two changes made versions.
    assert_eq!(f.app.store.policy_history().unwrap().len(), 2);
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
        policy_version: None,
        policy_digest: None,
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
        policy_version: None,
        policy_digest: None,
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

/// A form post with the session cookie; `csrf` None leaves the token out.
fn post_form(
    path: &str,
    cookie: &str,
    csrf: Option<&str>,
    fields: &[(&str, &str)],
) -> Request<Body> {
    let mut kv: Vec<(&str, &str)> = fields.to_vec();
    if let Some(t) = csrf {
        kv.insert(0, ("_csrf", t));
    }
    Request::post(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(serde_urlencoded::to_string(&kv).unwrap()))
        .unwrap()
}

fn get(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn policy_pages_publish_versions_and_keep_hidden_terms_off_screen() {
    let f = fixture();
    let secret = "玄鸟柒号";
    let kw = format!("[[keyword]]\nid = \"proj-a\"\nterms = [\"{secret}\"]\nseverity = \"high\"\n");
    let key = f.app.policy_signer.clone().unwrap();
    crate::policy::publish(
        &*f.app.store,
        &key,
        crate::policy::Change {
            files: vec![
                ("media.toml".into(), b"# register\n".to_vec()),
                ("keywords/projects.toml".into(), kw.clone().into_bytes()),
            ],
            exceptions: Vec::new(),
            mode: mijian_policy::bundle::Mode::Plain,
            actor: "cli:test",
            action: "import",
            message: "first import".into(),
        },
    )
    .unwrap();
    let (sec, sec_csrf) = login(&f.app, "sec").await;
    let (aud, aud_csrf) = login(&f.app, "aud").await;
    let etag = |cookie: String| {
        let app = f.app.clone();
        async move {
            let (s, h, _) = send(&app, get("/api/v1/policy/bundle", &cookie)).await;
            assert_eq!(s, StatusCode::OK);
            h.get(header::ETAG).unwrap().to_str().unwrap().to_string()
        }
    };
    let tag1 = etag(sec.clone()).await;
    let (s, _, page) = send(&f.app, get("/policy", &aud)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains("v1") && page.contains("first import"),
        "{page}"
    );
    assert!(
        !page.contains("/policy/mode"),
        "the auditor gets no change form"
    );

    // A broken file: refused with its name and line, no new version.
    let bad = "[[keyword]]\r\nid = \"proj-b\"\r\nterms = [\r\n";
    let form = [
        ("path", "keywords/projects.toml"),
        ("content", bad),
        ("message", "add proj-b"),
        ("base", "1"),
    ];
    let (s, _, page) = send(
        &f.app,
        post_form("/policy/file", &sec, Some(&sec_csrf), &form),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(
        page.contains("keywords&#x2f;projects.toml:4:"),
        "names the file and line: {page}"
    );
    assert_eq!(f.app.store.policy_history().unwrap().len(), 1);

    // No CSRF token, or the auditor: refused.
    let good = format!(
        "{kw}\r\n[[keyword]]\r\nid = \"proj-b\"\r\nterms = [\"青鸾\"]\r\nseverity = \"medium\"\r\n"
    );
    let form = [
        ("path", "keywords/projects.toml"),
        ("content", good.as_str()),
        ("message", "add proj-b"),
        ("base", "1"),
    ];
    let (s, _, _) = send(&f.app, post_form("/policy/file", &sec, None, &form)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "no CSRF token");
    let (s, _, _) = send(
        &f.app,
        post_form("/policy/file", &aud, Some(&aud_csrf), &form),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "the auditor reads only");
    let (admin, admin_csrf) = login(&f.app, "root").await;
    let (s, _, _) = send(
        &f.app,
        post_form("/policy/file", &admin, Some(&admin_csrf), &form),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "the admin has no policy rights");
    assert_eq!(f.app.store.policy_history().unwrap().len(), 1);

    // The secadmin's change: a new signed version the agents' ETag sees.
    let (s, h, _) = send(
        &f.app,
        post_form("/policy/file", &sec, Some(&sec_csrf), &form),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(h.get(header::LOCATION).unwrap(), "/policy");
    let tag2 = etag(sec.clone()).await;
    assert_ne!(
        tag1, tag2,
        "a version made on the page changes the bundle's ETag"
    );
    let latest = f.app.store.policy_latest().unwrap().unwrap();
    assert_eq!(
        (
            latest.version,
            latest.actor.as_str(),
            latest.action.as_str()
        ),
        (2, "sec", "edit")
    );
    let files = crate::policy::files_of(&latest).unwrap();
    let stored = &files
        .iter()
        .find(|(p, _)| p == "keywords/projects.toml")
        .unwrap()
        .1;
    assert!(
        !stored.contains(&b'\r'),
        "CRLF from the browser stored as LF"
    );
    let audit = f
        .app
        .store
        .console()
        .audit_log(None, Some("sec"), 100)
        .unwrap();
    assert!(audit.iter().any(|r| {
        r.entry.action == "policy.edit"
            && r.entry
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("version 2"))
    }));
    assert!(
        audit
            .iter()
            .any(|r| r.entry.action == "policy.edit.refused")
    );

    // An editor opened on v1 does not overwrite v2.
    let (s, _, page) = send(
        &f.app,
        post_form(
            "/policy/file",
            &sec,
            Some(&sec_csrf),
            &[
                ("path", "media.toml"),
                ("content", "# x\n"),
                ("message", "late edit"),
                ("base", "1"),
            ],
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{page}");

    // Plain mode: the diff shows the terms added.
    let (s, _, page) = send(&f.app, get("/policy/diff?from=1&to=2", &aud)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("青鸾"), "{page}");

    // Hidden mode: no page shows a keyword term any more.
    let (s, _, _) = send(
        &f.app,
        post_form(
            "/policy/mode",
            &sec,
            Some(&sec_csrf),
            &[
                ("mode", "hidden"),
                ("message", "hide code names"),
                ("base", "2"),
            ],
        ),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let latest = f.app.store.policy_latest().unwrap().unwrap();
    assert_eq!((latest.version, latest.mode.as_str()), (3, "hidden"));
    // The hidden-mode editor starts empty; saving it so wipes nothing.
    let (s, _, _) = send(
        &f.app,
        post_form(
            "/policy/file",
            &sec,
            Some(&sec_csrf),
            &[
                ("path", "keywords/projects.toml"),
                ("content", "\r\n"),
                ("message", "oops"),
                ("base", "3"),
            ],
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(f.app.store.policy_latest().unwrap().unwrap().version, 3);
    let good3 = good.replace("青鸾", "白泽");
    let (s, _, _) = send(
        &f.app,
        post_form(
            "/policy/file",
            &sec,
            Some(&sec_csrf),
            &[
                ("path", "keywords/projects.toml"),
                ("content", &good3),
                ("message", "rename b"),
                ("base", "3"),
            ],
        ),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    for path in [
        "/policy",
        "/policy/diff",
        "/policy/diff?from=1&to=4",
        "/policy/diff?from=2&to=3",
        "/policy/file?path=keywords/projects.toml",
        "/policy/file?path=keywords/projects.toml&version=4",
    ] {
        for cookie in [&aud, &sec] {
            let (s, _, page) = send(&f.app, get(path, cookie)).await;
            assert_eq!(s, StatusCode::OK, "{path}");
            for term in [secret, "青鸾", "白泽"] {
                assert!(!page.contains(term), "{path} shows `{term}` in hidden mode");
            }
        }
    }
    let (_, _, page) = send(&f.app, get("/policy/diff?from=3&to=4", &aud)).await;
    assert!(
        page.contains("proj-b"),
        "the changed rule is named by id: {page}"
    );
    // Nor the plain versions before: they hold the same code names.
    let (s, _, page) = send(
        &f.app,
        get("/policy/file?path=keywords/projects.toml&version=1", &aud),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(!page.contains(secret) && page.contains("projects.toml"));

    // A finding's false positive becomes a policy exception, listed on the page.
    let sha = "ab".repeat(32);
    let day = super::fmt_day(now() + 10 * 86400);
    let (s, _, page) = send(
        &f.app,
        post_form(
            "/policy/exceptions",
            &sec,
            Some(&sec_csrf),
            &[
                ("sha256", &sha),
                ("rule", "proj-a"),
                ("expires", &day),
                ("justification", "public brochure"),
            ],
        ),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{page}");
    let (_, _, page) = send(&f.app, get("/policy", &aud)).await;
    assert!(
        page.contains("public brochure") && page.contains("findings?rule=proj-a"),
        "{page}"
    );
    let ex = crate::policy::exceptions_of(&f.app.store.policy_latest().unwrap().unwrap()).unwrap();
    assert_eq!(ex.len(), 1);
    let (s, _, _) = send(
        &f.app,
        post_form(
            "/policy/exceptions/remove",
            &sec,
            Some(&sec_csrf),
            &[("id", &ex[0].id)],
        ),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(
        crate::policy::exceptions_of(&f.app.store.policy_latest().unwrap().unwrap())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn every_console_string_has_an_english_translation() {
    let s = super::strings();
    let (zh, en) = (&s["zh"], &s["en"]);
    let missing: Vec<&String> = zh.keys().filter(|k| !en.contains_key(*k)).collect();
    assert!(missing.is_empty(), "no English for {missing:?}");
    let extra: Vec<&String> = en.keys().filter(|k| !zh.contains_key(*k)).collect();
    assert!(extra.is_empty(), "no Chinese for {extra:?}");
}
