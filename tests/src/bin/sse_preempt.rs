//! SSE state survives preemption and syscalls: two threads pinned to the same CPU each
//! load their own pattern into XMM0-XMM15 once, then for about 150 ms of CLOCK_MONOTONIC
//! check all 16 registers against the pattern over and over, all in one assembly block:
//! the registers are never reloaded, so every context switch between the two threads (and
//! every syscall: the block reads the clock with `syscall` itself, which may clobber only
//! RAX, RCX and R11) must save and restore them. A check never changes a register: it
//! stores the 16 registers to memory and compares that copy with the pattern.
//!
//! Each thread also counts its check rounds, and at every clock read looks at the other
//! thread's count: a change means the other thread ran while this one was inside its
//! block (they share one CPU), i.e. this thread was switched out and back in with its
//! registers live. Each thread must see that at least once (so the test cannot pass
//! without preemption); a register mismatch fails at once.
#![cfg_attr(not(test), no_std, no_main)]

use core::arch::asm;
use core::mem::offset_of;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use topframe_abi_tests::thread::{self, Stack};
use topframe_abi_tests::time::{self, CLOCK_MONOTONIC, NANOSECONDS_PER_MILLISECOND, Timespec};
use topframe_abi_tests::{InitialStack, abi_test_main, check, check_eq, fail, nr, println, sched};

abi_test_main!(main);

/// How long each thread checks its registers.
const CHECK_NANOS: i64 = 150 * NANOSECONDS_PER_MILLISECOND;
/// Check rounds between two clock reads (one round: ~120 instructions).
const ROUNDS_PER_CLOCK_READ: u64 = 256;

/// The block's data, addressed from R12.
#[repr(C, align(16))]
struct Run {
    /// The values of XMM0-XMM15.
    pattern: [[u8; 16]; 16],
    /// The registers as the last check round stored them.
    seen: [[u8; 16]; 16],
    /// When to stop (CLOCK_MONOTONIC).
    deadline: Timespec,
    /// The last clock read.
    now: Timespec,
    /// This thread's round count, incremented by the block.
    progress: *const AtomicU64,
    /// The other thread's round count, read by the block.
    other_progress: *const AtomicU64,
    /// The other thread's count at the previous clock read.
    last_other: u64,
    /// How many clock reads saw the other thread's count change.
    interleavings: u64,
    /// How many clock reads there were.
    clock_reads: u64,
    /// clock_gettime's result if it failed.
    clock_error: i64,
}

/// The block's results.
const FINISHED: u64 = 0;
const MISMATCH: u64 = 1;
const CLOCK_FAILED: u64 = 2;

/// Each thread's round count.
static PROGRESS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
/// The threads that reached the start line.
static READY: AtomicU32 = AtomicU32::new(0);
/// The CPU both threads pin themselves to.
static CPU: AtomicU64 = AtomicU64::new(0);
/// Each thread's interleavings and clock reads, for main's report.
static INTERLEAVINGS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static CLOCK_READS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// Thread `index`'s pattern: all 256 bytes distinct (31 is odd: multiplying by it
/// permutes the bytes), and thread 1's differ from thread 0's in every byte (bit 7).
fn pattern(index: usize) -> [[u8; 16]; 16] {
    core::array::from_fn(|register| {
        core::array::from_fn(|byte| {
            ((register * 16 + byte) as u8)
                .wrapping_mul(31)
                .wrapping_add(0x11)
                ^ (index as u8 * 0x80)
        })
    })
}

