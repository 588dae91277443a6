//! The two strategies' hooks, on the host with real per-CPU data (GS): what each one
//! leaves in the frame and in OLD_RSP, so both give a slow path the same complete frame.

use topframe_entry::{
    CompleteFrame, EntryStrategy, LazyTopOfStack, OLD_RSP, PtRegs, USER_CS, USER_DS, UserEntryState,
};

/// A frame as the lazy fast path leaves it: top slots unwritten (garbage here).
fn lazy_fast_path_frame() -> PtRegs {
    PtRegs {
        rip: 0x40_1000,
        rcx: 0x40_1000,
        r11: 0x246,
        rax: 42,
        orig_rax: 110,
        cs: 0xdead,
        ss: 0xbeef,
        rsp: 0x1234,
        eflags: 0x5555,
        ..PtRegs::default()
    }
}

fn on_own_cpu(test: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        static NEXT_CPU: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(100);
        let cpu = NEXT_CPU.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        topframe_percpu::install_on_current_thread(cpu).expect("arch_prctl(ARCH_SET_GS)");
        test();
    })
    .join()
    .unwrap();
}

#[test]
fn lazy_fixup_completes_the_frame_from_old_rsp_and_r11() {
    on_own_cpu(|| {
        OLD_RSP.write(0x7fff_ffff_e000);
        let mut regs = lazy_fast_path_frame();
        LazyTopOfStack::fixup_top_of_stack(&mut regs);
        assert_eq!(regs.rsp, 0x7fff_ffff_e000, "RSP from OLD_RSP");
        assert_eq!((regs.cs, regs.ss), (USER_CS, USER_DS));
        assert_eq!(regs.eflags, regs.r11, "RFLAGS from R11");
        assert_eq!(regs.rcx, regs.rip, "RCX = RIP, not Linux <= 4.0's -1");
        assert_eq!((regs.rax, regs.orig_rax), (42, 110), "the rest untouched");
    });
}

#[test]
fn lazy_restore_writes_back_the_stack_pointer_a_slow_path_changed() {
    on_own_cpu(|| {
        OLD_RSP.write(0x1000);
        let mut regs = lazy_fast_path_frame();
        LazyTopOfStack::fixup_top_of_stack(&mut regs);
        regs.rsp = 0x7fff_0000_0000; // sigreturn or ptrace moved the stack
        LazyTopOfStack::restore_top_of_stack(&regs);
        assert_eq!(OLD_RSP.read(), 0x7fff_0000_0000);
    });
}

#[test]
fn current_user_stack_pointer_follows_the_strategy() {
    on_own_cpu(|| {
        OLD_RSP.write(0xaaaa_0000);
        let regs = PtRegs {
            rsp: 0xbbbb_0000,
            ..PtRegs::default()
        };
        assert_eq!(
            LazyTopOfStack::current_user_stack_pointer(&regs, false),
            0xaaaa_0000
        );
        assert_eq!(
            LazyTopOfStack::current_user_stack_pointer(&regs, true),
            0xbbbb_0000
        );
        assert_eq!(
            CompleteFrame::current_user_stack_pointer(&regs, false),
            0xbbbb_0000
        );
    });
}

#[test]
fn lazy_context_switch_carries_old_rsp_per_thread() {
    on_own_cpu(|| {
        let mut first = UserEntryState::default();
        let second = UserEntryState { user_rsp: 0x2222 };
        OLD_RSP.write(0x1111); // the first thread is in a fast-path syscall
        LazyTopOfStack::switch_user_state(&mut first, &second);
        assert_eq!(first.user_rsp, 0x1111, "saved with the outgoing thread");
        assert_eq!(
            OLD_RSP.read(),
            0x2222,
            "the incoming thread's value is live"
        );
        let mut second_saved = UserEntryState::default();
        LazyTopOfStack::switch_user_state(&mut second_saved, &first);
        assert_eq!(OLD_RSP.read(), 0x1111);
    });
}

#[test]
fn complete_frame_hooks_change_nothing() {
    on_own_cpu(|| {
        OLD_RSP.write(0x4444);
        let mut regs = lazy_fast_path_frame();
        let before = regs;
        CompleteFrame::fixup_top_of_stack(&mut regs);
        CompleteFrame::restore_top_of_stack(&regs);
        assert_eq!(regs, before);
        let mut saved = UserEntryState::default();
        CompleteFrame::switch_user_state(&mut saved, &UserEntryState { user_rsp: 9 });
        assert_eq!((saved, OLD_RSP.read()), (UserEntryState::default(), 0x4444));
    });
}
