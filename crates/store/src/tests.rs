//! The store story: one test body, run against SQLite and PostgreSQL.

use crate::*;

fn report(agent: &str, seq: i64, prev: Option<&str>, body: &str) -> NewReport {
    let sha = format!("{agent}-{seq}-{body}");
    NewReport {
        agent_id: agent.into(),
        report_id: format!("id-{sha}"),
        seq,
        prev: prev.map(str::to_string),
        payload_sha256: sha.clone(),
        jws: format!("jws {sha}").into_bytes(),
        created_at: "2026-01-01T00:00:00Z".into(),
        received_at: 1000 + seq,
        trigger: "schedule".into(),
        compliant: false,
        hostname: "ws-01".into(),
        os: "linux".into(),
        classification: "内部".into(),
        checks: r#"[{"id":"password.min_length","subject":"host","status":"fail"}]"#.into(),
        failed_checks: 1,
        findings: vec![NewFinding {
            fingerprint: format!("fp-{body}"),
            kind: "unmarked_classified".into(),
            severity: "high".into(),
            severity_rank: 3,
            path: Some(format!("/home/a/{body}.docx")),
            body: "{}".into(),
        }],
        check_rows: vec![NewCheck {
            id: "password.min_length".into(),
            subject: "host".into(),
            status: "fail".into(),
            body: r#"{"id":"password.min_length","subject":"host","status":"fail"}"#.into(),
        }],
        scope: Coverage::full(),
        declared_gaps: Vec::new(),
        policy_version: None,
        policy_digest: None,
    }
}

