//! The per-CPU codegen check: every accessor probe the percpu crate exports into the kernel
//! (`topframe_percpu_probe_*`, its feature `codegen-probes`) must compile to exactly the
//! sequence documented in percpu's `codegen_probes.rs`: one GS-relative instruction and
//! `ret`, preceded for `fetch_add`, `replace` and `compare_exchange` by the one register
//! move the ABI forces. Disassembled from the kernel ELF's symbol table with iced-x86.

use std::fmt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use iced_x86::{
    Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter, MemorySize, MemorySizeOptions,
    Mnemonic, OpKind, Register,
};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use topframe_percpu::PROBE_SYMBOL_PREFIX;

/// One probe function, disassembled.
pub struct Probe {
    pub name: String,
    pub instructions: Vec<Instruction>,
}

/// Every probe function of the ELF at `path`, by name; an error when there is none (then
/// the check could not fail).
pub fn probes_in(path: &Path) -> Result<Vec<Probe>> {
    let elf = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = object::File::parse(&*elf)
        .with_context(|| format!("{} is not an ELF file", path.display()))?;
    let mut probes = Vec::new();
    for symbol in file.symbols() {
        let Ok(name) = symbol.name() else { continue };
        if symbol.kind() != SymbolKind::Text || !name.starts_with(PROBE_SYMBOL_PREFIX) {
            continue;
        }
        let bytes = file
            .sections()
            .find_map(|section| {
                section
                    .data_range(symbol.address(), symbol.size())
                    .ok()
                    .flatten()
            })
            .with_context(|| format!("no code for {name} at {:#x}", symbol.address()))?;
        probes.push(Probe {
            name: name.to_string(),
            instructions: Decoder::with_ip(64, bytes, symbol.address(), DecoderOptions::NONE)
                .into_iter()
                .collect(),
        });
    }
    if probes.is_empty() {
        bail!(
            "no {PROBE_SYMBOL_PREFIX}* symbols in {}: the kernel must enable topframe-percpu's \
             `codegen-probes` feature",
            path.display()
        );
    }
    probes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(probes)
}

/// Checks one probe against its documented sequence; a probe whose name the table below does
/// not know must still be one GS-relative instruction and `ret`. `Err` shows the code.
pub fn check_probe(name: &str, instructions: &[Instruction]) -> Result<(), String> {
    let (passes, expected) = match documented_sequence(name) {
        Some(sequence) => {
            let passes = instructions.len() == sequence.len() + 1
                && sequence
                    .iter()
                    .zip(instructions)
                    .all(|(expected, actual)| expected.matches(actual))
                && instructions.last().is_some_and(is_plain_ret);
            let mut text: Vec<String> = sequence.iter().map(ToString::to_string).collect();
            text.push("ret".to_string());
            (passes, format!("`{}`", text.join("; ")))
        }
        None => {
            let passes = matches!(instructions, [access, ret] if is_gs_relative(access) && is_plain_ret(ret));
            (passes, "one gs-relative instruction and ret".to_string())
        }
    };
    if passes {
        return Ok(());
    }
    let found: Vec<String> = instructions.iter().map(intel_syntax).collect();
    Err(format!(
        "expected {expected}, found `{}`",
        if found.is_empty() {
            "nothing".to_string()
        } else {
            found.join("; ")
        }
    ))
}

/// `mov rax, qword ptr gs:[rip+0x2cc8]`, as objdump -M intel would show it.
fn intel_syntax(instruction: &Instruction) -> String {
    let mut formatter = IntelFormatter::new();
    let options = formatter.options_mut();
    options.set_hex_prefix("0x");
    options.set_hex_suffix("");
    options.set_uppercase_hex(false);
    options.set_space_after_operand_separator(true);
    options.set_rip_relative_addresses(true);
    options.set_memory_size_options(MemorySizeOptions::Always);
    let mut text = String::new();
    formatter.format(instruction, &mut text);
    text
}

fn is_gs_relative(instruction: &Instruction) -> bool {
    instruction.segment_prefix() == Register::GS
        && (0..instruction.op_count()).any(|operand| instruction.op_kind(operand) == OpKind::Memory)
}

fn is_plain_ret(instruction: &Instruction) -> bool {
    instruction.mnemonic() == Mnemonic::Ret && instruction.op_count() == 0
}

/// Operand size of a probe: `byte` ... `qword ptr` and the registers of that size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Width {
    Byte,
    Word,
    Dword,
    Qword,
}

