//! Isolation of document parsers in worker processes.
//!
//! Parsers of complex formats (OLE, PDF, OOXML, ...) have a history of
//! panics, unbounded recursion and pathological slowness; a stack overflow
//! kills a process even inside `catch_unwind` (PITFALLS). So the engine hands
//! every file that is not plain text to a persistent worker process, which
//! runs the ordinary per-file analysis under rlimits (address space, CPU, no
//! core dumps) and dies with its parent. The parent kills a worker that
//! overruns the per-file deadline; a worker that dies or hangs costs one
//! `unscannable` finding (`crash` or `timeout`) and is restarted.
//!
//! Protocol (stdin/stdout of the worker, every frame = u32 LE length +
//! bytes): the parent sends one [`Init`] (JSON) and the worker answers
//! [`InitReply`]; then per file a [`Request`] (JSON) answered by a
//! [`FileResult`] (JSON). The worker opens the file itself, by path, and
//! checks it is the regular file the walk saw (device and inode), so the
//! parent never holds document bytes and a swapped-in FIFO is never opened
//! blocking. The worker needs no other input and writes nothing but frames.
//!
//! Test hook: when `MIJIAN_WORKER_TEST_HOOKS=1` is in the worker's
//! environment, files starting with `MIJIAN-TEST-ABORT`, `MIJIAN-TEST-STACK`
//! or `MIJIAN-TEST-HANG` make the worker abort, overflow its stack or hang,
//! so tests can prove the parent survives all three.

use crate::extract::{Ctx, Limits};
use crate::pipeline::{Analyser, FileResult};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Largest frame accepted from either side.
const MAX_FRAME: usize = 64 << 20;
/// Requests served before a worker is recycled (bounds leaks and the
/// cumulative CPU rlimit).
const RECYCLE_AFTER: u32 = 2000;
/// Time a worker gets to start and load the policy.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Extra time past the per-file deadline (plus a quarter of it) before the
/// worker is killed: the extractors check the deadline themselves and
/// answer `timeout` cleanly when they can.
const GRACE: Duration = Duration::from_secs(1);

/// Written by a worker before its first frame. The parent skips anything
/// before it, so a library (or a test harness) printing to stdout first
/// cannot desynchronise the protocol.
const SYNC: &[u8; 8] = b"MIJIANW1";

/// Environment variable enabling the crash/hang test hooks in a worker.
pub const TEST_HOOKS_ENV: &str = "MIJIAN_WORKER_TEST_HOOKS";

/// Resource limits a worker puts on itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rlimits {
    /// Address space in bytes (RLIMIT_AS).
    pub address_space: u64,
    /// CPU seconds over the worker's lifetime (RLIMIT_CPU).
    pub cpu_seconds: u64,
}

impl Default for Rlimits {
    fn default() -> Self {
        Rlimits {
            address_space: 1 << 30,
            cpu_seconds: 3600,
        }
    }
}

/// [`Limits`] in a form that crosses the pipe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireLimits {
    pub max_file_bytes: u64,
    pub max_decompressed_bytes: u64,
    pub max_ratio: u64,
    pub max_depth: u32,
    pub max_elements: u64,
    pub max_text_chars: usize,
    pub timeout_ms: u64,
    #[serde(default = "default_max_findings")]
    pub max_findings_per_file: usize,
}

fn default_max_findings() -> usize {
    Limits::default().max_findings_per_file
}

impl From<&Limits> for WireLimits {
    fn from(l: &Limits) -> Self {
        WireLimits {
            max_file_bytes: l.max_file_bytes,
            max_decompressed_bytes: l.max_decompressed_bytes,
            max_ratio: l.max_ratio,
            max_depth: l.max_depth,
            max_elements: l.max_elements,
            max_text_chars: l.max_text_chars,
            timeout_ms: u64::try_from(l.timeout.as_millis()).unwrap_or(u64::MAX),
            max_findings_per_file: l.max_findings_per_file,
        }
    }
}

