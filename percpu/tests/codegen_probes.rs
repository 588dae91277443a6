//! The codegen probes (feature `codegen-probes`) also run: they are ordinary accessors.
#![cfg(feature = "codegen-probes")]

mod common;

use topframe_percpu::codegen_probes::*;

#[test]
fn probes_act_on_this_cpus_probe_variables() {
    std::thread::spawn(|| {
        let cpu = common::become_new_cpu();
        assert_eq!(topframe_percpu_probe_cpu_id(), cpu);
        topframe_percpu_probe_write_u64(40);
        topframe_percpu_probe_inc_u64();
        topframe_percpu_probe_add_u64(2);
        assert_eq!(topframe_percpu_probe_fetch_add_u64(1), 43);
        assert_eq!(topframe_percpu_probe_compare_exchange_u64(44, 7), 44);
        assert_eq!(topframe_percpu_probe_compare_exchange_u64(44, 8), 7);
        assert_eq!(topframe_percpu_probe_replace_u64(1), 7);
        assert_eq!(topframe_percpu_probe_read_u64(), 1);
        topframe_percpu_probe_write_u8(0xff);
        topframe_percpu_probe_inc_u8();
        assert_eq!(topframe_percpu_probe_read_u8(), 0);
        topframe_percpu_probe_write_bool(true);
        assert!(topframe_percpu_probe_replace_bool(false));
        assert!(!topframe_percpu_probe_read_bool());
    })
    .join()
    .expect("probe thread panicked");
}
