//! `som-bench zero-overhead`: for every pair of `som_bench::zero_overhead`,
//! whether the hot loops compile to identical code (optimized CLIF and
//! machine code), their sizes, and the time ratio meta / base of the best
//! of many interleaved rounds of both sides in one process
//! (`benchmarks/harness/PairHarness.som`). `--diff` prints the diffs of the
//! loops that differ.

use std::process::{Command, ExitCode};

use som_bench::zero_overhead::{self, Pair, Tier};

use super::{median, runtime_us, Options};

/// The calls of a pair's benchmark per timed round (either side's loop
/// takes 35 to 45 µs a call). Few enough that in `--rounds` rounds (at
/// most 49 of them) neither the benchmark method nor the harness's loop is
/// called often enough to compile as a unit of its own (1000 calls) or to
/// inline the benchmark into the harness's loop: the rounds run the
/// OSR-compiled loops the listings compare. (Past 1000 calls, DirectAdd's
/// method unit runs its loop in 3.65 ms per 100 calls, DnuAdd's in 3.1:
/// identical loops placed differently in memory.)
const ROUND_CALLS: f64 = 20.0;

/// `ROUND_CALLS` scaled by `--scale`.
fn round_inner(o: &Options) -> u32 {
    (ROUND_CALLS * o.inner_scale).round().max(1.0) as u32
}

/// The times (microseconds) of the lines of `stdout` that start with
/// `prefix` and end `runtime: <us>us`.
fn round_times(stdout: &str, prefix: &str) -> Vec<f64> {
    stdout
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(runtime_us)
        .collect()
}

/// What timing a pair found: the best round of each side (microseconds)
/// and the median of the rounds' ratios meta / base.
pub(crate) struct PairTimes {
    pub base_best: f64,
    pub meta_best: f64,
    pub median_ratio: f64,
    /// Both sides ran in one process.
    pub one_process: bool,
}

/// Runs `som` on a harness; answers its standard output.
fn run_som(o: &Options, cp: &[String], harness: &str, args: &[String]) -> Result<String, String> {
    let root = zero_overhead::workspace_root();
    let out = Command::new(&o.som)
        .args(o.jit.as_deref().map(|m| format!("--jit={m}")))
        .arg("-cp")
        .arg(cp.join(":"))
        .arg(root.join(harness))
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", o.som.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "{}: {}{}",
            out.status,
            stdout.lines().last().unwrap_or(""),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or("")
        ));
    }
    Ok(stdout)
}

/// Times a pair: `--runs` times `--rounds` rounds of each side, the sides
/// interleaved round by round, and the best round of each, so a round
/// slowed by the shared machine (or by compilation, early on) does not
/// count.
///
/// When the two sides' loops are different methods, both run in one
/// process (`benchmarks/harness/PairHarness.som`, which side goes first
/// alternating): they meet the same heap, code heap and machine load.
/// When they are the same method (the reflection benchmarks' loop is
/// `AddBenchmark>>#benchmark`, whose `self step` calls each benchmark's
/// own `step`), one process would make its send site polymorphic and time
/// a loop neither listing shows (measured: 1.07 to 1.12 for pairs whose
/// listings are identical); then each side runs in its own process
/// (`Harness.som`), the processes alternating and their iterations paired
/// as rounds.
fn time_pair(o: &Options, pair: &Pair) -> Result<PairTimes, String> {
    let root = zero_overhead::workspace_root();
    let mut cp: Vec<String> = pair
        .base
        .dirs
        .iter()
        .chain(&pair.meta.dirs)
        .map(|d| root.join(d).display().to_string())
        .collect();
    cp.dedup();
    cp.push(o.core.display().to_string());
    let inner = round_inner(o).to_string();
    let rounds = o.rounds.to_string();
    let one_process = pair.base.unit != pair.meta.unit;
    let (mut base, mut meta, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..o.runs {
        let (b, m) = if one_process {
            let args = [
                pair.base.bench.clone(),
                pair.meta.bench.clone(),
                rounds.clone(),
                inner.clone(),
            ];
            let out = run_som(o, &cp, "benchmarks/harness/PairHarness.som", &args)?;
            (round_times(&out, "base "), round_times(&out, "meta "))
        } else {
            let side = |bench: &str| -> Result<Vec<f64>, String> {
                let args = [bench.to_string(), rounds.clone(), inner.clone()];
                let out = run_som(o, &cp, "benchmarks/harness/Harness.som", &args)?;
                Ok(round_times(&out, &format!("{bench}: ")))
            };
            (side(&pair.base.bench)?, side(&pair.meta.bench)?)
        };
        if b.len() != o.rounds as usize || m.len() != o.rounds as usize {
            return Err(format!(
                "expected {} rounds of each side, found {} and {}",
                o.rounds,
                b.len(),
                m.len()
            ));
        }
        ratios.extend(b.iter().zip(&m).map(|(b, m)| m / b.max(1.0)));
        base.extend(b);
        meta.extend(m);
    }
    let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min).max(1.0);
    Ok(PairTimes {
        base_best: best(&base),
        meta_best: best(&meta),
        median_ratio: median(&mut ratios),
        one_process,
    })
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
        "suite zero-overhead | hot loops of the last compilation ({}) | times: {} run(s) x {} interleaved round(s) of both sides, best round of each",
        tier.flag(),
        o.runs,
        o.rounds
    );
    println!(
        "{:<22} {:<14} {:<10} {:<10} {:>11} {:>12} {:>10} {:>10} {:>7} {:>7}",
        "pair",
        "baseline",
        "CLIF",
        "machine",
        "loop CLIF",
        "loop x86",
        "base ms",
        "meta ms",
        "ratio",
        "median"
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
            Ok(t) => {
                let ratio = t.meta_best / t.base_best;
                eprintln!(
                    "{progress}: best {:.2} ms, {ratio:.3} x {} (median of rounds {:.3})",
                    t.meta_best / 1000.0,
                    pair.base.bench,
                    t.median_ratio
                );
                format!(
                    "{:>10.3} {:>10.3} {ratio:>7.3} {:>7.3}{}",
                    t.base_best / 1000.0,
                    t.meta_best / 1000.0,
                    t.median_ratio,
                    if t.one_process { "" } else { " (2 processes)" }
                )
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
        "\nloop CLIF / loop x86: instructions in the hot blocks of the loop (base/meta when they differ); base/meta ms: the best round of each side; ratio: meta / base of those; median: the median of the rounds' ratios; both sides in one process unless they share their loop's method\nmachine: registers named by the definitions that reach them; identical* = the same instructions and data flow, some values in other registers"
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
