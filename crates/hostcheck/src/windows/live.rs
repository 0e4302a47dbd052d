//! The live readers behind the Windows checks: registry through `winreg`,
//! the SAM through `NetUserModalsGet`/`NetUserEnum` (windows-sys), the local
//! security policy through `secedit /export`, and each profile's hive
//! (`HKU\<SID>` when the user is logged on, else its `NTUSER.DAT` loaded
//! read-only with `RegLoadAppKeyW`, which needs no privilege and never
//! shows up under `HKU`).
//!
//! The registry roots are parameters ([`Hives`]) so tests under Wine seed a
//! private subtree and read it for real, without touching the prefix's
//! `HKLM`.

use super::accounts::LocalUser;
use super::autologon::{WINLOGON, Winlogon};
use super::password::{Modals0, PolicySources};
use super::reg::RegValue;
use super::screen_lock::{DESKTOP, Desktop, Machine, POLICY_DESKTOP, SYSTEM_POLICIES, UserScreen};
use super::secedit;
use std::io::{self, Read};
use std::os::windows::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use winreg::RegKey;
use winreg::enums::{HKEY_LOCAL_MACHINE, HKEY_USERS, KEY_READ, RegType};

pub const PROFILE_LIST: &str = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList";

/// Where `HKLM` and `HKU` are (the real ones, or a test subtree).
pub struct Hives {
    pub hklm: RegKey,
    pub hku: RegKey,
}

impl Hives {
    pub fn live() -> Hives {
        Hives {
            hklm: RegKey::predef(HKEY_LOCAL_MACHINE),
            hku: RegKey::predef(HKEY_USERS),
        }
    }
}

fn not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

/// Open `path` under `key` for reading; `Ok(None)` when it does not exist.
pub fn open(key: &RegKey, path: &str) -> Result<Option<RegKey>, String> {
    match key.open_subkey_with_flags(path, KEY_READ) {
        Ok(k) => Ok(Some(k)),
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(format!("{path}: {e}")),
    }
}

/// One value; `Ok(None)` when absent.
pub fn value(key: &RegKey, name: &str) -> Result<Option<RegValue>, String> {
    match key.get_raw_value(name) {
        Ok(v) => Ok(Some(match v.vtype {
            RegType::REG_SZ | RegType::REG_EXPAND_SZ => {
                let units: Vec<u16> = v
                    .bytes
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                let s = String::from_utf16_lossy(&units);
                RegValue::Sz(s.trim_end_matches('\0').to_string())
            }
            RegType::REG_DWORD if v.bytes.len() >= 4 => RegValue::Dword(u32::from_le_bytes([
                v.bytes[0], v.bytes[1], v.bytes[2], v.bytes[3],
            ])),
            t => RegValue::Other(t as u32),
        })),
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(format!("value {name}: {e}")),
    }
}

pub fn winlogon(h: &Hives) -> Result<Winlogon, String> {
    let Some(k) = open(&h.hklm, WINLOGON)? else {
        return Ok(Winlogon::default());
    };
    Ok(Winlogon {
        auto_admin_logon: value(&k, "AutoAdminLogon")?,
        default_user_name: value(&k, "DefaultUserName")?,
        default_domain_name: value(&k, "DefaultDomainName")?,
        default_password: value(&k, "DefaultPassword")?,
        auto_logon_count: value(&k, "AutoLogonCount")?,
    })
}

pub fn machine(h: &Hives) -> Result<Machine, String> {
    let inactivity = match open(&h.hklm, SYSTEM_POLICIES)? {
        Some(k) => value(&k, "InactivityTimeoutSecs")?,
        None => None,
    };
    let grace = match open(&h.hklm, WINLOGON)? {
        Some(k) => value(&k, "ScreenSaverGracePeriod")?,
        None => None,
    };
    Ok(Machine { inactivity, grace })
}