impl From<&WireLimits> for Limits {
    fn from(w: &WireLimits) -> Self {
        Limits {
            max_file_bytes: w.max_file_bytes,
            max_decompressed_bytes: w.max_decompressed_bytes,
            max_ratio: w.max_ratio,
            max_depth: w.max_depth,
            max_elements: w.max_elements,
            max_text_chars: w.max_text_chars,
            timeout: Duration::from_millis(w.timeout_ms),
            max_findings_per_file: w.max_findings_per_file,
            ..Limits::default()
        }
    }
}

/// First frame to a worker: what it needs to build the same analyser.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Init {
    /// The rules directory (`None`: the built-in rules).
    pub rules_dir: Option<PathBuf>,
    /// The policy digest the parent uses; the worker refuses another.
    pub policy_digest: String,
    /// The host classification, as its Chinese name.
    pub host_level: String,
    pub limits: WireLimits,
    pub rlimits: Rlimits,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InitReply {
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
}

/// One file to analyse.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// Raw path bytes, base64 (paths need not be UTF-8).
    pub path_b64: String,
    /// Device and inode the walk saw; the worker refuses another file.
    pub dev: u64,
    pub ino: u64,
}

/// Why a worker could not give a result.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerFailure {
    /// The worker died (signal or exit) while analysing the file.
    Crash(String),
    /// The worker did not answer within the deadline and was killed.
    Timeout,
    /// The worker could not be started or spoke nonsense.
    Unavailable(String),
}

/// How to start workers.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The executable (the agent binary by default).
    pub exe: PathBuf,
    /// Its arguments (`["__scan-worker"]` for the agent).
    pub args: Vec<OsString>,
    /// Extra environment for the worker.
    pub env: Vec<(OsString, OsString)>,
    pub init: Init,
}

impl WorkerConfig {
    /// Per-file wall-clock bound enforced by the parent.
    fn deadline(&self) -> Duration {
        let t = Duration::from_millis(self.init.limits.timeout_ms);
        t.saturating_add(t / 4).saturating_add(GRACE)
    }
}

fn write_frame(w: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    let len =
        u32::try_from(bytes.len()).map_err(|_| std::io::Error::other("frame larger than 4 GiB"))?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(bytes)?;
    w.flush()
}

fn read_frame(r: &mut impl Read) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let n = u32::from_le_bytes(len) as usize;
    if n > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "frame of {n} bytes is too large"
        )));
    }
    let mut buf = vec![0u8; n];
    r.read_exact(&mut buf)?;
    Ok(Some(buf))
}

/// Read exactly `buf.len()` bytes before `deadline`.
#[cfg(unix)]
fn read_exact_deadline(
    r: &mut ChildStdout,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<(), WorkerFailure> {
    use std::os::fd::AsRawFd;
    let fd = r.as_raw_fd();
    let mut got = 0;
    while got < buf.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(WorkerFailure::Timeout);
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd for the duration of the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(WorkerFailure::Unavailable(format!("poll: {e}")));
        }
        if rc == 0 {
            return Err(WorkerFailure::Timeout);
        }
        match r.read(&mut buf[got..]) {
            Ok(0) => return Err(WorkerFailure::Crash("worker closed its output".into())),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(WorkerFailure::Crash(format!("reading from worker: {e}"))),
        }
    }
    Ok(())
}

