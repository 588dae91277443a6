//! The static listing: the instructions of the SYSCALL fast path as the kernel ELF has them.
//!
//! From the entry's symbol (its name contains `entry_syscall_64`; `floor_entry` in the
//! floor build) the listing follows the fall-through path: conditional branches not
//! taken, direct jumps and calls followed, the indirect call into the syscall table
//! stepped over, up to the first `sysretq` (inclusive). The getppid handler (a symbol
//! containing `sys_getppid`) is listed the same way up to its `ret`. The count of both is
//! what the null syscall executes in the kernel, beside the dynamic count (per call minus
//! `loop`). Operands name the kernel's symbols (`gs:[OLD_RSP]`), so that the two strategies'
//! listings compare line by line.

use std::path::Path;

use anyhow::{Context, Result, bail};
use iced_x86::{
    Code, Decoder, DecoderOptions, FlowControl, Formatter, Instruction, IntelFormatter,
    SymbolResolver, SymbolResult,
};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use similar::{ChangeTag, TextDiff};

/// The part of the entry symbol's name in a strategy build.
pub const ENTRY_SYMBOL: &str = "entry_syscall_64";
/// The part of the entry symbol's name in the floor build.
pub const FLOOR_ENTRY_SYMBOL: &str = "floor_entry";
/// The part of the getppid handler's symbol name.
pub const HANDLER_SYMBOL: &str = "sys_getppid";

/// A path longer than this is a trace gone astray.
const MAX_INSTRUCTIONS: usize = 1000;

/// The fast path of one kernel: the entry up to SYSRETQ, and the handler up to RET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastPath {
    pub entry: Vec<String>,
    pub handler: Vec<String>,
}

impl FastPath {
    /// Reads the kernel ELF at `path`: the entry whose symbol name contains `entry_symbol`,
    /// and with `with_handler` the getppid handler.
    pub fn read(path: &Path, entry_symbol: &str, with_handler: bool) -> Result<FastPath> {
        let elf = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let image = CodeImage::parse(&elf)
            .with_context(|| format!("{} is not a readable ELF", path.display()))?;
        let entry = image.trace(image.symbol_containing(entry_symbol)?, Stop::AtSysret)?;
        let handler = if with_handler {
            image.trace(image.symbol_containing(HANDLER_SYMBOL)?, Stop::AtReturn)?
        } else {
            Vec::new()
        };
        Ok(FastPath {
            entry: entry
                .iter()
                .map(|instruction| image.format(instruction))
                .collect(),
            handler: handler
                .iter()
                .map(|instruction| image.format(instruction))
                .collect(),
        })
    }

    /// Instructions on the path: entry and handler.
    pub fn count(&self) -> usize {
        self.entry.len() + self.handler.len()
    }

    fn lines(&self) -> Vec<&str> {
        self.entry
            .iter()
            .chain(&self.handler)
            .map(String::as_str)
            .collect()
    }
}

/// The lines that differ from `old` to `new`: `- ` only in `old`, `+ ` only in `new`.
pub fn difference(old: &FastPath, new: &FastPath) -> Vec<String> {
    let (old, new) = (old.lines(), new.lines());
    TextDiff::from_slices(&old, &new)
        .iter_all_changes()
        .filter_map(|change| match change.tag() {
            ChangeTag::Equal => None,
            ChangeTag::Delete => Some(format!("- {}", change.value())),
            ChangeTag::Insert => Some(format!("+ {}", change.value())),
        })
        .collect()
}

/// Where a trace ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// At the first `sysretq`, inclusive.
    AtSysret,
    /// At the `ret` of the function the trace starts in, inclusive.
    AtReturn,
}

/// A defined symbol with its extent and its short name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Symbol {
    address: u64,
    size: u64,
    /// The demangled path without its hash.
    name: String,
}

impl Symbol {
    /// The last path segment: `OLD_RSP`, `SYSCALL_TABLE`.
    fn short_name(&self) -> &str {
        self.name.rsplit("::").next().unwrap_or(&self.name)
    }
}

/// Loaded code and the symbols that name addresses in it.
struct CodeImage {
    /// (address, bytes) of each section with code or data.
    sections: Vec<(u64, Vec<u8>)>,
    /// Defined symbols with a size, by address.
    symbols: Vec<Symbol>,
}

