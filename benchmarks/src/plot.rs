//! SVG figures of a [`Report`] (`--plot FILE.svg`, `som-bench plot`): the
//! ratio plot of the paper's Fig. 4 and 7, one bar per benchmark at its
//! median time normalised to its baseline, a whisker from the fastest to the
//! slowest iteration (each normalised to the baseline's median), and the
//! 1.0 line marked; with several VMs, one bar per benchmark and VM (or VM
//! pair), grouped by benchmark, with a legend.
//!
//! The warm-up plot (`--plot-warmup FILE.svg`, `som-bench plot --warmup`):
//! per benchmark, the time of each iteration (warm-up iterations included,
//! the median over the runs, a whisker over the runs' spread), one line per
//! VM, the warm-up iterations shaded.
//!
//! Drawn with `plotters`' SVG backend without its font features: text is
//! emitted as SVG `<text>` elements and laid out by the viewer, so nothing
//! needs system fonts. The figure depends only on the report (no clock, no
//! machine state), so the same JSON always gives the same SVG.

use std::path::Path;

use plotters::coord::ranged1d::{IntoSegmentedCoord, SegmentValue};
use plotters::element::{Circle, ErrorBar, PathElement, Rectangle, Text};
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
/// The colours of the series (VMs, VM pairs), in order; the first is
/// [`BAR_COLOR`]. Past the last they repeat.
pub const SERIES_COLORS: [RGBColor; 6] = [
    BAR_COLOR,
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x9c, 0x75, 0x5f),
];
/// The fill of the warm-up iterations' background in the warm-up plot.
pub const WARMUP_SHADE: RGBColor = RGBColor(0xee, 0xee, 0xee);

/// A legend's text, left-aligned at `at` and centred on it vertically.
fn legend_label(text: &str, at: (i32, i32)) -> Text<'static, (i32, i32), String> {
    Text::new(
        text.to_string(),
        at,
        ("sans-serif", 12)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center)),
    )
}

/// The colour of series `k`.
pub fn series_color(k: usize) -> RGBColor {
    SERIES_COLORS[k % SERIES_COLORS.len()]
}

/// `c` mixed half with white (the warm-up plot's whiskers).
fn tint(c: RGBColor) -> RGBColor {
    let m = |x: u8| ((u16::from(x) + 255) / 2) as u8;
    RGBColor(m(c.0), m(c.1), m(c.2))
}

/// One benchmark's bar: ratios of its times to its reference's median.
#[derive(Debug, Clone, PartialEq)]
pub struct RatioBar {
    pub benchmark: String,
    /// Which of [`RatioPlot::series`] it belongs to.
    pub series: usize,
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
    /// The series' names (one VM each against baselines, or one VM pair);
    /// a single series draws no legend.
    pub series: Vec<String>,
    pub bars: Vec<RatioBar>,
}

/// The ratio bars of `report`: each VM's benchmarks against their baseline
/// benchmarks when the suite has baselines (one series per VM), else the
/// VMs against each other benchmark by benchmark, one series per pair of
/// [`Report::vm_pairs`] (ours / each other VM, or each VM / the
/// `--baseline-vm`).
pub fn ratio_bars(report: &Report) -> Result<RatioPlot, String> {
    if report.vms.is_empty() {
        return Err("the report has no VM".into());
    }
    let ok = |name: &str| {
        report
            .benchmarks
            .iter()
            .any(|b| b.name == name && b.error.is_none())
    };
    let bar = |name: &str, series: usize, reference: &str, base: Vec<f64>, times: Vec<f64>| {
        if times.is_empty() || base.is_empty() {
            return None;
        }
        let b = median(&mut base.clone());
        let mut r: Vec<f64> = times.iter().map(|t| t / b).collect();
        let m = median(&mut r);
        Some(RatioBar {
            benchmark: name.to_string(),
            series,
            reference: reference.to_string(),
            median: m,
            min: r[0],
            max: r[r.len() - 1],
        })
    };
    // Against baselines: one series per VM that has any.
    let mut series = Vec::new();
    let mut bars = Vec::new();
    for vm in &report.vms {
        let of_vm: Vec<RatioBar> = report
            .benchmarks
            .iter()
            .filter(|b| b.error.is_none())
            .filter_map(|b| {
                let base = b.baseline.as_deref().filter(|base| ok(base))?;
                bar(
                    &b.name,
                    series.len(),
                    base,
                    report.times(base, &vm.id),
                    report.times(&b.name, &vm.id),
                )
            })
            .collect();
        if !of_vm.is_empty() {
            series.push(vm.name().to_string());
            bars.extend(of_vm);
        }
    }
    if !bars.is_empty() {
        return Ok(RatioPlot {
            axis: "time / baseline's median time".into(),
            series,
            bars: by_benchmark(bars),
        });
    }
    let name = |id: &str| {
        report
            .vm(id)
            .map_or(id.to_string(), |v| v.name().to_string())
    };
    let pairs = report.vm_pairs();
    for (num, den) in &pairs {
        let of_pair: Vec<RatioBar> = report
            .benchmarks
            .iter()
            .filter(|b| b.error.is_none())
            .filter_map(|b| {
                bar(
                    &b.name,
                    series.len(),
                    den,
                    report.times(&b.name, den),
                    report.times(&b.name, num),
                )
            })
            .collect();
        if !of_pair.is_empty() {
            series.push(format!("{} / {}", name(num), name(den)));
            bars.extend(of_pair);
        }
    }
    if bars.is_empty() {
        return Err(
            "nothing to normalise: no benchmark has a baseline and there is no second VM".into(),
        );
    }
    let axis = match (&report.baseline_vm, series.len()) {
        (None, 1) => {
            // One other VM: as before several VMs could be compared.
            let other = report
                .vm(&pairs[0].1)
                .expect("a pair's VM is in the report");
            let desc = if other.flags.is_empty() {
                other.binary.clone()
            } else {
                other.flags.join(" ")
            };
            format!("time / other VM's median time ({desc})")
        }
        (None, _) => format!("{}'s time / each other VM's median time", name(&pairs[0].0)),
        (Some(base), _) => format!("time / {}'s median time", name(base)),
    };
    Ok(RatioPlot {
        axis,
        series,
        bars: by_benchmark(bars),
    })
}