fn desktop(root: &RegKey, path: &str) -> Result<Desktop, String> {
    let Some(k) = open(root, path)? else {
        return Ok(Desktop::default());
    };
    Ok(Desktop {
        active: value(&k, "ScreenSaveActive")?,
        secure: value(&k, "ScreenSaverIsSecure")?,
        timeout: value(&k, "ScreenSaveTimeOut")?,
        exe: value(&k, "SCRNSAVE.EXE")?,
    })
}

/// A local profile from `ProfileList`.
#[derive(Debug, Clone)]
pub struct Profile {
    pub sid: String,
    pub name: String,
    pub path: PathBuf,
}

/// Profiles of people: local (`S-1-5-21-…`) and Entra ID (`S-1-12-1-…`)
/// accounts; the service profiles (`S-1-5-18/19/20`) are not people.
pub fn profiles(h: &Hives) -> Result<Vec<Profile>, String> {
    let Some(list) = open(&h.hklm, PROFILE_LIST)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for sid in list.enum_keys().take(10_000) {
        let sid = sid.map_err(|e| format!("{PROFILE_LIST}: {e}"))?;
        if !(sid.starts_with("S-1-5-21-") || sid.starts_with("S-1-12-1-")) || sid.ends_with(".bak")
        {
            continue;
        }
        let Some(k) = open(&list, &sid)? else {
            continue;
        };
        let Some(RegValue::Sz(p)) = value(&k, "ProfileImagePath")? else {
            continue;
        };
        let path = PathBuf::from(expand_env(&p));
        let name = account_name(&sid).unwrap_or_else(|| {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| sid.clone())
        });
        out.push(Profile { sid, name, path });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// `%VAR%` expansion as REG_EXPAND_SZ values need (`%SystemDrive%\Users\a`).
fn expand_env(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.find('%') {
            Some(j) => {
                let name = &after[..j];
                match std::env::var(name) {
                    Ok(v) if !name.is_empty() => out.push_str(&v),
                    _ => {
                        out.push('%');
                        out.push_str(name);
                        out.push('%');
                    }
                }
                rest = &after[j + 1..];
            }
            None => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn wide(s: &str) -> Vec<u16> {
    std::ffi::OsStr::new(s)
        .encode_wide()
        .chain(Some(0))
        .collect()
}

/// The account name of a SID (`LookupAccountSidW`), `None` when unknown.
pub fn account_name(sid: &str) -> Option<String> {
    use windows_sys::Win32::Foundation::LocalFree;
    use windows_sys::Win32::Security::Authorization::ConvertStringSidToSidW;
    use windows_sys::Win32::Security::{LookupAccountSidW, PSID};
    let w = wide(sid);
    let mut psid: PSID = std::ptr::null_mut();
    // SAFETY: `w` is NUL-terminated; on success `psid` is freed below.
    if unsafe { ConvertStringSidToSidW(w.as_ptr(), &mut psid) } == 0 {
        return None;
    }
    let mut name = vec![0u16; 256];
    let mut domain = vec![0u16; 256];
    let (mut n, mut d) = (name.len() as u32, domain.len() as u32);
    let mut use_ = 0;
    // SAFETY: buffers and their lengths match; psid is valid.
    let ok = unsafe {
        LookupAccountSidW(
            std::ptr::null(),
            psid,
            name.as_mut_ptr(),
            &mut n,
            domain.as_mut_ptr(),
            &mut d,
            &mut use_,
        )
    };
    // SAFETY: allocated by ConvertStringSidToSidW.
    unsafe { LocalFree(psid as _) };
    if ok == 0 || n == 0 {
        return None;
    }
    let len = (n as usize).min(name.len());
    Some(String::from_utf16_lossy(&name[..len]))
}

/// Each profile's screen-saver values: from `HKU\<SID>` when loaded, else
/// from its `NTUSER.DAT` loaded read-only.
pub fn screens(h: &Hives, profiles: &[Profile]) -> Vec<UserScreen> {
    profiles
        .iter()
        .map(|p| {
            let (hive, root) = match open(&h.hku, &p.sid) {
                Ok(Some(k)) => (format!(r"HKU\{}", p.sid), Ok(Hive::Open(k))),
                _ => {
                    let file = p.path.join("NTUSER.DAT");
                    (file.display().to_string(), load_hive(&file).map(Hive::App))
                }
            };
            let values = root.and_then(|k| {
                let k = k.key();
                Ok((desktop(k, DESKTOP)?, desktop(k, POLICY_DESKTOP)?))
            });
            UserScreen {
                name: p.name.clone(),
                sid: p.sid.clone(),
                hive,
                values,
            }
        })
        .collect()
}

/// A user's hive: open under `HKU`, or loaded from its file.
enum Hive {
    Open(RegKey),
    App(LoadedHive),
}

impl Hive {
    fn key(&self) -> &RegKey {
        match self {
            Hive::Open(k) => k,
            Hive::App(l) => &l.key,
        }
    }
}

/// A hive file loaded for reading: by `RegLoadAppKeyW` (private, read-only),
/// or, where that is refused or gives an unusable handle (Wine's is a
/// stub), by `RegLoadKeyW` under a temporary `HKU\mijian-…` name, unloaded
/// on drop. The agent never writes to it.
pub struct LoadedHive {
    key: RegKey,
    unload: Option<Vec<u16>>,
}

impl Drop for LoadedHive {
    fn drop(&mut self) {
        if let Some(name) = self.unload.take() {
            use windows_sys::Win32::System::Registry::{HKEY_USERS, RegUnLoadKeyW};
            // Close our handle first, or the unload is refused.
            let key = std::mem::replace(&mut self.key, RegKey::predef(HKEY_USERS));
            drop(key);
            // SAFETY: a name we loaded under HKU.
            unsafe { RegUnLoadKeyW(HKEY_USERS, name.as_ptr()) };
        }
    }
}

/// Load a hive file for reading (see [`LoadedHive`]).
pub fn load_hive(file: &Path) -> Result<LoadedHive, String> {
    use windows_sys::Win32::System::Registry::{HKEY_USERS, RegLoadKeyW};
    let shown = file.display();
    if !file.is_file() {
        return Err(format!("{shown} does not exist"));
    }
    if let Ok(k) = RegKey::load_app_key_with_flags(file, KEY_READ, 0)
        && k.query_info().is_ok()
    {
        return Ok(LoadedHive {
            key: k,
            unload: None,
        });
    }
    enable_privilege("SeBackupPrivilege");
    enable_privilege("SeRestorePrivilege");
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name = format!(
        "mijian-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let wname = wide(&name);
    let wfile: Vec<u16> = file.as_os_str().encode_wide().chain(Some(0)).collect();
    // SAFETY: NUL-terminated name and path.
    let rc = unsafe { RegLoadKeyW(HKEY_USERS, wname.as_ptr(), wfile.as_ptr()) };
    if rc != 0 {
        return Err(format!(
            "cannot load {shown} (RegLoadAppKey refused or unusable; RegLoadKey: {})",
            io::Error::from_raw_os_error(rc as i32)
        ));
    }
    let mut loaded = LoadedHive {
        key: RegKey::predef(HKEY_USERS),
        unload: Some(wname),
    };
    match RegKey::predef(HKEY_USERS).open_subkey_with_flags(&name, KEY_READ) {
        Ok(k) => {
            loaded.key = k;
            Ok(loaded)
        }
        Err(e) => Err(format!("cannot open the loaded hive {shown}: {e}")),
    }
}

/// Enable a privilege the process token holds (no effect when it lacks it).
pub fn enable_privilege(name: &str) {
    use windows_sys::Win32::Foundation::{CloseHandle, LUID};
    use windows_sys::Win32::Security::{
        AdjustTokenPrivileges, LUID_AND_ATTRIBUTES, LookupPrivilegeValueW, SE_PRIVILEGE_ENABLED,
        TOKEN_ADJUST_PRIVILEGES, TOKEN_PRIVILEGES,
    };
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};
    let w = wide(name);
    // SAFETY: out pointers to locals; the token is closed below.
    unsafe {
        let mut token = std::ptr::null_mut();
        if OpenProcessToken(GetCurrentProcess(), TOKEN_ADJUST_PRIVILEGES, &mut token) == 0 {
            return;
        }
        let mut luid = LUID {
            LowPart: 0,
            HighPart: 0,
        };
        if LookupPrivilegeValueW(std::ptr::null(), w.as_ptr(), &mut luid) != 0 {
            let tp = TOKEN_PRIVILEGES {
                PrivilegeCount: 1,
                Privileges: [LUID_AND_ATTRIBUTES {
                    Luid: luid,
                    Attributes: SE_PRIVILEGE_ENABLED,
                }],
            };
            AdjustTokenPrivileges(token, 0, &tp, 0, std::ptr::null_mut(), std::ptr::null_mut());
        }
        CloseHandle(token);
    }
}

/// `NetUserModalsGet(NULL, 0)`.
pub fn modals0() -> Result<Modals0, String> {
    use windows_sys::Win32::NetworkManagement::NetManagement::{
        NetApiBufferFree, NetUserModalsGet, USER_MODALS_INFO_0,
    };
    let mut buf: *mut u8 = std::ptr::null_mut();
    // SAFETY: out pointer; the buffer is freed with NetApiBufferFree.
    let rc = unsafe { NetUserModalsGet(std::ptr::null(), 0, &mut buf) };
    if rc != 0 || buf.is_null() {
        return Err(format!(
            "error {rc} ({})",
            io::Error::from_raw_os_error(rc as i32)
        ));
    }
    // SAFETY: level 0 returns one USER_MODALS_INFO_0.
    let m = unsafe { std::ptr::read_unaligned(buf as *const USER_MODALS_INFO_0) };
    unsafe { NetApiBufferFree(buf as _) };
    Ok(Modals0 {
        min_passwd_len: m.usrmod0_min_passwd_len,
        max_passwd_age: m.usrmod0_max_passwd_age,
        min_passwd_age: m.usrmod0_min_passwd_age,
        force_logoff: m.usrmod0_force_logoff,
        password_hist_len: m.usrmod0_password_hist_len,
    })
}

fn pwstr(p: *const u16) -> String {
    if p.is_null() {
        return String::new();
    }
    let mut n = 0usize;
    // SAFETY: NetUserEnum strings are NUL-terminated; bounded at 1024.
    while n < 1024 && unsafe { *p.add(n) } != 0 {
        n += 1;
    }
    String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, n) })
}

