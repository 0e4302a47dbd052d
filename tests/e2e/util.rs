//! Shared helpers for the end-to-end tests: locate (and build once) the real
//! binaries, run them, and find the repository's rules, schema and fixtures.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

/// Build the binaries once per test run, so tests never run stale ones.
/// The outcome is kept: a failed build fails every test at once instead of
/// being retried by each.
fn build_once() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let outcome = BUILT.get_or_init(|| {
        if std::env::var_os("MIJIAN_SKIP_BUILD").is_some() {
            return Ok(());
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        match Command::new(cargo)
            .args(["build", "-p", "mijian-agent", "-p", "mijian-collector"])
            .current_dir(workspace())
            .status()
        {
            Ok(st) if st.success() => Ok(()),
            Ok(st) => Err(format!("cargo build of the binaries failed: {st}")),
            Err(e) => Err(format!("cannot run cargo: {e}")),
        }
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

/// Path of a workspace binary (`mijian-agent`, `mijian-collector`), built if needed.
pub fn bin(name: &str) -> PathBuf {
    let env = format!("{}_BIN", name.to_uppercase().replace('-', "_"));
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    build_once();
    target_dir().join("debug").join(name)
}

/// A `Command` for the agent with an isolated state dir and no system config.
pub fn agent(state: &Path) -> Command {
    let mut c = Command::new(bin("mijian-agent"));
    c.env("MIJIAN_CONFIG", write_config(state, ""))
        .env("LANG", "C")
        .env_remove("LC_ALL");
    c
}

/// Write an agent config into `state/agent.toml` with `extra` appended and
/// `paths.state_dir` pointing at `state`.
pub fn write_config(state: &Path, extra: &str) -> PathBuf {
    std::fs::create_dir_all(state).expect("create state dir");
    let path = state.join("agent.toml");
    let text = format!(
        "[paths]\nstate_dir = {:?}\n{extra}",
        state.join("state").display().to_string()
    );
    std::fs::write(&path, text).expect("write config");
    path
}

pub fn rules() -> PathBuf {
    workspace().join("rules")
}

/// A copy of the repository's rules with the documented example keyword set
/// (`docs/examples/keywords/example.toml`, never active in `rules/`) added,
/// for tests whose documents hold its terms.
pub fn rules_with_example(dir: &Path) -> PathBuf {
    let out = dir.join("rules-with-example");
    std::fs::create_dir_all(out.join("keywords")).expect("create rules dir");
    for e in std::fs::read_dir(rules()).expect("read rules/").flatten() {
        if e.path().extension().is_some_and(|x| x == "toml") {
            std::fs::copy(e.path(), out.join(e.file_name())).expect("copy rule file");
        }
    }
    std::fs::copy(
        workspace().join("docs/examples/keywords/example.toml"),
        out.join("keywords/example.toml"),
    )
    .expect("copy example keywords");
    out
}

pub fn fixtures() -> PathBuf {
    workspace().join("fixtures")
}

/// Run and return the output; panics with stderr when it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("start command")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Whether an executable is on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Validate a report payload against `schema/report.schema.json`.
pub fn assert_schema_valid(payload: &serde_json::Value) {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    let v = SCHEMA.get_or_init(|| {
        let text = std::fs::read(workspace().join("schema/report.schema.json")).expect("schema");
        let schema: serde_json::Value = serde_json::from_slice(&text).expect("schema is JSON");
        jsonschema::validator_for(&schema).expect("schema compiles")
    });
    let errors: Vec<String> = v
        .iter_errors(payload)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match the schema: {errors:#?}"
    );
}