fn story(s: &dyn Store) {
    let a = "agent-a";
    // SQL metacharacters travel as data.
    let evil = "x'); DROP TABLE reports; --";
    assert!(s.add_agent(a, r#"{"kty":"OKP"}"#, Some(evil), 1).unwrap());
    assert!(!s.add_agent(a, "{}", None, 1).unwrap());
    assert_eq!(s.agent(a).unwrap().unwrap().hostname.as_deref(), Some(evil));

    // Chain: 1, then 3 (gap at 2), then 2 out of order.
    let r1 = report(a, 1, None, "one");
    assert_eq!(s.ingest(r1.clone()).unwrap(), Outcome::Stored);
    assert_eq!(s.ingest(r1.clone()).unwrap(), Outcome::Duplicate);
    let r2 = report(a, 2, Some(&r1.payload_sha256), "two");
    let r3 = report(a, 3, Some(&r2.payload_sha256), "three");
    assert_eq!(s.ingest(r3.clone()).unwrap(), Outcome::Stored);
    let h = s.host(a).unwrap().unwrap();
    assert_eq!(h.summary.latest_seq, Some(3));
    assert_eq!(h.summary.missing_seqs, 1);
    assert_eq!(
        h.gaps,
        vec![Gap {
            from: 2,
            to: 2,
            declared: None
        }]
    );
    assert_eq!(s.ingest(r2.clone()).unwrap(), Outcome::Stored);
    let h = s.host(a).unwrap().unwrap();
    assert_eq!(h.summary.missing_seqs, 0);
    assert!(h.gaps.is_empty());
    assert_eq!(
        h.summary.latest_seq,
        Some(3),
        "a late older report is history"
    );
    assert_eq!(h.summary.reports, 3);

    // Conflicts: same seq other payload; prev mismatch; successor mismatch.
    let forged = report(a, 2, Some(&r1.payload_sha256), "forged");
    assert!(
        matches!(s.ingest(forged.clone()).unwrap(), Outcome::Conflict(r) if r.contains("seq 2"))
    );
    assert!(matches!(
        s.ingest(forged.clone()).unwrap(),
        Outcome::Conflict(_)
    ));
    let bad_prev = report(a, 4, Some("nope"), "four");
    assert!(
        matches!(s.ingest(bad_prev.clone()).unwrap(), Outcome::Conflict(r) if r.contains("predecessor"))
    );
    let r6 = report(a, 6, Some("digest-of-5"), "six");
    assert_eq!(s.ingest(r6.clone()).unwrap(), Outcome::Stored);
    let r5 = report(a, 5, Some("whatever"), "five");
    assert!(
        matches!(s.ingest(r5.clone()).unwrap(), Outcome::Conflict(r) if r.contains("successor"))
    );
    let h = s.host(a).unwrap().unwrap();
    assert_eq!(
        h.summary.tamper_alerts, 3,
        "the same forged bytes twice are one alert"
    );
    assert_eq!(h.tamper_alerts_list.len(), 3);
    assert_eq!(h.summary.latest_seq, Some(6));
    assert_eq!(
        h.gaps,
        vec![Gap {
            from: 4,
            to: 5,
            declared: None
        }]
    );
    assert_eq!(
        s.report_jws(a, 2).unwrap().unwrap(),
        r2.jws,
        "conflicts are not data"
    );

    // Findings follow the latest report: "three" resolved, "six" open.
    let open = s
        .findings(&FindingQuery {
            status: Some("open".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].fingerprint, "fp-six");
    assert_eq!(open[0].hostname.as_deref(), Some("ws-01"));
    let all = s
        .findings(&FindingQuery {
            agent_id: Some(a.into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(all.len(), 3, "one, three (resolved) and six (open)");
    let none = s
        .findings(&FindingQuery {
            kind: Some(evil.into()),
            ..Default::default()
        })
        .unwrap();
    assert!(none.is_empty());
    let high = s
        .findings(&FindingQuery {
            min_severity_rank: Some(4),
            ..Default::default()
        })
        .unwrap();
    assert!(high.is_empty());

    // Hosts: filter and page.
    let b = "agent-b";
    assert!(s.add_agent(b, "{}", Some("lab-02"), 1).unwrap());
    assert_eq!(s.hosts(&HostQuery::default()).unwrap().len(), 2);
    let p1 = s
        .hosts(&HostQuery {
            limit: 1,
            ..Default::default()
        })
        .unwrap();
    let p2 = s
        .hosts(&HostQuery {
            limit: 1,
            offset: 1,
            ..Default::default()
        })
        .unwrap();
    assert_ne!(p1[0].agent_id, p2[0].agent_id);
    let ws = s
        .hosts(&HostQuery {
            hostname: Some("WS-".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ws.len(), 1);
    assert!(
        s.hosts(&HostQuery {
            hostname: Some("%".into()),
            ..Default::default()
        })
        .unwrap()
        .is_empty()
    );
    assert_eq!(s.silent_hosts(1003).unwrap(), 1, "agent-b never reported");
    assert_eq!(s.silent_hosts(2000).unwrap(), 2);

    // Enrollment tokens: two uses, then used up; expiry.
    s.create_enroll_token("tok", 2, None, 1).unwrap();
    assert_eq!(
        s.enroll("tok", "c1", "{}", Some("c1"), 5).unwrap(),
        Enrolled::New
    );
    assert_eq!(
        s.enroll("tok", "c1", "{}", Some("c1"), 5).unwrap(),
        Enrolled::Already
    );
    assert_eq!(s.enroll("tok", "c2", "{}", None, 5).unwrap(), Enrolled::New);
    assert_eq!(
        s.enroll("tok", "c3", "{}", None, 5).unwrap(),
        Enrolled::BadToken
    );
    assert_eq!(
        s.enroll("nope", "c3", "{}", None, 5).unwrap(),
        Enrolled::BadToken
    );
    s.create_enroll_token("old", 1, Some(10), 1).unwrap();
    assert_eq!(
        s.enroll("old", "c3", "{}", None, 10).unwrap(),
        Enrolled::BadToken
    );
    assert!(s.revoke_agent("c1", 7).unwrap());
    assert!(!s.revoke_agent("zz", 7).unwrap());
    s.create_enroll_token("t2", 1, None, 1).unwrap();
    assert_eq!(
        s.enroll("t2", "c1", "{}", None, 8).unwrap(),
        Enrolled::Revoked
    );
    assert_eq!(s.agent("c1").unwrap().unwrap().revoked_at, Some(7));
    // Enrolment and revocation are decided inside the storing transaction.
    let before = s.stats().unwrap().reports;
    assert_eq!(
        s.ingest(report("c1", 1, None, "late")).unwrap(),
        Outcome::Revoked
    );
    assert_eq!(
        s.ingest(report("never-enrolled", 1, None, "x")).unwrap(),
        Outcome::UnknownAgent
    );
    assert_eq!(s.stats().unwrap().reports, before);

    // Staff.
    s.put_user("alice", Role::Auditor, "h1", 1).unwrap();
    s.put_user("alice", Role::Admin, "h2", 1).unwrap();
    let u = s.user("alice").unwrap().unwrap();
    assert_eq!((u.role, u.password_hash.as_str()), (Role::Admin, "h2"));
    assert!(s.user(evil).unwrap().is_none());
    s.create_api_token("th", Role::Auditor, Some("ci"), None, 1)
        .unwrap();
    s.create_api_token("te", Role::Admin, None, Some(5), 1)
        .unwrap();
    assert_eq!(s.api_token("th", 100).unwrap(), Some(Role::Auditor));
    assert_eq!(s.api_token("te", 100).unwrap(), None);
    // Listing shows ids, never tokens; revoking needs an unambiguous id.
    let (h1, h2) = (
        format!("abcdef01{}", "0".repeat(56)),
        format!("abcdef02{}", "1".repeat(56)),
    );
    s.create_api_token(&h1, Role::Admin, Some("ops"), None, 2)
        .unwrap();
    s.create_api_token(&h2, Role::Auditor, None, Some(99), 3)
        .unwrap();
    let listed = s.api_tokens().unwrap();
    assert_eq!(listed.len(), 4);
    assert!(
        listed
            .iter()
            .any(|t| t.id == "abcdef010000" && t.label.as_deref() == Some("ops"))
    );
    assert_eq!(
        s.revoke_api_token("abcdef0")
            .err()
            .map(|e| e.to_string().contains("8 hex")),
        Some(true)
    );
    assert_eq!(
        s.revoke_api_token("abcdef0%")
            .err()
            .map(|e| e.to_string().contains("8 hex")),
        Some(true)
    );
    assert_eq!(
        s.revoke_api_token("ABCDEF0_")
            .err()
            .map(|e| e.to_string().contains("8 hex")),
        Some(true)
    );
    assert_eq!(
        s.revoke_api_token("abcdef00").unwrap(),
        TokenRevoked::NotFound
    );
    s.create_api_token(
        &format!("abcdef01f{}", "2".repeat(55)),
        Role::Admin,
        None,
        None,
        4,
    )
    .unwrap();
    assert_eq!(
        s.revoke_api_token("abcdef01").unwrap(),
        TokenRevoked::Ambiguous(2)
    );
    assert_eq!(
        s.revoke_api_token("ABCDEF010").unwrap(),
        TokenRevoked::Revoked
    );
    assert_eq!(s.api_token(&h1, 100).unwrap(), None);
    assert_eq!(s.api_token(&h2, 50).unwrap(), Some(Role::Auditor));

    // Retention keeps each host's latest report.
    let stats = s.stats().unwrap();
    assert_eq!(stats.reports, 4);
    assert_eq!(s.prune(i64::MAX).unwrap(), 3);
    assert!(s.report_jws(a, 6).unwrap().is_some());
    assert_eq!(s.host(a).unwrap().unwrap().summary.latest_seq, Some(6));
    assert_eq!(s.stats().unwrap().reports, 1);
}

#[test]
fn story_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("sub/c.db").display());
    story(&*open(&url).unwrap());
    // Reopening runs no migration twice.
    let s = open(&url).unwrap();
    assert_eq!(s.stats().unwrap().reports, 1);
}

#[test]
fn story_postgres() {
    let Some(url) = testing::fresh_pg_url("story") else {
        return;
    };
    story(&*open(&url).unwrap());
    let s = open(&url).unwrap();
    assert_eq!(s.backend(), "postgres");
    assert_eq!(s.stats().unwrap().reports, 1);
}

#[test]
fn bad_urls_say_what_to_write() {
    let e = open("mysql://x").err().unwrap().to_string();
    assert!(e.contains("sqlite:PATH"), "{e}");
    assert!(open("sqlite:").is_err());
}

#[test]
fn concurrent_identical_ingest_stores_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("c.db").display());
    let s: std::sync::Arc<dyn Store> = open(&url).unwrap().into();
    s.add_agent("a", "{}", None, 1).unwrap();
    let r = report("a", 1, None, "one");
    let outcomes: Vec<Outcome> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..8)
            .map(|_| sc.spawn(|| s.ingest(r.clone()).unwrap()))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Stored).count(),
        1
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Outcome::Duplicate)
            .count(),
        7
    );
    assert_eq!(s.stats().unwrap().reports, 1);
}

