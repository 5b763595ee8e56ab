//! `--json` results and `--plot` figures: the JSON of a report has every
//! required field; the ratio plot drawn from known samples has its axes, one
//! bar and one label per benchmark, and the 1.0 line at the 1.0 tick;
//! `som-bench plot` redraws a saved report identically; a tiny real run
//! writes both files. Nothing here depends on how long anything took: the
//! synthetic samples come from a logical clock (run and iteration numbers).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use som_bench::plot::{ratio_bars, ratio_svg, BAR_COLOR, ONE_LINE_COLOR};
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
        binary: format!("/opt/{id}/som"),
        core: "core".into(),
        flags: flags.iter().map(|s| s.to_string()).collect(),
    }
}

/// A report of `benches` (name, baseline, base time) on `vms`: iteration
/// `i` of run `r` takes `base * (1 + (r + i) / 100)` us on the first VM and
/// twice that on any other; the first iteration of each run is warm-up.
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
                        time_us: if v == 0 { t } else { 2.0 * t },
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
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_som-bench"));
    let som = exe.with_file_name("som");
    assert!(som.is_file(), "no som binary at {}", som.display());
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
