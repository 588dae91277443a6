//! The kernel's structured log: defmt frames (rzcobs) on COM2, decoded live against the
//! kernel ELF with `defmt-decoder`.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use defmt_decoder::{DecodeError, Frame, Locations, Table};

use crate::workspace;

/// Decodes the defmt stream of one kernel image into display lines.
pub struct LogDecoder {
    table: Table,
    locations: Locations,
}

impl LogDecoder {
    /// The decoder for the kernel at `elf_path`; `None` when the image has no `.defmt` section.
    pub fn from_elf(elf_path: &Path) -> Result<Option<Self>> {
        let elf = std::fs::read(elf_path)
            .with_context(|| format!("cannot read the kernel image {}", elf_path.display()))?;
        let table = Table::parse(&elf)
            .with_context(|| format!("cannot read the defmt table of {}", elf_path.display()))?;
        Ok(table.map(|table| {
            // Without debug info the frames are still decoded, just without locations.
            let locations = table.get_locations(&elf).unwrap_or_default();
            LogDecoder { table, locations }
        }))
    }

    /// Reads `stream` to its end and hands each decoded frame, as one line, to `emit`;
    /// stops early when `emit` returns false.
    pub fn decode_stream(&self, mut stream: impl Read, mut emit: impl FnMut(String) -> bool) {
        let mut decoder = self.table.new_stream_decoder();
        let mut buffer = [0u8; 4096];
        loop {
            let received = match stream.read(&mut buffer) {
                Ok(0) | Err(_) => return,
                Ok(count) => count,
            };
            decoder.received(&buffer[..received]);
            loop {
                let line = match decoder.decode() {
                    Ok(frame) => self.display(&frame),
                    Err(DecodeError::UnexpectedEof) => break,
                    Err(DecodeError::Malformed) => "(malformed defmt frame skipped)".to_string(),
                };
                if !emit(line) {
                    return;
                }
            }
        }
    }

    /// `<timestamp> <LEVEL> <message>  (<file>:<line>)`.
    fn display(&self, frame: &Frame<'_>) -> String {
        let mut line = String::new();
        if let Some(timestamp) = frame.display_timestamp() {
            line.push_str(&format!("{timestamp} "));
        }
        if let Some(level) = frame.level() {
            line.push_str(&format!("{:<5} ", level.as_str().to_uppercase()));
        }
        line.push_str(&frame.display_message().to_string());
        if let Some(location) = self.locations.get(&frame.index()) {
            let file = location
                .file
                .strip_prefix(workspace::root())
                .unwrap_or(&location.file);
            line.push_str(&format!("  ({}:{})", file.display(), location.line));
        }
        line
    }
}
