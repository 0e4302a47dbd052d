//! Windows-only tests (run under Wine by `cargo test --target
//! x86_64-pc-windows-gnu`): a USBSTOR / Enum\USB / MountedDevices layout is
//! written to a private registry subtree and read back for real.

use super::*;
use winreg::RegKey;
use winreg::enums::{HKEY_CURRENT_USER, REG_BINARY};

fn subtree(name: &str) -> (RegKey, String) {
    let path = format!(r"Software\mijian-test\media-{name}-{}", std::process::id());
    let hkcu = RegKey::predef(HKEY_CURRENT_USER);
    let _ = hkcu.delete_subkey_all(&path);
    let (k, _) = hkcu.create_subkey(&path).unwrap();
    (k, path)
}

#[test]
fn usbstor_read_from_the_registry() {
    let (root, path) = subtree("usbstor");
    let dev = r"SYSTEM\CurrentControlSet\Enum\USBSTOR\Disk&Ven_SanDisk&Prod_Cruzer_Blade&Rev_1.00";
    let (inst, _) = root
        .create_subkey(format!(r"{dev}\4C530001231219117583&0"))
        .unwrap();
    inst.set_value("FriendlyName", &"SanDisk Cruzer Blade USB Device")
        .unwrap();
    let ft: u64 = (1_709_280_000 + 11_644_473_600) * 10_000_000;
    let (p, _) = inst
        .create_subkey(r"Properties\{83da6326-97a6-4088-9453-a1923f573b29}\0064")
        .unwrap();
    p.set_raw_value(
        "",
        &winreg::RegValue {
            bytes: ft.to_le_bytes().to_vec().into(),
            vtype: REG_BINARY,
        },
    )
    .unwrap();
    root.create_subkey(r"SYSTEM\CurrentControlSet\Enum\USBSTOR\Disk&Ven_Generic&Prod_Flash_Disk&Rev_8.07\7&2a4b1c9&0")
        .unwrap();
    root.create_subkey(r"SYSTEM\CurrentControlSet\Enum\USB\VID_0781&PID_5567\4C530001231219117583")
        .unwrap();
    let (md, _) = root.create_subkey(r"SYSTEM\MountedDevices").unwrap();
    let data: Vec<u8> = r"_??_USBSTOR#Disk&Ven_SanDisk&Prod_Cruzer_Blade&Rev_1.00#4C530001231219117583&0#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    md.set_raw_value(
        r"\DosDevices\F:",
        &winreg::RegValue {
            bytes: data.into(),
            vtype: REG_BINARY,
        },
    )
    .unwrap();

    let raw = read_usbstor(&root);
    assert_eq!(raw.len(), 2, "{raw:?}");
    let s = raw.iter().find(|r| r.instance.starts_with("4C53")).unwrap();
    assert_eq!(s.vendor_id.as_deref(), Some("0781"));
    assert_eq!(s.product_id.as_deref(), Some("5567"));
    assert_eq!(
        s.friendly_name.as_deref(),
        Some("SanDisk Cruzer Blade USB Device")
    );
    assert_eq!(s.first_install.as_deref(), Some("2024-03-01T08:00:00Z"));
    assert_eq!(s.drive_letters, ["F:"]);
    assert!(s.key_written.is_some());
    let f = crate::usbstor::findings(&raw, &MediaRegister::default());
    let g = f
        .iter()
        .find(|f| f.detail.as_ref().unwrap()["windows_generated_serial"] == true);
    assert!(g.is_some());
    let _ = RegKey::predef(HKEY_CURRENT_USER).delete_subkey_all(&path);
}

#[test]
fn drive_letters_and_reasons() {
    // Wine maps C: (and Z: = /) as fixed drives; neither is USB.
    let roots = drive_roots();
    assert!(roots.iter().any(|r| r == "C:\\"), "{roots:?}");
    let c = medium_for_drive("C:\\", &MediaRegister::default(), MediaEvent::Present);
    assert!(c.is_none(), "C: is not removable: {c:?}");
    let usb = StorageDescriptor {
        bus_type: BUS_USB,
        ..Default::default()
    };
    assert_eq!(
        removable_reason(DRIVE_FIXED, Some(&usb)),
        Some(RemovableReason::Usb)
    );
    assert_eq!(
        removable_reason(DRIVE_REMOVABLE, None),
        Some(RemovableReason::RemovableFlag)
    );
    assert_eq!(
        removable_reason(DRIVE_CDROM, None),
        Some(RemovableReason::Optical)
    );
    assert_eq!(removable_reason(DRIVE_FIXED, None), None);
    assert!(remount_read_only(Path::new("E:\\")).is_err());
}

#[test]
fn watcher_stops_promptly() {
    let mut w =
        watch::MountWatcher::new(MediaOptions::default(), MediaRegister::default()).unwrap();
    let h = w.stop_handle();
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        h.stop();
    });
    let start = std::time::Instant::now();
    let ev = w.wait(None).unwrap();
    assert!(ev.is_empty());
    assert!(w.is_stopped());
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    t.join().unwrap();
}