#[test]
fn concurrent_ingest_of_many_chains_loses_nothing() {
    // Group commit: many writers share transactions; every report is
    // answered Stored once and every host ends at its last seq.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("c.db").display());
    let s: std::sync::Arc<dyn Store> = open(&url).unwrap().into();
    let agents: Vec<String> = (0..16).map(|i| format!("agent-{i}")).collect();
    for a in &agents {
        s.add_agent(a, "{}", None, 1).unwrap();
    }
    std::thread::scope(|sc| {
        for a in &agents {
            let s = s.clone();
            sc.spawn(move || {
                let mut prev: Option<String> = None;
                for seq in 1..=25 {
                    let r = report(a, seq, prev.as_deref(), &format!("b{seq}"));
                    prev = Some(r.payload_sha256.clone());
                    assert_eq!(s.ingest(r).unwrap(), Outcome::Stored, "{a} seq {seq}");
                }
            });
        }
    });
    assert_eq!(s.stats().unwrap().reports, 16 * 25);
    for h in s.hosts(&Default::default()).unwrap() {
        assert_eq!(h.latest_seq, Some(25), "{}", h.agent_id);
        assert_eq!(h.missing_seqs, 0);
        assert_eq!(h.open_findings, 1);
    }
}

#[test]
fn findings_follow_the_latest_report_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    findings_story(&*open(&format!("sqlite:{}", dir.path().join("c.db").display())).unwrap());
}

