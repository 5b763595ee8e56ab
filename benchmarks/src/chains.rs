//! `som-bench chains trace.jsonl -o chains.svg`: dispatch-chain growth drawn
//! from `som --trace dispatch,jit --trace-format=json` (one JSON object per
//! event on stderr; other lines are skipped).
//!
//! One row per chain (a send site's position and the chain's kind), the
//! busiest first (most transitions), then the deepest. In each row a step
//! line gives the chain's depth over time, a dot each transition coloured by
//! the state it led to (monomorphic, polymorphic, generic; grey for an
//! invalidation), and vertical ticks the tier's events for the method
//! holding the site (compiled, code invalidated, guard failed). The top row
//! collects every tier event. Time is the events' `seq`, a logical clock,
//! so the same program draws the same picture on any machine.

use std::collections::HashMap;
use std::path::Path;

use plotters::element::{Circle, PathElement, Rectangle, Text};
use plotters::prelude::{ChartBuilder, IntoDrawingArea, SVGBackend};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, IntoFont, RGBColor, ShapeStyle, BLACK, WHITE};
use serde::Deserialize;

/// One traced event (the fields `som_runtime::trace::event_json` writes
/// that the picture uses).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TraceEvent {
    pub seq: u64,
    /// `dispatch` or `jit`.
    pub cat: String,
    /// `cached`, `generic`, `invalidated`, `compiled`, `guard failed`, ...
    #[serde(default)]
    pub event: String,
    /// Dispatch events: the method holding the site (`Class>>#selector`).
    /// The tier's `guard failed` uses it for the position instead.
    #[serde(default)]
    pub site: Option<String>,
    #[serde(default)]
    pub pos: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub selector: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub depth: Option<u64>,
    #[serde(default)]
    pub state: Option<String>,
    /// Tier events: the compiled method or block.
    #[serde(default)]
    pub unit: Option<String>,
}

/// The events of a JSON-lines trace; lines that are not JSON objects (the
/// program's own error output, say) are skipped. A JSON object that is not
/// an event is an error.
pub fn parse_trace(text: &str) -> Result<Vec<TraceEvent>, String> {
    let mut events = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if !line.starts_with('{') {
            continue;
        }
        let e: TraceEvent =
            serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        events.push(e);
    }
    Ok(events)
}

/// The colour of a transition's dot, by the state it led to.
pub fn state_color(event: &TraceEvent) -> RGBColor {
    if event.event == "invalidated" {
        return INVALIDATED_COLOR;
    }
    match event.state.as_deref() {
        Some("monomorphic") => RGBColor(0x2c, 0xa0, 0x2c),
        Some("polymorphic") => RGBColor(0xff, 0x7f, 0x0e),
        Some("generic") => RGBColor(0xd6, 0x27, 0x28),
        _ => INVALIDATED_COLOR,
    }
}

/// Dots of invalidations (and of unknown states).
pub const INVALIDATED_COLOR: RGBColor = RGBColor(0x7f, 0x7f, 0x7f);
/// Ticks of compilations.
pub const COMPILED_COLOR: RGBColor = RGBColor(0x17, 0x6b, 0x3a);
/// Ticks of invalidated compiled code.
pub const CODE_INVALIDATED_COLOR: RGBColor = RGBColor(0xb0, 0x10, 0x60);
/// Ticks of guard failures and other tier events.
pub const OTHER_TIER_COLOR: RGBColor = RGBColor(0x94, 0x67, 0xbd);
/// The depth lines.
pub const LINE_COLOR: RGBColor = RGBColor(0x1f, 0x77, 0xb4);

/// The colour of a tier event's tick.
pub fn tier_color(event: &TraceEvent) -> RGBColor {
    match event.event.as_str() {
        "compiled" => COMPILED_COLOR,
        "invalidated" => CODE_INVALIDATED_COLOR,
        _ => OTHER_TIER_COLOR,
    }
}

/// One chain: its label, the method holding it, and its transitions.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    /// `file:line:col kind selector` (the file without its directories).
    pub label: String,
    /// `file:line:col` in full.
    pub pos: String,
    pub method: String,
    pub events: Vec<TraceEvent>,
    pub max_depth: u64,
}