impl Width {
    /// From a probe's suffix: `u8`, `u16`, `u32`, `u64`, `bool`, `ptr`.
    fn of_suffix(suffix: &str) -> Option<Width> {
        Some(match suffix {
            "u8" | "bool" => Width::Byte,
            "u16" => Width::Word,
            "u32" => Width::Dword,
            "u64" | "ptr" => Width::Qword,
            _ => return None,
        })
    }

    fn memory_size(self) -> MemorySize {
        match self {
            Width::Byte => MemorySize::UInt8,
            Width::Word => MemorySize::UInt16,
            Width::Dword => MemorySize::UInt32,
            Width::Qword => MemorySize::UInt64,
        }
    }

    fn pointer_name(self) -> &'static str {
        match self {
            Width::Byte => "byte",
            Width::Word => "word",
            Width::Dword => "dword",
            Width::Qword => "qword",
        }
    }

    /// The System V registers of this width: the return value, the first and the second
    /// argument.
    fn registers(self) -> [Register; 3] {
        match self {
            Width::Byte => [Register::AL, Register::DIL, Register::SIL],
            Width::Word => [Register::AX, Register::DI, Register::SI],
            Width::Dword => [Register::EAX, Register::EDI, Register::ESI],
            Width::Qword => [Register::RAX, Register::RDI, Register::RSI],
        }
    }
}

/// An operand of an expected instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operand {
    Register(Register),
    /// `W gs:[rip + VAR]`.
    GsRelative(Width),
}

impl fmt::Display for Operand {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Register(register) => {
                write!(formatter, "{}", format!("{register:?}").to_lowercase())
            }
            Operand::GsRelative(width) => {
                write!(formatter, "{} ptr gs:[rip+VAR]", width.pointer_name())
            }
        }
    }
}

/// One instruction of a documented sequence: no prefix but GS, exactly these operands.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expected {
    mnemonic: Mnemonic,
    operands: Vec<Operand>,
}

impl Expected {
    fn matches(&self, instruction: &Instruction) -> bool {
        instruction.mnemonic() == self.mnemonic
            && !instruction.has_lock_prefix()
            && !instruction.has_rep_prefix()
            && !instruction.has_repne_prefix()
            && instruction.op_count() as usize == self.operands.len()
            && self.operands.iter().enumerate().all(|(index, operand)| {
                let index = index as u32;
                match *operand {
                    Operand::Register(register) => {
                        instruction.op_kind(index) == OpKind::Register
                            && instruction.op_register(index) == register
                    }
                    Operand::GsRelative(width) => {
                        instruction.op_kind(index) == OpKind::Memory
                            && instruction.segment_prefix() == Register::GS
                            && instruction.is_ip_rel_memory_operand()
                            && instruction.memory_size() == width.memory_size()
                    }
                }
            })
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let operands: Vec<String> = self.operands.iter().map(ToString::to_string).collect();
        write!(
            formatter,
            "{} {}",
            format!("{:?}", self.mnemonic).to_lowercase(),
            operands.join(", ")
        )
    }
}

