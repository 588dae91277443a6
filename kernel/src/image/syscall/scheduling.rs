//! Scheduling syscalls: sched_yield, sched_setaffinity, sched_getaffinity, getcpu.

use super::errno::{EFAULT, EINVAL, ESRCH};
use crate::scheduler;
use crate::task;
use crate::user::copy::{copy_from_user, copy_to_user, write_user};
use alloc::sync::Arc;
use topframe_sched::{CpuSet, Reschedule, Schedulable};
use x86_64::instructions::interrupts;

pub fn sched_yield() -> i64 {
    scheduler::yield_now();
    0
}

/// Bytes of the kernel's CPU mask: one long per 64 CPUs (Linux's cpumask_size() with
/// nr_cpu_ids the online CPUs, as under Debian's CPUMASK_OFFSTACK).
fn cpumask_size() -> usize {
    scheduler::scheduler()
        .online_cpus()
        .iter()
        .max()
        .unwrap_or(0)
        / 64
        * 8
        + 8
}

/// The task `pid` names (0: the caller).
fn target(pid: u64) -> Option<Arc<task::Task>> {
    match pid as i32 {
        0 => Some(task::current_handle()),
        pid if pid < 0 => None,
        pid => task::find(pid as u32),
    }
}

pub fn sched_setaffinity(pid: u64, length: u64, mask: u64) -> i64 {
    // Linux copies what fits in its mask and zero-fills the rest.
    let mut bytes = [0u8; topframe_sched::MAX_CPUS / 8];
    let wanted = (length as usize).min(cpumask_size());
    if copy_from_user(&mut bytes[..wanted], mask).is_err() {
        return -EFAULT;
    }
    let mut affinity = CpuSet::new();
    for cpu in 0..wanted * 8 {
        if bytes[cpu / 8] & (1 << (cpu % 8)) != 0 {
            affinity.insert(cpu);
        }
    }
    let Some(task) = target(pid) else {
        return -ESRCH;
    };
    let reschedule = interrupts::without_interrupts(|| {
        scheduler::scheduler().set_affinity(&task, affinity, topframe_percpu::cpu_id())
    });
    match reschedule {
        Err(_) => -EINVAL,
        Ok(Reschedule::ThisCpu) if core::ptr::eq(&*task, task::current()) => {
            // The caller may no longer run here: move now, so that it returns on an
            // allowed CPU (as Linux's migration before the syscall returns).
            scheduler::schedule();
            0
        }
        Ok(reschedule) => {
            scheduler::request(reschedule);
            interrupts::without_interrupts(|| scheduler::after_move(&task));
            0
        }
    }
}

pub fn sched_getaffinity(pid: u64, length: u64, mask: u64) -> i64 {
    let size = cpumask_size();
    let online = scheduler::scheduler().online_cpus();
    if length.saturating_mul(8) < online.len() as u64
        || !length.is_multiple_of(size_of::<u64>() as u64)
    {
        return -EINVAL;
    }
    let Some(task) = target(pid) else {
        return -ESRCH;
    };
    let affinity = task.sched_entity().affinity().intersection(&online);
    let mut bytes = [0u8; topframe_sched::MAX_CPUS / 8];
    for cpu in affinity.iter() {
        bytes[cpu / 8] |= 1 << (cpu % 8);
    }
    let copied = size.min(length as usize);
    if copy_to_user(mask, &bytes[..copied]).is_err() {
        return -EFAULT;
    }
    copied as i64
}

/// The CPU (and NUMA node: always 0) the caller runs on; either pointer may be null.
pub fn getcpu(cpu: u64, node: u64) -> i64 {
    let here = topframe_percpu::cpu_id() as u32;
    for (address, value) in [(cpu, here), (node, 0)] {
        if address != 0 && write_user(address, &value).is_err() {
            return -EFAULT;
        }
    }
    0
}
