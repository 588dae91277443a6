//! The lines the kernel prints on its console (COM1) that xtask understands.
//!
//! - `topframe: exit status <N>`: the last line before power-off; QEMU's isa-debug-exit can
//!   only report odd statuses, so this line carries the real one.
//! - `[selftest] <name> ... ok`, `[selftest] <name> ... FAILED: <reason>` and finally
//!   `[selftest] <P> passed, <F> failed` from a test build booted with `selftest`.
//! - `entry strategy: <name>`: the last line of the boot summary; what follows is the
//!   workload's.
//! - `[run] <path>: exited with status <N>`, `[run] <path>: killed by signal <N>` or
//!   `[run] <path>: could not start` after each program of `/runlist` (booted with `runlist`),
//!   and after the last `[run] returns to user mode through the slow path: <N>`.

use crate::test_program::Outcome;

/// The status in a `topframe: exit status <N>` line.
pub fn exit_status(line: &str) -> Option<u32> {
    line.trim_end()
        .strip_prefix("topframe: exit status ")?
        .parse()
        .ok()
}

/// One self-test line.
#[derive(Debug, PartialEq, Eq)]
pub enum SelftestLine<'a> {
    Passed { name: &'a str },
    Failed { name: &'a str, reason: &'a str },
    Summary { passed: u32, failed: u32 },
}

pub fn selftest_line(line: &str) -> Option<SelftestLine<'_>> {
    let rest = line.trim_end().strip_prefix("[selftest] ")?;
    if let Some(name) = rest.strip_suffix(" ... ok") {
        return Some(SelftestLine::Passed { name });
    }
    if let Some((name, reason)) = rest.split_once(" ... FAILED") {
        let reason = reason.strip_prefix(':').unwrap_or(reason).trim();
        return Some(SelftestLine::Failed { name, reason });
    }
    let (passed, failed) = rest.strip_suffix(" failed")?.split_once(" passed, ")?;
    Some(SelftestLine::Summary {
        passed: passed.parse().ok()?,
        failed: failed.parse().ok()?,
    })
}

/// Whether `line` is the last line of the boot summary.
pub fn ends_boot_summary(line: &str) -> bool {
    line.starts_with("entry strategy: ")
}

/// The end of one program of the run list.
#[derive(Debug, PartialEq, Eq)]
pub struct ProgramEnd<'a> {
    pub path: &'a str,
    /// `None`: it could not start.
    pub outcome: Option<Outcome>,
}

pub fn program_end(line: &str) -> Option<ProgramEnd<'_>> {
    // The path comes from the run list and cannot hold whitespace, the results hold no ": ".
    let (path, result) = line.trim_end().strip_prefix("[run] ")?.rsplit_once(": ")?;
    let outcome = if result == "could not start" {
        None
    } else if let Some(status) = result.strip_prefix("exited with status ") {
        Some(Outcome::Exited(status.parse().ok()?))
    } else {
        Some(Outcome::Killed(
            result.strip_prefix("killed by signal ")?.parse().ok()?,
        ))
    };
    Some(ProgramEnd { path, outcome })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line() {
        assert_eq!(exit_status("topframe: exit status 0"), Some(0));
        assert_eq!(exit_status("topframe: exit status 101"), Some(101));
        assert_eq!(exit_status("topframe: exit status 3 "), Some(3));
    }

    #[test]
    fn not_a_status_line() {
        assert_eq!(exit_status("topframe: exit status"), None);
        assert_eq!(exit_status("topframe: exit status -1"), None);
        assert_eq!(exit_status("topframe: exit status 1x"), None);
        assert_eq!(exit_status("cpu 1: topframe: exit status 0"), None);
        assert_eq!(exit_status("topframe: booting"), None);
    }

    #[test]
    fn selftest_results() {
        assert_eq!(
            selftest_line("[selftest] heap_alloc ... ok"),
            Some(SelftestLine::Passed { name: "heap_alloc" })
        );
        assert_eq!(
            selftest_line("[selftest] sse_on_every_cpu ... FAILED: cpu 3 has CR4.OSFXSR clear"),
            Some(SelftestLine::Failed {
                name: "sse_on_every_cpu",
                reason: "cpu 3 has CR4.OSFXSR clear"
            })
        );
        assert_eq!(
            selftest_line("[selftest] frames ... FAILED"),
            Some(SelftestLine::Failed {
                name: "frames",
                reason: ""
            })
        );
        assert_eq!(
            selftest_line("[selftest] 12 passed, 0 failed"),
            Some(SelftestLine::Summary {
                passed: 12,
                failed: 0
            })
        );
    }

    #[test]
    fn not_selftest_lines() {
        assert_eq!(selftest_line("[selftest] running 3 tests"), None);
        assert_eq!(selftest_line("[selftest] x passed, 0 failed"), None);
        assert_eq!(selftest_line("heap_alloc ... ok"), None);
        assert_eq!(selftest_line(""), None);
    }

    #[test]
    fn program_ends() {
        assert_eq!(
            program_end("[run] /bin/syscall_regs: exited with status 0"),
            Some(ProgramEnd {
                path: "/bin/syscall_regs",
                outcome: Some(Outcome::Exited(0))
            })
        );
        assert_eq!(
            program_end("[run] /bin/tf_syscall: killed by signal 5"),
            Some(ProgramEnd {
                path: "/bin/tf_syscall",
                outcome: Some(Outcome::Killed(5))
            })
        );
        assert_eq!(
            program_end("[run] /bin/a:b: could not start"),
            Some(ProgramEnd {
                path: "/bin/a:b",
                outcome: None
            })
        );
    }

    #[test]
    fn not_program_ends() {
        assert_eq!(program_end("[run] /bin/x: exited with status x"), None);
        assert_eq!(program_end("[run] /bin/x: stopped"), None);
        assert_eq!(program_end("/bin/x: exited with status 0"), None);
        assert_eq!(program_end("init: exited with status 0"), None);
        assert_eq!(
            program_end("[run] returns to user mode through the slow path: 4133"),
            None
        );
        assert!(ends_boot_summary(
            "entry strategy: complete frame (Linux >= 4.1)"
        ));
        assert!(!ends_boot_summary("apic mode: x2apic"));
    }
}
