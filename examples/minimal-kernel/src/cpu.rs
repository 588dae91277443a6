//! Setting up one CPU, on that CPU: its per-CPU area (topframe-percpu), its GDT and TSS,
//! the IDT, the SYSCALL registers (topframe-entry's entry point) and its local APIC.

use crate::interrupts::{self, ERROR_VECTOR, SPURIOUS_VECTOR, TIMER_VECTOR};
use core::cell::UnsafeCell;
use spin::Once;
use topframe_entry::{KERNEL_CS, KERNEL_DS, KERNEL32_CS, STAR, USER_CS, USER_DS, USER32_CS};
use x2apic::lapic::{LocalApic, LocalApicBuilder};
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::registers::model_specific::{Efer, EferFlags, KernelGsBase, LStar, Msr, SFMask};
use x86_64::registers::rflags::RFlags;
use x86_64::structures::gdt::{
    Descriptor, DescriptorFlags, GlobalDescriptorTable, SegmentSelector,
};
use x86_64::structures::tss::TaskStateSegment;

/// IA32_STAR: the selectors SYSCALL and SYSRET load.
const IA32_STAR: u32 = 0xc000_0081;
/// The local APIC's LVT LINT0 and LINT1 registers in x2APIC mode, and their mask bit.
const X2APIC_LVT_LINT0: u32 = 0x835;
const X2APIC_LVT_LINT1: u32 = 0x836;
const LVT_MASKED: u64 = 1 << 16;

topframe_percpu::per_cpu! {
    /// This CPU's descriptor tables and idle context (reached by reference).
    static CPU: Cpu = Cpu::new();
    /// This CPU's local APIC ID, to send it IPIs (a scalar: one `gs:` instruction).
    pub static APIC_ID: u32 = 0;
}

/// What each CPU keeps for itself.
pub struct Cpu {
    /// The TSS: RSP0 is the running task's kernel stack, where interrupts from user mode
    /// land.
    tss: UnsafeCell<TaskStateSegment>,
    /// The GDT (Linux's selectors, which topframe-entry's STAR names) and the TSS selector.
    gdt: Once<(GlobalDescriptorTable<9>, SegmentSelector)>,
    /// The idle context's RSP while a task runs on this CPU.
    pub idle_rsp: UnsafeCell<u64>,
}

// SAFETY: the cells are touched only by their own CPU with interrupts off (the TSS by the
// task switch and by `init`, the idle RSP by the task switch).
unsafe impl Sync for Cpu {}

impl Cpu {
    const fn new() -> Cpu {
        Cpu {
            tss: UnsafeCell::new(TaskStateSegment::new()),
            gdt: Once::new(),
            idle_rsp: UnsafeCell::new(0),
        }
    }

    /// Interrupts and exceptions from user mode now land on the stack ending at `top`.
    ///
    /// # Safety
    /// This is the running CPU's own `Cpu`, interrupts are off, and `top` is the top of the
    /// kernel stack of the task about to run here.
    pub unsafe fn set_kernel_stack(&self, top: u64) {
        // SAFETY: only this CPU writes its TSS, with interrupts off (the caller's promise);
        // the CPU reads RSP0 only on an interrupt from user mode.
        unsafe { (*self.tss.get()).privilege_stack_table[0] = VirtAddr::new(top) };
    }
}

/// This CPU's [`Cpu`], through the table of areas (so the reference is `'static`).
pub fn this_cpu() -> &'static Cpu {
    CPU.remote(topframe_percpu::cpu_id())
        .expect("this CPU has a per-CPU area")
}

/// A handle on this CPU's local APIC in x2APIC mode (the builder only records the
/// configuration: nothing touches the APIC until a method is called).
pub fn local_apic() -> LocalApic {
    LocalApicBuilder::new()
        .timer_vector(TIMER_VECTOR)
        .error_vector(ERROR_VECTOR)
        .spurious_vector(SPURIOUS_VECTOR)
        .build()
        .expect("this kernel needs a CPU with x2APIC (QEMU: -cpu max)")
}

