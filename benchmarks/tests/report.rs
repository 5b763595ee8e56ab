//! `--json` results and `--plot` / `--plot-warmup` figures: the JSON of a
//! report has every required field; several VMs are each compared with the
//! first or with a chosen baseline VM; the ratio plot drawn from known
//! samples has its axes, one bar and one label per benchmark (and VM), and
//! the 1.0 line at the 1.0 tick; the warm-up plot has its axes, one line per
//! VM and one point per iteration; `som-bench plot` redraws a saved report
//! identically; tiny real runs (one VM, three) write every file. Nothing here depends on how long anything took: the
//! synthetic samples come from a logical clock (run and iteration numbers).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use som_bench::plot::{
    ratio_bars, ratio_svg, series_color, warmup_panels, warmup_svg, BAR_COLOR, ONE_LINE_COLOR,
    WARMUP_SHADE,
};
use som_bench::report::{BenchInfo, Metadata, Report, Sample, VmInfo, SCHEMA};

/// Metadata with fixed values (no clock, no machine).
fn metadata(suite: &str) -> Metadata {
    Metadata {
        commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        dirty: Some(false),
        hostname: "test-host".into(),
        cpus: 2,
        os: "linux".into(),
        arch: "x86_64".into(),
        date: "2026-01-01T00:00:00Z".into(),
        unix_time: 1_767_225_600,
        command_line: vec!["som-bench".into(), suite.into()],
        suite: suite.into(),
        runs: 2,
        iterations: 3,
        warmup: 1,
        inner_scale: 1.0,
    }
}

fn vm(id: &str, flags: &[&str]) -> VmInfo {
    VmInfo {
        id: id.into(),
        label: std::iter::once(id)
            .chain(flags.iter().copied())
            .collect::<Vec<_>>()
            .join(" "),
        binary: format!("/opt/{id}/som"),
        core: "core".into(),
        flags: flags.iter().map(|s| s.to_string()).collect(),
    }
}

/// A report of `benches` (name, baseline, base time) on `vms`: iteration
/// `i` of run `r` takes `base * (1 + (r + i) / 100)` us on the first VM,
/// twice that on the second, three times on the third, ...; the first
/// iteration of each run is warm-up.
fn synthetic(suite: &str, benches: &[(&str, Option<&str>, f64)], vms: &[VmInfo]) -> Report {
    let mut r = Report::new(metadata(suite));
    r.vms = vms.to_vec();
    for &(name, baseline, base) in benches {
        r.benchmarks.push(BenchInfo {
            name: name.into(),
            inner: 10,
            baseline: baseline.map(str::to_string),
            error: None,
        });
        for (v, info) in vms.iter().enumerate() {
            for run in 0..2 {
                for iteration in 0..3 {
                    let t = base * (1.0 + f64::from(run + iteration) / 100.0);
                    r.samples.push(Sample {
                        benchmark: name.into(),
                        vm: info.id.clone(),
                        flags: info.flags.clone(),
                        run,
                        iteration,
                        warmup: iteration < 1,
                        time_us: (v + 1) as f64 * t,
                    });
                }
            }
        }
    }
    r.summarize();
    r
}

fn reflection_like() -> Report {
    synthetic(
        "reflection",
        &[
            ("DirectAdd", None, 1000.0),
            ("PerformAdd", Some("DirectAdd"), 1500.0),
            ("DnuAdd", Some("DirectAdd"), 900.0),
            ("IndirectAdd", None, 2000.0),
            ("ProxyAdd", Some("IndirectAdd"), 2200.0),
        ],
        &[vm("ours", &[])],
    )
}