/// Loads the pattern into XMM0-XMM15 and checks them until the deadline; FINISHED,
/// MISMATCH (`run.seen` holds the registers) or CLOCK_FAILED.
fn check_registers(run: &mut Run) -> u64 {
    let result: u64;
    // SAFETY: the block reads and writes only `*run` (through R12) and the two progress
    // counters it points to (atomics: this thread's is written by this thread only, as an
    // aligned 8-byte increment; the other's is only read). Its syscall is clock_gettime,
    // which writes `run.now`. Every register it changes is declared: XMM0-XMM15, and RAX,
    // RCX, RDX, RSI, RDI, R11, R13, R14. The stack is not used.
    unsafe {
        asm!(
            // Load the pattern, once.
            ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
            "movdqa xmm\\n, xmmword ptr [r12 + {pattern} + 16 * \\n]", // XMMn = pattern[n]
            ".endr",
            // 2: read the clock.
            "2:",
            "mov eax, {clock_gettime}",         // RAX = clock_gettime
            "mov edi, {clock}",                 // RDI = CLOCK_MONOTONIC
            "lea rsi, [r12 + {now}]",           // RSI = &run.now
            "syscall",                          // clock_gettime(CLOCK_MONOTONIC, &run.now)
            "test rax, rax",                    // 0 on success
            "jnz 7f",                           // failed: report it
            "inc qword ptr [r12 + {clock_reads}]", // count the read
            // Did the other thread run since the last read?
            "mov r14, [r12 + {other_progress}]", // R14 = &other thread's count
            "mov r14, [r14]",                   // R14 = its count now
            "cmp r14, [r12 + {last_other}]",    // changed since the last read?
            "je 3f",                            // no
            "mov [r12 + {last_other}], r14",    // yes: remember the new count...
            "inc qword ptr [r12 + {interleavings}]", // ...and count an interleaving
            // 3: past the deadline (now >= deadline, seconds then nanoseconds)?
            "3:",
            "mov r14, [r12 + {now}]",           // R14 = now.tv_sec
            "cmp r14, [r12 + {deadline}]",      // compare with deadline.tv_sec (signed)
            "jg 8f",                            // later second: done
            "jl 4f",                            // earlier second: go on
            "mov r14, [r12 + {now} + 8]",       // same second: R14 = now.tv_nsec
            "cmp r14, [r12 + {deadline} + 8]",  // compare with deadline.tv_nsec
            "jge 8f",                           // reached: done
            // 4: the next rounds until the next clock read.
            "4:",
            "mov r13d, {rounds}",               // R13 = rounds until the next read
            // 5: one check round.
            "5:",
            ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
            "movdqa xmmword ptr [r12 + {seen} + 16 * \\n], xmm\\n", // seen[n] = XMMn
            ".endr",
            "xor edx, edx",                     // RDX = OR of all differences
            ".irp k, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "mov r14, [r12 + {seen} + 8 * \\k]", // R14 = quadword k of the registers...
            "xor r14, [r12 + {pattern} + 8 * \\k]", // ...XOR the pattern's: 0 if equal
            "or rdx, r14",                      // collect the difference
            ".endr",
            "test rdx, rdx",                    // any bit different?
            "jnz 6f",                           // yes: mismatch
            "mov r14, [r12 + {progress}]",      // R14 = &this thread's count
            "inc qword ptr [r14]",              // one more round (only this thread writes it)
            "dec r13",                          // one round less until the next clock read
            "jnz 5b",                           // more rounds
            "jmp 2b",                           // read the clock
            // 6: mismatch (seen holds the registers).
            "6:",
            "mov eax, {mismatch}",              // result = MISMATCH
            "jmp 9f",                           // leave
            // 7: clock_gettime failed.
            "7:",
            "mov [r12 + {clock_error}], rax",   // keep its result
            "mov eax, {clock_failed}",          // result = CLOCK_FAILED
            "jmp 9f",                           // leave
            // 8: the deadline passed without a mismatch.
            "8:",
            "mov eax, {finished}",              // result = FINISHED
            "9:",
            pattern = const offset_of!(Run, pattern),
            seen = const offset_of!(Run, seen),
            now = const offset_of!(Run, now),
            deadline = const offset_of!(Run, deadline),
            progress = const offset_of!(Run, progress),
            other_progress = const offset_of!(Run, other_progress),
            last_other = const offset_of!(Run, last_other),
            interleavings = const offset_of!(Run, interleavings),
            clock_reads = const offset_of!(Run, clock_reads),
            clock_error = const offset_of!(Run, clock_error),
            clock_gettime = const nr::CLOCK_GETTIME,
            clock = const CLOCK_MONOTONIC,
            rounds = const ROUNDS_PER_CLOCK_READ,
            mismatch = const MISMATCH,
            clock_failed = const CLOCK_FAILED,
            finished = const FINISHED,
            in("r12") &raw mut *run,
            out("rax") result,
            out("rcx") _,
            out("rdx") _,
            out("rsi") _,
            out("rdi") _,
            out("r11") _,
            out("r13") _,
            out("r14") _,
            out("xmm0") _,
            out("xmm1") _,
            out("xmm2") _,
            out("xmm3") _,
            out("xmm4") _,
            out("xmm5") _,
            out("xmm6") _,
            out("xmm7") _,
            out("xmm8") _,
            out("xmm9") _,
            out("xmm10") _,
            out("xmm11") _,
            out("xmm12") _,
            out("xmm13") _,
            out("xmm14") _,
            out("xmm15") _,
            options(nostack),
        );
    }
    result
}

