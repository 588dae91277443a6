//! `cargo xtask bench`'s options.

use std::path::PathBuf;

use clap::Args;

use crate::accel::AccelChoice;
use crate::bench::catalog::{self, Benchmark};
use crate::cli;
use crate::kernel_build::Strategy;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Entry strategies to build and boot (the floor build always runs).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "LIST",
          default_values_t = [Strategy::Lazy, Strategy::Complete])]
    pub strategies: Vec<Strategy>,
    /// CPUs of every guest (the benchmarks themselves run on one).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = cli::parse_cpu_count)]
    pub smp: usize,
    /// Rounds per benchmark (under KVM each round is a boot).
    #[arg(long, value_name = "R", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// Run only this benchmark.
    #[arg(long, value_name = "NAME", value_parser = parse_benchmark)]
    pub only: Option<&'static Benchmark>,
    /// Accelerator; auto picks KVM only where it is hardware virtualization.
    #[arg(long, value_enum, default_value_t)]
    pub accel: AccelChoice,
    /// Add a column for Debian's own cloud kernel in the same QEMU (apt-get download).
    #[arg(long)]
    pub linux: bool,
    /// Add the ring-3 twin columns: the entry assembly timed on this host in TSC ticks.
    #[arg(long)]
    pub twin: bool,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also draw the results as SVG to FILE.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

/// A benchmark of the catalog, by name.
fn parse_benchmark(name: &str) -> Result<&'static Benchmark, String> {
    catalog::find(name).ok_or_else(|| {
        let names: Vec<&str> = catalog::BENCHMARKS
            .iter()
            .map(|benchmark| benchmark.name)
            .collect();
        format!("no benchmark {name:?}; one of {}", names.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Command {
        #[command(flatten)]
        bench: BenchArgs,
    }

    fn parse(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        Command::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))
            .map(|command| command.bench)
    }

    #[test]
    fn defaults() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.strategies, [Strategy::Lazy, Strategy::Complete]);
        assert_eq!(args.smp, 1);
        assert_eq!(args.rounds, 5);
        assert_eq!(args.only, None);
        assert_eq!(args.accel, AccelChoice::Auto);
        assert!(!args.linux && !args.twin);
        assert_eq!((args.json, args.plot), (None, None));
    }

    #[test]
    fn every_option() {
        let args = parse(&[
            "--strategies",
            "complete",
            "--smp",
            "2",
            "--rounds",
            "2",
            "--only",
            "null_syscall",
            "--accel",
            "tcg",
            "--linux",
            "--twin",
            "--json",
            "b.json",
            "--plot",
            "b.svg",
        ])
        .unwrap();
        assert_eq!(args.strategies, [Strategy::Complete]);
        assert_eq!((args.smp, args.rounds), (2, 2));
        assert_eq!(
            args.only.map(|benchmark| benchmark.name),
            Some("null_syscall")
        );
        assert_eq!(args.accel, AccelChoice::Tcg);
        assert!(args.linux && args.twin);
        assert_eq!(args.json, Some(PathBuf::from("b.json")));
        assert_eq!(args.plot, Some(PathBuf::from("b.svg")));
    }

    #[test]
    fn bad_values_say_why() {
        let error = parse(&["--only", "nope"]).unwrap_err().to_string();
        assert!(
            error.contains("one of loop, null_syscall, enosys"),
            "{error}"
        );
        for bad in [
            &["--rounds", "0"][..],
            &["--smp", "0"],
            &["--strategies", "eager"],
            &["--accel", "hvf"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