/// The sequence before `ret` that percpu's `codegen_probes.rs` documents for the probe
/// `name`; `None` for a name it does not list.
fn documented_sequence(name: &str) -> Option<Vec<Expected>> {
    let probe = name.strip_prefix(PROBE_SYMBOL_PREFIX)?;
    let instruction = |mnemonic, operands: &[Operand]| Expected {
        mnemonic,
        operands: operands.to_vec(),
    };
    if probe == "cpu_id" {
        let variable = Operand::GsRelative(Width::Qword);
        return Some(vec![instruction(
            Mnemonic::Mov,
            &[Operand::Register(Register::RAX), variable],
        )]);
    }
    let (accessor, suffix) = probe.rsplit_once('_')?;
    let width = Width::of_suffix(suffix)?;
    let variable = Operand::GsRelative(width);
    let [result, first, second] = width.registers().map(Operand::Register);
    // The ABI's argument is in RDI, the previous value must come back in RAX: `mov eax, edi`
    // (`mov rax, rdi` for quadwords) puts it where the instruction exchanges it.
    let move_argument = match width {
        Width::Qword => instruction(
            Mnemonic::Mov,
            &[
                Operand::Register(Register::RAX),
                Operand::Register(Register::RDI),
            ],
        ),
        _ => instruction(
            Mnemonic::Mov,
            &[
                Operand::Register(Register::EAX),
                Operand::Register(Register::EDI),
            ],
        ),
    };
    let integer = suffix.starts_with('u');
    Some(match accessor {
        "read" => vec![instruction(Mnemonic::Mov, &[result, variable])],
        "write" => vec![instruction(Mnemonic::Mov, &[variable, first])],
        "replace" => vec![
            move_argument,
            instruction(Mnemonic::Xchg, &[variable, result]),
        ],
        "compare_exchange" => vec![
            move_argument,
            instruction(Mnemonic::Cmpxchg, &[variable, second]),
        ],
        "add" if integer => vec![instruction(Mnemonic::Add, &[variable, first])],
        "sub" if integer => vec![instruction(Mnemonic::Sub, &[variable, first])],
        "and" if integer => vec![instruction(Mnemonic::And, &[variable, first])],
        "or" if integer => vec![instruction(Mnemonic::Or, &[variable, first])],
        "inc" if integer => vec![instruction(Mnemonic::Inc, &[variable])],
        "dec" if integer => vec![instruction(Mnemonic::Dec, &[variable])],
        "fetch_add" if integer => vec![
            move_argument,
            instruction(Mnemonic::Xadd, &[variable, result]),
        ],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Vec<Instruction> {
        let instructions: Vec<Instruction> =
            Decoder::with_ip(64, bytes, 0xffff_ffff_8000_1000, DecoderOptions::NONE)
                .into_iter()
                .collect();
        assert!(instructions.iter().all(|i| !i.is_invalid()), "{bytes:x?}");
        instructions
    }

    fn check(probe: &str, bytes: &[u8]) -> Result<(), String> {
        check_probe(&format!("{PROBE_SYMBOL_PREFIX}{probe}"), &decode(bytes))
    }

    // Displacement of `gs:[rip+0x1234]`.
    const RIP_VAR: [u8; 5] = [0x05, 0x34, 0x12, 0x00, 0x00];

    fn code(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn documented_sequences_pass() {
        let good: [(&str, Vec<u8>); 12] = [
            // mov rax, qword ptr gs:[rip+VAR]; ret
            ("read_u64", code(&[&[0x65, 0x48, 0x8b], &RIP_VAR, &[0xc3]])),
            ("cpu_id", code(&[&[0x65, 0x48, 0x8b], &RIP_VAR, &[0xc3]])),
            // mov al, byte ptr gs:[rip+VAR]; ret
            ("read_bool", code(&[&[0x65, 0x8a], &RIP_VAR, &[0xc3]])),
            // mov word ptr gs:[rip+VAR], di; ret (prefixes in either order)
            (
                "write_u16",
                code(&[&[0x66, 0x65, 0x89, 0x3d], &RIP_VAR[1..], &[0xc3]]),
            ),
            (
                "write_u16",
                code(&[&[0x65, 0x66, 0x89, 0x3d], &RIP_VAR[1..], &[0xc3]]),
            ),
            // mov qword ptr gs:[rip+VAR], rdi; ret
            (
                "write_ptr",
                code(&[&[0x65, 0x48, 0x89, 0x3d], &RIP_VAR[1..], &[0xc3]]),
            ),
            // add qword ptr gs:[rip+VAR], rdi; ret
            (
                "add_u64",
                code(&[&[0x65, 0x48, 0x01, 0x3d], &RIP_VAR[1..], &[0xc3]]),
            ),
            // inc dword ptr gs:[rip+VAR]; ret
            ("inc_u32", code(&[&[0x65, 0xff], &RIP_VAR, &[0xc3]])),
            // mov eax, edi; xadd byte ptr gs:[rip+VAR], al; ret
            (
                "fetch_add_u8",
                code(&[&[0x89, 0xf8, 0x65, 0x0f, 0xc0], &RIP_VAR, &[0xc3]]),
            ),
            // mov rax, rdi; xchg qword ptr gs:[rip+VAR], rax; ret
            (
                "replace_u64",
                code(&[&[0x48, 0x89, 0xf8, 0x65, 0x48, 0x87], &RIP_VAR, &[0xc3]]),
            ),
            // mov eax, edi; cmpxchg dword ptr gs:[rip+VAR], esi; ret
            (
                "compare_exchange_u32",
                code(&[
                    &[0x89, 0xf8, 0x65, 0x0f, 0xb1, 0x35],
                    &RIP_VAR[1..],
                    &[0xc3],
                ]),
            ),
            // A probe the table does not know yet: one gs-relative instruction and ret.
            (
                "swap_halves_u64",
                code(&[&[0x65, 0x48, 0xff], &RIP_VAR, &[0xc3]]),
            ),
        ];
        for (probe, bytes) in good {
            assert_eq!(check(probe, &bytes), Ok(()), "{probe}");
        }
    }

    #[test]
    fn anything_else_fails() {
        let bad: [(&str, Vec<u8>); 12] = [
            // mov rax, qword ptr [rip+VAR]; ret -- not GS-relative
            ("read_u64", code(&[&[0x48, 0x8b], &RIP_VAR, &[0xc3]])),
            // mov rax, qword ptr gs:[0x10]; ret -- absolute, not RIP-relative
            (
                "read_u64",
                vec![0x65, 0x48, 0x8b, 0x04, 0x25, 0x10, 0, 0, 0, 0xc3],
            ),
            // mov eax, dword ptr gs:[rip+VAR]; ret -- the wrong width
            ("read_u64", code(&[&[0x65, 0x8b], &RIP_VAR, &[0xc3]])),
            // mov rax, gs:[rip+VAR]; add rax, 1; mov gs:[rip+VAR], rax; ret
            (
                "inc_u64",
                code(&[
                    &[0x65, 0x48, 0x8b],
                    &RIP_VAR,
                    &[0x48, 0x83, 0xc0, 0x01, 0x65, 0x48, 0x89],
                    &RIP_VAR,
                    &[0xc3],
                ]),
            ),
            // lock add qword ptr gs:[rip+VAR], rdi; ret -- a needless lock
            (
                "add_u64",
                code(&[&[0xf0, 0x65, 0x48, 0x01, 0x3d], &RIP_VAR[1..], &[0xc3]]),
            ),
            // mov qword ptr gs:[rip+VAR], rsi; ret -- the wrong register
            (
                "write_u64",
                code(&[&[0x65, 0x48, 0x89, 0x35], &RIP_VAR[1..], &[0xc3]]),
            ),
            // xadd byte ptr gs:[rip+VAR], dil; mov eax, edi; ret -- the move after, not before
            (
                "fetch_add_u8",
                code(&[
                    &[0x65, 0x40, 0x0f, 0xc0, 0x3d],
                    &RIP_VAR[1..],
                    &[0x89, 0xf8, 0xc3],
                ]),
            ),
            // push rbp; mov rax, gs:[rip+VAR]; pop rbp; ret
            (
                "read_u64",
                code(&[&[0x55, 0x65, 0x48, 0x8b], &RIP_VAR, &[0x5d, 0xc3]]),
            ),
            // mov rax, gs:[rip+VAR] -- no ret
            ("read_u64", code(&[&[0x65, 0x48, 0x8b], &RIP_VAR])),
            // mov rax, gs:[rip+VAR]; ret 8
            (
                "read_u64",
                code(&[&[0x65, 0x48, 0x8b], &RIP_VAR, &[0xc2, 0x08, 0x00]]),
            ),
            // rdgsbase rax; mov rax, [rax+0x10]; ret -- through the GS base, not GS-relative
            (
                "unknown_u64",
                vec![0xf3, 0x48, 0x0f, 0xae, 0xc8, 0x48, 0x8b, 0x40, 0x10, 0xc3],
            ),
            // ret alone
            ("unknown_u64", vec![0xc3]),
        ];
        for (probe, bytes) in bad {
            assert!(check(probe, &bytes).is_err(), "{probe}: {bytes:x?}");
        }
        assert!(check_probe("topframe_percpu_probe_read_u64", &[]).is_err());
    }

    #[test]
    fn the_failure_shows_expected_and_found_code() {
        let message = check(
            "fetch_add_u32",
            &code(&[
                &[0x65, 0x0f, 0xc1, 0x3d],
                &RIP_VAR[1..],
                &[0x89, 0xf8, 0xc3],
            ]),
        )
        .unwrap_err();
        assert!(
            message.starts_with(
                "expected `mov eax, edi; xadd dword ptr gs:[rip+VAR], eax; ret`, found `xadd "
            ),
            "{message}"
        );
        assert!(
            message.ends_with("found `xadd dword ptr gs:[rip+0x1234], edi; mov eax, edi; ret`"),
            "{message}"
        );
    }

    #[test]
    fn integer_accessors_need_integer_probes() {
        assert!(documented_sequence("topframe_percpu_probe_add_bool").is_none());
        assert!(documented_sequence("topframe_percpu_probe_read_f32").is_none());
        assert!(documented_sequence("topframe_percpu_probe_read_u64").is_some());
        assert!(documented_sequence("other_read_u64").is_none());
    }
}
