//! The lines the `bench` program (tests/bench) prints on the console, on topframe and on
//! Linux alike:
//!
//! - `bench NAME OPERATIONS TICKS`: one round of one benchmark (OPERATIONS: how many it
//!   timed, ITERATIONS / the benchmark's divisor, rounded down to what it counts in);
//! - `bench done`: every benchmark finished;
//! - `bench error: MESSAGE`: a bad command line.

/// One line of the program's output.
#[derive(Debug, PartialEq, Eq)]
pub enum GuestLine<'a> {
    Round {
        benchmark: &'a str,
        iterations: u64,
        ticks: u64,
    },
    Done,
    Error(&'a str),
}

/// The program's line in `line`, if it is one.
pub fn parse(line: &str) -> Option<GuestLine<'_>> {
    let rest = line.trim_end().strip_prefix("bench ")?;
    if rest == "done" {
        return Some(GuestLine::Done);
    }
    if let Some(message) = rest.strip_prefix("error: ") {
        return Some(GuestLine::Error(message));
    }
    let mut words = rest.split(' ');
    let (Some(benchmark), Some(iterations), Some(ticks), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return None;
    };
    Some(GuestLine::Round {
        benchmark,
        iterations: iterations.parse().ok().filter(|&count| count > 0)?,
        ticks: ticks.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_lines() {
        assert_eq!(
            parse("bench null_syscall 100000 6200005"),
            Some(GuestLine::Round {
                benchmark: "null_syscall",
                iterations: 100_000,
                ticks: 6_200_005
            })
        );
        assert_eq!(parse("bench done"), Some(GuestLine::Done));
        assert_eq!(
            parse("bench error: unknown benchmark \"x\""),
            Some(GuestLine::Error("unknown benchmark \"x\""))
        );
    }

    #[test]
    fn other_lines() {
        for line in [
            "bench",
            "bench loop 100000",
            "bench loop 0 5",
            "bench loop 100000 5 6",
            "bench loop many 5",
            "bench loop 100000 -5",
            "[    1.898798] Kernel panic - not syncing: Attempted to kill init!",
            "init: exited with status 0",
            "benchmarks done",
        ] {
            assert_eq!(parse(line), None, "{line}");
        }
    }
}
