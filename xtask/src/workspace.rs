//! The cargo workspace xtask serves: where it is and which cargo builds it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the directory above `xtask/`).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one directory below the workspace root")
}

/// Where xtask keeps what it produces: `target/xtask/`.
pub fn xtask_dir() -> PathBuf {
    root().join("target").join("xtask")
}

/// A `cargo` command run in the workspace root, so the pinned toolchain applies. Uses the
/// cargo that runs xtask (`$CARGO`) when there is one.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(cargo);
    command.current_dir(root());
    command
}
