//! One inspection: a trigger in, an (unsealed) [`Report`] out.
//!
//! This is where the agent's parts meet: host checks (`mijian-hostcheck`),
//! removable media present now (`mijian-media`), and the content scan
//! (`mijian-scanner`) of the configured paths and of every medium. It never
//! signs, queues or sends — `state` seals, the daemon delivers — so `check`,
//! `scan` and `run` all build reports the same way.

use crate::config::AgentConfig;
use mijian_hostcheck::Root;
use mijian_media::{MediaOptions, MountedMedium};
use mijian_policy::Policy;
use mijian_report::{
    ContentScope, Coverage, Finding, FindingKind, HostInfo, PolicyRef, Report, Scope, Trigger,
};
use mijian_scanner::{ScanOptions, ScanOutcome, Scanner};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Notes this module writes into reports (English, as the JSON carries
/// them); the table prints them in the reader's language.
pub const NOTE_ROOT_MEDIA: &str = "removable media: live mounts not inspected under --root";
pub const NOTE_PARTIAL_SCAN: &str = "partial report: a content scan of the listed paths only (scope.paths); no host checks, no media";

/// Everything an inspection needs, built once (the daemon keeps it between
/// triggers and rebuilds it on SIGHUP).
pub struct Inspector {
    pub cfg: AgentConfig,
    pub policy: Policy,
    pub root: Root,
    scanner: Scanner,
}

impl Inspector {
    /// Build an inspector. `cache_dir` holds the scan cache (the state dir).
    pub fn new(
        cfg: AgentConfig,
        policy: Policy,
        root: Root,
        cache_dir: Option<&Path>,
    ) -> anyhow::Result<Inspector> {
        Self::with_progress(cfg, policy, root, cache_dir, None)
    }

    /// [`Inspector::new`] with live scan counters for a progress display.
    pub fn with_progress(
        cfg: AgentConfig,
        policy: Policy,
        root: Root,
        cache_dir: Option<&Path>,
        progress: Option<std::sync::Arc<mijian_scanner::pipeline::Progress>>,
    ) -> anyhow::Result<Inspector> {
        let opts = ScanOptions {
            progress,
            host_level: cfg.host.classification,
            exclude: cfg.content.exclude.clone(),
            cache_path: cache_dir.map(|d| d.join("scan-cache")),
            // Document parsers run in worker processes: this same binary,
            // started with the hidden `__scan-worker` subcommand.
            worker_exe: std::env::current_exe().ok(),
            worker_args: vec![crate::SCAN_WORKER.into()],
            ..ScanOptions::default()
        };
        let scanner = Scanner::new(&policy, opts)
            .map_err(|e| anyhow::anyhow!("cannot prepare the content scanner: {e}"))?;
        Ok(Inspector {
            cfg,
            policy,
            root,
            scanner,
        })
    }

    /// A report skeleton: host and policy filled, no checks or findings,
    /// and a scope that covers nothing (a heartbeat's); the inspections
    /// below widen it to what they did.
    pub fn blank(&self, trigger: Trigger) -> Report {
        let mut r = Report::new("", 0, None, trigger);
        r.scope = Some(Scope::none());
        r.host = HostInfo {
            hostname: hostname(&self.root),
            os: os_name(&self.root),
            classification: self.cfg.host.classification.to_string(),
            agent_version: Some(env!("CARGO_PKG_VERSION").to_string()),
            root: (!self.root.is_live()).then(|| self.root.path().display().to_string()),
        };
        r.policy = PolicyRef {
            digest: self.policy.digest.clone(),
            source: Some(
                self.policy
                    .source
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "built-in".into()),
            ),
            version: self.policy.version,
        };
        r
    }

    /// A full inspection: host checks, media present now, and (unless
    /// `content` is false) a content scan of the configured paths and media.
    pub fn inspect(&self, trigger: Trigger, content: bool) -> Report {
        let mut report = self.blank(trigger);
        report.scope = Some(Scope {
            content: if content {
                ContentScope::All
            } else {
                ContentScope::None
            },
            media: self.root.is_live(),
            ..Scope::full()
        });
        let thresholds = self
            .policy
            .baseline
            .thresholds(self.cfg.host.classification);
        let host = mijian_hostcheck::check_host(&self.root, &thresholds);
        report.checks = host.checks;
        report.notes.extend(host.notes);
        // Internet and usage traces, radios, software, services, audit
        // (spec/inspection-checks.md).
        let icfg = mijian_hostcheck::InspectionConfig::new(
            &self.policy,
            self.cfg.host.classification,
            self.cfg
                .media
                .roots
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect(),
        );
        report
            .checks
            .extend(mijian_hostcheck::inspection_checks(&self.root, &icfg));

        let media = if self.root.is_live() {
            mijian_media::mounted_now(&self.media_options(), &self.policy.media)
        } else {
            report.notes.push(NOTE_ROOT_MEDIA.into());
            Vec::new()
        };
        for m in &media {
            report.findings.push(m.finding.clone());
        }
        if self.cfg.media.usb_history {
            report.findings.extend(mijian_media::usb_history(
                self.root.path(),
                &self.policy.media,
            ));
        }

        let mut omitted = mijian_scanner::Omitted::default();
        if content {
            let paths = self.content_paths();
            let started = std::time::Instant::now();
            let outcome = self.scanner.scan(&paths);
            let mut coverage = coverage(&outcome);
            omitted.merge(outcome.omitted);
            let mut seen: HashSet<String> = HashSet::new();
            for mut f in outcome.findings {
                if let Some(m) = medium_of(&media, &f) {
                    m.tag(&mut f);
                }
                seen.insert(finding_key(&f));
                report.findings.push(f);
            }
            // Media mounted elsewhere than under the content paths, or not
            // reached because the walk stays on one filesystem.
            for m in &media {
                let outcome = self.scanner.scan(std::slice::from_ref(&m.mount_point));
                add_coverage(&mut coverage, &outcome);
                omitted.merge(outcome.omitted);
                for mut f in outcome.findings {
                    if seen.insert(finding_key(&f)) {
                        m.tag(&mut f);
                        report.findings.push(f);
                    }
                }
            }
            coverage.duration_ms = started.elapsed().as_millis() as u64;
            report.coverage = Some(coverage);
            self.as_inspected(&mut report.findings);
        }
        // Enforcement comes after the scan, so an unmounted medium's content
        // was seen first.
        let enforcement = self.enforcement();
        for m in &media {
            if let Some(action) = mijian_media::enforce(m, enforcement) {
                report.findings.push(action);
            }
        }
        crate::bound::attach_omitted(&mut report, omitted, max_findings());
        report
    }

    /// A content scan of the given paths only (the `scan` command and the
    /// daemon's `file_change` trigger).
    pub fn scan_files(&self, trigger: Trigger, paths: &[PathBuf]) -> Report {
        let mut report = self.blank(trigger);
        report.scope = Some(Scope::paths(
            paths.iter().map(|p| mijian_report::encode_path(p).path),
        ));
        report.notes.push(NOTE_PARTIAL_SCAN.into());
        // A path that is gone (a removed file) is in the scope, so what was
        // found there is resolved, but there is nothing to scan.
        let present: Vec<PathBuf> = paths
            .iter()
            .filter(|p| p.symlink_metadata().is_ok())
            .cloned()
            .collect();
        if !present.is_empty() {
            let started = std::time::Instant::now();
            let outcome = self.scanner.scan(&present);
            let mut c = coverage(&outcome);
            c.duration_ms = started.elapsed().as_millis() as u64;
            report.coverage = Some(c);
            report.findings = outcome.findings;
            crate::bound::attach_omitted(&mut report, outcome.omitted, max_findings());
        }
        report
    }

    /// A removable medium was mounted (or is present at start): its finding
    /// plus a scan of what it carries, tied to it.
    pub fn media_report(&self, medium: &MountedMedium) -> Report {
        let mut report = self.blank(Trigger::Media);
        // This medium's content; not "media": the other media were not enumerated.
        report.scope = Some(Scope::paths([mijian_report::encode_path(
            &medium.mount_point,
        )
        .path]));
        report.findings.push(medium.finding.clone());
        let outcome = self.scanner.scan(std::slice::from_ref(&medium.mount_point));
        for mut f in outcome.findings {
            medium.tag(&mut f);
            report.findings.push(f);
        }
        if let Some(action) = mijian_media::enforce(medium, self.enforcement()) {
            report.findings.push(action);
        }
        crate::bound::attach_omitted(&mut report, outcome.omitted, max_findings());
        report
    }

    /// The enforcement for unregistered media on this host's level.
    pub fn enforcement(&self) -> mijian_media::Enforcement {
        self.cfg.media.enforcement_for(self.cfg.host.classification)
    }

    pub fn media_options(&self) -> MediaOptions {
        MediaOptions::with_roots(self.cfg.media.roots.clone())
    }

    /// `content.paths`, or every interactive user's home plus the media
    /// roots, as real paths under the root.
    pub fn content_paths(&self) -> Vec<PathBuf> {
        let under_root = |p: &Path| -> PathBuf {
            if self.root.is_live() {
                p.to_path_buf()
            } else {
                self.root.path().join(p.strip_prefix("/").unwrap_or(p))
            }
        };
        match &self.cfg.content.paths {
            Some(paths) => paths.iter().map(|p| under_root(p)).collect(),
            None => {
                let mut v = mijian_hostcheck::interactive_homes(&self.root);
                for r in &self.cfg.media.roots {
                    let p = under_root(r);
                    if p.is_dir() {
                        v.push(p);
                    }
                }
                v
            }
        }
    }
}

