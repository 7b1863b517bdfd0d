//! Running the independent oracles (Python scripts beside the tests) from the integration tests.

use std::path::PathBuf;
use std::process::Command;

use crate::fixtures::workspace_root;

/// A fresh, empty folder `target/<group>/<name>` for one run of an oracle.
pub fn fresh_dir(group: &str, name: &str) -> PathBuf {
    let dir = workspace_root().join("target").join(group).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs an oracle's command: whether it succeeded, and everything it printed (stdout, then
/// stderr). Panics, naming the program, when it cannot be started.
pub fn run(mut cmd: Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}): is it installed?", cmd.get_program().to_string_lossy()));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}