/// `bars` ordered by benchmark (in order of first appearance), then series.
fn by_benchmark(bars: Vec<RatioBar>) -> Vec<RatioBar> {
    let mut names: Vec<&str> = Vec::new();
    for b in &bars {
        if !names.contains(&b.benchmark.as_str()) {
            names.push(&b.benchmark);
        }
    }
    let mut out = bars.clone();
    out.sort_by_key(|b| {
        (
            names.iter().position(|n| *n == b.benchmark).unwrap_or(0),
            b.series,
        )
    });
    out
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
    if plot.bars.is_empty() {
        return Err("no bars to draw".into());
    }
    // The benchmarks, one segment each, in order.
    let mut names: Vec<String> = Vec::new();
    for b in &plot.bars {
        if !names.contains(&b.benchmark) {
            names.push(b.benchmark.clone());
        }
    }
    let n = names.len();
    let k = plot.series.len().max(1);
    // Room for the longest name under each group (about 7 px a character)
    // and for its bars.
    let longest = names.iter().map(String::len).max().unwrap_or(0) as u32;
    let per_group = (7 * longest + 12).max(80).max(28 + 26 * k as u32);
    // With several series, a legend right of the plot (about 7 px a
    // character, a swatch and some room).
    let legend = if k > 1 {
        40 + 7 * plot.series.iter().map(String::len).max().unwrap_or(0) as u32
    } else {
        0
    };
    let width = (160 + per_group * n as u32).max(560) + legend;
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
            .margin_right(12 + legend)
            .x_label_area_size(70)
            .y_label_area_size(60)
            // A segmented `0..k` has k + 1 segments: one per benchmark.
            .build_cartesian_2d((0..n - 1).into_segmented(), 0.0..top)?;
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
        let group = |b: &RatioBar| names.iter().position(|n| *n == b.benchmark).unwrap_or(0);
        // The bars are placed in pixels: benchmark i owns the i-th n-th of
        // the plot's width (the segmented axis' labels sit at the same
        // centres), and its k bars share it side by side.
        let (xs, _) = chart.plotting_area().get_pixel_range();
        let seg = (xs.end - xs.start) as f64 / n as f64;
        let y_px = |y: f64| chart.backend_coord(&(SegmentValue::Last, y)).1;
        let zero = y_px(0.0);
        let pad = if k == 1 { 14 } else { 10 };
        for b in &plot.bars {
            let left = xs.start + (seg * group(b) as f64).round() as i32;
            let right = xs.start + (seg * (group(b) + 1) as f64).round() as i32;
            let w = ((right - left - 2 * pad) / k as i32).max(2);
            let x0 = left + pad + w * b.series as i32;
            let gap = i32::from(k > 1);
            root.draw(&Rectangle::new(
                [(x0 + gap, y_px(b.median)), (x0 + w - gap, zero)],
                series_color(b.series).filled(),
            ))?;
            let xc = x0 + w / 2;
            root.draw(&ErrorBar::new_vertical(
                xc,
                y_px(b.min),
                y_px(b.median),
                y_px(b.max),
                ShapeStyle::from(&WHISKER_COLOR).stroke_width(1),
                (w / 2).clamp(2, 12) as u32,
            ))?;
            root.draw(&Text::new(
                format!("{:.2}", b.median),
                (xc, y_px(b.max.max(b.median)) - 4),
                ("sans-serif", if k == 1 { 11 } else { 10 })
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Bottom)),
            ))?;
        }
        // The 1.0 line (as fast as the reference), over the bars.
        root.draw(&PathElement::new(
            vec![(xs.start, y_px(1.0)), (xs.end, y_px(1.0))],
            ShapeStyle::from(&ONE_LINE_COLOR).stroke_width(2),
        ))?;
        if k > 1 {
            let (x, y) = (xs.end + 16, y_px(top) + 8);
            for (s, name) in plot.series.iter().enumerate() {
                let y = y + 18 * s as i32;
                // A thick stroke, not a filled rectangle, so that rectangles
                // of a series' colour are its bars.
                root.draw(&PathElement::new(
                    vec![(x, y + 6), (x + 16, y + 6)],
                    ShapeStyle::from(&series_color(s)).stroke_width(10),
                ))?;
                root.draw(&legend_label(name, (x + 22, y + 6)))?;
            }
        }
        root.present()?;
    }
    Ok(svg)
}