/// Windows: anonymous pipes cannot be polled, so the bytes waiting are
/// asked with `PeekNamedPipe` (which works on them) and read only when
/// there are some; the wait between asks grows to 5 ms. A broken pipe is
/// the worker's death.
#[cfg(windows)]
fn read_exact_deadline(
    r: &mut ChildStdout,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<(), WorkerFailure> {
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::System::Pipes::PeekNamedPipe;
    let handle = r.as_raw_handle();
    let mut got = 0;
    let mut nap = Duration::from_micros(50);
    while got < buf.len() {
        let mut avail = 0u32;
        // SAFETY: a valid pipe handle owned by `r`; only the count is asked.
        let ok = unsafe {
            PeekNamedPipe(
                handle,
                std::ptr::null_mut(),
                0,
                std::ptr::null_mut(),
                &mut avail,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(WorkerFailure::Crash(format!(
                "worker closed its output ({})",
                std::io::Error::last_os_error()
            )));
        }
        if avail == 0 {
            if Instant::now() >= deadline {
                return Err(WorkerFailure::Timeout);
            }
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(5));
            continue;
        }
        nap = Duration::from_micros(50);
        let want = (buf.len() - got).min(avail as usize);
        match r.read(&mut buf[got..got + want]) {
            Ok(0) => return Err(WorkerFailure::Crash("worker closed its output".into())),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(WorkerFailure::Crash(format!("reading from worker: {e}"))),
        }
    }
    Ok(())
}

#[cfg(not(any(unix, windows)))]
fn read_exact_deadline(
    r: &mut ChildStdout,
    buf: &mut [u8],
    _deadline: Instant,
) -> Result<(), WorkerFailure> {
    r.read_exact(buf)
        .map_err(|e| WorkerFailure::Crash(format!("reading from worker: {e}")))
}

fn read_frame_deadline(r: &mut ChildStdout, deadline: Instant) -> Result<Vec<u8>, WorkerFailure> {
    let mut len = [0u8; 4];
    read_exact_deadline(r, &mut len, deadline)?;
    let n = u32::from_le_bytes(len) as usize;
    if n > MAX_FRAME {
        return Err(WorkerFailure::Unavailable(format!(
            "worker sent a {n}-byte frame"
        )));
    }
    let mut buf = vec![0u8; n];
    read_exact_deadline(r, &mut buf, deadline)?;
    Ok(buf)
}

/// Skip output until the worker's [`SYNC`] marker (at most 64 KiB).
fn skip_to_sync(r: &mut ChildStdout, deadline: Instant) -> Result<(), WorkerFailure> {
    let mut window = [0u8; 8];
    for _ in 0..(64 * 1024) {
        let mut b = [0u8; 1];
        read_exact_deadline(r, &mut b, deadline)?;
        window.rotate_left(1);
        window[7] = b[0];
        if &window == SYNC {
            return Ok(());
        }
    }
    Err(WorkerFailure::Unavailable(
        "no sync marker from the worker".into(),
    ))
}

/// One running worker process.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    served: u32,
}

