//! Windows-only tests of the live readers (run under Wine by
//! `cargo test --target x86_64-pc-windows-gnu -p mijian-hostcheck`): a
//! machine and two users are written to a private registry subtree — one
//! user "logged on" (a key under the fake `HKU`), the other only as an
//! `NTUSER.DAT` file saved with `RegSaveKeyW` and loaded read-only by the
//! reader with `RegLoadAppKeyW` — and the checks read them for real.
//! `NetUserModalsGet` level 0 is not implemented by Wine: only its error
//! path is exercised here; its logic is tested on injected data.

use super::accounts::{LocalUser, UF_NORMAL_ACCOUNT};
use super::live::{self, Hives};
use super::password::{Modals0, PolicySources};
use super::secedit;
use mijian_report::CheckStatus;
use std::os::windows::ffi::OsStrExt;
use winreg::RegKey;
use winreg::enums::{HKEY_CURRENT_USER, KEY_ALL_ACCESS};

fn thresholds() -> mijian_policy::Thresholds {
    mijian_policy::Baseline::default().thresholds(Default::default())
}

struct Tree {
    path: String,
}
impl Drop for Tree {
    fn drop(&mut self) {
        let _ = RegKey::predef(HKEY_CURRENT_USER).delete_subkey_all(&self.path);
    }
}

fn tree(name: &str) -> (Tree, RegKey) {
    let path = format!(r"Software\mijian-test\{name}-{}", std::process::id());
    let hkcu = RegKey::predef(HKEY_CURRENT_USER);
    let _ = hkcu.delete_subkey_all(&path);
    let (k, _) = hkcu.create_subkey(&path).unwrap();
    (Tree { path }, k)
}

fn set(root: &RegKey, key: &str, name: &str, v: &str) {
    let (k, _) = root.create_subkey(key).unwrap();
    k.set_value(name, &v.to_string()).unwrap();
}

/// Save `key` to `file` as a hive (what NTUSER.DAT is).
fn save_hive(key: &RegKey, file: &std::path::Path) {
    use windows_sys::Win32::System::Registry::RegSaveKeyW;
    live::enable_privilege("SeBackupPrivilege");
    let w: Vec<u16> = file.as_os_str().encode_wide().chain(Some(0)).collect();
    let _ = std::fs::remove_file(file);
    // SAFETY: an open key and a NUL-terminated path.
    let rc = unsafe { RegSaveKeyW(key.raw_handle(), w.as_ptr(), std::ptr::null()) };
    assert_eq!(rc, 0, "RegSaveKeyW failed with {rc}");
}

fn injected_policy() -> PolicySources {
    let sa = secedit::parse(
        "[System Access]\nMinimumPasswordLength = 12\nPasswordComplexity = 1\nMaximumPasswordAge = 60\n",
    );
    PolicySources {
        modals: Ok(Modals0 {
            min_passwd_len: 12,
            max_passwd_age: 60 * 86_400,
            min_passwd_age: 0,
            force_logoff: u32::MAX,
            password_hist_len: 24,
        }),
        secedit: Ok(sa),
    }
}

