//! The scan engine: walk → (cache | read | worker) → findings, in parallel.
//!
//! One thread walks (walkdir, `walk.rs`) and feeds a bounded queue; N
//! analysis threads (default: the available cores) take files from it. For
//! each file an analysis thread first asks the cache (`cache.rs`): an
//! unchanged file costs one `lstat` and no read. Otherwise it opens the file
//! without blocking and checks it is still the regular file the walk saw,
//! reads its head, and either analyses it in-process (plain text and HTML,
//! whose decoders are simple and total; large ones are streamed in chunks)
//! or hands it to its worker process (`worker.rs`) for everything else.
//!
//! The engine does not know formats, keywords or verdicts: those live behind
//! [`Analyser`], implemented by the per-file analysis (`file.rs`). Memory is
//! bounded by the thread count × the in-memory read limit: the parent never
//! buffers a document, workers read it themselves.

use crate::cache::{Cache, FileStamp};
use crate::extract::{Ctx, Limits};
use crate::walk::{WalkItem, WalkOptions, walk_parallel};
use crate::worker::{WorkerConfig, WorkerFailure, WorkerSlot};
use mijian_report::Finding;
use serde::{Deserialize, Serialize};
use std::fs::{File, Metadata};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Bytes looked at to decide between in-process and worker analysis.
const HEAD_BYTES: usize = 16 * 1024;
/// Plain-text files up to this size are read whole; larger ones streamed.
const WHOLE_TEXT_BYTES: u64 = 8 << 20;

/// What the engine needs from the per-file analysis.
pub trait Analyser: Send + Sync {
    /// Analyse a file (or member) whose bytes are in memory.
    fn analyse(&self, path: &Path, data: &[u8], ctx: &mut Ctx) -> FileResult;
    /// Analyse plain text read as a stream (files too big to buffer).
    fn analyse_reader(&self, path: &Path, r: &mut dyn Read, ctx: &mut Ctx) -> FileResult;
    /// Whether content starting with `head` is plain text or HTML: safe to
    /// analyse in-process and to stream.
    fn is_plain_text(&self, head: &[u8]) -> bool;
    /// The `unscannable` finding for a file that could not be read.
    fn unreadable(&self, path: &Path, reason: &str, message: String) -> Finding;
}

/// The result of analysing one file (members included).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileResult {
    pub findings: Vec<Finding>,
    /// Files analysed, archive members included.
    pub files: u64,
    /// Files whose content was binary and not scanned (names were).
    #[serde(default)]
    pub skipped: u64,
}

impl FileResult {
    /// A file that could not be read: one `unscannable` finding.
    pub fn unreadable(a: &dyn Analyser, path: &Path, reason: &str, message: String) -> FileResult {
        FileResult {
            findings: vec![a.unreadable(path, reason, message)],
            files: 1,
            skipped: 0,
        }
    }

    /// Whether the result must not be cached: it says more about this
    /// moment (load, permissions) than about the file's content.
    fn transient(&self) -> bool {
        self.findings.iter().any(|f| {
            matches!(
                f.reason.as_deref(),
                Some("timeout" | "crash" | "permission" | "vanished" | "io" | "worker")
            )
        })
    }
}

/// How the engine runs.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    pub walk: WalkOptions,
    /// Analysis threads (0: the available cores).
    pub threads: usize,
    pub limits: Limits,
    /// Cache file, policy digest and host level (`None`: no cache).
    pub cache: Option<(PathBuf, String, String)>,
    /// Worker processes for document formats (`None`: in-process).
    pub worker: Option<WorkerConfig>,
    /// Live counters for a progress display (`None`: nobody is watching).
    pub progress: Option<Arc<Progress>>,
}

