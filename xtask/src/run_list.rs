//! Following the kernel's run list on the console: which lines are whose output (a
//! program's are those after the previous program's `[run]` line, or after the boot summary
//! for the first), and each program's verdict as its `[run]` line arrives.

use crate::console_protocol::{self, ProgramEnd};
use crate::test_program::TestProgram;

/// The verdict on one program of the run list.
#[derive(Debug, PartialEq, Eq)]
pub struct ProgramReport {
    /// The program's name, or the path of a `[run]` line that names no program of the list.
    pub name: String,
    pub verdict: Result<(), String>,
    /// The console lines it printed, its `[run]` line last.
    pub output: Vec<String>,
}

/// The state of one boot's run list.
pub struct RunListWatcher<'a> {
    programs: &'a [TestProgram],
    /// Lines since the last program ended.
    output: Vec<String>,
    /// Parallel to `programs`.
    ended: Vec<bool>,
}

impl<'a> RunListWatcher<'a> {
    pub fn new(programs: &'a [TestProgram]) -> Self {
        RunListWatcher {
            programs,
            output: Vec::new(),
            ended: vec![false; programs.len()],
        }
    }

    /// Follows one console line; returns the report of the program that it ends.
    pub fn console_line(&mut self, line: &str) -> Option<ProgramReport> {
        if console_protocol::ends_boot_summary(line) {
            self.output.clear();
            return None;
        }
        self.output.push(line.to_string());
        let ProgramEnd { path, outcome } = console_protocol::program_end(line)?;
        let output = std::mem::take(&mut self.output);
        let Some(index) = self
            .programs
            .iter()
            .position(|program| program.guest_path() == path)
        else {
            return Some(ProgramReport {
                name: path.to_string(),
                verdict: Err("the kernel ran a program that is not in the run list".to_string()),
                output,
            });
        };
        let program = &self.programs[index];
        let verdict = if self.ended[index] {
            Err("it ended twice".to_string())
        } else {
            match outcome {
                Some(outcome) => program.verdict(outcome, &output),
                None => Err("the kernel could not start it".to_string()),
            }
        };
        self.ended[index] = true;
        Some(ProgramReport {
            name: program.name.clone(),
            verdict,
            output,
        })
    }

    /// The programs whose `[run]` line never came (the boot ended early).
    pub fn unfinished(&self) -> impl Iterator<Item = &'a TestProgram> {
        self.programs
            .iter()
            .zip(self.ended.clone())
            .filter(|(_, ended)| !ended)
            .map(|(program, _)| program)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::test_program::Outcome;

    fn program(name: &str, expected: Outcome) -> TestProgram {
        TestProgram {
            name: name.to_string(),
            host_path: PathBuf::from(format!("/t/{name}")),
            args: Vec::new(),
            expected,
            success_line: format!("PASS {name}"),
        }
    }

    fn follow(watcher: &mut RunListWatcher, console: &str) -> Vec<ProgramReport> {
        console
            .lines()
            .filter_map(|line| watcher.console_line(line))
            .collect()
    }

    #[test]
    fn each_program_gets_its_own_lines() {
        let programs = [
            program("enosys", Outcome::Exited(0)),
            program("fault_ud", Outcome::Killed(4)),
        ];
        let mut watcher = RunListWatcher::new(&programs);
        let reports = follow(
            &mut watcher,
            "cpus online: 1/1\nentry strategy: complete frame (Linux >= 4.1)\n\
             PASS enosys\n[run] /bin/enosys: exited with status 0\n\
             fault_ud: invalid opcode at 0x401000\n[run] /bin/fault_ud: killed by signal 4\n\
             topframe: exit status 0",
        );
        assert_eq!(
            reports,
            [
                ProgramReport {
                    name: "enosys".to_string(),
                    verdict: Ok(()),
                    output: vec![
                        "PASS enosys".to_string(),
                        "[run] /bin/enosys: exited with status 0".to_string()
                    ],
                },
                ProgramReport {
                    name: "fault_ud".to_string(),
                    verdict: Ok(()),
                    output: vec![
                        "fault_ud: invalid opcode at 0x401000".to_string(),
                        "[run] /bin/fault_ud: killed by signal 4".to_string()
                    ],
                },
            ]
        );
        assert_eq!(watcher.unfinished().count(), 0);
    }

    #[test]
    fn failures_and_programs_that_never_end() {
        let programs = [
            program("enosys", Outcome::Exited(0)),
            program("efault", Outcome::Exited(0)),
            program("int80", Outcome::Exited(0)),
        ];
        let mut watcher = RunListWatcher::new(&programs);
        let reports = follow(
            &mut watcher,
            "FAIL enosys: 1000 gave 0\n[run] /bin/enosys: exited with status 1\n\
             /bin/efault: cannot run: bad ELF\n[run] /bin/efault: could not start\n\
             [run] /bin/other: exited with status 0\n\
             PASS int80",
        );
        let verdicts: Vec<(&str, &Result<(), String>)> = reports
            .iter()
            .map(|report| (report.name.as_str(), &report.verdict))
            .collect();
        assert_eq!(
            verdicts,
            [
                (
                    "enosys",
                    &Err("exited with status 1, expected: exited with status 0; \
                          1 `FAIL ` lines; no `PASS enosys` line"
                        .to_string())
                ),
                ("efault", &Err("the kernel could not start it".to_string())),
                (
                    "/bin/other",
                    &Err("the kernel ran a program that is not in the run list".to_string())
                ),
            ]
        );
        let unfinished: Vec<&str> = watcher
            .unfinished()
            .map(|program| program.name.as_str())
            .collect();
        assert_eq!(unfinished, ["int80"]);
    }

    #[test]
    fn a_program_that_ends_twice_fails() {
        let programs = [program("enosys", Outcome::Exited(0))];
        let mut watcher = RunListWatcher::new(&programs);
        let reports = follow(
            &mut watcher,
            "PASS enosys\n[run] /bin/enosys: exited with status 0\n\
             PASS enosys\n[run] /bin/enosys: exited with status 0",
        );
        assert_eq!(reports[1].verdict, Err("it ended twice".to_string()));
    }
}
