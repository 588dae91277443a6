//! A user program the suite runs, natively and in the guest: the host file, its arguments,
//! how it must end and what it must print, and the verdict on one run of it.

use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;

/// How a program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It exited (`exit`/`exit_group`) with this status.
    Exited(u32),
    /// A signal killed it.
    Killed(u32),
}

impl Outcome {
    /// The outcome of a host process; `None` while it is still running or stopped.
    pub fn of_host_process(status: ExitStatus) -> Option<Self> {
        match (status.code(), status.signal()) {
            (Some(code), _) => Some(Outcome::Exited(code.cast_unsigned())),
            (None, Some(signal)) => Some(Outcome::Killed(signal.cast_unsigned())),
            (None, None) => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Exited(status) => write!(formatter, "exited with status {status}"),
            Outcome::Killed(signal) => write!(formatter, "killed by signal {signal}"),
        }
    }
}

/// One program and what it must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestProgram {
    /// Its file name, unique in the suite (`syscall_regs`, `hello-musl`).
    pub name: String,
    pub host_path: PathBuf,
    /// argv[1..]; none is empty or holds whitespace (the run list splits at whitespace).
    pub args: Vec<String>,
    pub expected: Outcome,
    /// The line it prints when all its checks pass (`PASS syscall_regs`), required when it
    /// is expected to exit with status 0.
    pub success_line: String,
}

/// The prefix of the line a test program prints for each failed check.
const FAIL_PREFIX: &str = "FAIL ";

impl TestProgram {
    /// Where it lives in the initramfs.
    pub fn guest_path(&self) -> String {
        format!("/bin/{}", self.name)
    }

    /// Whether a run that ended with `outcome` after printing `output` passes; `Err` says
    /// everything that is wrong.
    pub fn verdict(&self, outcome: Outcome, output: &[String]) -> Result<(), String> {
        let mut problems = Vec::new();
        if outcome != self.expected {
            problems.push(format!("{outcome}, expected: {}", self.expected));
        }
        let failures = output
            .iter()
            .filter(|line| line.starts_with(FAIL_PREFIX))
            .count();
        if failures > 0 {
            problems.push(format!("{failures} `{FAIL_PREFIX}` lines"));
        }
        if self.expected == Outcome::Exited(0)
            && !output
                .iter()
                .any(|line| line.trim_end() == self.success_line)
        {
            problems.push(format!("no `{}` line", self.success_line));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// The kernel's `/runlist`: one line `/bin/<name> ARGS...` per program, in order.
pub fn runlist(programs: &[TestProgram]) -> String {
    programs
        .iter()
        .map(|program| {
            let words: Vec<String> = std::iter::once(program.guest_path())
                .chain(program.args.iter().cloned())
                .collect();
            words.join(" ") + "\n"
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(name: &str, args: &[&str], expected: Outcome) -> TestProgram {
        TestProgram {
            name: name.to_string(),
            host_path: PathBuf::from(format!("/t/{name}")),
            args: args.iter().map(|arg| arg.to_string()).collect(),
            expected,
            success_line: format!("PASS {name}"),
        }
    }

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn a_pass_line_and_status_0_pass() {
        let regs = program("syscall_regs", &[], Outcome::Exited(0));
        assert_eq!(
            regs.verdict(Outcome::Exited(0), &lines("checking\nPASS syscall_regs")),
            Ok(())
        );
    }

    #[test]
    fn status_0_without_the_pass_line_fails() {
        let regs = program("syscall_regs", &[], Outcome::Exited(0));
        assert_eq!(
            regs.verdict(Outcome::Exited(0), &lines("PASS syscall_regs_other")),
            Err("no `PASS syscall_regs` line".to_string())
        );
        assert_eq!(
            regs.verdict(
                Outcome::Exited(1),
                &lines("FAIL syscall_regs: rbx changed\nFAIL syscall_regs: r12 changed")
            ),
            Err(
                "exited with status 1, expected: exited with status 0; 2 `FAIL ` lines; \
                 no `PASS syscall_regs` line"
                    .to_string()
            )
        );
    }

    #[test]
    fn expected_signals() {
        let trap = program("tf_syscall", &[], Outcome::Killed(5));
        assert_eq!(trap.verdict(Outcome::Killed(5), &[]), Ok(()));
        assert_eq!(
            trap.verdict(Outcome::Exited(0), &lines("PASS tf_syscall")),
            Err("exited with status 0, expected: killed by signal 5".to_string())
        );
        assert_eq!(
            trap.verdict(Outcome::Killed(5), &lines("FAIL tf_syscall: no trap")),
            Err("1 `FAIL ` lines".to_string())
        );
    }

    #[test]
    fn host_statuses() {
        assert_eq!(
            Outcome::of_host_process(ExitStatus::from_raw(3 << 8)),
            Some(Outcome::Exited(3))
        );
        assert_eq!(
            Outcome::of_host_process(ExitStatus::from_raw(11)),
            Some(Outcome::Killed(11))
        );
    }

    #[test]
    fn runlist_lines() {
        let programs = [
            program("hello-glibc", &[], Outcome::Exited(0)),
            program("show_args-musl", &["x", "y"], Outcome::Exited(0)),
        ];
        assert_eq!(
            runlist(&programs),
            "/bin/hello-glibc\n/bin/show_args-musl x y\n"
        );
    }
}
