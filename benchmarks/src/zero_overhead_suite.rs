//! `som-bench zero-overhead`: for every pair of `som_bench::zero_overhead`,
//! whether the hot loops compile to identical code (optimized CLIF and
//! machine code), their sizes, and the time ratio meta / base measured in
//! one run, the two sides alternating run by run. `--diff` prints the
//! diffs of the loops that differ.

use std::path::PathBuf;
use std::process::ExitCode;

use som_bench::zero_overhead::{self, Pair, Tier};

use super::{median, run_once, Bench, Options, Vm, OMOP, REFLECTION};

/// The benchmark entry (inner iterations) of a side's benchmark.
fn bench_of(name: &str) -> &'static Bench {
    REFLECTION
        .iter()
        .chain(OMOP)
        .find(|b| b.name == name)
        .expect("every pair's benchmarks are in the reflection or omop suite")
}

/// Median iteration times (microseconds) of both sides, alternating.
fn time_pair(o: &Options, pair: &Pair) -> Result<(f64, f64), String> {
    let root = zero_overhead::workspace_root();
    let harness = root.join("benchmarks/harness/Harness.som");
    let vm = Vm {
        binary: &o.som,
        core: &o.core,
        jit: o.jit.as_deref(),
        ours: true,
    };
    let cp = |dirs: &[String]| -> Vec<PathBuf> { dirs.iter().map(|d| root.join(d)).collect() };
    let (base_cp, meta_cp) = (cp(&pair.base.dirs), cp(&pair.meta.dirs));
    let (base, meta) = (bench_of(&pair.base.bench), bench_of(&pair.meta.bench));
    let (mut tb, mut tm) = (Vec::new(), Vec::new());
    for _ in 0..o.runs {
        tb.extend(run_once(o, &vm, &harness, &base_cp, base, None)?);
        tm.extend(run_once(o, &vm, &harness, &meta_cp, meta, None)?);
    }
    Ok((median(&mut tb), median(&mut tm)))
}

pub(crate) fn run(o: &Options) -> ExitCode {
    let all = zero_overhead::pairs();
    let unknown: Vec<&String> = o
        .only
        .iter()
        .filter(|n| !all.iter().any(|p| p.name == n.as_str()))
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = all.iter().map(|p| p.name).collect();
        eprintln!(
            "som-bench: suite 'zero-overhead' has no pair named {} (known: {})",
            unknown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            known.join(" ")
        );
        return ExitCode::from(2);
    }
    if let Some(missing) = super::som_missing(o) {
        return missing;
    }
    let tier = match o.jit.as_deref() {
        None | Some("on") => Tier::On,
        Some("eager") => Tier::Eager,
        Some(other) => {
            eprintln!(
                "som-bench: zero-overhead compares compiled code; --jit {other} compiles none"
            );
            return ExitCode::from(2);
        }
    };
    println!(
        "suite zero-overhead | hot loops of the last compilation ({}) | times: {} run(s) x {} iteration(s) each side, alternating, first {} dropped",
        tier.flag(),
        o.runs,
        o.iterations,
        o.warmup
    );
    println!(
        "{:<22} {:<14} {:<10} {:<10} {:>11} {:>12} {:>10} {:>10} {:>7}",
        "pair",
        "baseline",
        "CLIF",
        "machine",
        "loop CLIF",
        "loop x86",
        "base ms",
        "meta ms",
        "ratio"
    );
    let mut diffs = Vec::new();
    let mut failed = 0;
    let selected: Vec<&Pair> = all
        .iter()
        .filter(|p| o.only.is_empty() || o.only.iter().any(|n| n == p.name))
        .collect();
    for (k, pair) in selected.iter().enumerate() {
        // Progress on stderr, as the other suites report it.
        let progress = format!("[{}/{}] {}", k + 1, selected.len(), pair.name);
        let head = format!("{:<22} {:<14}", pair.name, pair.base.bench);
        let cmp = match zero_overhead::compare_pair(&o.som, tier, pair) {
            Ok(c) => c,
            Err(e) => {
                failed += 1;
                eprintln!("{progress}: FAILED: {e}");
                println!("{head} FAILED: {e}");
                continue;
            }
        };
        let times = match time_pair(o, pair) {
            Ok((b, m)) => {
                eprintln!(
                    "{progress}: median {:.1} ms, {:.2} x {}",
                    m / 1000.0,
                    m / b,
                    pair.base.bench
                );
                format!("{:>10.1} {:>10.1} {:>7.2}", b / 1000.0, m / 1000.0, m / b)
            }
            Err(e) => {
                failed += 1;
                eprintln!("{progress}: timing FAILED: {e}");
                format!("timing FAILED: {e}")
            }
        };
        match cmp {
            Err(e) => {
                failed += 1;
                println!("{head} {e} {times}");
            }
            Ok(c) => {
                let verdict = |d: &Option<String>| {
                    if d.is_none() {
                        "identical"
                    } else {
                        "DIFFERENT"
                    }
                };
                let size = |b: usize, m: usize| {
                    if b == m {
                        format!("{b}")
                    } else {
                        format!("{b}/{m}")
                    }
                };
                // A `*`: the same instructions on the same data flow, some
                // in other registers than the twin's.
                let code = match (&c.code_diff, c.same_registers) {
                    (None, false) => "identical*",
                    (d, _) => verdict(d),
                };
                println!(
                    "{head} {:<10} {:<10} {:>11} {:>12} {times}",
                    verdict(&c.clif_diff),
                    code,
                    size(c.base.clif_insts, c.meta.clif_insts),
                    size(c.base.code_insts, c.meta.code_insts),
                );
                if o.diff {
                    for (what, d) in [("CLIF", &c.clif_diff), ("machine code", &c.code_diff)] {
                        if let Some(d) = d {
                            diffs.push(format!(
                                "== {} vs {}: hot loop {what}\n{d}",
                                pair.name, pair.base.bench
                            ));
                        }
                    }
                }
            }
        }
    }
    println!(
        "\nloop CLIF / loop x86: instructions in the hot blocks of the loop (base/meta when they differ); ratio: meta / base median time\nmachine: registers named by the definitions that reach them; identical* = the same instructions and data flow, some values in other registers"
    );
    for d in diffs {
        println!("\n{d}");
    }
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