#[test]
fn findings_follow_the_latest_report_postgres() {
    let Some(url) = testing::fresh_pg_url("findings") else {
        return;
    };
    findings_story(&*open(&url).unwrap());
}

/// 20 findings a report (several per statement): those carried again stay
/// open with the new seq, those dropped are resolved, new ones open.
fn findings_story(s: &dyn Store) {
    s.add_agent("a", "{}", None, 1).unwrap();
    let with = |seq: i64, prev: Option<&str>, fps: std::ops::Range<i32>| {
        let mut r = report("a", seq, prev, &format!("s{seq}"));
        r.findings = fps
            .map(|i| NewFinding {
                fingerprint: format!("fp{i}"),
                kind: "unmarked_classified".into(),
                severity: "high".into(),
                severity_rank: 3,
                path: Some(format!("/f{i}")),
                body: format!(r#"{{"seq":{seq}}}"#),
            })
            .collect();
        r
    };
    let r1 = with(1, None, 0..20);
    assert_eq!(s.ingest(r1.clone()).unwrap(), Outcome::Stored);
    let r2 = with(2, Some(&r1.payload_sha256), 10..30);
    let (r2_sha, r2_findings) = (r2.payload_sha256.clone(), r2.findings.clone());
    assert_eq!(s.ingest(r2).unwrap(), Outcome::Stored);
    let r3_sha = "a-3-s3".to_string();
    let q = |status: &str| {
        s.findings(&FindingQuery {
            status: Some(status.into()),
            limit: 1000,
            ..Default::default()
        })
        .unwrap()
    };
    let open = q("open");
    assert_eq!(open.len(), 20);
    assert!(
        open.iter()
            .all(|f| f.last_seq == 2 && f.body == r#"{"seq":2}"#)
    );
    assert_eq!(open.iter().filter(|f| f.first_seq == 1).count(), 10);
    let resolved = q("resolved");
    assert_eq!(resolved.len(), 10);
    assert!(resolved.iter().all(|f| f.last_seq == 1));
    assert_eq!(s.host("a").unwrap().unwrap().summary.open_findings, 20);

    // Report 3 carries fp15..fp30 unchanged and drops fp10..fp15: the
    // unchanged ones are not rewritten yet read as seen in report 3.
    let mut r3 = report("a", 3, Some(&r2_sha), "s3");
    r3.findings = r2_findings
        .into_iter()
        .filter(|f| f.fingerprint != "fp10" && !(11..15).any(|i| f.fingerprint == format!("fp{i}")))
        .collect();
    assert_eq!(r3.findings.len(), 15);
    assert_eq!(s.ingest(r3).unwrap(), Outcome::Stored);
    let open = q("open");
    assert_eq!(open.len(), 15);
    assert!(
        open.iter()
            .all(|f| f.last_seq == 3 && f.last_seen == 1003 && f.body == r#"{"seq":2}"#),
        "{open:?}"
    );
    let resolved = q("resolved");
    assert_eq!(resolved.len(), 15);
    let dropped: Vec<_> = resolved.iter().filter(|f| f.last_seq == 2).collect();
    assert_eq!(dropped.len(), 5, "{resolved:?}");
    assert!(
        dropped
            .iter()
            .all(|f| f.last_seen == 1002 && f.resolved_at == Some(1003))
    );
    // A resolved finding that comes back is open again, first seen kept.
    let mut r4 = report("a", 4, Some(&r3_sha), "s4");
    r4.findings = vec![NewFinding {
        fingerprint: "fp0".into(),
        kind: "unmarked_classified".into(),
        severity: "high".into(),
        severity_rank: 3,
        path: Some("/f0".into()),
        body: "{}".into(),
    }];
    assert_eq!(s.ingest(r4).unwrap(), Outcome::Stored);
    let open = q("open");
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].first_seq, open[0].last_seq), (1, 4));
}

