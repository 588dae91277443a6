//! The programs of the suite's `programs = "abi"` runs, made ready once for all of them:
//! the static no_std ABI test programs of `topframe-abi-tests` (built with
//! `cargo build --release`, expected outcomes from `tests/expected.toml`; their native run is
//! that crate's own integration test) and the C programs of `tests/c/`, each built with glibc
//! (`gcc -static`) and musl (`musl-gcc -static`) and run natively first: Linux is the oracle,
//! so only a C program that passes on the host goes into the guest. Everything is packed
//! with a `/runlist` into `target/xtask/abi/initramfs.cpio`.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use serde::Deserialize;

use crate::initramfs::Initramfs;
use crate::test_program::{self, Outcome, TestProgram};
use crate::workspace;

const EXPECTED_FILE: &str = "tests/expected.toml";
const ABI_PACKAGE: &str = "topframe-abi-tests";
const C_PROGRAMS_DIR: &str = "tests/c";

/// The environment the kernel gives every program, given to the native runs too.
const ENVIRONMENT: [(&str, &str); 2] = [("HOME", "/"), ("TERM", "linux")];

/// A C program that has not finished natively by then is a failure.
const NATIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The programs, ready to boot.
#[derive(Debug)]
pub struct AbiPrograms {
    pub initramfs: PathBuf,
    pub programs: Vec<TestProgram>,
}

/// Builds the programs, runs the C programs natively (one case `native/<program>` each,
/// handed to `on_case`, as is a case `runlist/<program>` for an ABI program that cannot
/// go into the run list) and writes the initramfs. `Err`: nothing can be booted.
pub fn prepare(on_case: &mut dyn FnMut(&str, Result<(), String>)) -> Result<AbiPrograms> {
    let directory = workspace::xtask_dir().join("abi");
    std::fs::create_dir_all(&directory)
        .with_context(|| format!("cannot create {}", directory.display()))?;
    let mut programs = Vec::new();
    for (name, program) in rust_programs()? {
        match program {
            Ok(program) => programs.push(program),
            Err(problem) => on_case(&format!("runlist/{name}"), Err(problem)),
        }
    }
    for source in c_sources()? {
        for library in [CLibrary::Glibc, CLibrary::Musl] {
            let case = format!("native/{}", library.program_name(&source));
            match library
                .build(&source, &directory)
                .and_then(|program| run_natively(&program).map(|()| program))
            {
                Ok(program) => {
                    on_case(&case, Ok(()));
                    programs.push(program);
                }
                Err(problem) => on_case(&case, Err(problem)),
            }
        }
    }
    let mut initramfs = Initramfs::default();
    for program in &programs {
        let contents = std::fs::read(&program.host_path)
            .with_context(|| format!("cannot read {}", program.host_path.display()))?;
        initramfs.add_executable(&program.guest_path(), contents);
    }
    initramfs.add_file("/runlist", test_program::runlist(&programs).into_bytes());
    let path = directory.join("initramfs.cpio");
    initramfs.write(&path)?;
    Ok(AbiPrograms {
        initramfs: path,
        programs,
    })
}

/// One entry of `tests/expected.toml`: how the program must end (`status` or `signal`) and
/// its arguments.
#[derive(Debug, Deserialize)]
struct Expected {
    status: Option<u32>,
    signal: Option<u32>,
    #[serde(default)]
    args: Vec<String>,
}

/// A program of `tests/expected.toml` by name, or what keeps it out of the run list.
type ListedProgram = (String, Result<TestProgram, String>);

/// Reads `tests/expected.toml` into programs whose files are in `binary_dir`. `Err`: the
/// file is not TOML of the expected shape.
fn parse_expected(text: &str, binary_dir: &Path) -> Result<Vec<ListedProgram>, String> {
    let entries: BTreeMap<String, Expected> =
        toml::from_str(text).map_err(|error| error.message().replace('\n', "; "))?;
    Ok(entries
        .into_iter()
        .map(|(name, entry)| {
            let program = expected_program(&name, entry, binary_dir);
            (name, program)
        })
        .collect())
}

fn expected_program(name: &str, entry: Expected, binary_dir: &Path) -> Result<TestProgram, String> {
    let expected = match (entry.status, entry.signal) {
        (Some(status), None) => Outcome::Exited(status),
        (None, Some(signal)) => Outcome::Killed(signal),
        _ => {
            return Err(format!(
                "{EXPECTED_FILE} must give exactly one of `status` and `signal`"
            ));
        }
    };
    if let Some(bad) = entry
        .args
        .iter()
        .find(|arg| arg.is_empty() || arg.chars().any(char::is_whitespace))
    {
        return Err(format!(
            "its argument {bad:?} in {EXPECTED_FILE} is empty or holds whitespace, which the \
             kernel's /runlist cannot pass (it splits lines at whitespace)"
        ));
    }
    Ok(TestProgram {
        name: name.to_string(),
        host_path: binary_dir.join(name),
        args: entry.args,
        expected,
        success_line: format!("PASS {name}"),
    })
}

