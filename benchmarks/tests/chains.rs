//! `som --trace dispatch,jit --trace-format=json` and `som-bench chains`:
//! every line of a JSON trace is one event with the required fields and a
//! logical clock (`seq`, 0, 1, 2, ...); a redefinition in a hot loop shows up
//! as chain and code invalidations followed by regrowth; the chain picture
//! drawn from known events has one row label and one dot per transition of
//! each chain, the busiest chain first, and a tick per tier event.
//!
//! Uses the `som` binary that cargo builds next to `som-bench`.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;
use som_bench::chains::{
    chains, chains_svg, parse_trace, ChainsOptions, TraceEvent, COMPILED_COLOR,
};

fn som() -> PathBuf {
    let som = PathBuf::from(env!("CARGO_BIN_EXE_som-bench")).with_file_name("som");
    assert!(som.is_file(), "no som binary at {}", som.display());
    som
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn json_trace(program: &str, flags: &[&str]) -> Output {
    Command::new(som())
        .args(["--trace", "dispatch,jit", "--trace-format=json"])
        .args(flags)
        .arg(fixture(program))
        .output()
        .expect("som runs")
}

fn has(v: &Value, field: &str, ty: &str) -> bool {
    match (v.get(field), ty) {
        (Some(x), "string") => x.is_string(),
        (Some(x), "integer") => x.is_u64(),
        _ => false,
    }
}

#[test]
fn every_json_trace_line_is_an_event_with_the_required_fields() {
    let out = json_trace("RedefineHot.som", &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "201020099");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let events: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(events.len() > 10, "{stderr}");
    for (i, e) in events.iter().enumerate() {
        // The logical clock: events numbered in order, from 0.
        assert_eq!(e["seq"], i as u64, "{e}");
        for (f, ty) in [("t_us", "integer"), ("cat", "string"), ("event", "string")] {
            assert!(has(e, f, ty), "{f} should be a {ty}: {e}");
        }
        match e["cat"].as_str().unwrap() {
            "dispatch" => {
                for (f, ty) in [
                    ("site", "string"),
                    ("pos", "string"),
                    ("file", "string"),
                    ("line", "integer"),
                    ("col", "integer"),
                    ("kind", "string"),
                    ("key", "string"),
                    ("depth", "integer"),
                    ("state", "string"),
                ] {
                    assert!(has(e, f, ty), "{f} should be a {ty}: {e}");
                }
                let pos = format!("{}:{}:{}", e["file"].as_str().unwrap(), e["line"], e["col"]);
                assert_eq!(e["pos"], pos.as_str());
            }
            "jit" => assert!(has(e, "unit", "string"), "{e}"),
            other => panic!("unknown category {other}: {e}"),
        }
    }
    // The redefinition: the chain of `self value` in step: is invalidated,
    // so is step:'s code, and both come back.
    let seq_of = |pred: &dyn Fn(&Value) -> bool| -> Vec<u64> {
        events
            .iter()
            .filter(|e| pred(e))
            .map(|e| e["seq"].as_u64().unwrap())
            .collect()
    };
    let value_site = |e: &Value| e["site"] == "RedefineHot>>#step:" && e["selector"] == "value";
    let chain_inval = seq_of(&|e| value_site(e) && e["event"] == "invalidated");
    let chain_cached = seq_of(&|e| value_site(e) && e["event"] == "cached");
    let step_unit = |e: &Value| e["cat"] == "jit" && e["unit"] == "RedefineHot>>#step:";
    let compiled = seq_of(&|e| step_unit(e) && e["event"] == "compiled");
    let code_inval = seq_of(&|e| step_unit(e) && e["event"] == "invalidated");
    assert_eq!(chain_inval.len(), 1, "{stderr}");
    assert!(chain_cached.iter().any(|&s| s > chain_inval[0]), "{stderr}");
    assert_eq!(code_inval.len(), 1, "{stderr}");
    assert!(compiled.iter().any(|&s| s < code_inval[0]), "{stderr}");
    assert!(compiled.iter().any(|&s| s > code_inval[0]), "{stderr}");
    // The text format is unchanged by the option's existence.
    let text = Command::new(som())
        .args(["--trace", "dispatch", "--trace-format=text"])
        .arg(fixture("RedefineHot.som"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stderr).contains("TRACE metasom::dispatch: cached"));
}

#[test]
fn a_bad_trace_format_is_a_usage_error() {
    let out = Command::new(som())
        .args(["--trace-format=xml", "x.som"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--trace-format=json"));
}

/// A dispatch event of the chain at `pos` (kind `send`) in `method`.
fn dispatch(seq: u64, method: &str, pos: &str, event: &str, depth: u64, state: &str) -> String {
    format!(
        r#"{{"seq":{seq},"t_us":0,"cat":"dispatch","event":"{event}","site":"{method}","pos":"{pos}","file":"f.som","line":1,"col":1,"kind":"send","selector":"foo","key":"K{depth}","depth":{depth},"state":"{state}"}}"#
    )
}

fn tier(seq: u64, unit: &str, event: &str) -> String {
    format!(r#"{{"seq":{seq},"t_us":0,"cat":"jit","event":"{event}","unit":"{unit}"}}"#)
}

/// Three chains: A grows to polymorphic and generic (4 events), B is
/// monomorphic, invalidated and re-cached (3), C monomorphic (1); B's
/// method is compiled, invalidated and recompiled.
fn known_trace() -> String {
    [
        dispatch(0, "M>>#b", "f.som:2:5", "cached", 1, "monomorphic"),
        dispatch(1, "M>>#a", "f.som:1:5", "cached", 1, "monomorphic"),
        dispatch(2, "M>>#a", "f.som:1:5", "cached", 2, "polymorphic"),
        tier(3, "M>>#b", "compiled"),
        dispatch(4, "M>>#c", "f.som:3:5", "cached", 1, "monomorphic"),
        dispatch(5, "M>>#a", "f.som:1:5", "cached", 3, "polymorphic"),
        dispatch(6, "M>>#b", "f.som:2:5", "invalidated", 0, "uninitialized"),
        tier(7, "M>>#b", "invalidated"),
        "ERROR: not a JSON line, skipped".to_string(),
        dispatch(8, "M>>#b", "f.som:2:5", "cached", 1, "monomorphic"),
        tier(9, "M>>#b", "compiled"),
        dispatch(10, "M>>#a", "f.som:1:5", "generic", 6, "generic"),
    ]
    .join("\n")
}

#[test]
fn chains_are_ordered_busiest_first() {
    let events = parse_trace(&known_trace()).unwrap();
    assert_eq!(events.len(), 11);
    let c = chains(&events);
    let order: Vec<(&str, usize, u64)> = c
        .iter()
        .map(|c| (c.method.as_str(), c.events.len(), c.max_depth))
        .collect();
    assert_eq!(order, [("M>>#a", 4, 6), ("M>>#b", 3, 1), ("M>>#c", 1, 1)]);
    assert!(parse_trace("{\"seq\": \"x\"}").is_err());
}

fn opts(rows: usize, filter: Option<&str>) -> ChainsOptions {
    ChainsOptions {
        rows,
        filter: filter.map(str::to_string),
        title: "known".into(),
    }
}

fn hex(c: plotters::style::RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// The contents of the `<text>` elements, in order.
fn texts(svg: &str) -> Vec<String> {
    let lines: Vec<&str> = svg.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0].starts_with("<text"))
        .map(|w| w[1].trim().to_string())
        .collect()
}

#[test]
fn the_chain_picture_has_a_row_and_a_dot_per_transition_and_tier_ticks() {
    let events = parse_trace(&known_trace()).unwrap();
    let svg = chains_svg(&events, &opts(20, None)).unwrap();
    let t = texts(&svg);
    // One label per chain, busiest first, under the tier row's label.
    let rows: Vec<&String> = t.iter().filter(|s| s.starts_with("f.som:")).collect();
    assert_eq!(
        rows,
        [
            "f.som:1:5 send foo",
            "f.som:2:5 send foo",
            "f.som:3:5 send foo"
        ]
    );
    let tier_row = t
        .iter()
        .position(|s| s == "compiled tier (all units)")
        .unwrap();
    let first_row = t.iter().position(|s| s == "f.som:1:5 send foo").unwrap();
    assert!(tier_row < first_row);
    // The x axis (logical clock) and its description.
    assert!(t.iter().any(|s| s == "event number (logical clock)"));
    // One dot per dispatch event.
    assert_eq!(svg.matches("<circle").count(), 8, "{svg}");
    // Compiled ticks: 2 in the tier row, 2 in B's row.
    let compiled = svg
        .lines()
        .filter(|l| {
            l.starts_with("<polyline") && l.contains(&format!("stroke=\"{}\"", hex(COMPILED_COLOR)))
        })
        .count();
    assert_eq!(compiled, 4, "{svg}");
    // The same events draw the same picture.
    assert_eq!(chains_svg(&events, &opts(20, None)).unwrap(), svg);
    // --rows keeps the busiest.
    let two = chains_svg(&events, &opts(2, None)).unwrap();
    assert_eq!(two.matches("<circle").count(), 7);
    assert!(texts(&two)
        .iter()
        .any(|s| s.contains("1 quieter chain(s) not shown")));
    // --filter keeps the matching ones.
    let b = chains_svg(&events, &opts(20, Some("M>>#b"))).unwrap();
    assert_eq!(b.matches("<circle").count(), 3);
    assert!(chains_svg(&events, &opts(20, Some("nowhere"))).is_err());
}

#[test]
fn som_bench_chains_draws_a_real_trace() {
    let out = json_trace("RedefineHot.som", &[]);
    let dir = std::env::temp_dir().join(format!("som-bench-chains-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("trace.jsonl");
    let svg = dir.join("chains.svg");
    std::fs::write(&trace, &out.stderr).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_som-bench"))
        .arg("chains")
        .arg(&trace)
        .arg("-o")
        .arg(&svg)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    let text = std::fs::read_to_string(&svg).unwrap();
    let events: Vec<TraceEvent> = parse_trace(&String::from_utf8_lossy(&out.stderr)).unwrap();
    // A dot per transition of the 20 busiest chains (the default --rows).
    let shown: usize = chains(&events)
        .iter()
        .take(20)
        .map(|c| c.events.len())
        .sum();
    assert_eq!(text.matches("<circle").count(), shown);
    assert!(
        texts(&text)
            .iter()
            .any(|s| s.starts_with("RedefineHot.som:7:27 send value")),
        "{text}"
    );
    // No trace: an error.
    let empty = dir.join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_som-bench"))
        .arg("chains")
        .arg(&empty)
        .arg("-o")
        .arg(&svg)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("no dispatch events"));
    std::fs::remove_dir_all(&dir).unwrap();
}