/// Local accounts: `NetUserEnum` level 3 (flags and RID), falling back to
/// level 1 (flags only) where level 3 is refused.
pub fn local_users() -> Result<Vec<LocalUser>, String> {
    use windows_sys::Win32::NetworkManagement::NetManagement::{
        FILTER_NORMAL_ACCOUNT, MAX_PREFERRED_LENGTH, NetApiBufferFree, NetUserEnum, USER_INFO_1,
        USER_INFO_3,
    };
    let mut last = 0;
    for level in [3u32, 1] {
        let mut out = Vec::new();
        let mut resume = 0u32;
        let mut ok = true;
        for _ in 0..1000 {
            let mut buf: *mut u8 = std::ptr::null_mut();
            let (mut read, mut total) = (0u32, 0u32);
            // SAFETY: out pointers; the buffer is freed below.
            let rc = unsafe {
                NetUserEnum(
                    std::ptr::null(),
                    level,
                    FILTER_NORMAL_ACCOUNT,
                    &mut buf,
                    MAX_PREFERRED_LENGTH,
                    &mut read,
                    &mut total,
                    &mut resume,
                )
            };
            const ERROR_MORE_DATA: u32 = 234;
            if rc != 0 && rc != ERROR_MORE_DATA {
                if !buf.is_null() {
                    unsafe { NetApiBufferFree(buf as _) };
                }
                last = rc;
                ok = false;
                break;
            }
            for i in 0..read as usize {
                // SAFETY: `read` entries of the requested level.
                unsafe {
                    if level == 3 {
                        let u = std::ptr::read_unaligned((buf as *const USER_INFO_3).add(i));
                        out.push(LocalUser {
                            name: pwstr(u.usri3_name),
                            rid: Some(u.usri3_user_id),
                            flags: u.usri3_flags,
                        });
                    } else {
                        let u = std::ptr::read_unaligned((buf as *const USER_INFO_1).add(i));
                        out.push(LocalUser {
                            name: pwstr(u.usri1_name),
                            rid: None,
                            flags: u.usri1_flags,
                        });
                    }
                }
            }
            if !buf.is_null() {
                unsafe { NetApiBufferFree(buf as _) };
            }
            if rc == 0 {
                break;
            }
        }
        if ok {
            return Ok(out);
        }
    }
    Err(format!(
        "NetUserEnum: error {last} ({})",
        io::Error::from_raw_os_error(last as i32)
    ))
}

