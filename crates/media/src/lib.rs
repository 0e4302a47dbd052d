//! Removable media (issue 5). Skeleton: the API the agent calls; being built.

use mijian_policy::MediaRegister;
use mijian_report::Finding;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct MediaOptions {
    pub roots: Vec<PathBuf>,
}

/// A removable medium mounted now.
#[derive(Debug, Clone)]
pub struct MountedMedium {
    pub mount_point: PathBuf,
    pub finding: Finding,
}

impl MountedMedium {
    /// Tie a content finding made on this medium to it.
    pub fn tag(&self, f: &mut Finding) {
        f.mount_point = self.finding.mount_point.clone();
        f.registered = self.finding.registered;
        f.medium_id = self.finding.medium_id.clone();
    }
}

/// Removable media mounted now (live host only).
pub fn mounted_now(_opts: &MediaOptions, _register: &MediaRegister) -> Vec<MountedMedium> {
    Vec::new()
}