/// One VM's line in a warm-up panel.
#[derive(Debug, Clone, PartialEq)]
pub struct WarmupLine {
    /// The [`crate::report::VmInfo::id`].
    pub vm: String,
    /// What the legend calls it.
    pub label: String,
    /// Per iteration (from 1): the median over the runs, the fastest and the
    /// slowest run, in milliseconds.
    pub points: Vec<WarmupPoint>,
}

/// One iteration of a [`WarmupLine`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WarmupPoint {
    /// From 1.
    pub iteration: u32,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    /// How many runs had this iteration.
    pub runs: usize,
}

/// One benchmark of the warm-up plot.
#[derive(Debug, Clone, PartialEq)]
pub struct WarmupPanel {
    pub benchmark: String,
    pub lines: Vec<WarmupLine>,
}

/// The warm-up panels of `report`: one per benchmark in `benchmarks` (all
/// that have samples when empty), one line per VM with samples.
pub fn warmup_panels(report: &Report, benchmarks: &[String]) -> Result<Vec<WarmupPanel>, String> {
    if let Some(unknown) = benchmarks
        .iter()
        .find(|n| !report.benchmarks.iter().any(|b| &b.name == *n))
    {
        let known: Vec<&str> = report.benchmarks.iter().map(|b| b.name.as_str()).collect();
        return Err(format!(
            "the report has no benchmark '{unknown}' (it has {})",
            known.join(" ")
        ));
    }
    let mut panels = Vec::new();
    for b in &report.benchmarks {
        if !benchmarks.is_empty() && !benchmarks.contains(&b.name) {
            continue;
        }
        let lines: Vec<WarmupLine> = report
            .vms
            .iter()
            .filter_map(|vm| {
                let samples = report.all_times(&b.name, &vm.id);
                let last = samples.iter().map(|s| s.1).max()?;
                let points = (0..=last)
                    .filter_map(|i| {
                        let mut t: Vec<f64> = samples
                            .iter()
                            .filter(|s| s.1 == i)
                            .map(|s| s.2 / 1000.0)
                            .collect();
                        if t.is_empty() {
                            return None;
                        }
                        let m = median(&mut t);
                        Some(WarmupPoint {
                            iteration: i + 1,
                            median_ms: m,
                            min_ms: t[0],
                            max_ms: t[t.len() - 1],
                            runs: t.len(),
                        })
                    })
                    .collect();
                Some(WarmupLine {
                    vm: vm.id.clone(),
                    label: vm.name().to_string(),
                    points,
                })
            })
            .collect();
        if !lines.is_empty() {
            panels.push(WarmupPanel {
                benchmark: b.name.clone(),
                lines,
            });
        }
    }
    if panels.is_empty() {
        return Err("no samples to draw".into());
    }
    Ok(panels)
}

/// The warm-up plot of `report` (see [`warmup_panels`]) as SVG text.
pub fn warmup_svg(report: &Report, benchmarks: &[String]) -> Result<String, String> {
    let panels = warmup_panels(report, benchmarks)?;
    render_warmup(&panels, report).map_err(|e| format!("cannot draw the plot: {e}"))
}