/// The fields every report must have, with their JSON types.
fn check_required(v: &Value) {
    let obj = |v: &Value, what: &str, fields: &[(&str, &str)]| {
        let o = v
            .as_object()
            .unwrap_or_else(|| panic!("{what} is not an object"));
        for &(f, ty) in fields {
            let x = o
                .get(f)
                .unwrap_or_else(|| panic!("{what} has no field '{f}'"));
            let ok = match ty {
                "string" => x.is_string(),
                "number" => x.is_number(),
                "integer" => x.is_u64(),
                "bool" => x.is_boolean(),
                "array" => x.is_array(),
                "object" => x.is_object(),
                "string?" => x.is_string() || x.is_null(),
                _ => unreachable!(),
            };
            assert!(ok, "{what}.{f} should be {ty}: {x}");
        }
    };
    obj(
        v,
        "report",
        &[
            ("schema", "string"),
            ("metadata", "object"),
            ("vms", "array"),
            ("baseline_vm", "string?"),
            ("benchmarks", "array"),
            ("samples", "array"),
            ("summaries", "array"),
            ("ratios", "array"),
        ],
    );
    assert_eq!(v["schema"], SCHEMA);
    obj(
        &v["metadata"],
        "metadata",
        &[
            ("commit", "string?"),
            ("hostname", "string"),
            ("cpus", "integer"),
            ("date", "string"),
            ("unix_time", "integer"),
            ("command_line", "array"),
            ("suite", "string"),
            ("runs", "integer"),
            ("iterations", "integer"),
            ("warmup", "integer"),
            ("inner_scale", "number"),
        ],
    );
    for x in v["vms"].as_array().unwrap() {
        obj(
            x,
            "vm",
            &[
                ("id", "string"),
                ("label", "string"),
                ("binary", "string"),
                ("core", "string"),
                ("flags", "array"),
            ],
        );
    }
    for x in v["benchmarks"].as_array().unwrap() {
        obj(
            x,
            "benchmark",
            &[
                ("name", "string"),
                ("inner", "integer"),
                ("baseline", "string?"),
            ],
        );
    }
    for x in v["samples"].as_array().unwrap() {
        obj(
            x,
            "sample",
            &[
                ("benchmark", "string"),
                ("vm", "string"),
                ("flags", "array"),
                ("run", "integer"),
                ("iteration", "integer"),
                ("warmup", "bool"),
                ("time_us", "number"),
            ],
        );
    }
    for x in v["summaries"].as_array().unwrap() {
        obj(
            x,
            "summary",
            &[
                ("benchmark", "string"),
                ("vm", "string"),
                ("median_us", "number"),
                ("min_us", "number"),
                ("max_us", "number"),
                ("mad_percent", "number"),
                ("samples", "integer"),
            ],
        );
    }
    for x in v["ratios"].as_array().unwrap() {
        obj(
            x,
            "ratio",
            &[
                ("benchmark", "string"),
                ("vm", "string"),
                ("against", "string"),
                ("reference", "string"),
                ("ratio", "number"),
            ],
        );
    }
}

#[test]
fn json_has_every_required_field_and_reads_back() {
    let r = reflection_like();
    let text = r.to_json();
    let v: Value = serde_json::from_str(&text).unwrap();
    check_required(&v);
    // 5 benchmarks x 2 runs x 3 iterations, warm-up marked.
    assert_eq!(v["samples"].as_array().unwrap().len(), 30);
    assert_eq!(
        v["samples"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["warmup"] == true)
            .count(),
        10
    );
    // Statistics of the 4 post-warm-up samples: 1.01, 1.02, 1.02, 1.03 x base.
    let s = &v["summaries"][0];
    assert_eq!(s["benchmark"], "DirectAdd");
    assert_eq!(s["samples"], 4);
    assert!((s["median_us"].as_f64().unwrap() - 1020.0).abs() < 1e-9);
    assert!((s["min_us"].as_f64().unwrap() - 1010.0).abs() < 1e-9);
    // One ratio per benchmark with a baseline.
    let ratios = v["ratios"].as_array().unwrap();
    assert_eq!(ratios.len(), 3);
    assert_eq!(ratios[0]["benchmark"], "PerformAdd");
    assert_eq!(ratios[0]["reference"], "DirectAdd");
    assert!((ratios[0]["ratio"].as_f64().unwrap() - 1.5).abs() < 1e-9);
    assert_eq!(Report::from_json(&text).unwrap(), r);
}

#[test]
fn a_second_vm_gives_vm_ratios() {
    let r = synthetic(
        "classic",
        &[("Richards", None, 100.0), ("Sieve", None, 50.0)],
        &[vm("ours", &["--jit=on"]), vm("other", &["--jit=off"])],
    );
    check_required(&serde_json::to_value(&r).unwrap());
    let vm_ratios: Vec<_> = r.ratios.iter().filter(|x| x.against == "vm").collect();
    assert_eq!(vm_ratios.len(), 2);
    assert!(vm_ratios.iter().all(|x| (x.ratio - 0.5).abs() < 1e-9));
    assert!(r
        .samples
        .iter()
        .any(|s| s.vm == "other" && s.flags == ["--jit=off"]));
    let plot = ratio_bars(&r).unwrap();
    assert_eq!(plot.bars.len(), 2);
    assert!(plot.axis.contains("--jit=off"), "{}", plot.axis);
}

