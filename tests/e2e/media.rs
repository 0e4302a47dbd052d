//! `mijian-agent check` with real removable media (issue 5): ext4 images on
//! loop devices mounted under a temporary media root, one registered in the
//! rules' `media.toml`, one not and carrying a marked and an unmarked
//! classified file. Needs root and loop devices (skipped with a message
//! otherwise); every mount and loop device is released by a guard, also when
//! an assertion fails.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    crate::util::workspace()
}

/// The agent binary (built once per run by `util`, never stale).
fn agent() -> PathBuf {
    crate::util::bin("mijian-agent")
}

fn have(tool: &str) -> bool {
    crate::util::have(tool)
}

fn skip_without_loop(test: &str) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if root && Path::new("/dev/loop-control").exists() && have("losetup") && have("mkfs.ext4") {
        return false;
    }
    eprintln!("{test}: skipped: needs root and loop devices (and mkfs.ext4)");
    true
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An ext4 image on a loop device mounted at `mount_point`; dropped →
/// `umount -l` and `losetup -d`.
struct Medium {
    dev: String,
    mount_point: PathBuf,
}

impl Medium {
    fn new(dir: &Path, name: &str, uuid: &str, label: &str, mount_point: PathBuf) -> Medium {
        let img = dir.join(format!("{name}.img"));
        std::fs::File::create(&img)
            .unwrap()
            .set_len(16 << 20)
            .unwrap();
        let img_s = img.to_str().unwrap();
        run("mkfs.ext4", &["-q", "-F", "-U", uuid, "-L", label, img_s]);
        let dev = run("losetup", &["-f", "--show", img_s]).trim().to_string();
        let m = Medium {
            dev,
            mount_point: mount_point.clone(),
        };
        std::fs::create_dir_all(&mount_point).unwrap();
        run(
            "mount",
            &["-t", "ext4", &m.dev, mount_point.to_str().unwrap()],
        );
        m
    }
}

impl Drop for Medium {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mount_point)
            .output();
        let _ = Command::new("losetup").args(["-d", &self.dev]).output();
    }
}

const UUID_REG: &str = "5d0c6a1e-7b7b-4c4c-9d9d-0123456789ab";
const UUID_ROGUE: &str = "e1e1e1e1-2f2f-4a4a-8b8b-fedcba987654";

/// A rules dir: the repository's rules with a register naming BM-E2E-001.
fn rules(dir: &Path) -> PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir_all(rules.join("keywords")).unwrap();
    for f in ["baseline.toml", "markings.toml"] {
        std::fs::copy(workspace().join("rules").join(f), rules.join(f)).unwrap();
    }
    std::fs::copy(
        workspace().join("docs/examples/keywords/example.toml"),
        rules.join("keywords/example.toml"),
    )
    .unwrap();
    std::fs::write(
        rules.join("media.toml"),
        format!(
            "[[medium]]\nid = \"BM-E2E-001\"\nfs_uuid = \"{UUID_REG}\"\nlabel = \"BM001\"\nlevel = \"秘密\"\nholder = \"张三\"\n"
        ),
    )
    .unwrap();
    rules
}

fn check(dir: &Path, media_root: &Path, extra: &[&str]) -> (i32, Value) {
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let cfg = dir.join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[paths]\nstate_dir = {:?}\n[content]\npaths = [{:?}]\n[media]\nroots = [{:?}]\n",
            dir.join("state").display().to_string(),
            empty.display().to_string(),
            media_root.display().to_string()
        ),
    )
    .unwrap();
    let rules = rules(dir);
    let out = Command::new(agent())
        .arg("check")
        .arg("--config")
        .arg(&cfg)
        .arg("--rules")
        .arg(&rules)
        .args(["--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "agent printed no JSON ({e}); exit {code}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, v)
}

fn findings<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .collect()
}

