//! Glue between the public [`Scanner`](crate::Scanner) and the engine: the
//! per-file analysis (`file.rs`) behind the engine's [`Analyser`] seam, the
//! `ScanOptions` → [`EngineOptions`] mapping, and the worker entry point that
//! rebuilds the same analyser from the policy in a worker process.

use crate::extract::Ctx;
use crate::file::{self, Compiled};
use crate::pipeline::{self, Analyser, EngineOptions, FileResult};
use crate::walk::{WalkOptions, build_excludes};
use crate::worker::{Init, Rlimits, WireLimits, WorkerConfig};
use crate::{ScanError, ScanOptions, ScanOutcome};
use mijian_policy::{Classification, Policy};
use mijian_report::Finding;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The per-file analysis of `file.rs` as the engine sees it. The policy is
/// compiled lazily, on the first file the cache cannot answer: compiling
/// builds the normalisation tables, a third of an unchanged rescan's time.
/// The policy crate has already validated every pattern, so a failure here
/// is unexpected; it makes every file `unscannable` (reason `policy`),
/// never clean.
pub struct CoreAnalyser {
    policy: Option<Policy>,
    host_level: Classification,
    cell: OnceLock<Result<Arc<Compiled>, String>>,
}

impl CoreAnalyser {
    /// An analyser that compiles `policy` on first use.
    pub fn lazy(policy: &Policy, host_level: Classification) -> CoreAnalyser {
        CoreAnalyser {
            policy: Some(policy.clone()),
            host_level,
            cell: OnceLock::new(),
        }
    }

    /// An analyser over an already compiled policy.
    pub fn compiled_with(compiled: Arc<Compiled>) -> CoreAnalyser {
        let host_level = compiled.host_level;
        CoreAnalyser {
            policy: None,
            host_level,
            cell: OnceLock::from(Ok(compiled)),
        }
    }

    /// The compiled policy, built on first call.
    pub fn compiled(&self) -> Result<Arc<Compiled>, String> {
        self.cell
            .get_or_init(|| match &self.policy {
                Some(p) => Compiled::new(p, self.host_level)
                    .map(Arc::new)
                    .map_err(|e| format!("cannot compile the rules: {e}")),
                None => Err("no policy".into()),
            })
            .clone()
    }

    fn failed(&self, path: &Path, why: String) -> FileResult {
        FileResult {
            findings: vec![file::unreadable(path, "policy", why)],
            files: 1,
            skipped: 0,
        }
    }
}

impl Analyser for CoreAnalyser {
    fn analyse(&self, path: &Path, data: &[u8], ctx: &mut Ctx) -> FileResult {
        let c = match self.compiled() {
            Ok(c) => c,
            Err(why) => return self.failed(path, why),
        };
        let a = file::analyse(path, data, ctx, &c);
        FileResult {
            findings: a.findings,
            files: a.files,
            skipped: u64::from(a.skipped),
        }
    }

    fn analyse_reader(&self, path: &Path, r: &mut dyn Read, ctx: &mut Ctx) -> FileResult {
        let c = match self.compiled() {
            Ok(c) => c,
            Err(why) => return self.failed(path, why),
        };
        let a = file::analyse_reader(path, r, ctx, &c);
        FileResult {
            findings: a.findings,
            files: a.files,
            skipped: u64::from(a.skipped),
        }
    }

    fn is_plain_text(&self, head: &[u8]) -> bool {
        crate::sniff::is_plain_text(head)
    }

    fn unreadable(&self, path: &Path, reason: &str, message: String) -> Finding {
        file::unreadable(path, reason, message)
    }
}

/// Everything the engine needs, built once by `Scanner::new`.
pub struct Engine {
    pub opts: EngineOptions,
    pub analyser: CoreAnalyser,
}

impl Engine {
    pub fn new(policy: &Policy, opts: &ScanOptions) -> Result<Engine, ScanError> {
        let exclude = build_excludes(&opts.exclude).map_err(ScanError::Setup)?;
        let level = opts.host_level.as_str().to_string();
        let worker = opts.worker_exe.as_ref().map(|exe| WorkerConfig {
            exe: exe.clone(),
            args: opts.worker_args.clone(),
            env: Vec::new(),
            init: Init {
                rules_dir: policy.source.clone(),
                policy_digest: policy.digest.clone(),
                host_level: level.clone(),
                limits: WireLimits::from(&opts.limits),
                rlimits: Rlimits::default(),
            },
        });
        Ok(Engine {
            opts: EngineOptions {
                walk: WalkOptions {
                    one_file_system: opts.one_file_system,
                    exclude,
                    ..WalkOptions::default()
                },
                threads: opts.threads,
                limits: opts.limits.clone(),
                cache: opts
                    .cache_path
                    .as_ref()
                    .map(|p| (p.clone(), policy.digest.clone(), level)),
                worker,
                progress: opts.progress.clone(),
            },
            analyser: CoreAnalyser::lazy(policy, opts.host_level),
        })
    }

    /// Scan files and directories.
    pub fn scan(&self, paths: &[PathBuf]) -> ScanOutcome {
        let out = pipeline::run(paths, &self.opts, &self.analyser);
        ScanOutcome {
            findings: out.findings,
            omitted: out.omitted,
            files_scanned: out.files_scanned,
            files_skipped: out.files_skipped,
            files_walked: out.cache_hits + out.files_read,
            cache_hits: out.cache_hits,
            bytes: out.bytes,
            excluded: out.excluded,
        }
    }
}

/// The worker process: rebuild the policy the parent uses (same rules
/// directory, same digest) and serve requests on stdin/stdout.
pub fn worker_main() -> i32 {
    crate::worker::serve(|init: &Init| {
        let policy = match &init.rules_dir {
            Some(dir) => Policy::load(dir),
            // No directory: the built-in rules, or the documented example set
            // that tests and demos scan with (issue 18); the digest decides.
            None => Policy::builtin().and_then(|p| {
                if p.digest == init.policy_digest {
                    Ok(p)
                } else {
                    Policy::example()
                }
            }),
        }
        .map_err(|e| format!("scan worker cannot load the rules: {e}"))?;
        if policy.digest != init.policy_digest {
            return Err(format!(
                "the rules changed since the scan started (digest {} != {}); rerun the scan",
                policy.digest, init.policy_digest
            ));
        }
        let level: Classification = init.host_level.parse()?;
        let compiled = Compiled::new(&policy, level).map_err(|e| e.to_string())?;
        Ok(Box::new(CoreAnalyser::compiled_with(Arc::new(compiled))) as Box<dyn Analyser>)
    })
}

#[cfg(test)]
mod tests;
