//! One QEMU boot of a kernel image: the command line, the console (COM1) and the defmt log
//! (COM2) streamed line by line, and how it ended.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use serde::Deserialize;

use crate::accel::Accel;
use crate::console_protocol;
use crate::defmt_log::LogDecoder;

pub const QEMU: &str = "qemu-system-x86_64";

/// The APIC mode the virtual CPUs offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Apic {
    /// The CPU model as it is: x2APIC where QEMU offers it (TCG does from QEMU 8.0).
    #[default]
    X2apic,
    /// The CPU model without x2APIC (`-cpu max,-x2apic`), so the kernel uses xAPIC MMIO.
    Xapic,
}

/// Accepts 1..=`topframe_kernel::MAX_CPUS`.
pub fn check_cpu_count(count: usize) -> Result<(), String> {
    let max = topframe_kernel::MAX_CPUS;
    if (1..=max).contains(&count) {
        Ok(())
    } else {
        Err(format!(
            "{count} CPUs is outside the supported range 1..={max} (topframe_kernel::MAX_CPUS)"
        ))
    }
}

/// Everything that defines one boot.
#[derive(Debug)]
pub struct Machine {
    pub kernel: PathBuf,
    pub cpus: usize,
    pub accel: Accel,
    pub apic: Apic,
    /// The initramfs (a cpio newc archive), passed with `-initrd`.
    pub initrd: Option<PathBuf>,
    pub cmdline: String,
    pub extra_args: Vec<String>,
}