impl CodeImage {
    fn parse(elf: &[u8]) -> Result<CodeImage> {
        let file = object::File::parse(elf)?;
        let sections = file
            .sections()
            .filter(|section| section.address() != 0)
            .filter_map(|section| Some((section.address(), section.data().ok()?.to_vec())))
            .collect();
        let mut symbols: Vec<Symbol> = file
            .symbols()
            .filter(|symbol| symbol.is_definition() && symbol.size() > 0)
            .filter(|symbol| matches!(symbol.kind(), SymbolKind::Text | SymbolKind::Data))
            .filter_map(|symbol| {
                Some(Symbol {
                    address: symbol.address(),
                    size: symbol.size(),
                    name: format!("{:#}", rustc_demangle::demangle(symbol.name().ok()?)),
                })
            })
            .collect();
        symbols.sort_by_key(|symbol| symbol.address);
        Ok(CodeImage { sections, symbols })
    }

    /// The one function whose name contains `part`.
    fn symbol_containing(&self, part: &str) -> Result<u64> {
        let found: Vec<&Symbol> = self
            .symbols
            .iter()
            .filter(|symbol| symbol.name.contains(part))
            .collect();
        match found[..] {
            [symbol] => Ok(symbol.address),
            [] => bail!("no symbol containing {part:?}"),
            _ => bail!(
                "several symbols contain {part:?}: {}",
                found
                    .iter()
                    .map(|symbol| symbol.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn decode_at(&self, address: u64) -> Result<Instruction> {
        let (start, bytes) = self
            .sections
            .iter()
            .find(|(start, bytes)| (*start..*start + bytes.len() as u64).contains(&address))
            .with_context(|| format!("no code at {address:#x}"))?;
        let offset = (address - start) as usize;
        let instruction =
            Decoder::with_ip(64, &bytes[offset..], address, DecoderOptions::NONE).decode();
        if instruction.is_invalid() {
            bail!("no valid instruction at {address:#x}");
        }
        Ok(instruction)
    }

    /// The fall-through path from `start` to `stop`.
    fn trace(&self, start: u64, stop: Stop) -> Result<Vec<Instruction>> {
        let mut path = Vec::new();
        let mut returns = Vec::new();
        let mut address = start;
        while path.len() < MAX_INSTRUCTIONS {
            let instruction = self.decode_at(address)?;
            path.push(instruction);
            address = instruction.next_ip();
            match instruction.flow_control() {
                FlowControl::Return if instruction.code() == Code::Sysretq => {
                    if stop == Stop::AtSysret {
                        return Ok(path);
                    }
                    bail!(
                        "sysretq at {:#x} before the handler's ret",
                        instruction.ip()
                    );
                }
                FlowControl::Return => match returns.pop() {
                    Some(caller) => address = caller,
                    None if stop == Stop::AtReturn => return Ok(path),
                    None => bail!("ret at {:#x} before sysretq", instruction.ip()),
                },
                FlowControl::UnconditionalBranch => address = instruction.near_branch_target(),
                FlowControl::Call => {
                    returns.push(address);
                    address = instruction.near_branch_target();
                }
                // The indirect call into the syscall table: the handler is listed apart.
                FlowControl::IndirectCall | FlowControl::Next | FlowControl::ConditionalBranch => {}
                other => bail!(
                    "{other:?} at {:#x} ({}) on the fast path",
                    instruction.ip(),
                    self.format(&instruction)
                ),
            }
        }
        bail!("no end within {MAX_INSTRUCTIONS} instructions from {start:#x}")
    }

    /// Intel syntax with symbol names; a conditional branch, never taken on this path, is
    /// shown without its target (whose offset differs between builds).
    fn format(&self, instruction: &Instruction) -> String {
        if instruction.flow_control() == FlowControl::ConditionalBranch {
            return format!("{:?} (falls through)", instruction.mnemonic()).to_lowercase();
        }
        let mut formatter =
            IntelFormatter::with_options(Some(Box::new(SymbolNames(self.symbols.clone()))), None);
        let options = formatter.options_mut();
        options.set_hex_prefix("0x");
        options.set_hex_suffix("");
        options.set_uppercase_hex(false);
        options.set_space_after_operand_separator(true);
        options.set_show_branch_size(false);
        let mut text = String::new();
        formatter.format(instruction, &mut text);
        text
    }
}

/// The symbol of `symbols` (sorted by address) that `address` lies in.
fn symbol_at(symbols: &[Symbol], address: u64) -> Option<&Symbol> {
    let after = symbols.partition_point(|symbol| symbol.address <= address);
    symbols[..after]
        .iter()
        .rev()
        .find(|symbol| address < symbol.address + symbol.size)
}

/// Names addresses inside the kernel's symbols (not small constants and offsets).
struct SymbolNames(Vec<Symbol>);

impl SymbolResolver for SymbolNames {
    fn symbol(
        &mut self,
        _instruction: &Instruction,
        _operand: u32,
        _instruction_operand: Option<u32>,
        address: u64,
        _address_size: u32,
    ) -> Option<SymbolResult<'_>> {
        let symbol = symbol_at(&self.0, address)?;
        Some(SymbolResult::with_str(symbol.address, symbol.short_name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At 0x1000: swapgs; jae +5 (not taken); jmp +4 (over ud2 and two nops); call 0x1013;
    /// sysretq. At 0x1013: nop; ret.
    const CODE: [u8; 21] = [
        0x0f, 0x01, 0xf8, // 0x1000 swapgs
        0x73, 0x05, // 0x1003 jae 0x100a
        0xeb, 0x04, // 0x1005 jmp 0x100b
        0x0f, 0x0b, // 0x1007 ud2 (jumped over)
        0x90, 0x90, // 0x1009
        0xe8, 0x03, 0x00, 0x00, 0x00, // 0x100b call 0x1013
        0x48, 0x0f, 0x07, // 0x1010 sysretq
        0x90, // 0x1013 nop
        0xc3, // 0x1014 ret
    ];

    fn image() -> CodeImage {
        CodeImage {
            sections: vec![(0x1000, CODE.to_vec())],
            symbols: vec![
                Symbol {
                    address: 0x1000,
                    size: 0x13,
                    name: "kernel::syscall::entry_syscall_64".to_string(),
                },
                Symbol {
                    address: 0x1013,
                    size: 2,
                    name: "kernel::syscall::helper".to_string(),
                },
            ],
        }
    }

    fn traced(start: u64, stop: Stop) -> Result<Vec<String>> {
        let image = image();
        let path = image.trace(start, stop)?;
        Ok(path
            .iter()
            .map(|instruction| image.format(instruction))
            .collect())
    }

    #[test]
    fn the_trace_falls_through_and_follows_jumps_and_calls() {
        assert_eq!(
            traced(0x1000, Stop::AtSysret).unwrap(),
            [
                "swapgs",
                "jae (falls through)",
                "jmp entry_syscall_64+0xb",
                "call helper",
                "nop",
                "ret",
                "sysretq"
            ]
        );
        assert_eq!(traced(0x1013, Stop::AtReturn).unwrap(), ["nop", "ret"]);
    }

    #[test]
    fn a_trace_that_ends_wrong_is_an_error() {
        let error = traced(0x1013, Stop::AtSysret).unwrap_err();
        assert_eq!(error.to_string(), "ret at 0x1014 before sysretq");
        let error = traced(0x1007, Stop::AtSysret).unwrap_err();
        assert!(error.to_string().contains("on the fast path"), "{error}");
    }

    #[test]
    fn symbols_are_found_by_part_of_their_name() {
        let image = image();
        assert_eq!(image.symbol_containing("entry_syscall_64").unwrap(), 0x1000);
        assert!(image.symbol_containing("sys_getppid").is_err());
        assert!(image.symbol_containing("kernel::syscall").is_err());
        assert_eq!(
            symbol_at(&image.symbols, 0x1014).map(Symbol::short_name),
            Some("helper")
        );
        assert_eq!(symbol_at(&image.symbols, 0x2000), None);
    }

    #[test]
    fn differences_name_each_instruction() {
        let path = |entry: &[&str]| FastPath {
            entry: entry.iter().map(ToString::to_string).collect(),
            handler: vec!["ret".to_string()],
        };
        let lazy = path(&[
            "swapgs",
            "sub rsp, 0x20",
            "push rcx",
            "mov rsp, gs:[OLD_RSP]",
        ]);
        let complete = path(&[
            "swapgs",
            "push 0x2b",
            "push r11",
            "push rcx",
            "mov rsp, [rsp+0x20]",
        ]);
        assert_eq!(
            difference(&lazy, &complete),
            [
                "- sub rsp, 0x20",
                "+ push 0x2b",
                "+ push r11",
                "- mov rsp, gs:[OLD_RSP]",
                "+ mov rsp, [rsp+0x20]"
            ]
        );
        assert_eq!(lazy.count(), 5);
        assert!(difference(&lazy, &lazy).is_empty());
    }
}