impl Worker {
    fn spawn(cfg: &WorkerConfig) -> Result<Worker, WorkerFailure> {
        let mut child = Command::new(&cfg.exe)
            .args(&cfg.args)
            .envs(cfg.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                WorkerFailure::Unavailable(format!(
                    "cannot start scan worker {}: {e}",
                    cfg.exe.display()
                ))
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(WorkerFailure::Unavailable("worker pipes missing".into()));
        };
        let mut w = Worker {
            child,
            stdin,
            stdout,
            served: 0,
        };
        let init = serde_json::to_vec(&cfg.init)
            .map_err(|e| WorkerFailure::Unavailable(format!("init: {e}")))?;
        let start = Instant::now() + START_TIMEOUT;
        let reply = write_frame(&mut w.stdin, &init)
            .map_err(|e| WorkerFailure::Unavailable(format!("worker init: {e}")))
            .and_then(|()| skip_to_sync(&mut w.stdout, start))
            .and_then(|()| read_frame_deadline(&mut w.stdout, start));
        let reply = match reply {
            Ok(r) => r,
            Err(e) => {
                w.kill();
                return Err(WorkerFailure::Unavailable(format!(
                    "scan worker {} did not start: {e:?}",
                    cfg.exe.display()
                )));
            }
        };
        match serde_json::from_slice::<InitReply>(&reply) {
            Ok(InitReply { ok: true, .. }) => Ok(w),
            Ok(InitReply { error, .. }) => {
                w.kill();
                Err(WorkerFailure::Unavailable(
                    error.unwrap_or_else(|| "worker refused init".into()),
                ))
            }
            Err(e) => {
                w.kill();
                Err(WorkerFailure::Unavailable(format!(
                    "worker init reply: {e}"
                )))
            }
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Describe how the worker ended (after a failed read).
    fn death(&mut self) -> String {
        // Give a dying process a moment to be reaped.
        for _ in 0..50 {
            if let Ok(Some(st)) = self.child.try_wait() {
                #[cfg(unix)]
                {
                    use std::os::unix::process::ExitStatusExt;
                    if let Some(sig) = st.signal() {
                        return format!("document parser crashed (signal {sig})");
                    }
                }
                return format!("document parser exited ({st})");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
        "document parser stopped answering".into()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A worker slot owned by one analysis thread: starts the worker lazily,
/// restarts it after a crash, a timeout or [`RECYCLE_AFTER`] requests.
pub struct WorkerSlot {
    cfg: WorkerConfig,
    worker: Option<Worker>,
    /// Set after a failed start: the slot stops trying (no respawn storm).
    broken: Option<String>,
}

impl WorkerSlot {
    pub fn new(cfg: WorkerConfig) -> WorkerSlot {
        WorkerSlot {
            cfg,
            worker: None,
            broken: None,
        }
    }

    /// Analyse the file at `path` (device `dev`, inode `ino`) in the worker.
    pub fn analyse(
        &mut self,
        path: &Path,
        dev: u64,
        ino: u64,
    ) -> Result<FileResult, WorkerFailure> {
        if let Some(why) = &self.broken {
            return Err(WorkerFailure::Unavailable(why.clone()));
        }
        if self
            .worker
            .as_ref()
            .is_some_and(|w| w.served >= RECYCLE_AFTER)
        {
            self.worker = None;
        }
        if self.worker.is_none() {
            match Worker::spawn(&self.cfg) {
                Ok(w) => self.worker = Some(w),
                Err(e) => {
                    if let WorkerFailure::Unavailable(why) = &e {
                        self.broken = Some(why.clone());
                    }
                    return Err(e);
                }
            }
        }
        let deadline = Instant::now() + self.cfg.deadline();
        let Some(w) = self.worker.as_mut() else {
            return Err(WorkerFailure::Unavailable("no worker".into()));
        };
        w.served += 1;
        let req = Request {
            path_b64: b64(path),
            dev,
            ino,
        };
        let res = serde_json::to_vec(&req)
            .map_err(|e| WorkerFailure::Unavailable(e.to_string()))
            .and_then(|b| {
                write_frame(&mut w.stdin, &b).map_err(|e| WorkerFailure::Crash(e.to_string()))
            })
            .and_then(|()| read_frame_deadline(&mut w.stdout, deadline));
        let bytes = match res {
            Ok(b) => b,
            Err(WorkerFailure::Timeout) => {
                self.worker = None; // Drop kills it.
                return Err(WorkerFailure::Timeout);
            }
            Err(WorkerFailure::Crash(_)) => {
                let why = w.death();
                self.worker = None;
                return Err(WorkerFailure::Crash(why));
            }
            // Anything else mid-request (an oversized or garbled reply) is
            // the file's doing as far as we can tell: never retry it
            // in-process.
            Err(WorkerFailure::Unavailable(why)) => {
                self.worker = None;
                return Err(WorkerFailure::Crash(why));
            }
        };
        serde_json::from_slice(&bytes).map_err(|e| {
            self.worker = None;
            WorkerFailure::Crash(format!("garbled reply from the document parser: {e}"))
        })
    }
}

fn b64(path: &Path) -> String {
    use base64::Engine;
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    };
    // Windows: the UTF-16 units, little-endian (lossless for names that
    // are not valid Unicode).
    #[cfg(windows)]
    let bytes: Vec<u8> = {
        use std::os::windows::ffi::OsStrExt;
        path.as_os_str()
            .encode_wide()
            .flat_map(u16::to_le_bytes)
            .collect()
    };
    #[cfg(not(any(unix, windows)))]
    let bytes = path.to_string_lossy().into_owned().into_bytes();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn path_from_b64(s: &str) -> Option<PathBuf> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        Some(PathBuf::from(OsString::from_vec(bytes)))
    }
    #[cfg(windows)]
    {
        use std::os::windows::ffi::OsStringExt;
        if !bytes.len().is_multiple_of(2) {
            return None;
        }
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        Some(PathBuf::from(OsString::from_wide(&units)))
    }
    #[cfg(not(any(unix, windows)))]
    {
        String::from_utf8(bytes).ok().map(PathBuf::from)
    }
}

/// Put the rlimits on the current process, and die with the parent.
fn confine(r: &Rlimits) {
    #[cfg(unix)]
    {
        let set = |res, soft: u64, hard: u64| {
            let lim = libc::rlimit {
                rlim_cur: soft as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            };
            // SAFETY: a valid rlimit struct.
            if unsafe { libc::setrlimit(res, &lim) } != 0 {
                log::warn!(
                    "scan worker: setrlimit failed: {}",
                    std::io::Error::last_os_error()
                );
            }
        };
        set(libc::RLIMIT_CORE, 0, 0);
        set(libc::RLIMIT_AS, r.address_space, r.address_space);
        set(
            libc::RLIMIT_CPU,
            r.cpu_seconds,
            r.cpu_seconds.saturating_add(5),
        );
        // The worker writes no files.
        set(libc::RLIMIT_FSIZE, 0, 0);
    }
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    // Windows has no rlimits: the worker puts itself in a job object whose
    // process memory limit is the address-space bound (an allocation past
    // it fails, the worker dies, the parent reports `crash`). The CPU bound
    // is the parent's per-file deadline; the worker exits when its stdin
    // (the parent) goes away.
    #[cfg(windows)]
    {
        use windows_sys::Win32::System::JobObjects::{
            AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_PROCESS_MEMORY,
            JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JobObjectExtendedLimitInformation,
            SetInformationJobObject,
        };
        use windows_sys::Win32::System::Threading::GetCurrentProcess;
        // SAFETY: plain Win32 calls on a fresh job handle and our own
        // process; the info struct is zeroed then filled.
        unsafe {
            let job = CreateJobObjectW(std::ptr::null(), std::ptr::null());
            if job.is_null() {
                log::warn!(
                    "scan worker: CreateJobObject failed: {}",
                    std::io::Error::last_os_error()
                );
                return;
            }
            let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
            info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_PROCESS_MEMORY;
            info.ProcessMemoryLimit = usize::try_from(r.address_space).unwrap_or(usize::MAX);
            let ok = SetInformationJobObject(
                job,
                JobObjectExtendedLimitInformation,
                (&info as *const JOBOBJECT_EXTENDED_LIMIT_INFORMATION).cast(),
                std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            ) != 0
                && AssignProcessToJobObject(job, GetCurrentProcess()) != 0;
            if !ok {
                log::warn!(
                    "scan worker: memory limit not set: {}",
                    std::io::Error::last_os_error()
                );
            }
            // The job handle stays open for the worker's life.
        }
    }
    #[cfg(not(any(unix, windows)))]
    let _ = r;
}

/// Entry point of the worker process: the agent runs it for its hidden
/// `mijian-agent __scan-worker` subcommand. Returns the exit status.
pub fn main() -> i32 {
    crate::engine::worker_main()
}

/// Run the worker loop on stdin/stdout with the analyser `make` builds from
/// the [`Init`]. Returns the process exit status.
pub fn serve<F>(make: F) -> i32
where
    F: FnOnce(&Init) -> Result<Box<dyn Analyser>, String>,
{
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut input = stdin.lock();
    let mut output = stdout.lock();
    let init: Init = match read_frame(&mut input) {
        Ok(Some(b)) => match serde_json::from_slice(&b) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("mijian scan worker: bad init frame: {e}");
                return 2;
            }
        },
        _ => {
            eprintln!("mijian scan worker: run by the agent only (no init frame on stdin)");
            return 2;
        }
    };
    confine(&init.rlimits);
    if output.write_all(SYNC).is_err() {
        return 2;
    }
    let analyser = match make(&init) {
        Ok(a) => a,
        Err(e) => {
            let reply = serde_json::to_vec(&InitReply {
                ok: false,
                error: Some(e),
            })
            .unwrap_or_default();
            let _ = write_frame(&mut output, &reply);
            return 2;
        }
    };
    let ok = serde_json::to_vec(&InitReply {
        ok: true,
        error: None,
    })
    .unwrap_or_default();
    if write_frame(&mut output, &ok).is_err() {
        return 2;
    }
    let limits = Limits::from(&init.limits);
    let hooks = std::env::var(TEST_HOOKS_ENV).is_ok_and(|v| v == "1");
    loop {
        let req: Request = match read_frame(&mut input) {
            Ok(Some(b)) => match serde_json::from_slice(&b) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("mijian scan worker: bad request: {e}");
                    return 2;
                }
            },
            Ok(None) => return 0,
            Err(e) => {
                eprintln!("mijian scan worker: {e}");
                return 2;
            }
        };
        let result = match path_from_b64(&req.path_b64) {
            Some(path) => analyse_path(&*analyser, &path, req.dev, req.ino, &limits, hooks),
            None => FileResult::default(),
        };
        let bytes = match serde_json::to_vec(&result) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("mijian scan worker: {e}");
                return 2;
            }
        };
        if write_frame(&mut output, &bytes).is_err() {
            return 0;
        }
    }
}