/// `secedit /export /cfg FILE /areas SECURITYPOLICY` into a private
/// temporary directory, bounded by `timeout`; the file is parsed and removed.
pub fn secedit_export(timeout: Duration) -> Result<secedit::SystemAccess, String> {
    let dir = std::env::temp_dir().join(format!(
        "mijian-secedit-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let r = run_secedit(&dir, timeout);
    let _ = std::fs::remove_dir_all(&dir);
    r
}

fn run_secedit(dir: &Path, timeout: Duration) -> Result<secedit::SystemAccess, String> {
    let cfg = dir.join("policy.inf");
    let exe = std::env::var_os("SystemRoot")
        .map(|r| PathBuf::from(r).join("System32").join("secedit.exe"))
        .unwrap_or_else(|| PathBuf::from("secedit.exe"));
    let mut child = std::process::Command::new(&exe)
        .arg("/export")
        .arg("/cfg")
        .arg(&cfg)
        .args(["/areas", "SECURITYPOLICY", "/quiet"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "secedit did not finish within {} s",
                    timeout.as_secs()
                ));
            }
            Err(e) => return Err(format!("waiting for secedit: {e}")),
        }
    };
    if !status.success() {
        return Err(format!("secedit exited with {status}"));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(&cfg)
        .and_then(|f| {
            f.take(secedit::MAX_INF_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(|e| format!("cannot read secedit's export: {e}"))?;
    Ok(secedit::parse(&secedit::decode(&bytes)?))
}

/// Both password-policy sources.
pub fn policy_sources() -> PolicySources {
    PolicySources {
        modals: modals0(),
        secedit: secedit_export(Duration::from_secs(60)),
    }
}

/// `ComputerName`: the active computer name, else `%COMPUTERNAME%`.
pub fn hostname() -> Option<String> {
    let h = Hives::live();
    let from_reg = open(
        &h.hklm,
        r"SYSTEM\CurrentControlSet\Control\ComputerName\ActiveComputerName",
    )
    .ok()
    .flatten()
    .and_then(|k| value(&k, "ComputerName").ok().flatten());
    match from_reg {
        Some(RegValue::Sz(s)) if !s.is_empty() => Some(s),
        _ => std::env::var("COMPUTERNAME").ok().filter(|s| !s.is_empty()),
    }
}

/// `Windows 11 Pro 23H2 (build 22631)` from `CurrentVersion` (whose
/// `ProductName` still says "Windows 10" on Windows 11: build ≥ 22000).
pub fn os_name() -> Option<String> {
    let h = Hives::live();
    let k = open(&h.hklm, r"SOFTWARE\Microsoft\Windows NT\CurrentVersion")
        .ok()
        .flatten()?;
    let s = |n: &str| match value(&k, n).ok().flatten() {
        Some(RegValue::Sz(s)) => Some(s),
        _ => None,
    };
    let mut product = s("ProductName")?;
    let build = s("CurrentBuild").or_else(|| s("CurrentBuildNumber"));
    if build
        .as_deref()
        .and_then(|b| b.parse::<u32>().ok())
        .is_some_and(|b| b >= 22000)
    {
        product = product.replacen("Windows 10", "Windows 11", 1);
    }
    let mut out = product;
    if let Some(v) = s("DisplayVersion") {
        out.push_str(&format!(" {v}"));
    }
    if let Some(b) = build {
        out.push_str(&format!(" (build {b})"));
    }
    Some(out)
}