/// Builds `topframe-abi-tests` and returns its programs as `tests/expected.toml` lists them.
fn rust_programs() -> Result<Vec<ListedProgram>> {
    let output = workspace::cargo()
        .args(["build", "-p", ABI_PACKAGE, "--release"])
        .stdin(Stdio::null())
        .output()
        .context("cannot run cargo")?;
    if !output.status.success() {
        let errors = String::from_utf8_lossy(&output.stderr);
        return Err(anyhow!(errors.trim_end().to_string())
            .context(format!("cargo build -p {ABI_PACKAGE} --release failed")));
    }
    let path = workspace::root().join(EXPECTED_FILE);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("cannot read {EXPECTED_FILE}"))?;
    let mut programs = parse_expected(&text, &workspace::root().join("target/release"))
        .map_err(|problem| anyhow!("{EXPECTED_FILE}: {problem}"))?;
    for (_, program) in &mut programs {
        if let Ok(built) = program
            && !built.host_path.is_file()
        {
            *program = Err(format!(
                "{EXPECTED_FILE} lists it, but cargo built no {}",
                built.host_path.display()
            ));
        }
    }
    Ok(programs)
}

/// `tests/c/*.c`, sorted.
fn c_sources() -> Result<Vec<PathBuf>> {
    let directory = workspace::root().join(C_PROGRAMS_DIR);
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(&directory)
        .with_context(|| format!("cannot read {}", directory.display()))?
    {
        let path = entry?.path();
        if path.extension().is_some_and(|extension| extension == "c") {
            sources.push(path);
        }
    }
    sources.sort();
    Ok(sources)
}

/// What a C program must do besides exiting with 0, by source name: its arguments and the
/// line it prints when it passes (by default `PASS <name>`).
fn c_expectations(stem: &str) -> (Vec<String>, String) {
    match stem {
        // Two arguments for its argv printout to show.
        "show_args" => (
            vec!["x".to_string(), "y".to_string()],
            "PASS show_args".to_string(),
        ),
        // A plain hello world: its greeting is its success line.
        "hello" => (Vec::new(), "hello, world".to_string()),
        _ => (Vec::new(), format!("PASS {stem}")),
    }
}

/// The C libraries each C program is built with.
#[derive(Debug, Clone, Copy)]
enum CLibrary {
    Glibc,
    Musl,
}

impl CLibrary {
    fn compiler(self) -> &'static str {
        match self {
            CLibrary::Glibc => "gcc",
            CLibrary::Musl => "musl-gcc",
        }
    }

    fn install_hint(self) -> &'static str {
        match self {
            CLibrary::Glibc => "Debian: apt-get install gcc libc6-dev",
            CLibrary::Musl => "Debian: apt-get install musl-tools",
        }
    }

    /// `hello-glibc`, `hello-musl`.
    fn program_name(self, source: &Path) -> String {
        let stem = source.file_stem().unwrap_or_default().to_string_lossy();
        let suffix = match self {
            CLibrary::Glibc => "glibc",
            CLibrary::Musl => "musl",
        };
        format!("{stem}-{suffix}")
    }

    /// Compiles `source` statically into `directory`; `Err` says why not.
    fn build(self, source: &Path, directory: &Path) -> Result<TestProgram, String> {
        let name = self.program_name(source);
        let host_path = directory.join(&name);
        let compiler = self.compiler();
        let output = Command::new(compiler)
            .args(["-static", "-O2", "-o"])
            .arg(&host_path)
            .arg(source)
            .stdin(Stdio::null())
            .output()
            .map_err(|error| match error.kind() {
                std::io::ErrorKind::NotFound => {
                    format!("{compiler} not found ({})", self.install_hint())
                }
                _ => format!("cannot run {compiler}: {error}"),
            })?;
        if !output.status.success() {
            return Err(format!(
                "{compiler} failed:\n{}",
                String::from_utf8_lossy(&output.stderr).trim_end()
            ));
        }
        let stem = source.file_stem().unwrap_or_default().to_string_lossy();
        let (args, success_line) = c_expectations(&stem);
        Ok(TestProgram {
            name,
            host_path,
            args,
            expected: Outcome::Exited(0),
            success_line,
        })
    }
}

