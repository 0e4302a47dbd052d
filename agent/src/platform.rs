//! The few places where the agent itself (not its checks) differs between
//! Linux and Windows, behind one function each so `state` and
//! the daemon never ask which OS they run on: privileged or not, the
//! system state directory, a private directory, and
//! the daemon's stop requests (signals on Linux, the service control
//! manager or Ctrl-C on Windows).

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Running as root (Linux) or as SYSTEM / an elevated administrator (Windows).
pub fn is_privileged() -> bool {
    #[cfg(unix)]
    // SAFETY: geteuid has no preconditions and cannot fail.
    return unsafe { libc::geteuid() == 0 };
    #[cfg(windows)]
    // SAFETY: no arguments; reads the process token.
    return unsafe { windows_sys::Win32::UI::Shell::IsUserAnAdmin() != 0 };
}

/// The state directory of a privileged agent: `/var/lib/mijian`, or
/// `%ProgramData%\mijian` on Windows.
pub fn system_state_dir() -> PathBuf {
    #[cfg(windows)]
    return std::env::var_os("ProgramData")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
        .join("mijian");
    #[cfg(not(windows))]
    PathBuf::from("/var/lib/mijian")
}

/// Where the system configuration (`agent.toml`, `rules/`) lives:
/// `/etc/mijian`, or `%ProgramData%\mijian` on Windows (beside the state,
/// under the same ACL).
pub fn system_config_dir() -> PathBuf {
    #[cfg(windows)]
    return system_state_dir();
    #[cfg(not(windows))]
    PathBuf::from("/etc/mijian")
}

/// The access control list of the state directory on Windows (SDDL): a
/// protected DACL (nothing inherited from `%ProgramData%`, which lets
/// Users read) granting full control to SYSTEM, Administrators and the
/// directory's owner (the account that created it), inherited by every
/// file in it — the agent key lives there.
#[cfg(windows)]
pub const STATE_DIR_SDDL: &str = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;OW)";

/// Create `dir` (and parents) readable by its owner only: mode 0700 on
/// Linux, `STATE_DIR_SDDL` on Windows.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    let hint = || {
        format!(
            "cannot create state directory {} (run as root/administrator, or set paths.state_dir in the config)",
            dir.display()
        )
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(hint)
    }
    #[cfg(windows)]
    {
        std::fs::create_dir_all(dir).with_context(hint)?;
        set_sddl(dir, STATE_DIR_SDDL)
            .with_context(|| format!("cannot restrict access to {}", dir.display()))
    }
}

/// Apply an SDDL DACL to a file or directory.
#[cfg(windows)]
pub fn set_sddl(path: &Path, sddl: &str) -> Result<()> {
    use std::os::windows::ffi::OsStrExt;
    use windows_sys::Win32::Foundation::LocalFree;
    use windows_sys::Win32::Security::Authorization::{
        ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
    };
    use windows_sys::Win32::Security::{
        DACL_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR,
        SetFileSecurityW,
    };
    let w: Vec<u16> = sddl.encode_utf16().chain(Some(0)).collect();
    let p: Vec<u16> = path.as_os_str().encode_wide().chain(Some(0)).collect();
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: NUL-terminated SDDL; `sd` is freed with LocalFree.
    if unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            w.as_ptr(),
            SDDL_REVISION_1,
            &mut sd,
            std::ptr::null_mut(),
        )
    } == 0
    {
        anyhow::bail!(
            "bad security descriptor: {}",
            std::io::Error::last_os_error()
        );
    }
    // SAFETY: valid path and descriptor.
    let ok = unsafe {
        SetFileSecurityW(
            p.as_ptr(),
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            sd,
        )
    };
    let err = std::io::Error::last_os_error();
    // SAFETY: allocated by the conversion above.
    unsafe { LocalFree(sd as _) };
    if ok == 0 {
        anyhow::bail!("SetFileSecurity: {err}");
    }
    Ok(())
}

/// The DACL of a file or directory as SDDL.
#[cfg(all(windows, test))]
pub fn get_sddl(path: &Path) -> Result<String> {
    use std::os::windows::ffi::OsStrExt;
    use windows_sys::Win32::Foundation::LocalFree;
    use windows_sys::Win32::Security::Authorization::{
        ConvertSecurityDescriptorToStringSecurityDescriptorW, GetNamedSecurityInfoW,
        SDDL_REVISION_1, SE_FILE_OBJECT,
    };
    use windows_sys::Win32::Security::{DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR};
    let p: Vec<u16> = path.as_os_str().encode_wide().chain(Some(0)).collect();
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: out pointers; `sd` is freed with LocalFree.
    let rc = unsafe {
        GetNamedSecurityInfoW(
            p.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut sd,
        )
    };
    if rc != 0 {
        anyhow::bail!(
            "GetNamedSecurityInfo: {}",
            std::io::Error::from_raw_os_error(rc as i32)
        );
    }
    let mut s: *mut u16 = std::ptr::null_mut();
    let mut n = 0u32;
    // SAFETY: valid descriptor; `s` is freed with LocalFree.
    let ok = unsafe {
        ConvertSecurityDescriptorToStringSecurityDescriptorW(
            sd,
            SDDL_REVISION_1,
            DACL_SECURITY_INFORMATION,
            &mut s,
            &mut n,
        )
    };
    let out = if ok != 0 && !s.is_null() {
        // SAFETY: `n` UTF-16 units written by the call.
        let units = unsafe { std::slice::from_raw_parts(s, n as usize) };
        Ok(String::from_utf16_lossy(units)
            .trim_end_matches('\0')
            .to_string())
    } else {
        Err(anyhow::anyhow!(
            "cannot convert the descriptor: {}",
            std::io::Error::last_os_error()
        ))
    };
    unsafe {
        LocalFree(s as _);
        LocalFree(sd as _);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_dir_is_private() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("a").join("state");
        create_private_dir(&dir).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        #[cfg(windows)]
        {
            // A protected DACL: SYSTEM, Administrators, owner; nothing
            // inherited, no Users/Everyone entry.
            let sddl = get_sddl(&dir).unwrap();
            assert!(sddl.starts_with("D:P"), "{sddl}");
            for sid in ["SY", "BA"] {
                assert!(sddl.contains(&format!(";;;{sid})")), "{sddl}");
            }
            for sid in ["BU", "WD", "AU"] {
                assert!(!sddl.contains(&format!(";;;{sid})")), "{sddl}");
            }
        }
    }
}
