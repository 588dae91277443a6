//! Runs every ABI test program natively (Linux is the oracle) and checks how it ended
//! against `expected.toml`: its exit status (and, for status 0, its `PASS <name>` line) or
//! the signal that killed it. One test per program.
//!
//! The programs run with the environment the kernel gives them, stdin from /dev/null,
//! stdout and stderr through pipes, and no core dumps (several of them die of a signal on
//! purpose).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde::Deserialize;

/// The environment the topframe kernel gives every program.
const ENVIRONMENT: [(&str, &str); 2] = [("HOME", "/"), ("TERM", "linux")];

/// How long one program may run (the slowest, syscall_fuzz, takes well under a second).
const TIMEOUT: Duration = Duration::from_secs(60);

/// One program's entry in `expected.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    /// The exit status it must end with.
    status: Option<i32>,
    /// The signal that must kill it.
    signal: Option<i32>,
    /// Its arguments after argv[0].
    #[serde(default)]
    args: Vec<String>,
}

fn expectations() -> BTreeMap<String, Expected> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/expected.toml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{path}: {error}"));
    toml::from_str(&text).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// Runs `program` (its executable at `path`) with its arguments from `expected.toml`; its
/// output, or a panic if it outlives [`TIMEOUT`].
fn run(program: &str, path: &str, args: &[String]) -> Output {
    let mut command = Command::new(path);
    command
        .args(args)
        .env_clear()
        .envs(ENVIRONMENT)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the child between fork and exec, and calls only
    // setrlimit, which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let no_core_dumps = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::setrlimit(libc::RLIMIT_CORE, &no_core_dumps) == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        });
    }
    let child = command
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {path}: {error}"));
    let pid = child.id();
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || sender.send(child.wait_with_output()));
    match receiver.recv_timeout(TIMEOUT) {
        Ok(output) => output.unwrap_or_else(|error| panic!("waiting for {program}: {error}")),
        Err(_) => {
            // SAFETY: kill has no memory effects; the child is not reaped yet (its waiting
            // thread still waits), so the pid is still the child's.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("{program} still ran after {TIMEOUT:?}: killed");
        }
    }
}

/// Runs `program` and checks its ending against `expected.toml`.
fn check_program(program: &str, path: &str) {
    let mut expectations = expectations();
    let expected = expectations
        .remove(program)
        .unwrap_or_else(|| panic!("{program} has no entry in expected.toml"));
    let output = run(program, path, &expected.args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = format!(
        "{program} ended with {}\n--- stdout\n{stdout}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !stdout.lines().any(|line| line.starts_with("FAIL ")),
        "{report}"
    );
    match expected {
        Expected {
            status: Some(status),
            signal: None,
            ..
        } => {
            assert_eq!(output.status.code(), Some(status), "{report}");
            if status == 0 {
                let pass = format!("PASS {program}");
                assert!(stdout.lines().any(|line| line == pass), "{report}");
            }
        }
        Expected {
            status: None,
            signal: Some(signal),
            ..
        } => assert_eq!(output.status.signal(), Some(signal), "{report}"),
        _ => panic!("{program}: expected.toml must give exactly one of status and signal"),
    }
}

/// One test per program, and [`PROGRAMS`], their names.
macro_rules! program_tests {
    ($($program:ident),* $(,)?) => {
        $(
            #[test]
            fn $program() {
                check_program(
                    stringify!($program),
                    env!(concat!("CARGO_BIN_EXE_", stringify!($program))),
                );
            }
        )*

        const PROGRAMS: &[&str] = &[$(stringify!($program)),*];
    };
}

program_tests!(
    auxv,
    basic_calls,
    demo,
    efault,
    enosys,
    fault_bp,
    fault_cli,
    fault_de,
    fault_gp_privileged,
    fault_pf_kernel,
    fault_pf_null,
    fault_signals,
    fault_ud,
    fork_regs,
    fork_wait,
    futex_pingpong,
    getcpu_pinned,
    int80,
    int80_exit,
    nanosleep_min,
    nt_syscall,
    preempt_spinner,
    ptrace_attach,
    ptrace_exit_kill,
    ptrace_peekpoke,
    ptrace_singlestep,
    ptrace_syscall_regs,
    sched_stress,
    sig_handler_stack,
    sig_interrupt,
    sig_mask,
    sig_threads,
    sigreturn_edit,
    sigreturn_noncanonical,
    sigreturn_regs,
    slow_path_regs,
    sse_preempt,
    syscall_fuzz,
    syscall_regs,
    tf_handler,
    tf_syscall,
    thread_churn,
    threads_count,
    unmap_fault,
    weird_rsp,
);

/// Every program in `src/bin/` has a test here and an entry in `expected.toml`, and
/// nothing else does.
#[test]
fn every_program_is_tested_and_expected() {
    let directory = concat!(env!("CARGO_MANIFEST_DIR"), "/src/bin");
    let sources: BTreeSet<String> = std::fs::read_dir(directory)
        .unwrap_or_else(|error| panic!("{directory}: {error}"))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "rs"))
        .map(|path| {
            let stem = path.file_stem().expect("a file name");
            stem.to_string_lossy().into_owned()
        })
        .collect();
    let tested: BTreeSet<String> = PROGRAMS.iter().map(|name| name.to_string()).collect();
    let expected: BTreeSet<String> = expectations().into_keys().collect();
    assert_eq!(tested, sources, "programs with a test vs. src/bin/*.rs");
    assert_eq!(expected, sources, "expected.toml entries vs. src/bin/*.rs");
}