/// Writes the warm-up plot of `report` to `path`.
pub fn write_warmup_plot(
    report: &Report,
    benchmarks: &[String],
    path: &Path,
) -> Result<(), String> {
    let svg = warmup_svg(report, benchmarks)?;
    std::fs::write(path, svg).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The height of one warm-up panel, in pixels.
const PANEL_HEIGHT: u32 = 320;

fn render_warmup(
    panels: &[WarmupPanel],
    report: &Report,
) -> Result<String, Box<dyn std::error::Error>> {
    let colors: Vec<(String, RGBColor)> = report
        .vms
        .iter()
        .enumerate()
        .map(|(k, v)| (v.id.clone(), series_color(k)))
        .collect();
    let color_of = |vm: &str| {
        colors
            .iter()
            .find(|(id, _)| id == vm)
            .map_or(BAR_COLOR, |c| c.1)
    };
    let warmup = report.metadata.warmup;
    // The legend goes right of the plots (about 7 px a character).
    let longest = panels
        .iter()
        .flat_map(|p| p.lines.iter().map(|l| l.label.len()))
        .max()
        .unwrap_or(0) as u32;
    let legend = 40 + 7 * longest;
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (760 + legend, PANEL_HEIGHT * panels.len() as u32))
                .into_drawing_area();
        root.fill(&WHITE)?;
        let areas = root.split_evenly((panels.len(), 1));
        for (panel, area) in panels.iter().zip(&areas) {
            let iterations = panel
                .lines
                .iter()
                .flat_map(|l| l.points.iter().map(|p| p.iteration))
                .max()
                .unwrap_or(1);
            let runs = panel
                .lines
                .iter()
                .flat_map(|l| l.points.iter().map(|p| p.runs))
                .max()
                .unwrap_or(1);
            let top = panel
                .lines
                .iter()
                .flat_map(|l| l.points.iter().map(|p| p.max_ms))
                .fold(0.0_f64, f64::max)
                .max(1e-3)
                * 1.15;
            let title = format!(
                "{}: time per iteration (median of {runs} run(s), whisker min to max)",
                panel.benchmark
            );
            let mut chart = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 15).into_font())
                .margin(12)
                .margin_right(12 + legend)
                .x_label_area_size(44)
                .y_label_area_size(64)
                .build_cartesian_2d(0.5..f64::from(iterations) + 0.5, 0.0..top)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                // Whole iterations only (at most about 20 ticks).
                .x_labels((iterations as usize).min(20))
                .x_label_formatter(&|x| {
                    if (x - x.round()).abs() < 1e-6 && *x >= 1.0 {
                        format!("{}", x.round() as i64)
                    } else {
                        String::new()
                    }
                })
                .x_desc("iteration")
                .y_desc("time per iteration (ms)")
                .axis_desc_style(("sans-serif", 13).into_font())
                .draw()?;
            if warmup > 0 {
                let end = f64::from(warmup.min(iterations)) + 0.5;
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(0.5, 0.0), (end, top)],
                    WARMUP_SHADE.filled(),
                )))?;
                chart.draw_series(std::iter::once(Text::new(
                    "warm-up",
                    ((0.5 + end) / 2.0, top * 0.97),
                    ("sans-serif", 11)
                        .into_font()
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Center, VPos::Top)),
                )))?;
            }
            for line in &panel.lines {
                let color = color_of(&line.vm);
                if runs > 1 {
                    chart.draw_series(line.points.iter().map(|p| {
                        ErrorBar::new_vertical(
                            f64::from(p.iteration),
                            p.min_ms,
                            p.median_ms,
                            p.max_ms,
                            ShapeStyle::from(&tint(color)).stroke_width(1),
                            6,
                        )
                    }))?;
                }
                chart.draw_series(std::iter::once(PathElement::new(
                    line.points
                        .iter()
                        .map(|p| (f64::from(p.iteration), p.median_ms))
                        .collect::<Vec<_>>(),
                    ShapeStyle::from(&color).stroke_width(2),
                )))?;
                chart.draw_series(line.points.iter().map(|p| {
                    Circle::new((f64::from(p.iteration), p.median_ms), 3, color.filled())
                }))?;
            }
            // The legend, right of the plot: a swatch (a filled square of
            // the line's colour) and the VM's name.
            let (xs, ys) = chart.plotting_area().get_pixel_range();
            for (k, line) in panel.lines.iter().enumerate() {
                let (x, y) = (xs.end + 16, ys.start + 8 + 18 * k as i32);
                root.draw(&Rectangle::new(
                    [(x, y), (x + 12, y + 12)],
                    color_of(&line.vm).filled(),
                ))?;
                root.draw(&legend_label(&line.label, (x + 18, y + 6)))?;
            }
        }
        root.present()?;
    }
    Ok(svg)
}
