//! One PNG bar chart per workload group: each workload's median on each
//! runtime, relative to the group's baseline (native, or runc for the
//! container lifecycle), on a log scale (the runtimes span four orders of
//! magnitude on getppid).
//!
//! Text is drawn by plotters' pure-Rust `ab_glyph` renderer with DejaVu
//! Sans read from Debian's `fonts-dejavu-core` (scripts/install-deps.sh):
//! no fontconfig and no system font lookup.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

use crate::report::{WorkloadResult, format_ratio};
use crate::runtime::RuntimeKind;
use crate::workload::Group;

/// Where `fonts-dejavu-core` installs the font the charts use.
pub const FONT_PATH: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

const WIDTH: u32 = 1100;
const HEIGHT: u32 = 560;
/// Room on the right of the plot for the legend.
const LEGEND_WIDTH: u32 = 125;

/// Registers the chart font; call once before drawing.
pub fn load_font() -> Result<()> {
    let bytes = std::fs::read(FONT_PATH)
        .with_context(|| format!("reading {FONT_PATH} (apt-get install fonts-dejavu-core)"))?;
    // plotters keeps registered fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow!("{FONT_PATH} is not a usable font"))
}

fn color(kind: RuntimeKind) -> RGBColor {
    match kind {
        RuntimeKind::Native => RGBColor(140, 140, 140),
        RuntimeKind::Runc => RGBColor(31, 119, 180),
        RuntimeKind::Crun => RGBColor(120, 180, 220),
        RuntimeKind::Runsc => RGBColor(255, 127, 14),
        RuntimeKind::Oxbox => RGBColor(44, 160, 44),
        RuntimeKind::OxboxSandbox => RGBColor(148, 103, 189),
    }
}

/// Draws `group`'s chart into `path`, from the workloads of that group.
pub fn draw(
    path: &Path,
    group: Group,
    workloads: &[&WorkloadResult],
    runtimes: &[RuntimeKind],
) -> Result<()> {
    draw_inner(path, group, workloads, runtimes)
        .map_err(|e| anyhow!("drawing {}: {e}", path.display()))
}

/// Each bar's height: the median relative to the baseline's, where both
/// exist.
fn relative(w: &WorkloadResult, kind: RuntimeKind, baseline: RuntimeKind) -> Option<f64> {
    let median = |kind| Some(w.row(kind)?.summary?.median);
    let base = median(baseline).filter(|b| *b > 0.0)?;
    Some(median(kind)? / base).filter(|r| *r > 0.0)
}

/// The log axis's range: whole decades around the data and the baseline,
/// with room below the lowest bar, so that a bar at 1.0x (the baseline's
/// own) still has a height, and room above the highest for its label.
fn axis_range(values: &[f64]) -> (f64, f64) {
    let lo = values.iter().copied().fold(1.0f64, f64::min);
    let hi = values.iter().copied().fold(1.0f64, f64::max);
    (
        10f64.powf((lo.log10() - 0.3).floor()),
        10f64.powf(hi.log10().ceil() + 0.3),
    )
}

/// Which way is better, in the caption: one way for the whole chart, or
/// per unit where the group mixes them (the network group's goodput and
/// latency).
fn direction(workloads: &[&WorkloadResult]) -> String {
    let units = |higher: bool| {
        let mut units: Vec<&str> = workloads
            .iter()
            .filter(|w| w.higher_is_better == higher)
            .map(|w| w.unit.as_str())
            .collect();
        units.dedup();
        units.join(", ")
    };
    match (units(true), units(false)) {
        (higher, lower) if lower.is_empty() && !higher.is_empty() => "higher is better".into(),
        (higher, _) if higher.is_empty() => "lower is better".into(),
        (higher, lower) => format!("higher is better in {higher}, lower in {lower}"),
    }
}

