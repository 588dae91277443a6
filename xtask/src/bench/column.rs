//! The table's columns: the systems a benchmark is measured on.

use serde::{Deserialize, Serialize};

use crate::kernel_build::Strategy;

/// One column of the table (and the `column` of a JSON row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Column {
    /// topframe built with `floor-entry`: SYSCALL lands on `swapgs; swapgs; sysretq`.
    Floor,
    /// topframe with LazyTopOfStack.
    Lazy,
    /// topframe with CompleteFrame.
    Complete,
    /// Debian's own kernel in the same QEMU.
    Linux,
    /// The ring-3 twin of the LazyTopOfStack entry, timed on the host.
    TwinLazy,
    /// The ring-3 twin of the CompleteFrame entry, timed on the host.
    TwinComplete,
}

impl Column {
    /// Every column, in table order.
    pub const ALL: [Column; 6] = [
        Column::Floor,
        Column::Lazy,
        Column::Complete,
        Column::Linux,
        Column::TwinLazy,
        Column::TwinComplete,
    ];

    /// The name in the table and the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Column::Floor => "floor",
            Column::Lazy => "lazy",
            Column::Complete => "complete",
            Column::Linux => "linux",
            Column::TwinLazy => "twin_lazy",
            Column::TwinComplete => "twin_complete",
        }
    }

    /// The topframe kernel of this strategy.
    pub fn of_strategy(strategy: Strategy) -> Column {
        match strategy {
            Strategy::Lazy => Column::Lazy,
            Strategy::Complete => Column::Complete,
        }
    }

    /// Timed on the host in TSC ticks, whatever the guests' unit.
    pub fn is_twin(self) -> bool {
        matches!(self, Column::TwinLazy | Column::TwinComplete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_names_are_table_names() {
        for column in Column::ALL {
            assert_eq!(
                serde_json::to_string(&column).unwrap(),
                format!("\"{}\"", column.name())
            );
        }
    }
}