#[test]
fn a_wrong_schema_is_refused() {
    let mut v = serde_json::to_value(reflection_like()).unwrap();
    v["schema"] = "something-else".into();
    let err = Report::from_json(&v.to_string()).unwrap_err();
    assert!(err.contains("schema"), "{err}");
}

/// Every horizontal two-point `<polyline>` drawn in `color`: (x0, x1, y).
fn horizontal_lines(svg: &str, color: &str) -> Vec<(i64, i64, i64)> {
    svg.lines()
        .filter(|l| l.starts_with("<polyline") && l.contains(&format!("stroke=\"{color}\"")))
        .filter_map(|l| {
            let pts = l.split("points=\"").nth(1)?.split('"').next()?;
            let p: Vec<(i64, i64)> = pts
                .split_whitespace()
                .map(|xy| {
                    let (x, y) = xy.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect();
            (p.len() == 2 && p[0].1 == p[1].1).then(|| (p[0].0, p[1].0, p[0].1))
        })
        .collect()
}

/// The `y` attribute of the `<text>` whose content is `label`.
fn text_y(svg: &str, label: &str) -> Option<i64> {
    let lines: Vec<&str> = svg.lines().collect();
    lines.windows(2).find_map(|w| {
        (w[0].starts_with("<text") && w[1].trim() == label)
            .then(|| w[0].split(" y=\"").nth(1)?.split('"').next()?.parse().ok())
            .flatten()
    })
}

fn hex(c: plotters::style::RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

#[test]
fn the_ratio_plot_has_axes_one_bar_per_benchmark_and_the_one_line() {
    let r = reflection_like();
    let svg = ratio_svg(&r).unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    // One bar per benchmark with a baseline.
    let bars = svg
        .lines()
        .filter(|l| l.starts_with("<rect") && l.contains(&format!("fill=\"{}\"", hex(BAR_COLOR))))
        .count();
    assert_eq!(bars, 3, "{svg}");
    // Each labelled on the x axis (and the baselines are not bars).
    for name in ["PerformAdd", "DnuAdd", "ProxyAdd"] {
        assert!(text_y(&svg, name).is_some(), "no label {name}");
    }
    assert!(text_y(&svg, "DirectAdd").is_none());
    // Their median ratios written above them.
    for label in ["1.50", "0.90", "1.10"] {
        assert!(text_y(&svg, label).is_some(), "no value {label}\n{svg}");
    }
    // The axes: a vertical and a horizontal black line, with descriptions.
    let black = |vertical: bool| {
        svg.lines()
            .filter(|l| l.starts_with("<polyline") && l.contains("stroke=\"#000000\""))
            .filter_map(|l| l.split("points=\"").nth(1)?.split('"').next())
            .any(|pts| {
                let p: Vec<(i64, i64)> = pts
                    .split_whitespace()
                    .map(|xy| {
                        let (x, y) = xy.split_once(',').unwrap();
                        (x.parse().unwrap(), y.parse().unwrap())
                    })
                    .collect();
                p.len() == 2
                    && if vertical {
                        p[0].0 == p[1].0 && (p[0].1 - p[1].1).abs() > 200
                    } else {
                        p[0].1 == p[1].1 && (p[0].0 - p[1].0).abs() > 300
                    }
            })
    };
    assert!(black(true), "no y axis\n{svg}");
    assert!(black(false), "no x axis\n{svg}");
    assert!(svg.contains("baseline&apos;s median time"), "{svg}");
    // The 1.0 line, across the plot, at the height of the 1.0 tick.
    let one = horizontal_lines(&svg, &hex(ONE_LINE_COLOR));
    assert_eq!(one.len(), 1, "{svg}");
    let tick = text_y(&svg, "1.0").expect("a 1.0 tick label");
    assert_eq!(one[0].2, tick);
    assert!(one[0].1 - one[0].0 > 300);
    // Drawn from the report alone: the same every time.
    assert_eq!(ratio_svg(&r).unwrap(), svg);
}

#[test]
fn the_plot_against_another_vm_has_one_bar_per_benchmark() {
    let r = synthetic(
        "classic",
        &[
            ("Richards", None, 100.0),
            ("DeltaBlue", None, 80.0),
            ("Sieve", None, 50.0),
            ("Json", None, 70.0),
        ],
        &[vm("ours", &["--jit=on"]), vm("other", &["--jit=off"])],
    );
    let svg = ratio_svg(&r).unwrap();
    let bars = svg
        .lines()
        .filter(|l| l.contains(&format!("fill=\"{}\"", hex(BAR_COLOR))))
        .count();
    assert_eq!(bars, 4);
    for name in ["Richards", "DeltaBlue", "Sieve", "Json"] {
        assert!(text_y(&svg, name).is_some(), "no label {name}");
    }
    assert_eq!(horizontal_lines(&svg, &hex(ONE_LINE_COLOR)).len(), 1);
}

#[test]
fn nothing_to_normalise_is_an_error() {
    let r = synthetic("classic", &[("Richards", None, 100.0)], &[vm("ours", &[])]);
    assert!(ratio_svg(&r).unwrap_err().contains("nothing to normalise"));
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("som-bench-report-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `som` binary `cargo test --workspace` builds beside `som-bench`.
fn som_binary() -> PathBuf {
    let som = PathBuf::from(env!("CARGO_BIN_EXE_som-bench")).with_file_name("som");
    assert!(som.is_file(), "no som binary at {}", som.display());
    som
}

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_som-bench"))
        .args(args)
        .env_remove("SOM_HOME")
        .output()
        .expect("som-bench runs")
}

#[test]
fn plot_redraws_a_saved_report() {
    let dir = scratch("redraw");
    let json = dir.join("results.json");
    let svg = dir.join("plot.svg");
    let r = reflection_like();
    r.write(&json).unwrap();
    let out = bench(&["plot", json.to_str().unwrap(), "-o", svg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&svg).unwrap(),
        ratio_svg(&r).unwrap()
    );
    // Usage errors.
    assert_eq!(
        bench(&["plot", json.to_str().unwrap()]).status.code(),
        Some(2)
    );
    let out = bench(&[
        "plot",
        dir.join("missing.json").to_str().unwrap(),
        "-o",
        "x.svg",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_tiny_run_writes_json_and_svg() {
    let som = som_binary();
    let dir = scratch("run");
    let json = dir.join("r.json");
    let svg = dir.join("r.svg");
    let out = bench(&[
        "--som",
        som.to_str().unwrap(),
        "--runs",
        "2",
        "--iterations",
        "2",
        "--warmup",
        "1",
        "--scale",
        "0.01",
        "--json",
        json.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
        "reflection",
        "DirectAdd",
        "PerformAdd",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // Live progress: one line per finished benchmark, with the ratio to its
    // baseline once that has finished.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[1/2] DirectAdd: median "), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("[2/2] PerformAdd: median ") && l.ends_with(" x DirectAdd")),
        "{stderr}"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    check_required(&v);
    assert_eq!(v["metadata"]["suite"], "reflection");
    assert_eq!(v["metadata"]["runs"], 2);
    let cmd = v["metadata"]["command_line"].as_array().unwrap();
    assert!(cmd.iter().any(|a| a == "--json"), "{cmd:?}");
    // 2 benchmarks x 2 runs x 2 iterations.
    assert_eq!(v["samples"].as_array().unwrap().len(), 8);
    assert_eq!(v["ratios"][0]["benchmark"], "PerformAdd");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text_y(&text, "PerformAdd").is_some(), "{text}");
    assert!(Path::new(&svg).is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

fn three_vms() -> Vec<VmInfo> {
    vec![
        vm("ours", &["--jit=on"]),
        vm("other1", &["--jit=off"]),
        vm("other2", &["--jit=eager"]),
    ]
}

/// The VM ratios of `r` as (benchmark, numerator, denominator, ratio).
fn vm_ratios(r: &Report) -> Vec<(String, String, String, f64)> {
    r.ratios
        .iter()
        .filter(|x| x.against == "vm")
        .map(|x| {
            (
                x.benchmark.clone(),
                x.vm.clone(),
                x.reference.clone(),
                x.ratio,
            )
        })
        .collect()
}

#[test]
fn several_vms_are_each_compared_with_the_first() {
    let r = synthetic(
        "classic",
        &[("Richards", None, 100.0), ("Sieve", None, 50.0)],
        &three_vms(),
    );
    check_required(&serde_json::to_value(&r).unwrap());
    assert_eq!(r.baseline_vm, None);
    assert_eq!(
        r.vm_pairs(),
        [
            ("ours".into(), "other1".into()),
            ("ours".into(), "other2".into())
        ]
    );
    // ours / other1 = 1/2, ours / other2 = 1/3, for each benchmark.
    let ratios = vm_ratios(&r);
    assert_eq!(ratios.len(), 4, "{ratios:?}");
    for (b, num, den, ratio) in &ratios {
        assert_eq!(num, "ours");
        let want = if den == "other1" { 0.5 } else { 1.0 / 3.0 };
        assert!((ratio - want).abs() < 1e-9, "{b} {den} {ratio}");
    }
    // Every VM has its summary: 2 benchmarks x 3 VMs.
    assert_eq!(r.summaries.len(), 6);
    assert_eq!(Report::from_json(&r.to_json()).unwrap(), r);
}

#[test]
fn a_chosen_baseline_vm_normalises_every_other_vm() {
    let mut r = synthetic(
        "classic",
        &[("Richards", None, 100.0), ("Sieve", None, 50.0)],
        &three_vms(),
    );
    r.baseline_vm = Some("other1".into());
    r.summarize();
    let ratios = vm_ratios(&r);
    assert_eq!(ratios.len(), 4, "{ratios:?}");
    for (b, num, den, ratio) in &ratios {
        assert_eq!(den, "other1");
        // ours is 1/2 of other1, other2 3/2 of it.
        let want = if num == "ours" { 0.5 } else { 1.5 };
        assert!((ratio - want).abs() < 1e-9, "{b} {num} {ratio}");
    }
    let text = r.to_json();
    let v: Value = serde_json::from_str(&text).unwrap();
    check_required(&v);
    assert_eq!(v["baseline_vm"], "other1");
    assert_eq!(Report::from_json(&text).unwrap(), r);
    // The ratio plot: one series per VM pair, labelled by the VMs' names.
    let plot = ratio_bars(&r).unwrap();
    assert_eq!(
        plot.series,
        [
            "ours --jit=on / other1 --jit=off",
            "other2 --jit=eager / other1 --jit=off"
        ]
    );
    assert!(plot.axis.contains("other1 --jit=off"), "{}", plot.axis);
    // A baseline VM that is not in the report is refused on reading.
    let mut v = v;
    v["baseline_vm"] = "other9".into();
    let err = Report::from_json(&v.to_string()).unwrap_err();
    assert!(err.contains("other9"), "{err}");
}

#[test]
fn files_without_the_new_fields_still_load() {
    // A report as written before several VMs: no baseline_vm, no labels.
    let mut v = serde_json::to_value(synthetic(
        "classic",
        &[("Richards", None, 100.0)],
        &[vm("ours", &[]), vm("other", &[])],
    ))
    .unwrap();
    v.as_object_mut().unwrap().remove("baseline_vm");
    for x in v["vms"].as_array_mut().unwrap() {
        x.as_object_mut().unwrap().remove("label");
    }
    let r = Report::from_json(&v.to_string()).unwrap();
    assert_eq!(r.baseline_vm, None);
    assert_eq!(r.vms[1].name(), "other");
    assert!(ratio_svg(&r).is_ok());
}

/// The `<rect>`s filled with `color`.
fn rects(svg: &str, color: &str) -> usize {
    svg.lines()
        .filter(|l| l.starts_with("<rect") && l.contains(&format!("fill=\"{color}\"")))
        .count()
}

#[test]
fn the_plot_of_three_vms_groups_one_bar_per_benchmark_and_pair() {
    let r = synthetic(
        "classic",
        &[
            ("Richards", None, 100.0),
            ("DeltaBlue", None, 80.0),
            ("Sieve", None, 50.0),
        ],
        &three_vms(),
    );
    let plot = ratio_bars(&r).unwrap();
    assert_eq!(plot.series.len(), 2);
    assert_eq!(plot.bars.len(), 6);
    // Grouped by benchmark, pairs in order.
    let order: Vec<(&str, usize)> = plot
        .bars
        .iter()
        .map(|b| (b.benchmark.as_str(), b.series))
        .collect();
    assert_eq!(
        order,
        [
            ("Richards", 0),
            ("Richards", 1),
            ("DeltaBlue", 0),
            ("DeltaBlue", 1),
            ("Sieve", 0),
            ("Sieve", 1)
        ]
    );
    let svg = ratio_svg(&r).unwrap();
    // One bar per benchmark in each series' colour.
    assert_eq!(rects(&svg, &hex(series_color(0))), 3, "{svg}");
    assert_eq!(rects(&svg, &hex(series_color(1))), 3, "{svg}");
    for name in ["Richards", "DeltaBlue", "Sieve"] {
        assert!(text_y(&svg, name).is_some(), "no label {name}");
    }
    // The values: ours / other1 = 0.50, ours / other2 = 0.33.
    assert_eq!(svg.lines().filter(|l| l.trim() == "0.50").count(), 3);
    assert_eq!(svg.lines().filter(|l| l.trim() == "0.33").count(), 3);
    // The legend names both pairs.
    for series in [
        "ours --jit=on / other1 --jit=off",
        "ours --jit=on / other2 --jit=eager",
    ] {
        assert!(text_y(&svg, series).is_some(), "no legend {series}\n{svg}");
    }
    // The bars of a benchmark lie side by side, left to right in series
    // order, inside the plot.
    let xs: Vec<i64> = svg
        .lines()
        .filter(|l| l.starts_with("<rect") && !l.contains("fill=\"#FFFFFF\""))
        .filter_map(|l| l.split(" x=\"").nth(1)?.split('"').next()?.parse().ok())
        .collect();
    assert_eq!(xs.len(), 6, "{svg}");
    assert!(xs.windows(2).all(|w| w[0] < w[1]), "{xs:?}");
    // The 1.0 line at the 1.0 tick.
    let one = horizontal_lines(&svg, &hex(ONE_LINE_COLOR));
    assert_eq!(one.len(), 1);
    assert_eq!(Some(one[0].2), text_y(&svg, "1.0"));
}

#[test]
fn against_baselines_each_vm_is_a_series() {
    let r = synthetic(
        "reflection",
        &[
            ("DirectAdd", None, 1000.0),
            ("PerformAdd", Some("DirectAdd"), 1500.0),
        ],
        &[vm("ours", &["--jit=on"]), vm("other", &["--jit=off"])],
    );
    let plot = ratio_bars(&r).unwrap();
    assert_eq!(plot.series, ["ours --jit=on", "other --jit=off"]);
    assert_eq!(plot.bars.len(), 2);
    assert!(plot.bars.iter().all(|b| (b.median - 1.5).abs() < 1e-9));
    let svg = ratio_svg(&r).unwrap();
    assert_eq!(rects(&svg, &hex(series_color(0))), 1);
    assert_eq!(rects(&svg, &hex(series_color(1))), 1);
}

/// The `(cx, cy)` of every `<circle>` filled with `color`.
fn circles(svg: &str, color: &str) -> Vec<(i64, i64)> {
    let attr = |l: &str, a: &str| -> i64 {
        l.split(&format!(" {a}=\""))
            .nth(1)
            .and_then(|x| x.split('"').next())
            .and_then(|x| x.parse().ok())
            .unwrap_or_else(|| panic!("no {a} in {l}"))
    };
    svg.lines()
        .filter(|l| l.starts_with("<circle") && l.contains(&format!("fill=\"{color}\"")))
        .map(|l| (attr(l, "cx"), attr(l, "cy")))
        .collect()
}

/// The `<polyline>`s drawn in `color`, as their points.
fn polylines(svg: &str, color: &str) -> Vec<Vec<(i64, i64)>> {
    svg.lines()
        .filter(|l| l.starts_with("<polyline") && l.contains(&format!("stroke=\"{color}\"")))
        .filter_map(|l| {
            let pts = l.split("points=\"").nth(1)?.split('"').next()?;
            Some(
                pts.split_whitespace()
                    .map(|xy| {
                        let (x, y) = xy.split_once(',').unwrap();
                        (x.parse().unwrap(), y.parse().unwrap())
                    })
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn the_warmup_plot_has_one_line_per_vm_and_one_point_per_iteration() {
    let r = synthetic(
        "reflection",
        &[
            ("DirectAdd", None, 1000.0),
            ("PerformAdd", Some("DirectAdd"), 1500.0),
        ],
        &[vm("ours", &["--jit=on"]), vm("other", &["--jit=off"])],
    );
    // The data: per benchmark, per VM, the median over the 2 runs of each
    // of the 3 iterations (warm-up included): base * (1 + (0.5 + i) / 100).
    let panels = warmup_panels(&r, &[]).unwrap();
    assert_eq!(panels.len(), 2);
    assert_eq!(panels[0].benchmark, "DirectAdd");
    assert_eq!(panels[0].lines.len(), 2);
    let line = &panels[0].lines[1];
    assert_eq!(line.vm, "other");
    assert_eq!(line.label, "other --jit=off");
    let iterations: Vec<u32> = line.points.iter().map(|p| p.iteration).collect();
    assert_eq!(iterations, [1, 2, 3]);
    for (i, p) in line.points.iter().enumerate() {
        let want = 2.0 * (1.0 + (0.5 + i as f64) / 100.0);
        assert!((p.median_ms - want).abs() < 1e-9, "{p:?}");
        assert_eq!(p.runs, 2);
        assert!(p.min_ms < p.median_ms && p.median_ms < p.max_ms);
    }
    let svg = warmup_svg(&r, &[]).unwrap();
    assert!(svg.starts_with("<svg"));
    for (k, _) in r.vms.iter().enumerate() {
        let color = hex(series_color(k));
        // One line per VM in each of the two panels, through its points.
        let lines = polylines(&svg, &color);
        assert_eq!(lines.len(), 2, "VM {k}\n{svg}");
        let points = circles(&svg, &color);
        assert_eq!(points.len(), 6, "VM {k}: one point per iteration");
        for (line, pts) in lines.iter().zip(points.chunks(3)) {
            assert_eq!(line.as_slice(), pts);
            // Iterations left to right; later ones slower (higher up is
            // a smaller y).
            assert!(pts.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 > w[1].1));
        }
    }
    // The second VM (twice as slow) is drawn above the first.
    assert!(circles(&svg, &hex(series_color(1)))[0].1 < circles(&svg, &hex(series_color(0)))[0].1);
    // Axes described, iterations numbered, panels titled, warm-up shaded,
    // the legend names each VM once per panel.
    assert_eq!(svg.matches("time per iteration (ms)").count(), 2);
    for label in ["1", "2", "3"] {
        assert!(text_y(&svg, label).is_some(), "no tick {label}");
    }
    assert!(text_y(&svg, "iteration").is_some());
    assert!(svg.contains("DirectAdd: time per iteration"));
    assert!(svg.contains("PerformAdd: time per iteration"));
    assert_eq!(rects(&svg, &hex(WARMUP_SHADE)), 2);
    assert_eq!(
        svg.lines()
            .filter(|l| l.trim() == "other --jit=off")
            .count(),
        2
    );
    // Drawn from the report alone.
    assert_eq!(warmup_svg(&r, &[]).unwrap(), svg);
    // One benchmark only, or an unknown one.
    let one = warmup_svg(&r, &["PerformAdd".to_string()]).unwrap();
    assert_eq!(circles(&one, &hex(series_color(0))).len(), 3);
    assert!(!one.contains("DirectAdd: time"));
    let err = warmup_panels(&r, &["Nope".to_string()]).unwrap_err();
    assert!(err.contains("no benchmark 'Nope'"), "{err}");
}

#[test]
fn plot_warmup_redraws_a_saved_report() {
    let dir = scratch("warmup");
    let json = dir.join("results.json");
    let svg = dir.join("warmup.svg");
    let r = reflection_like();
    r.write(&json).unwrap();
    let (j, s) = (json.to_str().unwrap(), svg.to_str().unwrap());
    let out = bench(&["plot", "--warmup", j, "-o", s]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&svg).unwrap(),
        warmup_svg(&r, &[]).unwrap()
    );
    let out = bench(&["plot", "--warmup", "--benchmark", "ProxyAdd", j, "-o", s]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&svg).unwrap(),
        warmup_svg(&r, &["ProxyAdd".to_string()]).unwrap()
    );
    // --benchmark belongs to --warmup; an unknown benchmark is an error.
    assert_eq!(
        bench(&["plot", "--benchmark", "ProxyAdd", j, "-o", s])
            .status
            .code(),
        Some(2)
    );
    let out = bench(&["plot", "--warmup", "--benchmark", "Nope", j, "-o", s]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Nope"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_tiny_run_of_three_vms_reports_each_against_the_first() {
    let som = som_binary();
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("../smalltalk-src/core");
    let dir = scratch("three");
    let (json, svg, warm) = (dir.join("r.json"), dir.join("r.svg"), dir.join("w.svg"));
    // Our VM with the tier on, against itself with the tier off, and
    // against "another VM" (our binary again, given by --compare with its
    // core library, so no SOM++ is needed).
    let out = bench(&[
        "--som",
        som.to_str().unwrap(),
        "--runs",
        "2",
        "--iterations",
        "3",
        "--warmup",
        "1",
        "--scale",
        "0.05",
        "--jit",
        "on",
        "--compare-jit",
        "off",
        "--compare",
        som.to_str().unwrap(),
        "--compare-core",
        core.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
        "--plot-warmup",
        warm.to_str().unwrap(),
        "reflection",
        "DirectAdd",
        "PerformAdd",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // The table: a median and a ratio column per compared VM.
    for head in ["other1 ms", "other2 ms", "ours/other1", "ours/other2"] {
        assert!(stdout.contains(head), "no {head}\n{stdout}");
    }
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("[2/2] PerformAdd: median ")
                && l.contains(", other1 ")
                && l.contains(", other2 ")
                && l.ends_with(" x DirectAdd")),
        "{stderr}"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    check_required(&v);
    let vms = v["vms"].as_array().unwrap();
    let ids: Vec<&str> = vms.iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["ours", "other1", "other2"]);
    assert_eq!(vms[0]["flags"][0], "--jit=on");
    assert_eq!(vms[1]["flags"][0], "--jit=off");
    assert_eq!(vms[2]["flags"].as_array().unwrap().len(), 0);
    assert_eq!(vms[2]["core"], core.to_str().unwrap());
    // 2 benchmarks x 3 VMs x 2 runs x 3 iterations, warm-up included.
    let samples = v["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 36);
    assert_eq!(samples.iter().filter(|s| s["warmup"] == true).count(), 12);
    // The VMs alternate run by run: each run of a benchmark on every VM
    // before its next run.
    let order: Vec<(u64, &str)> = samples
        .iter()
        .filter(|s| s["benchmark"] == "DirectAdd" && s["iteration"] == 0)
        .map(|s| (s["run"].as_u64().unwrap(), s["vm"].as_str().unwrap()))
        .collect();
    assert_eq!(
        order,
        [
            (0, "ours"),
            (0, "other1"),
            (0, "other2"),
            (1, "ours"),
            (1, "other1"),
            (1, "other2")
        ]
    );
    // ours against each other VM, per benchmark; each VM against baselines.
    let vm_ratios: Vec<(&str, &str)> = v["ratios"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["against"] == "vm")
        .map(|x| (x["vm"].as_str().unwrap(), x["reference"].as_str().unwrap()))
        .collect();
    assert_eq!(vm_ratios.len(), 4);
    assert!(vm_ratios.iter().all(|(n, _)| *n == "ours"));
    let baseline_ratios = v["ratios"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["against"] == "baseline")
        .count();
    assert_eq!(baseline_ratios, 3);
    // The ratio plot: PerformAdd / DirectAdd on each VM; the warm-up plot:
    // one line per VM in each of the two panels, 3 points each.
    let text = std::fs::read_to_string(&svg).unwrap();
    for k in 0..3 {
        assert_eq!(rects(&text, &hex(series_color(k))), 1, "{text}");
    }
    let text = std::fs::read_to_string(&warm).unwrap();
    for k in 0..3 {
        assert_eq!(polylines(&text, &hex(series_color(k))).len(), 2);
        assert_eq!(circles(&text, &hex(series_color(k))).len(), 6);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