fn draw_inner(
    path: &Path,
    group: Group,
    workloads: &[&WorkloadResult],
    runtimes: &[RuntimeKind],
) -> Result<(), Box<dyn std::error::Error>> {
    let baseline = group.chart_baseline();
    let values: Vec<f64> = workloads
        .iter()
        .flat_map(|w| runtimes.iter().filter_map(|&k| relative(w, k, baseline)))
        .collect();
    let (lo, hi) = axis_range(&values);

    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let n = workloads.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "{}: median relative to {baseline} (log scale, {})",
                group.title(),
                direction(workloads)
            ),
            ("sans-serif", 22),
        )
        .margin(12)
        .margin_right(LEGEND_WIDTH)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..n as f64, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_x_axis()
        .y_desc(format!("x {baseline}"))
        .y_label_formatter(&|v| format_ratio(*v))
        .label_style(("sans-serif", 14))
        .draw()?;

    let slots = runtimes.len().max(1) as f64;
    let bar = 0.8 / slots;
    for (i, w) in workloads.iter().enumerate() {
        for (j, &kind) in runtimes.iter().enumerate() {
            let x0 = i as f64 + 0.1 + j as f64 * bar;
            let x1 = x0 + bar * 0.9;
            let label_at = (x0 + bar * 0.45, lo);
            match relative(w, kind, baseline) {
                Some(v) => {
                    chart.draw_series(std::iter::once(Rectangle::new(
                        [(x0, lo), (x1, v)],
                        color(kind).filled(),
                    )))?;
                    chart.draw_series(std::iter::once(Text::new(
                        format_ratio(v),
                        (x0 + bar * 0.45, v * 1.15),
                        ("sans-serif", 11)
                            .into_font()
                            .color(&BLACK)
                            .pos(Pos::new(HPos::Center, VPos::Bottom)),
                    )))?;
                }
                None => {
                    chart.draw_series(std::iter::once(Text::new(
                        "n/a",
                        label_at,
                        ("sans-serif", 11)
                            .into_font()
                            .color(&color(kind))
                            .pos(Pos::new(HPos::Center, VPos::Bottom)),
                    )))?;
                }
            }
        }
        // The workload's name under its bars, in pixels below the axis.
        let (px, py) = chart.backend_coord(&(i as f64 + 0.5, lo));
        root.draw(&Text::new(
            w.name.clone(),
            (px, py + 8),
            ("sans-serif", 15)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Top)),
        ))?;
    }
    // A legend along the top right.
    for (j, &kind) in runtimes.iter().enumerate() {
        let x = (WIDTH - LEGEND_WIDTH) as i32 + 10;
        let y = 50 + j as i32 * 20;
        root.draw(&Rectangle::new(
            [(x, y), (x + 14, y + 14)],
            color(kind).filled(),
        ))?;
        root.draw(&Text::new(
            kind.name(),
            (x + 20, y),
            ("sans-serif", 14).into_font().color(&BLACK),
        ))?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chart with a measured and a missing bar is drawn, text included.
    #[test]
    fn group_chart_is_a_png() {
        if let Err(e) = load_font() {
            eprintln!("{e:#}; skipping");
            return;
        }
        let report = crate::markdown::tests::sample_report();
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("syscall.png");
        let workloads: Vec<_> = report.workloads.iter().collect();
        let runtimes = [
            RuntimeKind::Native,
            RuntimeKind::Runc,
            RuntimeKind::Runsc,
            RuntimeKind::Oxbox,
        ];
        draw(&path, Group::Syscall, &workloads, &runtimes).unwrap();
        let png = std::fs::read(&path).unwrap();
        assert!(png.starts_with(b"\x89PNG"));
    }

    #[test]
    fn the_caption_says_which_way_is_better() {
        let report = crate::markdown::tests::sample_report();
        let mut workloads: Vec<_> = report.workloads.iter().collect();
        assert_eq!(direction(&workloads), "lower is better");
        let mut goodput = crate::markdown::tests::sample_report().workloads.remove(0);
        goodput.higher_is_better = true;
        goodput.unit = "Mbit/s".into();
        workloads.push(&goodput);
        assert_eq!(
            direction(&workloads),
            "higher is better in Mbit/s, lower in ns/op"
        );
        assert_eq!(direction(&workloads[2..]), "higher is better");
    }

    #[test]
    fn the_baseline_bar_has_a_height() {
        let (lo, hi) = axis_range(&[1.0, 3.0]);
        assert!(lo < 1.0 && hi > 3.0, "{lo}..{hi}");
        let (lo, hi) = axis_range(&[0.02, 1.0, 450.0]);
        assert!(lo < 0.02 && hi > 450.0, "{lo}..{hi}");
    }
}
