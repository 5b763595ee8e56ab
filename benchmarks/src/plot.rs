//! SVG figures of a [`Report`] (`--plot FILE.svg`, `som-bench plot`): the
//! ratio plot of the paper's Fig. 4 and 7, one bar per benchmark at its
//! median time normalised to its baseline, a whisker from the fastest to the
//! slowest iteration (each normalised to the baseline's median), and the
//! 1.0 line marked.
//!
//! Drawn with `plotters`' SVG backend without its font features: text is
//! emitted as SVG `<text>` elements and laid out by the viewer, so nothing
//! needs system fonts. The figure depends only on the report (no clock, no
//! machine state), so the same JSON always gives the same SVG.

use std::path::Path;

use plotters::coord::ranged1d::{IntoSegmentedCoord, SegmentValue};
use plotters::element::{ErrorBar, PathElement, Rectangle, Text};
use plotters::prelude::{ChartBuilder, IntoDrawingArea, SVGBackend};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, IntoFont, RGBColor, ShapeStyle, BLACK, WHITE};

use crate::report::{median, Report};

/// The fill of the bars (one per benchmark; tests count them by it).
pub const BAR_COLOR: RGBColor = RGBColor(0x4e, 0x79, 0xa7);
/// The colour of the 1.0 line.
pub const ONE_LINE_COLOR: RGBColor = RGBColor(0xd6, 0x27, 0x28);
/// The colour of the whiskers.
pub const WHISKER_COLOR: RGBColor = RGBColor(0x20, 0x20, 0x20);

/// One benchmark's bar: ratios of its times to its reference's median.
#[derive(Debug, Clone, PartialEq)]
pub struct RatioBar {
    pub benchmark: String,
    /// The baseline benchmark or the other VM it is normalised to.
    pub reference: String,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// What the bars of a report are normalised to, and the bars.
#[derive(Debug, Clone, PartialEq)]
pub struct RatioPlot {
    /// The y axis' description.
    pub axis: String,
    pub bars: Vec<RatioBar>,
}

/// The ratio bars of `report`: our VM's benchmarks against their baseline
/// benchmarks when the suite has baselines, else our VM against the other
/// VM, benchmark by benchmark.
pub fn ratio_bars(report: &Report) -> Result<RatioPlot, String> {
    let Some(ours) = report.vms.first().map(|v| v.id.as_str()) else {
        return Err("the report has no VM".into());
    };
    let ok = |name: &str| {
        report
            .benchmarks
            .iter()
            .any(|b| b.name == name && b.error.is_none())
    };
    let bar = |name: &str, reference: &str, base: Vec<f64>, times: Vec<f64>| {
        if times.is_empty() || base.is_empty() {
            return None;
        }
        let b = median(&mut base.clone());
        let mut r: Vec<f64> = times.iter().map(|t| t / b).collect();
        let m = median(&mut r);
        Some(RatioBar {
            benchmark: name.to_string(),
            reference: reference.to_string(),
            median: m,
            min: r[0],
            max: r[r.len() - 1],
        })
    };
    let with_baseline: Vec<RatioBar> = report
        .benchmarks
        .iter()
        .filter(|b| b.error.is_none())
        .filter_map(|b| {
            let base = b.baseline.as_deref().filter(|base| ok(base))?;
            bar(
                &b.name,
                base,
                report.times(base, ours),
                report.times(&b.name, ours),
            )
        })
        .collect();
    if !with_baseline.is_empty() {
        return Ok(RatioPlot {
            axis: "time / baseline's median time".into(),
            bars: with_baseline,
        });
    }
    if let Some(other) = report.vms.get(1) {
        let desc = if other.flags.is_empty() {
            other.binary.clone()
        } else {
            other.flags.join(" ")
        };
        let bars: Vec<RatioBar> = report
            .benchmarks
            .iter()
            .filter(|b| b.error.is_none())
            .filter_map(|b| {
                bar(
                    &b.name,
                    &other.id,
                    report.times(&b.name, &other.id),
                    report.times(&b.name, ours),
                )
            })
            .collect();
        if !bars.is_empty() {
            return Ok(RatioPlot {
                axis: format!("time / other VM's median time ({desc})"),
                bars,
            });
        }
    }
    Err("nothing to normalise: no benchmark has a baseline and there is no second VM".into())
}

/// The ratio plot of `report` as SVG text.
pub fn ratio_svg(report: &Report) -> Result<String, String> {
    let plot = ratio_bars(report)?;
    let title = format!(
        "{} suite: median ratio, whisker min to max ({} run(s) x {} iteration(s))",
        report.metadata.suite, report.metadata.runs, report.metadata.iterations
    );
    render(&plot, &title).map_err(|e| format!("cannot draw the plot: {e}"))
}

/// Writes the ratio plot of `report` to `path`.
pub fn write_ratio_plot(report: &Report, path: &Path) -> Result<(), String> {
    let svg = ratio_svg(report)?;
    std::fs::write(path, svg).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn render(plot: &RatioPlot, title: &str) -> Result<String, Box<dyn std::error::Error>> {
    let n = plot.bars.len();
    if n == 0 {
        return Err("no bars to draw".into());
    }
    // Room for the longest name under each bar (about 7 px a character).
    let longest = plot
        .bars
        .iter()
        .map(|b| b.benchmark.len())
        .max()
        .unwrap_or(0) as u32;
    let width = (160 + (7 * longest + 12).max(80) * n as u32).max(560);
    let height = 420;
    let top = plot
        .bars
        .iter()
        .map(|b| b.max)
        .fold(1.0_f64, f64::max)
        .max(1.0)
        * 1.15;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15).into_font())
            .margin(12)
            .x_label_area_size(70)
            .y_label_area_size(60)
            // A segmented `0..k` has k + 1 segments: one per bar.
            .build_cartesian_2d((0..n - 1).into_segmented(), 0.0..top)?;
        let names: Vec<String> = plot.bars.iter().map(|b| b.benchmark.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n + 1)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .x_label_style(("sans-serif", 12).into_font())
            .y_desc(plot.axis.as_str())
            .x_desc("benchmark")
            .axis_desc_style(("sans-serif", 13).into_font())
            .draw()?;
        chart.draw_series(plot.bars.iter().enumerate().map(|(i, b)| {
            let mut r = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), b.median),
                ],
                BAR_COLOR.filled(),
            );
            r.set_margin(0, 0, 14, 14);
            r
        }))?;
        // The 1.0 line (as fast as the reference), over the bars.
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(SegmentValue::Exact(0), 1.0), (SegmentValue::Last, 1.0)],
            ShapeStyle::from(&ONE_LINE_COLOR).stroke_width(2),
        )))?;
        chart.draw_series(plot.bars.iter().enumerate().map(|(i, b)| {
            ErrorBar::new_vertical(
                SegmentValue::CenterOf(i),
                b.min,
                b.median,
                b.max,
                ShapeStyle::from(&WHISKER_COLOR).stroke_width(1),
                12,
            )
        }))?;
        chart.draw_series(plot.bars.iter().enumerate().map(|(i, b)| {
            Text::new(
                format!("{:.2}", b.median),
                (SegmentValue::CenterOf(i), b.max.max(b.median) + top * 0.02),
                ("sans-serif", 11)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Bottom)),
            )
        }))?;
        root.present()?;
    }
    Ok(svg)
}