/// Runs `program` on the host as the kernel would (argv[0] its guest path, the kernel's
/// environment) and judges it.
fn run_natively(program: &TestProgram) -> Result<(), String> {
    let mut child = Command::new(&program.host_path)
        .arg0(program.guest_path())
        .args(&program.args)
        .env_clear()
        .envs(ENVIRONMENT)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run {}: {error}", program.host_path.display()))?;
    let readers = [
        read_in_background(child.stdout.take()),
        read_in_background(child.stderr.take()),
    ];
    let deadline = Instant::now() + NATIVE_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                // Fails only when it has just ended, which is as good.
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "still running natively after {} s",
                    NATIVE_TIMEOUT.as_secs()
                ));
            }
            Err(error) => return Err(format!("cannot wait for it: {error}")),
        }
    };
    let output: Vec<String> = readers
        .into_iter()
        .flat_map(|reader| {
            reader
                .join()
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    let outcome = Outcome::of_host_process(status)
        .ok_or_else(|| format!("ended without a status ({status})"))?;
    program
        .verdict(outcome, &output)
        .map_err(|problem| format!("{problem}; its output:\n{}", output.join("\n")))
}

/// Reads a child's output stream to its end on a thread of its own.
fn read_in_background(stream: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut stream) = stream {
            // A read error keeps what was read.
            let _ = stream.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_outcomes_and_arguments() {
        let text = "[syscall_regs]\nstatus = 0\n\
                    [tf_syscall]\nsignal = 5 # SIGTRAP\n\
                    [syscall_fuzz]\nstatus = 0\nargs = [\"1\", \"100000\"]\n";
        let programs: Vec<TestProgram> = parse_expected(text, Path::new("/t"))
            .unwrap()
            .into_iter()
            .map(|(_, program)| program.unwrap())
            .collect();
        let names: Vec<&str> = programs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["syscall_fuzz", "syscall_regs", "tf_syscall"]);
        assert_eq!(
            programs[0],
            TestProgram {
                name: "syscall_fuzz".to_string(),
                host_path: PathBuf::from("/t/syscall_fuzz"),
                args: vec!["1".to_string(), "100000".to_string()],
                expected: Outcome::Exited(0),
                success_line: "PASS syscall_fuzz".to_string(),
            }
        );
        assert_eq!(programs[2].expected, Outcome::Killed(5));
    }

    #[test]
    fn bad_expectations_fail_their_program_only() {
        let text = "[both]\nstatus = 0\nsignal = 5\n\
                    [neither]\nargs = []\n\
                    [spaced]\nstatus = 0\nargs = [\"x y\"]\n\
                    [good]\nstatus = 0\n";
        let programs = parse_expected(text, Path::new("/t")).unwrap();
        let problems: Vec<(&str, String)> = programs
            .iter()
            .filter_map(|(name, program)| Some((name.as_str(), program.clone().err()?)))
            .collect();
        assert_eq!(
            problems,
            [
                (
                    "both",
                    "tests/expected.toml must give exactly one of `status` and `signal`"
                        .to_string()
                ),
                (
                    "neither",
                    "tests/expected.toml must give exactly one of `status` and `signal`"
                        .to_string()
                ),
                (
                    "spaced",
                    "its argument \"x y\" in tests/expected.toml is empty or holds whitespace, \
                     which the kernel's /runlist cannot pass (it splits lines at whitespace)"
                        .to_string()
                ),
            ]
        );
        assert!(parse_expected("[a]\nstatus = -1\n", Path::new("/t")).is_err());
        assert!(parse_expected("[a]\nstatus = \"0\"\n", Path::new("/t")).is_err());
    }

    #[test]
    fn c_program_names_and_expectations() {
        let source = Path::new("/w/tests/c/show_args.c");
        assert_eq!(CLibrary::Glibc.program_name(source), "show_args-glibc");
        assert_eq!(CLibrary::Musl.program_name(source), "show_args-musl");
        assert_eq!(
            c_expectations("show_args"),
            (
                vec!["x".to_string(), "y".to_string()],
                "PASS show_args".to_string()
            )
        );
        assert_eq!(c_expectations("hello").1, "hello, world");
        assert_eq!(c_expectations("mmap").1, "PASS mmap");
    }

    #[test]
    fn native_runs_are_judged() {
        let shell = |script: &str, expected| TestProgram {
            name: "sh".to_string(),
            host_path: PathBuf::from("/bin/sh"),
            args: vec!["-c".to_string(), script.to_string()],
            expected,
            success_line: "PASS sh".to_string(),
        };
        assert_eq!(
            run_natively(&shell(
                "test \"$0 $HOME $TERM\" = \"/bin/sh / linux\" && echo PASS sh >&2",
                Outcome::Exited(0)
            )),
            Ok(())
        );
        assert_eq!(
            run_natively(&shell("kill -TRAP $$", Outcome::Killed(5))),
            Ok(())
        );
        let failed = run_natively(&shell("echo FAIL sh: no; exit 1", Outcome::Exited(0)));
        assert_eq!(
            failed.unwrap_err(),
            "exited with status 1, expected: exited with status 0; \
             1 `FAIL ` lines; no `PASS sh` line; its output:\nFAIL sh: no"
        );
    }
}
