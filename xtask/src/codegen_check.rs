//! The per-CPU codegen check: every accessor probe the percpu crate exports into the kernel
//! (`topframe_percpu_probe_*`, feature `codegen-probes`) must compile to one GS-relative
//! instruction and `ret`. Disassembled from the kernel ELF's symbol table with iced-x86.

use std::path::Path;

use anyhow::{Context, Result, bail};
use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind, Register};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

pub const PROBE_PREFIX: &str = "topframe_percpu_probe_";

/// One probe function, disassembled.
pub struct Probe {
    pub name: String,
    pub instructions: Vec<Instruction>,
}

/// Every `topframe_percpu_probe_*` function of the ELF at `path`, by name; an error when
/// there is none (then the check could not fail).
pub fn probes_in(path: &Path) -> Result<Vec<Probe>> {
    let elf = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = object::File::parse(&*elf)
        .with_context(|| format!("{} is not an ELF file", path.display()))?;
    let mut probes = Vec::new();
    for symbol in file.symbols() {
        let Ok(name) = symbol.name() else { continue };
        if symbol.kind() != SymbolKind::Text || !name.starts_with(PROBE_PREFIX) {
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
            "no {PROBE_PREFIX}* symbols in {}: build the kernel with topframe-percpu's \
             `codegen-probes` feature",
            path.display()
        );
    }
    probes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(probes)
}

/// The rule: exactly one instruction with a GS segment override on a memory operand, and
/// then `ret`. `Err` says what the probe compiled to instead.
pub fn check_probe(instructions: &[Instruction]) -> Result<(), String> {
    let shape_is_right = match instructions {
        [access, ret] => is_gs_relative(access) && is_plain_ret(ret),
        _ => false,
    };
    if shape_is_right {
        Ok(())
    } else {
        let listing: Vec<String> = instructions.iter().map(ToString::to_string).collect();
        Err(format!(
            "expected one gs-relative instruction and ret, found: {}",
            if listing.is_empty() {
                "nothing".to_string()
            } else {
                listing.join("; ")
            }
        ))
    }
}

fn is_gs_relative(instruction: &Instruction) -> bool {
    instruction.segment_prefix() == Register::GS
        && (0..instruction.op_count()).any(|operand| instruction.op_kind(operand) == OpKind::Memory)
}

fn is_plain_ret(instruction: &Instruction) -> bool {
    instruction.mnemonic() == Mnemonic::Ret && instruction.op_count() == 0
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

    #[test]
    fn one_gs_relative_instruction_and_ret_passes() {
        let good: [&[u8]; 5] = [
            // mov rax, gs:[rip+0x1234]; ret
            &[0x65, 0x48, 0x8b, 0x05, 0x34, 0x12, 0x00, 0x00, 0xc3],
            // mov gs:[rip+0x1234], rdi; ret
            &[0x65, 0x48, 0x89, 0x3d, 0x34, 0x12, 0x00, 0x00, 0xc3],
            // add gs:[rip+0x1234], rdi; ret
            &[0x65, 0x48, 0x01, 0x3d, 0x34, 0x12, 0x00, 0x00, 0xc3],
            // inc qword ptr gs:[rip+0x1234]; ret
            &[0x65, 0x48, 0xff, 0x05, 0x34, 0x12, 0x00, 0x00, 0xc3],
            // mov al, gs:[0x10] (absolute, zero-based layout); ret
            &[0x65, 0x8a, 0x04, 0x25, 0x10, 0x00, 0x00, 0x00, 0xc3],
        ];
        for bytes in good {
            assert_eq!(check_probe(&decode(bytes)), Ok(()), "{bytes:x?}");
        }
    }

    #[test]
    fn anything_else_fails() {
        let bad: [&[u8]; 7] = [
            // mov rax, [rip+0x1234]; ret -- not GS-relative
            &[0x48, 0x8b, 0x05, 0x34, 0x12, 0x00, 0x00, 0xc3],
            // mov rax, gs:[rip+0x1234]; add rax, 1; mov gs:[rip+0x1234], rax; ret
            &[
                0x65, 0x48, 0x8b, 0x05, 0x34, 0x12, 0x00, 0x00, 0x48, 0x83, 0xc0, 0x01, 0x65,
                0x48, 0x89, 0x05, 0x34, 0x12, 0x00, 0x00, 0xc3,
            ],
            // rdgsbase rax; mov rax, [rax+0x10]; ret -- through the GS base, not GS-relative
            &[0xf3, 0x48, 0x0f, 0xae, 0xc8, 0x48, 0x8b, 0x40, 0x10, 0xc3],
            // mov rax, gs:[rip+0x1234] -- no ret
            &[0x65, 0x48, 0x8b, 0x05, 0x34, 0x12, 0x00, 0x00],
            // push rbp; mov rax, gs:[rip+0x1234]; pop rbp; ret
            &[0x55, 0x65, 0x48, 0x8b, 0x05, 0x34, 0x12, 0x00, 0x00, 0x5d, 0xc3],
            // mov rax, gs:[rip+0x1234]; ret 8
            &[0x65, 0x48, 0x8b, 0x05, 0x34, 0x12, 0x00, 0x00, 0xc2, 0x08, 0x00],
            // ret alone
            &[0xc3],
        ];
        for bytes in bad {
            assert!(check_probe(&decode(bytes)).is_err(), "{bytes:x?}");
        }
        assert!(check_probe(&[]).is_err());
    }

    #[test]
    fn the_failure_shows_the_code() {
        let message = check_probe(&decode(&[0x48, 0x8b, 0x05, 0x34, 0x12, 0x00, 0x00, 0xc3]))
            .unwrap_err();
        assert!(message.contains("found: mov rax,"), "{message}");
        assert!(message.contains("; ret"), "{message}");
    }
}