impl Inspector {
    /// Under `--root DIR`, write content findings' paths as they are on the
    /// inspected system (`/home/a/x.doc`), keeping where this machine read
    /// them in `scan_path` (issue 18).
    fn as_inspected(&self, findings: &mut [Finding]) {
        if self.root.is_live() {
            return;
        }
        let root = self.root.path().display().to_string();
        let root = root.trim_end_matches('/');
        for f in findings {
            let Some(p) = &f.path else { continue };
            let Some(rest) = p.strip_prefix(root) else {
                continue;
            };
            if !(rest.is_empty() || rest.starts_with('/') || rest.starts_with("!/")) {
                continue;
            }
            let inside = if rest.starts_with('/') {
                rest.to_string()
            } else {
                format!("/{rest}")
            };
            f.scan_path = Some(p.clone());
            if let Some(raw) = f.path_b64.as_deref().and_then(|b| {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.decode(b).ok()
            }) {
                let strip = raw.get(root.len()..).unwrap_or(&raw).to_vec();
                let mut with_slash = strip.clone();
                if !strip.starts_with(b"/") {
                    with_slash.insert(0, b'/');
                }
                use base64::Engine as _;
                f.path_b64 = Some(base64::engine::general_purpose::STANDARD.encode(with_slash));
            }
            f.path = Some(inside);
        }
    }
}