/// The chains of `events`, the busiest first, then the deepest, then the
/// first to appear.
pub fn chains(events: &[TraceEvent]) -> Vec<Chain> {
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut out: Vec<Chain> = Vec::new();
    for e in events.iter().filter(|e| e.cat == "dispatch") {
        let pos = e.pos.clone().unwrap_or_else(|| "?".into());
        let kind = e.kind.clone().unwrap_or_default();
        let k = *index.entry((pos.clone(), kind.clone())).or_insert_with(|| {
            let file = pos.rsplit('/').next().unwrap_or(&pos);
            out.push(Chain {
                label: format!(
                    "{file} {kind} {}",
                    e.selector.as_deref().unwrap_or_default()
                )
                .trim_end()
                .to_string(),
                pos: pos.clone(),
                method: e.site.clone().unwrap_or_default(),
                events: Vec::new(),
                max_depth: 0,
            });
            out.len() - 1
        });
        out[k].max_depth = out[k].max_depth.max(e.depth.unwrap_or(0));
        out[k].events.push(e.clone());
    }
    // Then those in methods the tier compiled (the hot code); the sort is
    // stable, so equal chains keep their order of first appearance.
    let compiled: Vec<&str> = events
        .iter()
        .filter(|e| e.cat == "jit" && e.event == "compiled")
        .filter_map(|e| e.unit.as_deref())
        .collect();
    out.sort_by(|a, b| {
        b.events
            .len()
            .cmp(&a.events.len())
            .then(b.max_depth.cmp(&a.max_depth))
            .then(
                compiled
                    .contains(&b.method.as_str())
                    .cmp(&compiled.contains(&a.method.as_str())),
            )
    });
    out
}

/// What `som-bench chains` draws.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainsOptions {
    /// At most this many chains (the busiest).
    pub rows: usize,
    /// Only chains whose position or method contains this text.
    pub filter: Option<String>,
    pub title: String,
}

/// The chain-growth picture of `events`.
pub fn chains_svg(events: &[TraceEvent], o: &ChainsOptions) -> Result<String, String> {
    let (rows, title) = (o.rows, o.title.as_str());
    let mut all = chains(events);
    if let Some(f) = &o.filter {
        all.retain(|c| c.pos.contains(f.as_str()) || c.method.contains(f.as_str()));
    }
    if all.is_empty() {
        return Err(if o.filter.is_some() {
            "no chain matches the filter".into()
        } else {
            "the trace has no dispatch events (run som with --trace dispatch)".into()
        });
    }
    let hidden = all.len().saturating_sub(rows);
    all.truncate(rows.max(1));
    let tier: Vec<&TraceEvent> = events.iter().filter(|e| e.cat == "jit").collect();
    render(&all, &tier, hidden, title).map_err(|e| format!("cannot draw the chains: {e}"))
}

/// Reads `trace` and writes its picture to `out` (`o.title` empty: named
/// after the trace file).
pub fn write_chains(trace: &Path, out: &Path, o: &ChainsOptions) -> Result<(), String> {
    let text = std::fs::read_to_string(trace)
        .map_err(|e| format!("cannot read {}: {e}", trace.display()))?;
    let events = parse_trace(&text).map_err(|e| format!("{}: {e}", trace.display()))?;
    let name = trace
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut o = o.clone();
    if o.title.is_empty() {
        o.title = format!("dispatch chains over time ({name})");
    }
    let svg = chains_svg(&events, &o)?;
    std::fs::write(out, svg).map_err(|e| format!("cannot write {}: {e}", out.display()))
}

