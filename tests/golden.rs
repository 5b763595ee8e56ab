//! Golden tests of compiled code: the normalized, optimized CLIF the tier
//! produces for small methods and for the reflection benchmark loops is
//! kept in `tests/golden/*.clif`, and any change to it fails here with a
//! diff. After an intended change, re-bless every listing with
//!
//!     BLESS=1 cargo test --test golden
//!
//! and review the diff of `tests/golden/` like code. Besides matching, each
//! listing must hold no runtime call and no allocation in its hot (non-cold)
//! blocks.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The optimized CLIF of the last compilation of `method` in a run of
/// `args` with the tier eager.
fn last_clif(method: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_som"))
        .current_dir(root())
        .arg("--jit=eager")
        .arg(format!("--print-ir={method}"))
        .args(args)
        .output()
        .expect("som runs");
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err
        .split("; unit ")
        .last()
        .filter(|s| s.contains("; optimized CLIF"))
        .unwrap_or_else(|| panic!("{method} was not compiled:\n{err}"));
    last.split("; optimized CLIF")
        .nth(1)
        .and_then(|s| s.split("; machine code").next())
        .expect("a CLIF section")
        .trim_start()
        .to_string()
}

/// Calls or allocations in blocks not marked cold.
fn hot_calls(clif: &str) -> Vec<String> {
    let mut cold = false;
    let mut found = Vec::new();
    for line in clif.lines() {
        if line.starts_with("block") {
            cold = line.contains(" cold");
        } else if !cold && (line.contains("call") || line.contains("rt_new_array")) {
            found.push(line.trim().to_string());
        }
    }
    found
}

fn check(name: &str, method: &str, args: &[&str]) {
    let clif = last_clif(method, args);
    let hot = hot_calls(&clif);
    assert!(
        hot.is_empty(),
        "{name}: hot code calls the runtime: {hot:?}\n{clif}"
    );
    let path = root().join("tests/golden").join(format!("{name}.clif"));
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, &clif).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no {} (run BLESS=1 cargo test --test golden)",
            path.display()
        )
    });
    if want != clif {
        let diff: Vec<String> = want
            .lines()
            .zip(clif.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(12)
            .map(|(i, (a, b))| format!("line {}:\n- {a}\n+ {b}", i + 1))
            .collect();
        panic!(
            "{name}: compiled code changed ({} lines now, {} in the golden file); first differences:\n{}\n(re-bless with BLESS=1 cargo test --test golden)",
            clif.lines().count(),
            want.lines().count(),
            diff.join("\n")
        );
    }
}

const SAMPLE: &[&str] = &["tests/golden/GoldenSample.som"];

#[test]
fn small_integer_add() {
    check("add_to", "GoldenSample>>#add:to:", SAMPLE);
}

#[test]
fn small_integer_compare() {
    check("less_than", "GoldenSample>>#less:than:", SAMPLE);
}

#[test]
fn field_increment() {
    check("bump", "GoldenSample>>#bump", SAMPLE);
}

#[test]
fn array_at() {
    check("at_in", "GoldenSample>>#at:in:", SAMPLE);
}

#[test]
fn counting_loop() {
    check("sum", "GoldenSample>>#sum:", SAMPLE);
}

fn reflection(bench: &str) -> Vec<&str> {
    vec![
        "-cp",
        "smalltalk-src/core:benchmarks/reflection",
        "benchmarks/harness/Harness.som",
        bench,
        "3",
        "5",
    ]
}

#[test]
fn reflection_loops() {
    for bench in [
        "DirectAdd",
        "PerformAdd",
        "DnuAdd",
        "DnuPerformAdd",
        "IndirectAdd",
        "ProxyAdd",
    ] {
        check(
            &format!("loop_{bench}"),
            "AddBenchmark>>#benchmark",
            &reflection(bench),
        );
    }
}