/// What one scan covered; the caller sets the duration.
fn coverage(o: &ScanOutcome) -> Coverage {
    let mut c = Coverage::default();
    add_coverage(&mut c, o);
    c
}

fn add_coverage(c: &mut Coverage, o: &ScanOutcome) {
    c.files += o.files_walked;
    c.cached += o.cache_hits;
    c.analysed += o.files_scanned;
    c.binary += o.files_skipped;
    c.excluded += o.excluded;
    c.bytes += o.bytes;
    for f in o
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Unscannable)
    {
        match f.reason.as_deref() {
            Some("permission" | "io") => c.unreadable += 1,
            Some("vanished") => c.vanished += 1,
            _ => c.unscannable += 1,
        }
    }
}

fn finding_key(f: &Finding) -> String {
    format!("{}\0{}", f.kind, f.path.as_deref().unwrap_or(""))
}

fn medium_of<'a>(media: &'a [MountedMedium], f: &Finding) -> Option<&'a MountedMedium> {
    let path = f.path.as_deref()?;
    media
        .iter()
        .filter(|m| Path::new(path).starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.as_os_str().len())
}

/// The host name: the kernel's on a live host, `etc/hostname` under a root.
pub fn hostname(root: &Root) -> String {
    let from_file = |p: &Path| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    if root.is_live() {
        from_file(Path::new("/proc/sys/kernel/hostname"))
            .or_else(|| from_file(Path::new("/etc/hostname")))
            .or_else(mijian_hostcheck::live_hostname)
            .unwrap_or_else(|| "unknown".into())
    } else {
        from_file(&root.path().join("etc/hostname")).unwrap_or_else(|| "unknown".into())
    }
}

/// `PRETTY_NAME` from os-release under the root.
pub fn os_name(root: &Root) -> String {
    if root.is_live()
        && let Some(n) = mijian_hostcheck::live_os_name()
    {
        return n;
    }
    for rel in ["etc/os-release", "usr/lib/os-release"] {
        if let Ok(text) = std::fs::read_to_string(root.path().join(rel)) {
            for line in text.lines() {
                if let Some(v) = line.strip_prefix("PRETTY_NAME=") {
                    return v.trim().trim_matches('"').to_string();
                }
            }
        }
    }
    std::env::consts::OS.to_string()
}

/// Findings one scan keeps (the scanner's default limit, which the agent
/// does not change): named in the report's `truncated.reason`.
fn max_findings() -> usize {
    mijian_scanner::extract::Limits::default().max_findings
}