/// Open `path`, check it is the regular file `(dev, ino)`, read it within
/// the limits and analyse it.
fn analyse_path(
    analyser: &dyn Analyser,
    path: &Path,
    dev: u64,
    ino: u64,
    limits: &Limits,
    hooks: bool,
) -> FileResult {
    let file = match crate::pipeline::open_checked(path, Some((dev, ino))) {
        Ok(f) => f,
        Err((reason, message)) => return FileResult::unreadable(analyser, path, reason, message),
    };
    let mut data = Vec::new();
    if let Err(e) = file
        .take(limits.max_file_bytes.saturating_add(1))
        .read_to_end(&mut data)
    {
        return FileResult::unreadable(
            analyser,
            path,
            "io",
            format!("reading {}: {e}", path.display()),
        );
    }
    if data.len() as u64 > limits.max_file_bytes {
        return FileResult::unreadable(
            analyser,
            path,
            "limit",
            format!("larger than {} bytes", limits.max_file_bytes),
        );
    }
    if hooks {
        test_hook(&data);
    }
    let mut ctx = Ctx::new(limits.clone());
    analyser.analyse(path, &data, &mut ctx)
}

fn test_hook(data: &[u8]) {
    if data.starts_with(b"MIJIAN-TEST-ABORT") {
        std::process::abort();
    }
    if data.starts_with(b"MIJIAN-TEST-STACK") {
        #[allow(unconditional_recursion)]
        fn deep(n: u64, v: &mut Vec<u64>) -> u64 {
            let buf = [n; 512];
            v.push(buf[(n % 512) as usize]);
            deep(n + 1, v) + buf[0]
        }
        let mut v = Vec::new();
        std::hint::black_box(deep(0, &mut v));
    }
    if data.starts_with(b"MIJIAN-TEST-HANG") {
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}