/// Live counters of a running scan, read by a progress display on another
/// thread (the agent's progress bar, issue 18). The walk runs ahead of the
/// analysis through a bounded queue, so `found` is a lower bound of the
/// total until `walk_done` is set.
#[derive(Debug, Default)]
pub struct Progress {
    pub files_found: AtomicU64,
    pub bytes_found: AtomicU64,
    pub files_done: AtomicU64,
    pub bytes_done: AtomicU64,
    pub walk_done: AtomicBool,
}

/// What a run produced.
#[derive(Debug, Default)]
pub struct EngineOutcome {
    pub findings: Vec<Finding>,
    /// Findings counted but not kept (past `Limits::max_findings`).
    pub omitted: kept::Omitted,
    /// Files analysed or answered from the cache (members included).
    pub files_scanned: u64,
    /// Files whose content was binary and not scanned (names were).
    pub files_skipped: u64,
    /// Files answered from the cache without reading.
    pub cache_hits: u64,
    /// Files whose content was read.
    pub files_read: u64,
    /// Bytes of the regular files the walk handed out (cache hits included).
    pub bytes: u64,
    /// Paths skipped by the exclude patterns (a pruned directory counts once).
    pub excluded: u64,
}

/// Open `path` for reading without blocking (a FIFO swapped in after the
/// walk must not hang us), without following a symlink swapped in, and
/// check it is a regular file, and (when given) the same device and inode.
/// Errors are `(reason, message)` for an `unscannable` finding.
pub fn open_checked(
    path: &Path,
    expect: Option<(u64, u64)>,
) -> Result<File, (&'static str, String)> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY);
    }
    let file = opts.open(path).map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::PermissionDenied => "permission",
            std::io::ErrorKind::NotFound => "vanished",
            _ => "io",
        };
        (reason, format!("cannot open {}: {e}", path.display()))
    })?;
    let meta = file
        .metadata()
        .map_err(|e| ("io", format!("cannot stat {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err((
            "vanished",
            format!("{} is no longer a regular file", path.display()),
        ));
    }
    #[cfg(unix)]
    if let Some((dev, ino)) = expect {
        use std::os::unix::fs::MetadataExt;
        if meta.dev() != dev || meta.ino() != ino {
            return Err((
                "vanished",
                format!("{} was replaced during the scan", path.display()),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = expect;
    // Back to blocking reads for a regular file (O_NONBLOCK has no effect
    // on regular files on Linux, but be explicit for other systems).
    Ok(file)
}

/// Run the engine over `roots`.
pub fn run(roots: &[PathBuf], opts: &EngineOptions, analyser: &dyn Analyser) -> EngineOutcome {
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        opts.threads
    };
    let cache = opts
        .cache
        .as_ref()
        .map(|(p, digest, level)| Mutex::new(Cache::open(p, digest, level)));
    let findings = Mutex::new(kept::Kept::new(opts.limits.max_findings));
    let files = AtomicU64::new(0);
    let skipped = AtomicU64::new(0);
    let hits = AtomicU64::new(0);
    let read = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    let progress = opts.progress.as_deref();
    // A fresh exclusion counter per run (one engine serves many scans).
    let walk_opts = crate::walk::WalkOptions {
        excluded: Arc::default(),
        ..opts.walk.clone()
    };
    let (tx, rx) = crossbeam_channel::bounded::<WalkItem>(4096);
    std::thread::scope(|s| {
        for _ in 0..threads {
            let rx = rx.clone();
            let (cache, findings, files, hits, read, skipped, bytes) =
                (&cache, &findings, &files, &hits, &read, &skipped, &bytes);
            s.spawn(move || {
                let mut slot = opts.worker.clone().map(WorkerSlot::new);
                let mut local = Vec::new();
                for item in rx {
                    let size = match &item {
                        WalkItem::File { meta, .. } => meta.len(),
                        WalkItem::Unreadable { .. } => 0,
                    };
                    let (result, from_cache) = match item {
                        WalkItem::Unreadable {
                            path,
                            reason,
                            message,
                        } => (
                            FileResult::unreadable(analyser, &path, reason, message),
                            false,
                        ),
                        WalkItem::File { path, meta } => {
                            process(&path, &meta, opts, analyser, cache.as_ref(), slot.as_mut())
                        }
                    };
                    if from_cache {
                        hits.fetch_add(1, Ordering::Relaxed);
                    } else {
                        read.fetch_add(1, Ordering::Relaxed);
                    }
                    files.fetch_add(result.files, Ordering::Relaxed);
                    skipped.fetch_add(result.skipped, Ordering::Relaxed);
                    bytes.fetch_add(size, Ordering::Relaxed);
                    if let Some(p) = progress {
                        p.files_done.fetch_add(1, Ordering::Relaxed);
                        p.bytes_done.fetch_add(size, Ordering::Relaxed);
                    }
                    local.extend(result.findings);
                    // Hand over in batches: the shared list is the one
                    // bounded by `max_findings`.
                    if local.len() >= 256
                        && let Ok(mut f) = findings.lock()
                    {
                        f.extend(local.drain(..));
                    }
                }
                if let Ok(mut f) = findings.lock() {
                    f.extend(local);
                }
            });
        }
        drop(rx);
        // Walk on as many threads as analyse: on an unchanged tree the
        // walk (an lstat per file) is all the work there is.
        walk_parallel(roots, &walk_opts, threads, &|item| {
            if let Some(p) = progress {
                p.files_found.fetch_add(1, Ordering::Relaxed);
                if let WalkItem::File { meta, .. } = &item {
                    p.bytes_found.fetch_add(meta.len(), Ordering::Relaxed);
                }
            }
            tx.send(item).is_ok()
        });
        if let Some(p) = progress {
            p.walk_done.store(true, Ordering::Relaxed);
        }
        drop(tx);
    });
    if let Some(c) = cache
        && let Ok(mut c) = c.into_inner()
        && let Err(e) = c.save()
    {
        log::warn!("cannot save the scan cache: {e} (the next scan reads everything again)");
    }
    let (mut findings, omitted) = match findings.into_inner() {
        Ok(k) => k.finish(),
        Err(p) => p.into_inner().finish(),
    };
    findings.sort_by(|a, b| {
        a.path
            .cmp(&b.path)
            .then_with(|| a.kind.as_str().cmp(b.kind.as_str()))
    });
    EngineOutcome {
        findings,
        omitted,
        files_scanned: files.into_inner(),
        files_skipped: skipped.into_inner(),
        cache_hits: hits.into_inner(),
        files_read: read.into_inner(),
        bytes: bytes.into_inner(),
        excluded: walk_opts.excluded.load(Ordering::Relaxed),
    }
}

/// One regular file: from the cache, or analysed. Returns the result and
/// whether it came from the cache.
fn process(
    path: &Path,
    meta: &Metadata,
    opts: &EngineOptions,
    analyser: &dyn Analyser,
    cache: Option<&Mutex<Cache>>,
    slot: Option<&mut WorkerSlot>,
) -> (FileResult, bool) {
    let stamp = FileStamp::of(meta);
    if let Some(c) = cache
        && let Ok(mut c) = c.lock()
        && let Some(v) = c.get(path, &stamp)
    {
        // An empty value is the common case, a clean file (see below).
        if v.is_empty() {
            return (
                FileResult {
                    findings: Vec::new(),
                    files: 1,
                    skipped: 0,
                },
                true,
            );
        }
        if let Ok(r) = serde_json::from_slice::<FileResult>(v) {
            return (r, true);
        }
    }
    let result = analyse_file(path, &stamp, opts, analyser, slot);
    if let Some(c) = cache
        && !result.transient()
    {
        let clean = result.findings.is_empty() && result.files == 1 && result.skipped == 0;
        let bytes = if clean {
            Ok(Vec::new())
        } else {
            serde_json::to_vec(&result)
        };
        if let Ok(bytes) = bytes
            && let Ok(mut c) = c.lock()
        {
            c.put(path, stamp, bytes);
        }
    }
    (result, false)
}

fn analyse_file(
    path: &Path,
    stamp: &FileStamp,
    opts: &EngineOptions,
    analyser: &dyn Analyser,
    slot: Option<&mut WorkerSlot>,
) -> FileResult {
    let expect = if cfg!(unix) {
        Some((stamp.dev, stamp.ino))
    } else {
        None
    };
    let mut file = match open_checked(path, expect) {
        Ok(f) => f,
        Err((reason, message)) => return FileResult::unreadable(analyser, path, reason, message),
    };
    let head = Vec::with_capacity(HEAD_BYTES.min(stamp.size as usize + 1));
    let head = match read_rest(analyser, path, &mut file, head, HEAD_BYTES as u64) {
        Ok(h) => h,
        Err(unreadable) => return unreadable,
    };
    let limits = &opts.limits;
    if analyser.is_plain_text(&head) {
        let mut ctx = Ctx::new(limits.clone());
        if stamp.size <= WHOLE_TEXT_BYTES {
            // Room for the whole file at once: no regrowing copies.
            let mut head = head;
            head.reserve_exact((stamp.size as usize + 1).saturating_sub(head.len()));
            return match read_rest(analyser, path, &mut file, head, WHOLE_TEXT_BYTES) {
                Ok(data) => analyser.analyse(path, &data, &mut ctx),
                Err(unreadable) => unreadable,
            };
        }
        let mut r = std::io::Cursor::new(head).chain(file);
        return analyser.analyse_reader(path, &mut r, &mut ctx);
    }
    if stamp.size > limits.max_file_bytes {
        return FileResult::unreadable(
            analyser,
            path,
            "limit",
            format!(
                "{} bytes, larger than the {}-byte limit for documents",
                stamp.size, limits.max_file_bytes
            ),
        );
    }
    if let Some(slot) = slot {
        return match slot.analyse(path, stamp.dev, stamp.ino) {
            Ok(r) => r,
            Err(WorkerFailure::Crash(why)) => FileResult::unreadable(analyser, path, "crash", why),
            Err(WorkerFailure::Timeout) => FileResult::unreadable(
                analyser,
                path,
                "timeout",
                format!("document parser took longer than {:?}", limits.timeout),
            ),
            Err(WorkerFailure::Unavailable(why)) => {
                // No worker could be started (a broken installation): an
                // in-process scan is better than seeing nothing, and the
                // log says isolation is off.
                log::warn!(
                    "scan worker unavailable ({why}); parsing {} in-process",
                    path.display()
                );
                in_process(analyser, path, &mut file, head, limits)
            }
        };
    }
    in_process(analyser, path, &mut file, head, limits)
}

/// Read the rest of a document (bounded) and analyse it in this process.
fn in_process(
    analyser: &dyn Analyser,
    path: &Path,
    file: &mut std::fs::File,
    head: Vec<u8>,
    limits: &Limits,
) -> FileResult {
    match read_rest(analyser, path, file, head, limits.max_file_bytes) {
        Ok(data) => analyser.analyse(path, &data, &mut Ctx::new(limits.clone())),
        Err(unreadable) => unreadable,
    }
}

/// `head` followed by at most `max` more bytes of `file`; a read error is
/// the file's result (an `io` finding).
fn read_rest(
    analyser: &dyn Analyser,
    path: &Path,
    file: &mut std::fs::File,
    mut data: Vec<u8>,
    max: u64,
) -> Result<Vec<u8>, FileResult> {
    match file.take(max).read_to_end(&mut data) {
        Ok(_) => Ok(data),
        Err(e) => Err(FileResult::unreadable(
            analyser,
            path,
            "io",
            format!("reading {}: {e}", path.display()),
        )),
    }
}

pub mod kept;

#[cfg(test)]
mod tests;