/// Set up the CPU this runs on as CPU number `cpu`, interrupts off.
pub fn init(cpu: usize) {
    // 1. The per-CPU area: a copy of the template, from the heap (below the template, so
    //    the GS base is negative: the entry's paranoid test of kernel GS relies on it).
    let layout = topframe_percpu::area_layout();
    // SAFETY: the layout is not zero-sized (it holds topframe-percpu's own block).
    let area = unsafe { alloc::alloc::alloc(layout) };
    assert!(
        !area.is_null(),
        "out of memory for CPU {cpu}'s per-CPU area"
    );
    // SAFETY: the area fits the layout and is this CPU's for ever (never freed); this runs
    // at CPL 0 on CPU `cpu`, which loads no GS selector later.
    let gs_base = unsafe { topframe_percpu::init_area(cpu, area) };
    assert!((gs_base as i64) < 0, "a kernel GS base must be negative");
    // SAFETY: as above.
    unsafe { topframe_percpu::load_gs_base(gs_base) };
    // The user's GS base, swapped in by the entry's SWAPGS on the way out.
    KernelGsBase::write(VirtAddr::zero());

    // 2. The GDT and TSS, then the segment registers (none of them is GS).
    let this = this_cpu();
    let (gdt, tss) = this.gdt.call_once(|| build_gdt(this.tss.get()));
    gdt.load();
    // SAFETY: the selectors name this GDT's kernel code and data and its TSS.
    unsafe {
        CS::set_reg(SegmentSelector(KERNEL_CS as u16));
        SS::set_reg(SegmentSelector(KERNEL_DS as u16));
        DS::set_reg(SegmentSelector(KERNEL_DS as u16));
        ES::set_reg(SegmentSelector(KERNEL_DS as u16));
        load_tss(*tss);
    }

    // 3. The IDT, shared by every CPU.
    interrupts::idt().load();

    // 4. SYSCALL: enabled, selectors from topframe-entry, its entry point in LSTAR, and
    //    IF, TF, DF, AC, NT and IOPL cleared on the way in.
    // SAFETY: the GDT has the layout STAR describes; the entry point is topframe-entry's.
    unsafe {
        Efer::update(|flags| flags.insert(EferFlags::SYSTEM_CALL_EXTENSIONS));
        Msr::new(IA32_STAR).write(STAR);
    }
    LStar::write(VirtAddr::new(
        crate::syscall::syscall_entry as *const () as u64,
    ));
    SFMask::write(
        RFlags::INTERRUPT_FLAG
            | RFlags::TRAP_FLAG
            | RFlags::DIRECTION_FLAG
            | RFlags::ALIGNMENT_CHECK
            | RFlags::NESTED_TASK
            | RFlags::IOPL_LOW
            | RFlags::IOPL_HIGH,
    );

    // 5. The local APIC: x2APIC mode on, software enabled, its timer off (nothing here
    //    needs a tick: each CPU runs one task to its end), LINT0 and LINT1 masked: x2apic
    //    0.5.1's `enable` writes 0 to them, which unmasks them, and the legacy PIC on LINT0
    //    would then deliver its IRQs (at vectors 8 and up, where exceptions are).
    let mut apic = local_apic();
    // SAFETY: this CPU's own APIC; its vectors have IDT entries (interrupts.rs); the two
    // MSRs are its LVT LINT0 and LINT1 registers in x2APIC mode.
    unsafe {
        apic.enable();
        apic.disable_timer();
        Msr::new(X2APIC_LVT_LINT0).write(LVT_MASKED);
        Msr::new(X2APIC_LVT_LINT1).write(LVT_MASKED);
        APIC_ID.write(apic.id());
    }
}

/// The GDT: null, then Linux's selectors, which topframe-entry's [`STAR`] assumes
/// (SYSRET takes user SS and CS from fixed offsets above USER32_CS), then the TSS.
fn build_gdt(tss: *const TaskStateSegment) -> (GlobalDescriptorTable<9>, SegmentSelector) {
    let mut gdt = GlobalDescriptorTable::empty();
    let selectors = [
        gdt.append(Descriptor::UserSegment(
            DescriptorFlags::KERNEL_CODE32.bits(),
        )),
        gdt.append(Descriptor::kernel_code_segment()),
        gdt.append(Descriptor::kernel_data_segment()),
        gdt.append(Descriptor::UserSegment(DescriptorFlags::USER_CODE32.bits())),
        gdt.append(Descriptor::user_data_segment()),
        gdt.append(Descriptor::user_code_segment()),
    ];
    assert_eq!(
        selectors.map(|selector| u64::from(selector.0)),
        [
            KERNEL32_CS,
            KERNEL_CS,
            KERNEL_DS,
            USER32_CS,
            USER_DS,
            USER_CS
        ]
    );
    // SAFETY: the TSS is in this CPU's per-CPU area, which is never freed.
    let tss = gdt.append(unsafe { Descriptor::tss_segment_unchecked(tss) });
    (gdt, tss)
}

/// topframe-entry's interrupt stubs start with CLAC, which raises #UD on a CPU without
/// SMAP: there, turn every recorded CLAC/STAC into a 3-byte NOP. Runs before any
/// interrupt can.
pub fn patch_smap_sites() {
    const CPUID_SMAP: u32 = 1 << 20; // CPUID.(EAX=7, ECX=0):EBX
    if core::arch::x86_64::__cpuid_count(7, 0).ebx & CPUID_SMAP != 0 {
        return;
    }
    for &site in topframe_entry::smap::smap_instruction_sites() {
        // SAFETY: `site` is a CLAC or STAC in kernel text, which the boot page tables map
        // writable, and no CPU executes it yet.
        unsafe {
            core::ptr::copy_nonoverlapping(
                topframe_entry::smap::NOP3.as_ptr(),
                site as *mut u8,
                topframe_entry::smap::SMAP_INSTRUCTION_LEN,
            );
        }
    }
}