fn checker(index: u64) {
    let index = index as usize;
    let cpu = CPU.load(Ordering::Relaxed) as usize;
    sched::pin_to(cpu);
    check_eq!(
        sched::getcpu() as usize,
        cpu,
        "thread {index}: getcpu after pinning"
    );
    // Start together, so that the two windows overlap.
    READY.fetch_add(1, Ordering::AcqRel);
    while READY.load(Ordering::Acquire) < 2 {
        sched::yield_now();
    }
    let other = &PROGRESS[1 - index];
    let mut run = Run {
        pattern: pattern(index),
        seen: [[0; 16]; 16],
        deadline: time::monotonic().plus_nanos(CHECK_NANOS),
        now: Timespec::ZERO,
        progress: &PROGRESS[index],
        other_progress: other,
        last_other: other.load(Ordering::Relaxed),
        interleavings: 0,
        clock_reads: 0,
        clock_error: 0,
    };
    match check_registers(&mut run) {
        FINISHED => {}
        MISMATCH => {
            for (register, (seen, expected)) in run.seen.iter().zip(&run.pattern).enumerate() {
                if seen != expected {
                    println!(
                        "thread {index}: XMM{register} = {:#034x}, expected {:#034x}",
                        u128::from_le_bytes(*seen),
                        u128::from_le_bytes(*expected)
                    );
                }
            }
            fail!(
                "thread {index}: XMM registers changed after {} rounds ({} interleavings)",
                PROGRESS[index].load(Ordering::Relaxed),
                run.interleavings
            );
        }
        CLOCK_FAILED => fail!(
            "thread {index}: clock_gettime in the block returned {}",
            run.clock_error
        ),
        other => fail!("thread {index}: the block returned {other}"),
    }
    INTERLEAVINGS[index].store(run.interleavings, Ordering::Relaxed);
    CLOCK_READS[index].store(run.clock_reads, Ordering::Relaxed);
    check!(
        run.interleavings > 0,
        "thread {index}: the other thread never ran while this one checked its registers \
         ({} rounds, {} clock reads): no preemption in {CHECK_NANOS} ns",
        PROGRESS[index].load(Ordering::Relaxed),
        run.clock_reads
    );
}

fn main(_stack: &InitialStack) {
    let cpu = sched::allowed_cpus()
        .nth(0)
        .expect("allowed_cpus is not empty");
    CPU.store(cpu as u64, Ordering::Relaxed);
    let threads = [
        thread::spawn(Stack::new(), checker, 0),
        thread::spawn(Stack::new(), checker, 1),
    ];
    for thread in threads {
        drop(thread.join());
    }
    println!(
        "sse_preempt: on CPU {cpu}: rounds {} and {}, interleavings {} and {}, clock reads {} \
         and {}",
        PROGRESS[0].load(Ordering::Relaxed),
        PROGRESS[1].load(Ordering::Relaxed),
        INTERLEAVINGS[0].load(Ordering::Relaxed),
        INTERLEAVINGS[1].load(Ordering::Relaxed),
        CLOCK_READS[0].load(Ordering::Relaxed),
        CLOCK_READS[1].load(Ordering::Relaxed)
    );
}
