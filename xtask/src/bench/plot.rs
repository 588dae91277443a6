//! The SVG plot (`--plot FILE.svg`): one bar per benchmark and column, the per-operation
//! median with its 95% interval; the guests in their unit on the left, the ring-3 twin in
//! host TSC ticks on the right (when it ran).

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::bench::column::Column;
use crate::bench::json::Report;

const SIZE: (u32, u32) = (1100, 560);
/// The width of the guests' panel when the twin's is beside it.
const GUEST_PANEL_WIDTH: u32 = 820;

/// Writes the plot of `report` to `path`.
pub fn write_svg(report: &Report, path: &Path) -> Result<()> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(drawing_error)?;
    let (guests, twin): (Vec<Column>, Vec<Column>) = Column::ALL
        .into_iter()
        .filter(|&column| report.rows.iter().any(|row| row.column == column))
        .partition(|column| !column.is_twin());
    let guest_title = format!(
        "per operation, {} (accel {})",
        report.unit.name(),
        report.accel
    );
    if twin.is_empty() {
        draw_panel(&root, report, &guests, &guest_title)?;
    } else {
        let (left, right) = root.split_horizontally(GUEST_PANEL_WIDTH);
        draw_panel(&left, report, &guests, &guest_title)?;
        draw_panel(&right, report, &twin, "ring-3 twin on the host, tsc_ticks")?;
    }
    root.present().map_err(drawing_error)
}

/// A group of bars per benchmark measured on `columns`.
fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    report: &Report,
    columns: &[Column],
    title: &str,
) -> Result<()> {
    let mut benchmarks: Vec<&str> = Vec::new();
    for row in report
        .rows
        .iter()
        .filter(|row| columns.contains(&row.column))
    {
        if !benchmarks.contains(&row.benchmark.as_str()) {
            benchmarks.push(&row.benchmark);
        }
    }
    let highest = report
        .rows
        .iter()
        .filter(|row| columns.contains(&row.column))
        .map(|row| row.ci_high)
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(-0.5..benchmarks.len() as f64 - 0.5, 0.0..highest * 1.15)
        .map_err(drawing_error)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(benchmarks.len())
        .x_label_formatter(&|x| {
            let index = x.round();
            if (x - index).abs() < 1e-9 && index >= 0.0 {
                benchmarks
                    .get(index as usize)
                    .copied()
                    .unwrap_or("")
                    .to_string()
            } else {
                String::new()
            }
        })
        .draw()
        .map_err(drawing_error)?;
    let bar_width = 0.8 / columns.len() as f64;
    for (column_index, &column) in columns.iter().enumerate() {
        let color = color_of(column);
        let bars: Vec<(f64, f64, f64, f64)> = benchmarks
            .iter()
            .enumerate()
            .filter_map(|(index, &benchmark)| {
                let row = report.row(benchmark, column)?;
                let left = index as f64 - 0.4 + column_index as f64 * bar_width;
                Some((left, row.per_op_median, row.ci_low, row.ci_high))
            })
            .collect();
        chart
            .draw_series(bars.iter().map(|&(left, median, _, _)| {
                Rectangle::new([(left, 0.0), (left + bar_width, median)], color.filled())
            }))
            .map_err(drawing_error)?
            .label(column.name())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
        chart
            .draw_series(bars.iter().map(|&(left, _, low, high)| {
                let middle = left + bar_width / 2.0;
                PathElement::new([(middle, low), (middle, high)], BLACK.stroke_width(2))
            }))
            .map_err(drawing_error)?;
        chart
            .draw_series(bars.iter().map(|&(left, median, _, high)| {
                Text::new(
                    format!("{median:.1}"),
                    (left, high.max(median) + highest * 0.02),
                    ("sans-serif", 11),
                )
            }))
            .map_err(drawing_error)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(drawing_error)
}

fn color_of(column: Column) -> RGBColor {
    match column {
        Column::Floor => RGBColor(150, 150, 150),
        Column::Lazy => RGBColor(31, 119, 180),
        Column::Complete => RGBColor(255, 127, 14),
        Column::Linux => RGBColor(44, 160, 44),
        Column::TwinLazy => RGBColor(120, 170, 220),
        Column::TwinComplete => RGBColor(255, 185, 120),
    }
}

/// plotters' errors borrow the backend; keep their text.
fn drawing_error(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing the plot: {error}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::json::tests::example;

    #[test]
    fn the_plot_names_every_column_and_benchmark() {
        let path = std::env::temp_dir().join(format!("bench-plot-{}.svg", std::process::id()));
        write_svg(&example(), &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        for text in [
            "floor",
            "lazy",
            "complete",
            "linux",
            "twin_lazy",
            "twin_complete",
            "null_syscall",
            "loop",
            "instructions",
            "62.0",
        ] {
            assert!(svg.contains(text), "no {text:?} in the plot");
        }
    }
}
