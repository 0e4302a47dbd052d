//! The Windows service (issue 12): `mijian-agent service install` registers
//! `mijian-agent` with the service control manager (automatic start at
//! boot, LocalSystem, restart on failure), `service uninstall` stops and
//! removes it, and the SCM starts `mijian-agent service run`, which hands
//! the thread to the `windows-service` dispatcher and runs the same daemon
//! loop as `mijian-agent run` (boot check, schedule, media, file watch,
//! durable outbox, delivery). A Stop or Shutdown control, or Ctrl-C in a
//! console run, becomes the daemon's ordinary shutdown event.

use crate::config::AgentConfig;
use crate::daemon::Event;
use anyhow::{Context, Result};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::mpsc::Sender;
use std::time::Duration;
use windows_service::service::{
    ServiceAccess, ServiceAction, ServiceActionType, ServiceControl, ServiceControlAccept,
    ServiceErrorControl, ServiceExitCode, ServiceFailureActions, ServiceFailureResetPeriod,
    ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_service::{define_windows_service, service_dispatcher};

pub const SERVICE_NAME: &str = "mijian-agent";
const DISPLAY_NAME: &str = "mijian (密检) compliance agent";

/// Where the daemon's stop requests go (set by the daemon at start).
static STOP: Mutex<Option<Sender<Event>>> = Mutex::new(None);
/// The `--config` given to `service run`.
static CONFIG: Mutex<Option<PathBuf>> = Mutex::new(None);

fn send(ev: Event) {
    if let Ok(g) = STOP.lock()
        && let Some(tx) = g.as_ref()
    {
        let _ = tx.send(ev);
    }
}

fn request_stop(why: &'static str) {
    send(Event::Shutdown(why));
}

/// The daemon's stop requests on Windows: the SCM's Stop/Shutdown (via
/// [`request_stop`]) and Ctrl-C / Ctrl-Break / console close.
pub fn stop_requests(tx: Sender<Event>) -> Result<()> {
    use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;
    if let Ok(mut g) = STOP.lock() {
        *g = Some(tx);
    }
    unsafe extern "system" fn on_ctrl(_kind: u32) -> windows_sys::core::BOOL {
        request_stop("Ctrl-C");
        1
    }
    // SAFETY: registering a handler with the right signature; failure
    // (no console) is harmless.
    unsafe { SetConsoleCtrlHandler(Some(on_ctrl), 1) };
    Ok(())
}

define_windows_service!(ffi_service_main, service_main);

fn service_main(_args: Vec<OsString>) {
    if let Err(e) = run_service() {
        log::error!("service failed: {e:#}");
    }
}

fn status(state: ServiceState, accept: ServiceControlAccept, code: u32) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: accept,
        exit_code: ServiceExitCode::Win32(code),
        checkpoint: 0,
        wait_hint: Duration::from_secs(30),
        process_id: None,
    }
}

fn run_service() -> Result<()> {
    let handle = service_control_handler::register(SERVICE_NAME, |c| match c {
        ServiceControl::Stop | ServiceControl::Shutdown | ServiceControl::Preshutdown => {
            request_stop("service stop");
            ServiceControlHandlerResult::NoError
        }
        // `sc control mijian-agent paramchange`: reload config and rules,
        // as SIGHUP does on Linux.
        ServiceControl::ParamChange => {
            send(Event::Reload);
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    })
    .context("cannot register the service control handler")?;
    handle.set_service_status(status(
        ServiceState::Running,
        ServiceControlAccept::STOP
            | ServiceControlAccept::SHUTDOWN
            | ServiceControlAccept::PARAM_CHANGE,
        0,
    ))?;
    let config = CONFIG.lock().ok().and_then(|g| g.clone());
    let result =
        AgentConfig::load(config.as_deref()).and_then(|cfg| crate::daemon::run(cfg, config));
    let code = if result.is_ok() { 0 } else { 1 };
    handle.set_service_status(status(
        ServiceState::Stopped,
        ServiceControlAccept::empty(),
        code,
    ))?;
    result
}

/// `service run`: called by the SCM only.
pub fn run(config: Option<PathBuf>) -> Result<()> {
    if let Ok(mut g) = CONFIG.lock() {
        *g = config;
    }
    service_dispatcher::start(SERVICE_NAME, ffi_service_main).context(
        "cannot connect to the service control manager (`service run` is for the SCM; use `mijian-agent run` in a console)",
    )
}

/// `service install`.
pub fn install(config: Option<PathBuf>) -> Result<()> {
    let manager = ServiceManager::local_computer(
        None::<&str>,
        ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
    )
    .context("cannot open the service control manager (run as administrator)")?;
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let mut args: Vec<OsString> = vec!["service".into(), "run".into()];
    if let Some(c) = config {
        let c = std::path::absolute(&c).unwrap_or(c);
        args.push("--config".into());
        args.push(c.into_os_string());
    }
    let info = ServiceInfo {
        name: SERVICE_NAME.into(),
        display_name: DISPLAY_NAME.into(),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: exe,
        launch_arguments: args,
        dependencies: vec![],
        account_name: None, // LocalSystem
        account_password: None,
    };
    let service = manager
        .create_service(&info, ServiceAccess::CHANGE_CONFIG | ServiceAccess::START)
        .context("cannot create the service (already installed? run as administrator)")?;
    let _ = service.set_description(
        "Inspects this workstation for confidentiality compliance and reports to the collector.",
    );
    let restart = ServiceAction {
        action_type: ServiceActionType::Restart,
        delay: Duration::from_secs(60),
    };
    let _ = service.update_failure_actions(ServiceFailureActions {
        reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(86_400)),
        reboot_msg: None,
        command: None,
        actions: Some(vec![restart.clone(), restart.clone(), restart]),
    });
    // The state directory exists with its ACL before the first start.
    crate::platform::create_private_dir(&crate::platform::system_state_dir())?;
    service
        .start::<&str>(&[])
        .context("installed, but cannot start the service")?;
    eprintln!("service {SERVICE_NAME} installed and started (automatic start at boot)");
    Ok(())
}

/// `service uninstall`: stop (waiting up to 30 s) and delete.
pub fn uninstall() -> Result<()> {
    let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .context("cannot open the service control manager (run as administrator)")?;
    let service = manager
        .open_service(
            SERVICE_NAME,
            ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE,
        )
        .context("cannot open the service (not installed?)")?;
    if service.query_status()?.current_state != ServiceState::Stopped {
        let _ = service.stop();
        for _ in 0..60 {
            if service.query_status()?.current_state == ServiceState::Stopped {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    service.delete().context("cannot delete the service")?;
    eprintln!("service {SERVICE_NAME} removed (its state in %ProgramData%\\mijian is kept)");
    Ok(())
}