impl Machine {
    /// QEMU's arguments; COM2 goes to the unix socket `log_socket` when there is one.
    pub fn qemu_args(&self, log_socket: Option<&Path>) -> Vec<OsString> {
        fn os(args: &[&str]) -> Vec<OsString> {
            args.iter().map(OsString::from).collect()
        }
        let (accel, cpu_model) = match self.accel {
            Accel::Kvm => (os(&["-accel", "kvm"]), "host"),
            Accel::TcgIcount => (
                os(&["-accel", "tcg", "-icount", "shift=0,sleep=off"]),
                "max",
            ),
            Accel::TcgMultiThreaded => (os(&["-accel", "tcg,thread=multi"]), "max"),
        };
        let cpu = match self.apic {
            Apic::X2apic => cpu_model.to_string(),
            Apic::Xapic => format!("{cpu_model},-x2apic"),
        };
        let mut args = os(&[
            "-machine",
            "q35",
            "-m",
            "512M",
            "-smp",
            &self.cpus.to_string(),
        ]);
        args.extend(accel);
        args.extend(os(&["-cpu", &cpu, "-kernel"]));
        args.push(self.kernel.clone().into());
        if let Some(initrd) = &self.initrd {
            args.push("-initrd".into());
            args.push(initrd.clone().into());
        }
        args.extend(os(&["-append", &self.cmdline]));
        args.extend(os(&["-no-reboot", "-display", "none", "-monitor", "none"]));
        args.extend(os(&["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]));
        // COM1: the console, on QEMU's stdout.
        args.extend(os(&["-serial", "stdio"]));
        // COM2: the defmt stream.
        match log_socket {
            Some(socket) => {
                let mut chardev = OsString::from("socket,id=defmt,path=");
                chardev.push(socket);
                args.extend([OsString::from("-chardev"), chardev]);
                args.extend(os(&["-serial", "chardev:defmt"]));
            }
            None => args.extend(os(&["-serial", "null"])),
        }
        args.extend(self.extra_args.iter().map(OsString::from));
        args
    }
}

/// One line of output from a boot, in the order xtask received them.
#[derive(Debug)]
pub enum Line {
    /// The kernel's console (COM1), without the line ending.
    Console(String),
    /// A decoded defmt frame (COM2).
    Log(String),
    /// QEMU's own stderr.
    QemuStderr(String),
}

/// How a boot ended.
#[derive(Debug)]
pub enum Ending {
    /// The kernel printed `topframe: exit status <N>` and QEMU exited.
    KernelStatus(u32),
    /// Still running at the deadline: QEMU was killed.
    TimedOut,
    /// QEMU exited without the kernel's status line (a triple fault with -no-reboot, a QEMU
    /// error, ...).
    NoStatusLine(ExitStatus),
}

/// How long QEMU may take to connect to the log socket before something is wrong.
const LOG_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Boots `machine`, handing every line to `on_line` as it arrives, until QEMU exits or
/// `timeout` passes (then QEMU is killed). `log` decodes COM2; without it COM2 is discarded.
pub fn boot(
    machine: &Machine,
    log: Option<LogDecoder>,
    timeout: Duration,
    on_line: &mut dyn FnMut(&Line),
) -> Result<Ending> {
    if !machine.kernel.is_file() {
        bail!(
            "kernel image {} not found; build it first",
            machine.kernel.display()
        );
    }
    let deadline = Instant::now() + timeout;
    let log_socket = log.as_ref().map(|_| LogSocket::bind()).transpose()?;
    let mut child = Command::new(QEMU)
        .args(machine.qemu_args(log_socket.as_ref().map(|socket| socket.path.as_path())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| match error.kind() {
            ErrorKind::NotFound => anyhow::anyhow!(
                "{QEMU} not found; install QEMU 8.0 or newer (Debian: the qemu-system-x86 package)"
            ),
            _ => anyhow::Error::new(error).context(format!("cannot start {QEMU}")),
        })?;

    let (sender, receiver) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    forward_lines(stdout, sender.clone(), Line::Console);
    forward_lines(stderr, sender.clone(), Line::QemuStderr);
    if let (Some(socket), Some(log)) = (log_socket, log) {
        // `None`: QEMU exited before connecting; its stderr says why.
        if let Some(stream) = socket.accept(&mut child)? {
            let sender = sender.clone();
            thread::spawn(move || {
                log.decode_stream(stream, |line| sender.send(Line::Log(line)).is_ok());
            });
        }
    }
    drop(sender);

    let mut status = None;
    loop {
        match receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                if let Line::Console(text) = &line
                    && let Some(kernel_status) = console_protocol::exit_status(text)
                {
                    status = Some(kernel_status);
                }
                on_line(&line);
            }
            // Every stream has ended: QEMU has exited.
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                kill(&mut child);
                // The streams end with QEMU: show what it printed last.
                receiver.iter().for_each(|line| on_line(&line));
                return Ok(Ending::TimedOut);
            }
        }
    }
    let qemu_status = child.wait().context("cannot wait for QEMU")?;
    Ok(match status {
        Some(status) => Ending::KernelStatus(status),
        None => Ending::NoStatusLine(qemu_status),
    })
}

fn kill(child: &mut Child) {
    // Both fail only when QEMU has already exited and been reaped, which is what we want.
    let _ = child.kill();
    let _ = child.wait();
}

/// Sends each line of `stream` (without `\n` or `\r\n`) until it ends.
fn forward_lines(
    stream: impl Read + Send + 'static,
    sender: Sender<Line>,
    kind: fn(String) -> Line,
) {
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut bytes = Vec::new();
        loop {
            bytes.clear();
            match reader.read_until(b'\n', &mut bytes) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&bytes);
                    let text = text.strip_suffix('\n').unwrap_or(&text);
                    let text = text.strip_suffix('\r').unwrap_or(text);
                    if sender.send(kind(text.to_string())).is_err() {
                        return;
                    }
                }
            }
        }
    });
}

/// The unix socket xtask listens on for COM2: bound before QEMU starts, so QEMU connects
/// during its start-up, before the guest runs, and no byte is lost. Removed when dropped.
struct LogSocket {
    path: PathBuf,
    listener: UnixListener,
}

