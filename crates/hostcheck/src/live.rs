//! Live probes with `sysinfo`: the programs running now (is the antivirus or
//! auditd running, is a prohibited program running). Only on the live root
//! `/`; under `--root` nothing is probed, because the running machine is not
//! the inspected tree.

use crate::root::Root;
use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, RefreshKind, System, UpdateKind};

/// One running process: its pid, its name and the basename of its program.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: u32,
    pub name: String,
    pub exe: Option<String>,
}

/// What the live probes saw; `None` under `--root`.
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub processes: Option<Vec<Proc>>,
}

impl Live {
    pub fn probe(root: &Root) -> Live {
        if !root.is_live() {
            return Live::default();
        }
        // sysinfo 0.40 returns an error where the platform is unsupported:
        // then no process list (evidence says so), never a panic.
        let Ok(mut sys) = System::new_with_specifics(RefreshKind::nothing()) else {
            return Live::default();
        };
        sys.refresh_processes_specifics(
            ProcessesToUpdate::All,
            true,
            ProcessRefreshKind::nothing().with_exe(UpdateKind::OnlyIfNotSet),
        );
        let mut procs: Vec<Proc> = sys
            .processes()
            .iter()
            .map(|(pid, p)| Proc {
                pid: pid.as_u32(),
                name: p.name().to_string_lossy().into_owned(),
                exe: p
                    .exe()
                    .and_then(|e| e.file_name())
                    .map(|n| n.to_string_lossy().into_owned()),
            })
            .collect();
        procs.sort_by_key(|p| p.pid);
        Live {
            processes: Some(procs),
        }
    }

    /// Processes whose name or program basename is one of `names` (exact).
    pub fn running(&self, names: &[String]) -> Vec<&Proc> {
        let Some(ps) = &self.processes else {
            return Vec::new();
        };
        ps.iter()
            .filter(|p| {
                names
                    .iter()
                    .any(|n| *n == p.name || p.exe.as_deref() == Some(n.as_str()))
            })
            .collect()
    }
}
