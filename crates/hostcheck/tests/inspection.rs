//! The inspection checks (`spec/inspection-checks.md`) over the host trees
//! of `fixtures/hosts/inspection/<case>/root`, built by real producers
//! (Firefox ESR, Chromium, nmcli --offline, rpm, sigtool; see build.sh):
//! exactly one result per (check, subject) with the statuses of the case's
//! `expected.json` (`UPDATE_EXPECT=1` rewrites it), and the evidence an
//! inspector acts on. Traps that need no producer are built in temp dirs.

// Linux host trees (symlinks, sysfs, dpkg): not built for Windows targets.
#![cfg(unix)]

use mijian_hostcheck::{InspectionConfig, Root, inspection_checks};
use mijian_policy::{Classification, Policy};
use mijian_report::{Check, CheckStatus};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn cases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/hosts/inspection")
}

fn rules() -> Policy {
    Policy::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rules")).unwrap()
}

fn rfc3339(s: &str) -> i64 {
    time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp()
}

fn config(case: &Path) -> InspectionConfig {
    let toml = std::fs::read_to_string(case.join("agent.toml")).unwrap_or_default();
    let level = toml
        .lines()
        .find_map(|l| l.trim().strip_prefix("classification"))
        .map(|v| {
            v.trim_start_matches([' ', '='])
                .trim()
                .trim_matches('"')
                .parse()
                .unwrap()
        })
        .unwrap_or(Classification::Unclassified);
    let mut cfg = InspectionConfig::new(
        &rules(),
        level,
        ["/media", "/run/media", "/mnt"].map(String::from).to_vec(),
    );
    if let Ok(now) = std::fs::read_to_string(case.join("now")) {
        cfg.now = Ok(rfc3339(&now));
    }
    cfg
}

fn run(case: &str) -> Vec<Check> {
    let dir = cases_dir().join(case);
    inspection_checks(&Root::at(dir.join("root")), &config(&dir))
}

fn get<'a>(checks: &'a [Check], id: &str, subject: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.id == id && c.subject == subject)
        .unwrap_or_else(|| panic!("no result for {id} {subject}"))
}

fn ev(c: &Check) -> Vec<Value> {
    c.evidence
        .as_ref()
        .and_then(|e| e.as_array())
        .cloned()
        .unwrap_or_default()
}

