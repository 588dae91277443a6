//! Host tests of the scheduler: one test binary, threads emulating CPUs where it matters.

mod affinity;
mod balancing;
mod fairness;
mod harness;
mod placement;
mod stress;
mod wait_queue;