impl LogSocket {
    fn bind() -> Result<Self> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "topframe-xtask-{}-{}.sock",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        // A leftover of an earlier process with the same id.
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)
            .with_context(|| format!("cannot listen on {}", path.display()))?;
        listener.set_nonblocking(true)?;
        Ok(LogSocket { path, listener })
    }

    /// Waits for QEMU's connection; `None` when QEMU exits first.
    fn accept(self, child: &mut Child) -> Result<Option<UnixStream>> {
        let give_up = Instant::now() + LOG_CONNECT_TIMEOUT;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false)?;
                    return Ok(Some(stream));
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    if child.try_wait()?.is_some() {
                        return Ok(None);
                    }
                    if Instant::now() > give_up {
                        kill(child);
                        bail!(
                            "QEMU did not connect to the defmt log socket {} within {} s",
                            self.path.display(),
                            LOG_CONNECT_TIMEOUT.as_secs()
                        );
                    }
                    thread::sleep(Duration::from_millis(5));
                }
                Err(error) => return Err(error).context("cannot accept QEMU's log connection"),
            }
        }
    }
}

impl Drop for LogSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(accel: Accel, apic: Apic) -> Machine {
        Machine {
            kernel: PathBuf::from("/k/topframe-kernel"),
            cpus: 4,
            accel,
            apic,
            initrd: None,
            cmdline: "selftest".to_string(),
            extra_args: vec!["-s".to_string()],
        }
    }

    fn joined(machine: &Machine, socket: Option<&Path>) -> String {
        let args: Vec<String> = machine
            .qemu_args(socket)
            .into_iter()
            .map(|arg| arg.into_string().unwrap())
            .collect();
        args.join(" ")
    }

    #[test]
    fn deterministic_tcg_with_log_socket() {
        assert_eq!(
            joined(
                &machine(Accel::TcgIcount, Apic::X2apic),
                Some(Path::new("/tmp/s.sock"))
            ),
            "-machine q35 -m 512M -smp 4 -accel tcg -icount shift=0,sleep=off -cpu max \
             -kernel /k/topframe-kernel -append selftest -no-reboot -display none -monitor none \
             -device isa-debug-exit,iobase=0xf4,iosize=0x04 -serial stdio \
             -chardev socket,id=defmt,path=/tmp/s.sock -serial chardev:defmt -s"
        );
    }

    #[test]
    fn xapic_hides_x2apic_from_the_cpu_model() {
        let mttcg = joined(&machine(Accel::TcgMultiThreaded, Apic::Xapic), None);
        assert!(
            mttcg.contains("-accel tcg,thread=multi -cpu max,-x2apic -kernel"),
            "{mttcg}"
        );
        assert!(mttcg.contains("-serial stdio -serial null -s"), "{mttcg}");
        assert!(!mttcg.contains("-initrd"), "{mttcg}");
        let kvm = joined(&machine(Accel::Kvm, Apic::Xapic), None);
        assert!(
            kvm.contains("-accel kvm -cpu host,-x2apic -kernel"),
            "{kvm}"
        );
    }

    #[test]
    fn the_initramfs_follows_the_kernel() {
        let mut with_initrd = machine(Accel::TcgIcount, Apic::X2apic);
        with_initrd.initrd = Some(PathBuf::from("/t/initramfs.cpio"));
        let args = joined(&with_initrd, None);
        assert!(
            args.contains("-kernel /k/topframe-kernel -initrd /t/initramfs.cpio -append selftest"),
            "{args}"
        );
    }

    #[test]
    fn cpu_count_range() {
        assert!(check_cpu_count(1).is_ok());
        assert!(check_cpu_count(topframe_kernel::MAX_CPUS).is_ok());
        assert!(check_cpu_count(0).is_err());
        assert!(check_cpu_count(topframe_kernel::MAX_CPUS + 1).is_err());
    }

    #[test]
    fn a_missing_kernel_is_a_clear_error() {
        let error = boot(
            &machine(Accel::TcgIcount, Apic::X2apic),
            None,
            Duration::from_secs(1),
            &mut |_| {},
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "kernel image /k/topframe-kernel not found; build it first"
        );
    }
}