fn render(
    chains: &[Chain],
    tier: &[&TraceEvent],
    hidden: usize,
    title: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let n = chains.len() + 1; // the tier row on top
    let row_h = 34;
    let (width, height) = (1100u32, 150 + row_h * n as u32);
    let label_w = 330;
    let last = chains
        .iter()
        .flat_map(|c| c.events.iter().map(|e| e.seq))
        .chain(tier.iter().map(|e| e.seq))
        .max()
        .unwrap_or(0) as f64
        + 1.0;
    let max_depth = chains.iter().map(|c| c.max_depth).max().unwrap_or(1).max(1) as f64;
    // Row r (0 = tier, then the chains) spans y in [n - 1 - r, n - r].
    let row_base = |r: usize| (n - 1 - r) as f64;
    let depth_y = |r: usize, d: u64| row_base(r) + 0.15 + 0.7 * (d as f64) / max_depth;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15).into_font())
            .margin(12)
            .margin_left(label_w)
            .margin_bottom(30)
            .x_label_area_size(45)
            .y_label_area_size(0)
            .build_cartesian_2d(0.0..last, 0.0..n as f64)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_desc("event number (logical clock)")
            .axis_desc_style(("sans-serif", 13).into_font())
            .draw()?;
        // Row separators.
        chart.draw_series((1..n).map(|r| {
            PathElement::new(
                vec![(0.0, r as f64), (last, r as f64)],
                ShapeStyle::from(&RGBColor(0xcc, 0xcc, 0xcc)).stroke_width(1),
            )
        }))?;
        // Row labels, left of the plot.
        let label_style = ("sans-serif", 11)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Right, VPos::Center));
        for r in 0..n {
            let (x, y) = chart.backend_coord(&(0.0, row_base(r) + 0.5));
            let text = if r == 0 {
                "compiled tier (all units)".to_string()
            } else {
                chains[r - 1].label.clone()
            };
            root.draw(&Text::new(text, (x - 8, y), label_style.clone()))?;
        }
        // Tier events: every one in the top row, and on the rows of the
        // method they compiled or invalidated.
        let tick = |r: usize, seq: u64, color: RGBColor| {
            PathElement::new(
                vec![
                    (seq as f64, row_base(r) + 0.08),
                    (seq as f64, row_base(r) + 0.92),
                ],
                ShapeStyle::from(&color).stroke_width(2),
            )
        };
        chart.draw_series(tier.iter().map(|e| tick(0, e.seq, tier_color(e))))?;
        for (r, c) in chains.iter().enumerate() {
            chart.draw_series(
                tier.iter()
                    .filter(|e| e.unit.as_deref() == Some(c.method.as_str()))
                    .map(|e| tick(r + 1, e.seq, tier_color(e))),
            )?;
        }
        // Depth over time, and a dot per transition.
        for (r, c) in chains.iter().enumerate() {
            let r = r + 1;
            let mut pts = Vec::new();
            for (i, e) in c.events.iter().enumerate() {
                let d = e.depth.unwrap_or(0);
                if i > 0 {
                    let prev = pts.last().map(|&(_, y)| y).unwrap_or(0.0);
                    pts.push((e.seq as f64, prev));
                }
                pts.push((e.seq as f64, depth_y(r, d)));
            }
            if let Some(&(_, y)) = pts.last() {
                pts.push((last, y));
            }
            chart.draw_series(std::iter::once(PathElement::new(
                pts,
                ShapeStyle::from(&LINE_COLOR).stroke_width(1),
            )))?;
            chart.draw_series(c.events.iter().map(|e| {
                Circle::new(
                    (e.seq as f64, depth_y(r, e.depth.unwrap_or(0))),
                    4,
                    state_color(e).filled(),
                )
            }))?;
        }
        // Legend, under the x axis' description.
        let legend: [(&str, RGBColor); 7] = [
            ("monomorphic", RGBColor(0x2c, 0xa0, 0x2c)),
            ("polymorphic", RGBColor(0xff, 0x7f, 0x0e)),
            ("generic", RGBColor(0xd6, 0x27, 0x28)),
            ("chain invalidated", INVALIDATED_COLOR),
            ("compiled", COMPILED_COLOR),
            ("code invalidated", CODE_INVALIDATED_COLOR),
            ("other tier event", OTHER_TIER_COLOR),
        ];
        let y = height as i32 - 16;
        let mut x = 20;
        for (name, color) in legend {
            root.draw(&Rectangle::new(
                [(x, y - 5), (x + 10, y + 5)],
                color.filled(),
            ))?;
            root.draw(&Text::new(
                name.to_string(),
                (x + 14, y),
                ("sans-serif", 11)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            ))?;
            x += 30 + 7 * name.len() as i32;
        }
        let note = format!(
            "row height: chain depth (0 to {max_depth}){}",
            if hidden > 0 {
                format!("; {hidden} quieter chain(s) not shown")
            } else {
                String::new()
            }
        );
        root.draw(&Text::new(
            note,
            (20, 16),
            ("sans-serif", 11)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Top)),
        ))?;
        root.present()?;
    }
    Ok(svg)
}
