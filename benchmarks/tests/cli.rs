//! The `som-bench` command line: help, rejected arguments, and a real (tiny)
//! run of our reflection suite with its progress line and table.
//!
//! The real run uses the `som` binary that `cargo test --workspace` builds
//! next to `som-bench` in the same target directory.

use std::path::PathBuf;
use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_som-bench"))
        .args(args)
        .env_remove("SOM_HOME")
        .output()
        .expect("som-bench runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_goes_to_stdout_and_succeeds() {
    let out = bench(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("usage: som-bench"));
}

#[test]
fn unknown_suite_is_an_error() {
    let out = bench(&["nosuchsuite"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown suite 'nosuchsuite'"));
}

#[test]
fn unknown_benchmark_is_an_error_naming_the_known_ones() {
    let out = bench(&["reflection", "DirectAdd", "NoSuchBench"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("no benchmark named NoSuchBench"), "{err}");
    assert!(err.contains("ProxyAdd"), "{err}");
}

#[test]
fn zero_runs_are_rejected() {
    let out = bench(&["--runs", "0", "reflection"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--runs must be at least 1"));
}

#[test]
fn bad_numbers_are_rejected() {
    for args in [
        &["--runs", "x", "reflection"][..],
        &["--scale", "0", "reflection"][..],
        &["--warmup", "5", "--iterations", "5", "reflection"][..],
    ] {
        let out = bench(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn suites_from_som_home_need_it() {
    let out = bench(&["classic"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("SOM_HOME"));
}

#[test]
fn a_tiny_run_prints_progress_and_the_ratio_table() {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_som-bench"));
    let som = exe.with_file_name("som");
    assert!(
        som.is_file(),
        "no som binary at {} (cargo test --workspace builds it)",
        som.display()
    );
    let out = tiny_run(&som, &[], &["DirectAdd", "PerformAdd"]);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("[1/2] DirectAdd: median "), "{stderr}");
    assert!(stderr.contains("[2/2] PerformAdd: median "), "{stderr}");
    assert!(
        stdout.contains("PerformAdd             DirectAdd"),
        "{stdout}"
    );
}

#[test]
fn jit_modes_are_checked() {
    let out = bench(&["--jit", "sometimes", "reflection"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--jit takes off, on or eager"));
    let out = bench(&["--compare-jit", "sometimes", "reflection"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--jit takes off, on or eager"));
}

#[test]
fn several_vms_are_checked() {
    // --baseline-vm names one of the VMs: ours, other (one compared VM),
    // other1, other2, ... (several).
    let out = bench(&[
        "--compare-jit",
        "off",
        "--baseline-vm",
        "other1",
        "reflection",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("--baseline-vm 'other1' is not one of the VMs (ours other)"),
        "{err}"
    );
    let out = bench(&[
        "--compare-jit",
        "off",
        "--compare-jit",
        "eager",
        "--baseline-vm",
        "other3",
        "reflection",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("(ours other1 other2)"));
    // One --compare-core per --compare.
    let out = bench(&[
        "--compare",
        "/bin/true",
        "--compare-core",
        "a",
        "--compare-core",
        "b",
        "reflection",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("has its --compare-core already"));
}

#[test]
fn three_modes_against_a_chosen_baseline() {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_som-bench"));
    let som = exe.with_file_name("som");
    let out = tiny_run(
        &som,
        &[
            "--jit",
            "on",
            "--compare-jit",
            "off",
            "--compare-jit",
            "eager",
            "--baseline-vm",
            "other1",
        ],
        &["DirectAdd"],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    // The VMs listed, then a ratio column per compared VM: ours / the
    // baseline in the baseline's column, other2 / the baseline in its own.
    assert!(stdout.contains("other1   ours --jit=off"), "{stdout}");
    assert!(stdout.contains("other2   ours --jit=eager"), "{stdout}");
    assert!(stdout.contains("ours/other1"), "{stdout}");
    assert!(stdout.contains("other2/other1"), "{stdout}");
}

#[test]
fn the_tier_against_the_interpreter_in_one_run() {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_som-bench"));
    let som = exe.with_file_name("som");
    let out = tiny_run(
        &som,
        &["--jit", "eager", "--compare-jit", "off"],
        &["DirectAdd"],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    // Both sides ran: the table has the other VM's column and a ratio.
    assert!(stdout.contains("other ms"), "{stdout}");
    assert!(stderr_has_ratio(&text(&out.stderr)), "{stdout}");
}

fn stderr_has_ratio(stderr: &str) -> bool {
    stderr
        .lines()
        .any(|l| l.contains("DirectAdd: median") && l.contains("ratio"))
}

/// A tiny run of the reflection suite's `benches` with `som`.
fn tiny_run(som: &std::path::Path, flags: &[&str], benches: &[&str]) -> Output {
    let mut args = vec![
        "--som",
        som.to_str().unwrap(),
        "--runs",
        "1",
        "--iterations",
        "2",
        "--warmup",
        "1",
        "--scale",
        "0.01",
    ];
    args.extend_from_slice(flags);
    args.push("reflection");
    args.extend_from_slice(benches);
    bench(&args)
}

#[test]
fn rounds_are_bounded() {
    for rounds in ["0", "50"] {
        let out = bench(&["--rounds", rounds, "zero-overhead"]);
        assert_eq!(out.status.code(), Some(2), "--rounds {rounds}");
        assert!(
            text(&out.stderr).contains("--rounds must be between 1 and 49"),
            "{}",
            text(&out.stderr)
        );
    }
}

/// The workspace root, where `som` finds the benchmark classes.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn the_pair_harness_alternates_which_side_goes_first() {
    let som = PathBuf::from(env!("CARGO_BIN_EXE_som-bench")).with_file_name("som");
    let r = root();
    let cp = format!(
        "{}:{}",
        r.join("benchmarks/omop").display(),
        r.join("smalltalk-src/core").display()
    );
    let harness = |args: [&str; 4]| {
        Command::new(&som)
            .arg("-cp")
            .arg(&cp)
            .arg(r.join("benchmarks/harness/PairHarness.som"))
            .args(args)
            .output()
            .expect("som runs")
    };
    let out = harness(["AddDispatch", "DispatchStd", "3", "1"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let order: Vec<String> = stdout
        .lines()
        .map(|l| l.split(" runtime: ").next().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        order,
        [
            "base AddDispatch: round=1",
            "meta DispatchStd: round=1",
            "meta DispatchStd: round=2",
            "base AddDispatch: round=2",
            "base AddDispatch: round=3",
            "meta DispatchStd: round=3",
        ],
        "{stdout}"
    );
    assert!(
        stdout.lines().all(|l| l.ends_with("us")),
        "every line ends with its time: {stdout}"
    );
    // A class that does not exist is an error, not a silent zero.
    let out = harness(["AddDispatch", "NoSuchBenchmark", "1", "1"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("no benchmark class NoSuchBenchmark"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_zero_overhead_suite_times_the_best_of_interleaved_rounds() {
    let som = PathBuf::from(env!("CARGO_BIN_EXE_som-bench")).with_file_name("som");
    let out = bench(&[
        "--som",
        som.to_str().unwrap(),
        "--runs",
        "1",
        "--rounds",
        "2",
        "--scale",
        "0.05",
        "zero-overhead",
        "DispatchStd",
        "PerformAdd",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("best round of each"), "{stdout}");
    let row = |name: &str| -> Vec<String> {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}: {stdout}"));
        line.split_whitespace().map(str::to_string).collect()
    };
    // pair, baseline, CLIF, machine, sizes, base ms, meta ms, ratio, median.
    for name in ["DispatchStd", "PerformAdd"] {
        let cols = row(name);
        let times: Vec<f64> = cols[6..10]
            .iter()
            .map(|c| c.parse().unwrap_or_else(|_| panic!("{c} in {cols:?}")))
            .collect();
        assert!(times.iter().all(|t| *t > 0.0), "{cols:?}");
        let ratio = times[1] / times[0];
        assert!((ratio - times[2]).abs() < 0.01, "ratio of bests: {cols:?}");
    }
    // Two sides sharing their loop's method run in processes of their own.
    assert!(!row("DispatchStd").join(" ").contains("(2 processes)"));
    assert!(row("PerformAdd").join(" ").contains("(2 processes)"));
}