#[test]
fn check_reports_registered_and_unregistered_media_and_their_content() {
    if skip_without_loop("check_reports_registered_and_unregistered_media_and_their_content") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let media = tmp.path().join("media");
    let reg = Medium::new(tmp.path(), "reg", UUID_REG, "BM001", media.join("BM001"));
    let rogue = Medium::new(
        tmp.path(),
        "rogue",
        UUID_ROGUE,
        "MYSTICK",
        media.join("my stick"),
    );
    // Cloned identity: the registered label on another filesystem.
    let clone = Medium::new(
        tmp.path(),
        "clone",
        "c1c1c1c1-0000-4000-8000-000000000001",
        "BM001",
        media.join("BM001_"),
    );
    std::fs::write(
        reg.mount_point.join("notes.txt"),
        "会议时间调整为周三下午。\n",
    )
    .unwrap();
    std::fs::write(
        rogue.mount_point.join("marked.txt"),
        "机密★5年\n\n关于玄鸟柒号试验安排的通知\n",
    )
    .unwrap();
    std::fs::write(
        rogue.mount_point.join("unmarked.txt"),
        "玄鸟柒号 第二阶段试验数据汇总\n",
    )
    .unwrap();

    let (code, report) = check(tmp.path(), &media, &[]);
    assert_eq!(code, 1, "non-compliant: {report:#}");
    let media_f = findings(&report, "removable_media");
    assert_eq!(media_f.len(), 3, "{report:#}");
    let by_mp = |mp: &Path| {
        *media_f
            .iter()
            .find(|f| f["mount_point"] == mp.to_str().unwrap())
            .unwrap_or_else(|| panic!("no finding for {}: {report:#}", mp.display()))
    };
    let r = by_mp(&reg.mount_point);
    assert_eq!(r["registered"], true);
    assert_eq!(r["medium_id"], "BM-E2E-001");
    assert_eq!(r["severity"], "info");
    assert_eq!(r["device"], reg.dev.as_str());
    assert_eq!(r["detail"]["identity"]["fs_uuid"], UUID_REG);
    let u = by_mp(&rogue.mount_point);
    assert_eq!(u["registered"], false);
    assert!(u.get("medium_id").is_none_or(Value::is_null));
    assert_eq!(u["severity"], "high");
    assert_eq!(u["device"], rogue.dev.as_str());
    assert_eq!(u["detail"]["identity"]["label"], "MYSTICK");
    assert_eq!(u["detail"]["match"]["status"], "unregistered");
    let c = by_mp(&clone.mount_point);
    assert_eq!(c["registered"], false);
    assert_eq!(c["severity"], "high");
    assert_eq!(c["detail"]["match"]["status"], "suspicious");
    assert!(
        c["message"].as_str().unwrap().contains("BM-E2E-001"),
        "names the entry it partly matches: {c:#}"
    );

    // Content on the unregistered medium: both files, tied to it, critical.
    let on_rogue: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "marked_classified" || f["kind"] == "unmarked_classified")
        .filter(|f| f["mount_point"] == rogue.mount_point.to_str().unwrap())
        .collect();
    let kinds: Vec<&str> = on_rogue
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"marked_classified"), "{report:#}");
    assert!(kinds.contains(&"unmarked_classified"), "{report:#}");
    for f in &on_rogue {
        assert_eq!(f["severity"], "critical", "{f:#}");
        assert_eq!(f["registered"], false);
        assert!(
            f["path"]
                .as_str()
                .unwrap()
                .starts_with(rogue.mount_point.to_str().unwrap())
        );
    }
    // The registered medium's harmless file yields no content finding.
    assert!(
        !report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] != "removable_media"
                && f["mount_point"] == reg.mount_point.to_str().unwrap()),
        "{report:#}"
    );

    // --no-content: the media are still reported, their content is not.
    let (_, report) = check(tmp.path(), &media, &["--no-content"]);
    assert_eq!(findings(&report, "removable_media").len(), 3);
    assert!(findings(&report, "marked_classified").is_empty());
}

#[test]
fn a_medium_unmounted_mid_scan_does_not_break_the_check() {
    if skip_without_loop("a_medium_unmounted_mid_scan_does_not_break_the_check") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let media = tmp.path().join("media");
    let m = Medium::new(tmp.path(), "busy", UUID_ROGUE, "BUSY", media.join("busy"));
    for i in 0..400 {
        std::fs::write(
            m.mount_point.join(format!("f{i:04}.txt")),
            format!("第{i}份 玄鸟柒号 资料\n").repeat(50),
        )
        .unwrap();
    }
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let cfg = tmp.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[paths]\nstate_dir = {:?}\n[content]\npaths = [{:?}]\n[media]\nroots = [{:?}]\n",
            tmp.path().join("state").display().to_string(),
            empty.display().to_string(),
            media.display().to_string()
        ),
    )
    .unwrap();
    let rules = rules(tmp.path());
    let child = Command::new(agent())
        .arg("check")
        .arg("--config")
        .arg(&cfg)
        .arg("--rules")
        .arg(&rules)
        .args(["--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150));
    // Pull the medium out from under the scan (lazy: open files stay valid,
    // paths stop resolving).
    let _ = Command::new("umount")
        .arg("-l")
        .arg(&m.mount_point)
        .output();
    let out = child.wait_with_output().unwrap();
    let code = out.status.code();
    assert!(
        matches!(code, Some(0) | Some(1)),
        "exit {code:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert!(report["findings"].is_array());
}