#[test]
fn seeded_registry_is_read_for_real() {
    let (_t, root) = tree("host");
    let (hklm, _) = root.create_subkey("HKLM").unwrap();
    let (hku, _) = root.create_subkey("HKU").unwrap();
    // Winlogon: automatic logon with a stored password.
    let wl = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\Winlogon";
    set(&hklm, wl, "AutoAdminLogon", "1");
    set(&hklm, wl, "DefaultUserName", "alice");
    set(&hklm, wl, "DefaultPassword", "Sup3rSecret!");
    set(&hklm, wl, "ScreenSaverGracePeriod", "0");
    // Two profiles: alice logged on (HKU\<sid>), bob only on disk.
    let dir = std::env::temp_dir().join(format!("mijian-wine-{}", std::process::id()));
    let bob_dir = dir.join("bob");
    std::fs::create_dir_all(&bob_dir).unwrap();
    let pl = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList";
    let alice_sid = "S-1-5-21-111-222-333-1001";
    let bob_sid = "S-1-5-21-111-222-333-1002";
    set(
        &hklm,
        &format!(r"{pl}\{alice_sid}"),
        "ProfileImagePath",
        &dir.join("alice").display().to_string(),
    );
    set(
        &hklm,
        &format!(r"{pl}\{bob_sid}"),
        "ProfileImagePath",
        &bob_dir.display().to_string(),
    );
    set(
        &hklm,
        &format!(r"{pl}\S-1-5-18"),
        "ProfileImagePath",
        r"%systemroot%\system32\config\systemprofile",
    );
    let desk = r"Control Panel\Desktop";
    let pol = r"Software\Policies\Microsoft\Windows\Control Panel\Desktop";
    set(
        &hku,
        &format!(r"{alice_sid}\{desk}"),
        "ScreenSaveActive",
        "1",
    );
    set(
        &hku,
        &format!(r"{alice_sid}\{desk}"),
        "ScreenSaverIsSecure",
        "1",
    );
    set(
        &hku,
        &format!(r"{alice_sid}\{desk}"),
        "ScreenSaveTimeOut",
        "300",
    );
    set(
        &hku,
        &format!(r"{alice_sid}\{desk}"),
        "SCRNSAVE.EXE",
        r"C:\Windows\system32\scrnsave.scr",
    );
    // Bob's own values would pass, but his policy key turns the lock off.
    let (bob_src, _) = root.create_subkey("bob-hive").unwrap();
    set(&bob_src, desk, "ScreenSaveActive", "1");
    set(&bob_src, desk, "ScreenSaverIsSecure", "1");
    set(&bob_src, desk, "ScreenSaveTimeOut", "300");
    set(
        &bob_src,
        desk,
        "SCRNSAVE.EXE",
        r"C:\Windows\system32\scrnsave.scr",
    );
    set(&bob_src, pol, "ScreenSaverIsSecure", "0");
    let bob_key = RegKey::predef(HKEY_CURRENT_USER)
        .open_subkey_with_flags(format!(r"{}\bob-hive", _t.path), KEY_ALL_ACCESS)
        .unwrap();
    save_hive(&bob_key, &bob_dir.join("NTUSER.DAT"));

    let hives = Hives { hklm, hku };
    let users = Ok(vec![
        LocalUser {
            name: "alice".into(),
            rid: Some(1001),
            flags: UF_NORMAL_ACCOUNT,
        },
        LocalUser {
            name: "Guest".into(),
            rid: Some(501),
            flags: UF_NORMAL_ACCOUNT,
        },
    ]);
    let out = super::check_with(&hives, &injected_policy(), users, &thresholds());
    let get = |id: &str, subject: &str| {
        out.checks
            .iter()
            .find(|c| c.id == id && c.subject == subject)
            .unwrap_or_else(|| panic!("no {id} {subject}: {:#?}", out.checks))
    };
    let al = get("login.autologin", "host");
    assert_eq!(al.status, CheckStatus::Fail);
    assert!(!serde_json::to_string(al).unwrap().contains("Sup3rSecret"));
    assert_eq!(
        get("account.guest_enabled", "host").status,
        CheckStatus::Fail
    );
    assert_eq!(get("password.min_length", "host").status, CheckStatus::Pass);
    // Profile names come from the SID when Windows knows it, else the folder.
    let alice = out
        .checks
        .iter()
        .filter(|c| {
            c.id.starts_with("screen_lock.") && c.evidence.as_ref().unwrap()["sid"] == alice_sid
        })
        .collect::<Vec<_>>();
    assert_eq!(alice.len(), 2);
    assert!(
        alice.iter().all(|c| c.status == CheckStatus::Pass),
        "{alice:#?}"
    );
    assert!(
        alice[0].evidence.as_ref().unwrap()["hive"]
            .as_str()
            .unwrap()
            .starts_with("HKU")
    );
    let bob = out
        .checks
        .iter()
        .filter(|c| {
            c.id.starts_with("screen_lock.") && c.evidence.as_ref().unwrap()["sid"] == bob_sid
        })
        .collect::<Vec<_>>();
    assert_eq!(bob.len(), 2, "{:#?}", out.checks);
    let bob_enabled = bob.iter().find(|c| c.id == "screen_lock.enabled").unwrap();
    assert_eq!(bob_enabled.status, CheckStatus::Fail, "{bob_enabled:#?}");
    assert!(
        bob_enabled.evidence.as_ref().unwrap()["hive"]
            .as_str()
            .unwrap()
            .ends_with("NTUSER.DAT")
    );
    assert_eq!(
        bob_enabled.evidence.as_ref().unwrap()["values"][1]["from"],
        "policy"
    );
    // The machine inactivity limit locks bob too, once set.
    let (_sp, _) = hives
        .hklm
        .create_subkey(r"SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System")
        .unwrap();
    _sp.set_value("InactivityTimeoutSecs", &540u32).unwrap();
    let m = live::machine(&hives).unwrap();
    assert_eq!(m.inactivity, Some(super::reg::RegValue::Dword(540)));
    // The service profile is not a person.
    let ps = live::profiles(&hives).unwrap();
    assert_eq!(ps.len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_hive_is_an_error_not_a_pass() {
    let (_t, root) = tree("nohive");
    let (hklm, _) = root.create_subkey("HKLM").unwrap();
    let (hku, _) = root.create_subkey("HKU").unwrap();
    let pl = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList\S-1-5-21-9-9-9-1005";
    set(&hklm, pl, "ProfileImagePath", r"C:\nonexistent\carol");
    let hives = Hives { hklm, hku };
    let screens = live::screens(&hives, &live::profiles(&hives).unwrap());
    let c = super::screen_lock::checks(&screens, &live::machine(&hives), &thresholds());
    assert_eq!(c.len(), 2);
    assert!(c.iter().all(|c| c.status == CheckStatus::Error), "{c:#?}");
}

#[test]
fn wine_lacks_net_user_modals_get_level_0() {
    // Under Wine this is the error path; on real Windows it must succeed.
    match live::modals0() {
        Ok(m) => assert!(m.min_passwd_len <= 256),
        Err(e) => {
            assert!(e.contains("error"), "{e}");
            let src = PolicySources {
                modals: Err(e),
                secedit: Err("secedit missing".into()),
            };
            let c = super::password::min_length(&src, &thresholds());
            assert_eq!(c.status, CheckStatus::Error);
        }
    }
    // The live host facade gives one result per check id without panicking.
    let out = super::check_host(&thresholds());
    for id in [
        "password.min_length",
        "password.complexity",
        "login.autologin",
        "account.guest_enabled",
    ] {
        assert_eq!(
            out.checks
                .iter()
                .filter(|c| c.id == id && c.subject == "host")
                .count(),
            1,
            "{id}"
        );
    }
}