#[test]
fn every_case_matches_expected() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("root").is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 3, "{cases:?}");
    let mut failures = Vec::new();
    for case in &cases {
        let checks = inspection_checks(&Root::at(case.join("root")), &config(case));
        let mut seen = BTreeSet::new();
        for c in &checks {
            assert!(
                seen.insert((c.id.clone(), c.subject.clone())),
                "{}: two results for {} {}",
                case.display(),
                c.id,
                c.subject
            );
            assert!(
                c.evidence.as_ref().is_some_and(|e| e.is_array()),
                "{}: {} {} evidence is not an array",
                case.display(),
                c.id,
                c.subject
            );
            if matches!(c.status, CheckStatus::Fail | CheckStatus::Error) {
                assert!(
                    c.remedy.is_some(),
                    "{}: {} {} has no remedy",
                    case.display(),
                    c.id,
                    c.subject
                );
            }
            // Never a URL, query or page title in evidence.
            let text = serde_json::to_string(&c.evidence).unwrap();
            for secret in ["wd=secret", "q=secret", "http://", "https://", "notreal123"] {
                assert!(
                    !text.contains(secret),
                    "{}: {} {} evidence holds `{secret}`: {text}",
                    case.display(),
                    c.id,
                    c.subject
                );
            }
        }
        let got: Vec<Value> = checks
            .iter()
            .map(|c| json!({"id": c.id, "subject": c.subject, "status": c.status.as_str()}))
            .collect();
        let file = case.join("expected.json");
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(&file, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
            continue;
        }
        let want: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let key = |v: &Value| format!("{} {} {}", v["id"], v["subject"], v["status"]);
        let mut w: Vec<String> = want.iter().map(key).collect();
        let mut g: Vec<String> = got.iter().map(key).collect();
        w.sort();
        g.sort();
        if w != g {
            failures.push(format!("{}:\n want {w:#?}\n got {g:#?}", case.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn firefox_visits_only_in_the_wal_count() {
    let checks = run("classified-traces");
    let c = get(&checks, "network.internet_trace", "user:alice");
    assert_eq!(c.status, CheckStatus::Fail);
    let e = ev(c);
    let find = |profile: &str, host: &str| {
        e.iter()
            .find(|v| v["profile"] == profile && v["host"] == host)
            .cloned()
            .unwrap_or_else(|| panic!("no {profile} {host} in {e:#?}"))
    };
    // The listed profile has a WAL: its copy replays it; the unlisted
    // profile holds the same main file without the WAL (read immutable).
    let wal = find("k3x9w2ab.default-esr", "www.baidu.com");
    let main_only = e
        .iter()
        .find(|v| v["profile"] == "zz4old.default" && v["host"] == "www.baidu.com")
        .map(|v| v["count"].as_u64().unwrap())
        .unwrap_or(0);
    assert!(
        wal["count"].as_u64().unwrap() > main_only,
        "{wal} vs {main_only}"
    );
    assert_eq!(wal["browser"], "firefox");
    assert!(
        wal["db"]
            .as_str()
            .unwrap()
            .ends_with("/k3x9w2ab.default-esr/places.sqlite")
    );
    assert!(wal["first_visit"].as_str().unwrap().starts_with("20"));
    find("k3x9w2ab.default-esr", "mail.qq.com");
    // Single-label and RFC 1918 hosts are never external.
    assert!(
        !e.iter()
            .any(|v| v["host"] == "oa" || v["host"] == "192.168.1.10")
    );
    // The WAL is never modified by reading.
    let wal_file = cases_dir().join(
        "classified-traces/root/home/alice/.mozilla/firefox/k3x9w2ab.default-esr/places.sqlite-wal",
    );
    assert!(std::fs::metadata(&wal_file).unwrap().len() > 0);
}

#[test]
fn chromium_counts_upgrade_hops_and_unreadable_dbs_error() {
    let checks = run("classified-traces");
    let bob = get(&checks, "network.internet_trace", "user:bob");
    assert_eq!(
        bob.status,
        CheckStatus::Fail,
        "a finding beats the unreadable Chrome DB"
    );
    let e = ev(bob);
    let g = e.iter().find(|v| v["host"] == "www.google.com").unwrap();
    assert_eq!(g["browser"], "chromium");
    assert_eq!(g["profile"], "Default");
    // http visit, https-upgrade hop and redirect are separate rows.
    assert!(g["count"].as_u64().unwrap() >= 2, "{g}");
    assert!(e.iter().any(|v| v["host"] == "2400:3200::1"));
    assert!(!e.iter().any(|v| v["host"] == "intranet"));
    assert!(e.iter().any(|v| v["browser"] == "google-chrome"
        && v["profile"] == "Profile 1"
        && v["reason"].is_string()));
    let carol = get(&checks, "network.internet_trace", "user:carol");
    assert_eq!(carol.status, CheckStatus::Error);
    // svc is not interactive: no result at all.
    assert!(!checks.iter().any(|c| c.subject == "user:svc"));
}

#[test]
fn host_network_configuration() {
    let checks = run("classified-traces");
    let c = get(&checks, "network.internet_trace", "host");
    assert_eq!(c.status, CheckStatus::Fail);
    let e = ev(c);
    let wifi = e.iter().find(|v| v["type"] == "wifi").unwrap();
    assert_eq!(wifi["ssid"], "CafeNet");
    assert_eq!(wifi["id"], "Cafe WiFi");
    assert_eq!(wifi["last_connected"], "2026-12-04T16:00:00Z");
    assert!(
        e.iter()
            .any(|v| v["type"] == "vpn" && v["id"] == "Home VPN")
    );
    assert!(e.iter().any(|v| v["type"] == "gsm"));
    assert!(
        !e.iter().any(|v| v["id"] == "Office LAN"),
        "ethernet is not a finding"
    );
    assert!(e.iter().any(|v| v["address"] == "223.5.5.5"));
    assert!(!e.iter().any(|v| v["address"] == "10.1.2.1"));
    assert!(
        e.iter()
            .any(|v| v["source"] == "wpa_supplicant" && v["ssid"] == "HomeNet")
    );
    assert!(!e.iter().any(|v| v["ssid"] == "Commented"));
    assert!(e.iter().any(|v| v["skipped"] == "live routes"));
    let clean = run("secret-clean");
    assert_eq!(
        get(&clean, "network.internet_trace", "host").status,
        CheckStatus::Pass
    );
    assert_eq!(
        get(&clean, "network.internet_trace", "user:dave").status,
        CheckStatus::Pass
    );
}

#[test]
fn recent_files_under_media_roots() {
    let checks = run("classified-traces");
    let a = ev(get(&checks, "trace.recent_files", "user:alice"));
    let f: Vec<&Value> = a.iter().filter(|v| v["path"].is_string()).collect();
    assert_eq!(f.len(), 1, "{a:#?}");
    assert_eq!(f[0]["path"], "/media/alice/KINGSTON/计划/报告.docx");
    assert_eq!(f[0]["mount_root"], "/media/alice/KINGSTON");
    assert_eq!(f[0]["source"], "gtk");
    assert!(f[0]["time"].is_string());
    let b = ev(get(&checks, "trace.recent_files", "user:bob"));
    assert!(b.iter().any(|v| v["source"] == "kde"
        && v["path"] == "/run/media/bob/U盘/plan.odt"
        && v["mount_root"] == "/run/media/bob/U盘"));
    let c = ev(get(&checks, "trace.recent_files", "user:carol"));
    let lo: Vec<&Value> = c.iter().filter(|v| v["source"] == "libreoffice").collect();
    assert_eq!(
        lo.len(),
        1,
        "OrderList repeats are not counted twice: {c:#?}"
    );
    assert_eq!(lo[0]["mount_root"], "/mnt/usb");
    let clean = run("secret-clean");
    assert_eq!(
        get(&clean, "trace.recent_files", "user:dave").status,
        CheckStatus::Pass
    );
}

#[test]
fn software_sources() {
    let checks = run("classified-traces");
    let c = get(&checks, "software.prohibited", "host");
    assert_eq!(c.status, CheckStatus::Fail);
    let e = ev(c);
    let has =
        |rule: &str, source: &str| e.iter().any(|v| v["rule"] == rule && v["source"] == source);
    assert!(has("qq", "dpkg"));
    assert!(
        has("todesk", "rpm"),
        "real rpmdb.sqlite (with its WAL): {e:#?}"
    );
    assert!(has("sunlogin", "desktop"));
    assert!(has("wechat", "path"));
    assert!(!has("anydesk", "dpkg"), "config-files = removed");
    assert!(
        !e.iter()
            .any(|v| v["what"].as_str().is_some_and(|w| w.contains("qqmusic")))
    );
    let erin = run("internal-office");
    let e = ev(get(&erin, "software.prohibited", "host"));
    assert!(
        e.iter()
            .any(|v| v["rule"] == "baidunetdisk" && v["user"] == "erin")
    );
}

#[test]
fn antivirus_signature_age_from_the_sigtool_header() {
    let stale = run("classified-traces");
    let c = get(&stale, "software.antivirus", "host");
    assert_eq!(c.status, CheckStatus::Fail);
    let e = ev(c);
    let db = e.iter().find(|v| v["version"].is_u64()).unwrap();
    assert_eq!(db["version"], 27480);
    assert!(db["age_days"].as_f64().unwrap() > 29.9);
    let fresh = run("secret-clean");
    assert_eq!(
        get(&fresh, "software.antivirus", "host").status,
        CheckStatus::Pass
    );
    let none = run("internal-office");
    assert_eq!(
        get(&none, "software.antivirus", "host").status,
        CheckStatus::Fail
    );
}

#[test]
fn services_and_audit() {
    let t = run("classified-traces");
    let r = ev(get(&t, "services.remote_access", "host"));
    // The drop-in (Include at the top of Debian's file) wins over the later `no`.
    assert!(
        r.iter().any(|v| v["source"] == "sshd"
            && v["setting"] == "PasswordAuthentication yes"
            && v["file"] == "/etc/ssh/sshd_config.d/50-cloud-init.conf"
            && v["line"] == 2),
        "{r:#?}"
    );
    assert!(
        r.iter()
            .any(|v| v["unit"] == "xrdp.service" && v["masked"].is_null())
    );
    assert!(
        r.iter()
            .any(|v| v["unit"] == "vncserver@:1.service" && v["masked"] == true)
    );
    let s = ev(get(&t, "services.shares", "host"));
    assert!(
        s.iter().any(|v| v["share"] == "homes"),
        "Debian's default smb.conf shares [homes]"
    );
    assert!(s.iter().any(|v| v["source"] == "nfs"));
    assert_eq!(get(&t, "audit.enabled", "host").status, CheckStatus::Fail);
    let c = run("secret-clean");
    for id in [
        "services.remote_access",
        "services.shares",
        "audit.enabled",
        "hardware.wireless",
        "hardware.bluetooth",
    ] {
        assert_eq!(
            get(&c, id, "host").status,
            CheckStatus::Pass,
            "{id}: {:?}",
            get(&c, id, "host").evidence
        );
    }
    assert_eq!(
        get(&t, "hardware.wireless", "host").status,
        CheckStatus::Fail
    );
    assert_eq!(
        get(&t, "hardware.bluetooth", "host").status,
        CheckStatus::Pass
    );
}

#[test]
fn levels_and_not_applicable_reasons() {
    let i = run("internal-office");
    let c = get(&i, "network.internet_trace", "user:erin");
    assert_eq!(c.status, CheckStatus::NotApplicable);
    assert_eq!(ev(c), vec![json!({"reason": "classification 内部 < 秘密"})]);
    assert_eq!(
        get(&i, "network.internet_trace", "host").status,
        CheckStatus::NotApplicable
    );
    assert_eq!(
        get(&i, "services.remote_access", "host").status,
        CheckStatus::NotApplicable
    );
    assert_eq!(
        get(&i, "software.prohibited", "host").status,
        CheckStatus::Fail
    );
    // The same tree at 非涉密: software.prohibited does not apply either.
    let dir = cases_dir().join("internal-office");
    let mut cfg = config(&dir);
    cfg.level = Classification::Unclassified;
    let u = inspection_checks(&Root::at(dir.join("root")), &cfg);
    let c = get(&u, "software.prohibited", "host");
    assert_eq!(
        ev(c),
        vec![json!({"reason": "classification 非涉密 < 内部"})]
    );
    assert_eq!(
        get(&u, "trace.recent_files", "user:erin").status,
        CheckStatus::Pass
    );
}

// ---- traps built in temp dirs ------------------------------------------------

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("etc")).unwrap();
    std::fs::write(
        d.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/bash\nlily:x:1000:1000::/home/lily:/bin/bash\n",
    )
    .unwrap();
    for (p, s) in files {
        let path = d.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, s).unwrap();
    }
    d
}

fn secret_cfg() -> InspectionConfig {
    let mut c = InspectionConfig::new(
        &rules(),
        Classification::Secret,
        ["/media", "/run/media", "/mnt"].map(String::from).to_vec(),
    );
    c.now = Ok(rfc3339("2026-12-06T00:00:00Z"));
    c
}

fn cvd(version: u64, build_time: i64) -> Vec<u8> {
    let mut h = format!("ClamAV-VDB:01 Dec 2026 00-00 +0000:{version}:10:90:00000000000000000000000000000000:X:test:{build_time}").into_bytes();
    h.resize(512, b' ');
    h.extend_from_slice(b"\x1f\x8b rest of archive");
    h
}

#[test]
fn clamav_uses_the_higher_version_of_cvd_and_cld() {
    let now = rfc3339("2026-12-06T00:00:00Z");
    let d = tree(&[(
        "var/lib/dpkg/status",
        "Package: clamav\nStatus: install ok installed\n\n",
    )]);
    let db = d.path().join("var/lib/clamav");
    std::fs::create_dir_all(&db).unwrap();
    // The old .cvd is stale; freshclam's newer .cld (higher version) is fresh.
    std::fs::write(db.join("daily.cvd"), cvd(27000, now - 60 * 86400)).unwrap();
    std::fs::write(db.join("daily.cld"), cvd(27480, now - 86400)).unwrap();
    let out = inspection_checks(&Root::at(d.path()), &secret_cfg());
    let c = get(&out, "software.antivirus", "host");
    assert_eq!(c.status, CheckStatus::Pass, "{:?}", c.evidence);
    // A mtime-fresh but header-broken file: error, not pass.
    std::fs::remove_file(db.join("daily.cvd")).unwrap();
    std::fs::write(
        db.join("daily.cld"),
        b"ClamAV-VDB:x:27480:10:90:md5:X:b:notanumber",
    )
    .unwrap();
    let out = inspection_checks(&Root::at(d.path()), &secret_cfg());
    assert_eq!(
        get(&out, "software.antivirus", "host").status,
        CheckStatus::Error
    );
    // Signatures left over without the product do not count.
    let d = tree(&[]);
    std::fs::create_dir_all(d.path().join("var/lib/clamav")).unwrap();
    std::fs::write(d.path().join("var/lib/clamav/daily.cvd"), cvd(27480, now)).unwrap();
    let out = inspection_checks(&Root::at(d.path()), &secret_cfg());
    assert_eq!(
        get(&out, "software.antivirus", "host").status,
        CheckStatus::Fail
    );
}

#[test]
fn sshd_first_value_include_order_and_match() {
    let run = |files: &[(&str, &str)]| {
        let d = tree(files);
        let out = inspection_checks(&Root::at(d.path()), &secret_cfg());
        get(&out, "services.remote_access", "host").clone()
    };
    // Not set anywhere: OpenSSH's default yes.
    assert_eq!(
        run(&[("etc/ssh/sshd_config", "Port 22\n")]).status,
        CheckStatus::Fail
    );
    // First value wins; keywords are case-insensitive; Key=value form.
    assert_eq!(
        run(&[(
            "etc/ssh/sshd_config",
            "passwordauthentication=no\nPasswordAuthentication yes\n"
        )])
        .status,
        CheckStatus::Pass
    );
    // Relative Include, glob in name order: 10-a says no before 20-b's yes.
    assert_eq!(
        run(&[
            (
                "etc/ssh/sshd_config",
                "Include sshd_config.d/*.conf\nPasswordAuthentication yes\n"
            ),
            (
                "etc/ssh/sshd_config.d/10-a.conf",
                "PasswordAuthentication no\n"
            ),
            (
                "etc/ssh/sshd_config.d/20-b.conf",
                "PasswordAuthentication yes\n"
            ),
            (
                "etc/ssh/sshd_config.d/05-x.conf.disabled",
                "PasswordAuthentication yes\n"
            ),
        ])
        .status,
        CheckStatus::Pass
    );
    // A Match block that allows passwords counts.
    let c = run(&[(
        "etc/ssh/sshd_config",
        "PasswordAuthentication no\nMatch User backup\n  PasswordAuthentication yes\n",
    )]);
    assert_eq!(c.status, CheckStatus::Fail);
    // telnet in inetd.conf, as update-inetd writes it (and disables it).
    let c = run(&[(
        "etc/inetd.conf",
        "#<off># telnet stream tcp nowait telnetd /usr/sbin/tcpd /usr/sbin/in.telnetd\n",
    )]);
    assert_eq!(c.status, CheckStatus::Pass);
    let c = run(&[(
        "etc/inetd.conf",
        "telnet stream tcp nowait telnetd /usr/sbin/tcpd /usr/sbin/in.telnetd\n",
    )]);
    assert_eq!(c.status, CheckStatus::Fail);
}

#[test]
fn symlinks_resolve_inside_the_root_and_broken_lists_error() {
    let d = tree(&[
        (
            "home/lily/.local/share/recently-used.xbel",
            "<xbel><bookmark href=\"file:///media/lily/U/a\"></xbel>",
        ),
        ("data/real-resolv.conf", "nameserver 8.8.8.8\n"),
    ]);
    // An absolute link is re-rooted: /data/real-resolv.conf inside the tree.
    std::os::unix::fs::symlink("/data/real-resolv.conf", d.path().join("etc/resolv.conf")).unwrap();
    let out = inspection_checks(&Root::at(d.path()), &secret_cfg());
    let host = get(&out, "network.internet_trace", "host");
    assert_eq!(host.status, CheckStatus::Fail);
    assert!(ev(host).iter().any(|v| v["address"] == "8.8.8.8"));
    assert_eq!(
        get(&out, "trace.recent_files", "user:lily").status,
        CheckStatus::Error
    );
    // An NM keyfile that is not a key file is an error.
    let d = tree(&[(
        "etc/NetworkManager/system-connections/x.nmconnection",
        "this is not a key file\n",
    )]);
    let out = inspection_checks(&Root::at(d.path()), &secret_cfg());
    assert_eq!(
        get(&out, "network.internet_trace", "host").status,
        CheckStatus::Error
    );
    // No sysfs in the root: radios not applicable.
    let c = get(&out, "hardware.wireless", "host");
    assert_eq!(c.status, CheckStatus::NotApplicable);
    assert_eq!(ev(c), vec![json!({"reason": "no sysfs in root"})]);
}

#[test]
fn internal_rules_make_names_and_networks_internal() {
    let d = tree(&[("etc/resolv.conf", "nameserver 59.255.1.1\n")]);
    let mut cfg = secret_cfg();
    let out = inspection_checks(&Root::at(d.path()), &cfg);
    assert_eq!(
        get(&out, "network.internet_trace", "host").status,
        CheckStatus::Fail
    );
    cfg.network.internal_cidrs = vec!["59.255.0.0/16".parse().unwrap()];
    let out = inspection_checks(&Root::at(d.path()), &cfg);
    assert_eq!(
        get(&out, "network.internet_trace", "host").status,
        CheckStatus::Pass
    );
}

#[test]
fn snap_and_flatpak_browser_folders_are_read() {
    let d = tree(&[]);
    let src = cases_dir().join("classified-traces/root/home/bob/.config/chromium/Default/History");
    for dst in [
        "home/lily/snap/chromium/common/chromium/Default/History",
        "home/lily/.var/app/com.google.Chrome/config/google-chrome/Default/History",
    ] {
        let p = d.path().join(dst);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::copy(&src, &p).unwrap();
    }
    let out = inspection_checks(&Root::at(d.path()), &secret_cfg());
    let c = get(&out, "network.internet_trace", "user:lily");
    assert_eq!(c.status, CheckStatus::Fail);
    let e = ev(c);
    assert!(
        e.iter()
            .any(|v| v["browser"] == "chromium" && v["db"].as_str().unwrap().contains("/snap/"))
    );
    assert!(
        e.iter()
            .any(|v| v["browser"] == "google-chrome" && v["host"] == "pan.baidu.com")
    );
}

#[test]
fn oversized_history_is_an_error_not_a_read() {
    let d = tree(&[]);
    let p = d.path().join("home/lily/.config/chromium/Default/History");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    // Sparse: 600 MiB on paper, nothing on disk.
    std::fs::File::create(&p)
        .unwrap()
        .set_len(600 * 1024 * 1024)
        .unwrap();
    let out = inspection_checks(&Root::at(d.path()), &secret_cfg());
    let c = get(&out, "network.internet_trace", "user:lily");
    assert_eq!(c.status, CheckStatus::Error);
    assert!(
        ev(c)[0]["reason"].as_str().unwrap().contains("larger than"),
        "{:?}",
        c.evidence
    );
}