#[test]
fn state_merges_within_scope_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    merge_story(&*open(&format!("sqlite:{}", dir.path().join("c.db").display())).unwrap());
}

#[test]
fn state_merges_within_scope_postgres() {
    let Some(url) = testing::fresh_pg_url("merge") else {
        return;
    };
    merge_story(&*open(&url).unwrap());
}

fn check(id: &str, status: &str) -> NewCheck {
    NewCheck {
        id: id.into(),
        subject: "host".into(),
        status: status.into(),
        body: format!(r#"{{"id":"{id}","subject":"host","status":"{status}"}}"#),
    }
}

fn content(path: &str) -> NewFinding {
    NewFinding {
        fingerprint: format!("fp{path}"),
        kind: "marked_classified".into(),
        severity: "high".into(),
        severity_rank: 3,
        path: Some(path.into()),
        body: format!(r#"{{"path":"{path}"}}"#),
    }
}

/// Issue 11: partial reports and heartbeats change only what they cover;
/// out-of-order reports never overwrite newer state; declared gaps show.
fn merge_story(s: &dyn Store) {
    let a = "m";
    s.add_agent(a, "{}", Some("ws"), 1).unwrap();
    let mut prev: Option<String> = None;
    let mut mk = |seq: i64, trigger: &str, scope: Coverage| {
        let mut r = report(a, seq, prev.as_deref(), &format!("m{seq}"));
        prev = Some(r.payload_sha256.clone());
        r.trigger = trigger.into();
        r.scope = scope;
        r.check_rows = Vec::new();
        r.findings = Vec::new();
        r.compliant = true;
        r.failed_checks = 0;
        r
    };
    let partial = |paths: &[&str]| Coverage {
        all_checks: false,
        check_ids: Vec::new(),
        content: ContentCoverage::Paths(paths.iter().map(|p| p.to_string()).collect()),
        media: false,
    };
    let nothing = Coverage {
        all_checks: false,
        check_ids: Vec::new(),
        content: ContentCoverage::None,
        media: false,
    };
    let open_paths = |s: &dyn Store| -> Vec<String> {
        let mut v: Vec<String> = s
            .findings(&FindingQuery {
                agent_id: Some(a.into()),
                status: Some("open".into()),
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .map(|f| f.path.unwrap_or(f.kind))
            .collect();
        v.sort();
        v
    };
    let state = |s: &dyn Store| {
        let h = s.host(a).unwrap().unwrap();
        (
            h.summary.compliant,
            h.summary.failed_checks,
            h.summary.open_findings,
        )
    };

    // A heartbeat alone says nothing about compliance.
    let r = mk(1, "heartbeat", nothing.clone());
    s.ingest(r).unwrap();
    assert_eq!(state(s), (None, 0, 0));

    // Boot: one failed check, a classified file, a medium.
    let mut r = mk(2, "boot", Coverage::full());
    r.check_rows = vec![
        check("password.min_length", "fail"),
        check("login.autologin", "pass"),
    ];
    r.findings = vec![content("/home/u/x.docx"), content("/home/u/y.docx")];
    r.findings.push(NewFinding {
        fingerprint: "usb".into(),
        kind: "removable_media".into(),
        severity: "medium".into(),
        severity_rank: 2,
        path: None,
        body: "{}".into(),
    });
    s.ingest(r).unwrap();
    assert_eq!(state(s), (Some(false), 1, 3));

    // Heartbeat and a change report of another file: nothing of it moves.
    s.ingest(mk(3, "heartbeat", nothing.clone())).unwrap();
    s.ingest(mk(4, "file_change", partial(&["/home/u/z.txt"])))
        .unwrap();
    assert_eq!(state(s), (Some(false), 1, 3));
    let h = s.host(a).unwrap().unwrap();
    let checks = h.latest_checks.unwrap();
    assert!(
        checks.contains("password.min_length") && checks.contains("login.autologin"),
        "{checks}"
    );

    // A change report covering x (removed): x resolved, y and the medium stay.
    s.ingest(mk(5, "file_change", partial(&["/home/u/x.docx"])))
        .unwrap();
    assert_eq!(open_paths(s), vec!["/home/u/y.docx", "removable_media"]);
    let x = s
        .findings(&FindingQuery {
            status: Some("resolved".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(x.len(), 1);
    assert_eq!(x[0].path.as_deref(), Some("/home/u/x.docx"));
    // A directory covers what is below it.
    s.ingest(mk(6, "file_change", partial(&["/home/u/"])))
        .unwrap();
    assert_eq!(open_paths(s), vec!["removable_media"]);
    assert_eq!(state(s), (Some(false), 1, 1));

    // A media-scope report resolves the medium; checks still fail.
    let mut r = mk(
        7,
        "media",
        Coverage {
            media: true,
            ..nothing.clone()
        },
    );
    r.check_rows = Vec::new();
    s.ingest(r).unwrap();
    assert!(open_paths(s).is_empty());
    assert_eq!(state(s), (Some(false), 1, 0));

    // A partial check report replaces only its check.
    let mut r = mk(
        9,
        "manual",
        Coverage {
            check_ids: vec!["password.min_length".into()],
            ..nothing.clone()
        },
    );
    r.check_rows = vec![check("password.min_length", "pass")];
    r.findings = vec![content("/srv/new.docx")];
    s.ingest(r).unwrap();
    assert_eq!(state(s), (Some(false), 0, 1));
    let h = s.host(a).unwrap().unwrap();
    assert!(h.latest_checks.unwrap().contains("login.autologin"));

    // Seq 8 never arrives; seq 10 is declared lost in a crash.
    // Full check 11 (10 declared lost in a crash): everything passes.
    let mut r = mk(11, "schedule", Coverage::full());
    r.check_rows = vec![
        check("password.min_length", "pass"),
        check("login.autologin", "pass"),
    ];
    r.declared_gaps = vec![DeclaredGap {
        from: 10,
        to: 10,
        reason: "crash".into(),
    }];
    s.ingest(r).unwrap();
    assert_eq!(state(s), (Some(true), 0, 0));
    let h = s.host(a).unwrap().unwrap();
    assert_eq!(
        h.gaps,
        vec![
            Gap {
                from: 8,
                to: 8,
                declared: None
            },
            Gap {
                from: 10,
                to: 10,
                declared: Some("crash".into())
            }
        ]
    );
    assert_eq!(h.declared_missing_seqs, 1);
    assert_eq!(h.summary.missing_seqs, 2);
    // hosts?compliant=false finds it only while it is not compliant.
    let bad = s
        .hosts(&HostQuery {
            compliant: Some(false),
            ..Default::default()
        })
        .unwrap();
    assert!(bad.is_empty());
}

/// Out of order: a late report changes nothing a newer one decided, and
/// adds only what no newer full inspection of its kind has spoken about.
fn out_of_order_story(s: &dyn Store) {
    let a = "o";
    s.add_agent(a, "{}", Some("ws"), 1).unwrap();
    let base = |seq: i64| {
        let mut r = report(a, seq, None, &format!("o{seq}"));
        r.prev = None;
        r.findings = Vec::new();
        r.check_rows = Vec::new();
        r
    };
    // Reports 1..=4 exist; 2 and 3 arrive last. prev links are checked only
    // against stored neighbours, so build the chain first.
    let mut chain: Vec<NewReport> = (1..=4).map(base).collect();
    for i in 1..chain.len() {
        let p = chain[i - 1].payload_sha256.clone();
        chain[i].prev = Some(p);
    }
    // 1: full, a failed check and a finding at /a.
    chain[0].scope = Coverage::full();
    chain[0].check_rows = vec![check("c1", "fail")];
    chain[0].findings = vec![content("/a")];
    // 2: full, c1 passes, /a gone (resolved by it), /b found.
    chain[1].scope = Coverage::full();
    chain[1].check_rows = vec![check("c1", "pass")];
    chain[1].findings = vec![content("/b")];
    // 3: a change report that found /c.
    chain[2].scope = Coverage {
        all_checks: false,
        check_ids: Vec::new(),
        content: ContentCoverage::Paths(vec!["/c".into()]),
        media: false,
    };
    chain[2].findings = vec![content("/c")];
    // 4: a change report about /d, clean.
    chain[3].scope = Coverage {
        all_checks: false,
        check_ids: Vec::new(),
        content: ContentCoverage::Paths(vec!["/d".into()]),
        media: false,
    };
    for i in [0, 3, 2, 1] {
        assert_eq!(
            s.ingest(chain[i].clone()).unwrap(),
            Outcome::Stored,
            "seq {}",
            i + 1
        );
    }
    let h = s.host(a).unwrap().unwrap();
    assert_eq!(h.summary.latest_seq, Some(4));
    // Seq 3 (late) added /c: no newer report covered it. Seq 2 (late) is
    // older than the newest but newer than the last full content scan (1),
    // so /b is added; its passing c1 does not overwrite the row seq 1 wrote
    // (older reports never change existing rows) — the host keeps failing
    // until a newer report says otherwise, never the reverse.
    let mut open: Vec<String> = s
        .findings(&FindingQuery {
            agent_id: Some(a.into()),
            status: Some("open".into()),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .filter_map(|f| f.path)
        .collect();
    open.sort();
    assert_eq!(open, vec!["/a", "/b", "/c"]);
    assert_eq!(h.summary.failed_checks, 1);
    assert_eq!(h.summary.compliant, Some(false));
    assert!(h.gaps.is_empty());

    // A newer full report settles it; a late copy of an older one is a duplicate.
    let mut r5 = base(5);
    r5.prev = Some(chain[3].payload_sha256.clone());
    r5.scope = Coverage::full();
    r5.check_rows = vec![check("c1", "pass")];
    assert_eq!(s.ingest(r5).unwrap(), Outcome::Stored);
    let h = s.host(a).unwrap().unwrap();
    assert_eq!(
        (h.summary.compliant, h.summary.open_findings),
        (Some(true), 0)
    );
    assert_eq!(s.ingest(chain[0].clone()).unwrap(), Outcome::Duplicate);
    let h = s.host(a).unwrap().unwrap();
    assert_eq!(
        (h.summary.compliant, h.summary.open_findings),
        (Some(true), 0)
    );
}

#[test]
fn out_of_order_never_overwrites_newer_state_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    out_of_order_story(&*open(&format!("sqlite:{}", dir.path().join("c.db").display())).unwrap());
}

#[test]
fn out_of_order_never_overwrites_newer_state_postgres() {
    let Some(url) = testing::fresh_pg_url("order") else {
        return;
    };
    out_of_order_story(&*open(&url).unwrap());
}

/// Migration 2 carries the checks of a host's newest report (the old "latest
/// report is the state") over into the merged rows, so the first partial
/// report after an upgrade does not blank them.
#[test]
fn upgrade_keeps_latest_checks_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(include_str!("../migrations/sqlite/0001_init.sql"))
            .unwrap();
        c.execute_batch(
            "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL);
             INSERT INTO schema_migrations VALUES (1, 0);
             INSERT INTO agents (agent_id, jwk, enrolled_at) VALUES ('u', '{}', 0);
             INSERT INTO hosts (agent_id, latest_seq, first_seq, max_seq, seq_count, compliant, failed_checks, latest_checks)
             VALUES ('u', 1, 1, 1, 1, 0, 1, '[{\"id\":\"c1\",\"subject\":\"host\",\"status\":\"fail\"}]');",
        )
        .unwrap();
    }
    let s = open(&format!("sqlite:{}", path.display())).unwrap();
    let mut hb = report("u", 2, None, "hb");
    hb.trigger = "heartbeat".into();
    hb.check_rows = Vec::new();
    hb.findings = Vec::new();
    hb.scope = Coverage {
        all_checks: false,
        check_ids: Vec::new(),
        content: ContentCoverage::None,
        media: false,
    };
    assert_eq!(s.ingest(hb).unwrap(), Outcome::Stored);
    let h = s.host("u").unwrap().unwrap();
    assert_eq!(
        (h.summary.compliant, h.summary.failed_checks),
        (Some(false), 1)
    );
    assert!(h.latest_checks.unwrap().contains("c1"));
}

/// Issue 11: the database and its WAL/SHM files are private.
#[cfg(unix)]
#[test]
fn sqlite_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let s = open(&format!("sqlite:{}", db.display())).unwrap();
    s.add_agent("p", "{}", None, 1).unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let p = format!("{}{suffix}", db.display());
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{p}");
    }
}

/// The policy of each host's newest report is kept on the host row: the
/// console counts hosts per version and lists those behind without opening
/// any stored report. An older report arriving late changes nothing.
fn host_policy_story(s: &dyn Store) {
    for a in ["p1", "p2", "p3"] {
        s.add_agent(a, "{}", None, 1).unwrap();
    }
    let with = |a: &str, seq: i64, prev: Option<&str>, v: Option<i64>, d: &str| {
        let mut r = report(a, seq, prev, &format!("{a}{seq}"));
        r.policy_version = v;
        r.policy_digest = Some(d.to_string());
        r
    };
    let r1 = with("p1", 1, None, Some(1), "d1");
    let r1_sha = r1.payload_sha256.clone();
    s.ingest(r1).unwrap();
    s.ingest(with("p1", 2, Some(&r1_sha), Some(2), "d2"))
        .unwrap();
    s.ingest(with("p2", 1, None, Some(1), "d1")).unwrap();
    s.ingest(with("p3", 1, None, None, "local")).unwrap();
    let c = s.console();
    let mut counts = c.policy_rollout().unwrap();
    counts.sort_by_key(|p| p.digest.clone());
    let got: Vec<(Option<i64>, Option<&str>, i64)> = counts
        .iter()
        .map(|p| (p.version, p.digest.as_deref(), p.hosts))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some(1), Some("d1"), 1),
            (Some(2), Some("d2"), 1),
            (None, Some("local"), 1)
        ]
    );
    let behind = c.policy_hosts(Some("d2"), 10, 0).unwrap();
    let ids: Vec<&str> = behind.iter().map(|h| h.agent_id.as_str()).collect();
    assert_eq!(ids, vec!["p3", "p2"], "local rules first, then by version");
    assert_eq!(c.policy_hosts(None, 10, 0).unwrap().len(), 3);
    assert_eq!(c.policy_hosts(None, 1, 2).unwrap().len(), 1);
}

#[test]
fn host_policy_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    host_policy_story(&*open(&format!("sqlite:{}", dir.path().join("c.db").display())).unwrap());
}

#[test]
fn host_policy_postgres() {
    let Some(url) = testing::fresh_pg_url("hostpolicy") else {
        return;
    };
    host_policy_story(&*open(&url).unwrap());
}
