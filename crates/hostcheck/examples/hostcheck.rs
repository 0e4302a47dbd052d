//! Run the host checks and print the results as JSON, for trying the
//! library by hand before the agent wires it: `hostcheck [ROOT]` (default: live `/`).

use mijian_hostcheck::{Root, check_host};

fn main() {
    let root = match std::env::args().nth(1) {
        Some(dir) => Root::at(dir),
        None => Root::live(),
    };
    let t = mijian_policy::Baseline::default().thresholds(Default::default());
    let out = check_host(&root, &t);
    let v = serde_json::json!({"checks": out.checks, "notes": out.notes});
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
}
