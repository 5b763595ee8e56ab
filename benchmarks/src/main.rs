//! `som-bench`: runs SOM benchmarks written for SOM's benchmark protocol and
//! prints the median and spread of their iteration times.
//!
//! Both harnesses of SOM-st/SOM print one line per measured iteration,
//! `Name: iterations=1 runtime: <microseconds>us`; the runner starts the `som`
//! binary `--runs` times per benchmark, keeps every iteration after the first
//! `--warmup` of each run, and reports median, minimum, maximum and the median
//! absolute deviation (as a percentage of the median). A benchmark whose
//! harness reports a wrong result (non-zero exit) is listed as FAILED.
//!
//! Suites:
//! - `classic`: SOM-st/SOM `Examples/Benchmarks/BenchmarkHarness.som`, with the
//!   inner-iteration counts at which SOM++ needs about one second each;
//! - `awfy`: SOM-st/SOM `Examples/AreWeFastYet/Harness.som` (all 14, including
//!   CD and Havlak).
//!
//! - `reflection`: our reflection benchmarks (`benchmarks/reflection`), each
//!   with the ratio to its direct baseline;
//! - `omop`: our OMOP micro benchmarks (`benchmarks/omop`): dispatch, field
//!   read, field write, global read and primitive execution, each plain (the
//!   `1 +` by hand) and enforced (a domain handler adds one), with the ratio
//!   enforced / plain; `DispatchStd` is the dispatch loop enforced in the
//!   standard domain;
//! - `overhead`: the Are-We-Fast-Yet benchmarks through
//!   `harness/OmopHarness.som`, each iteration run enforced in the standard
//!   domain (`Name+omop`: OMOP support active, nothing customised) and
//!   unenforced (`Name`), with the ratio between them.
//!
//! `classic`, `awfy` and `overhead` need a SOM-st/SOM checkout, named by
//! `--som-home` or `SOM_HOME`.
//!
//! Runs go round-robin over the benchmarks, so a drift of machine speed
//! affects all of them alike. `--compare VM` runs a second SOM VM (for
//! instance SOM++) on the same benchmarks, alternating with ours run by run
//! so both see the same machine conditions, and prints its median and the ratio ours/theirs. It gets SOM's
//! own core library (`--compare-core`, default `$SOM_HOME/Smalltalk`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod zero_overhead_suite;

/// One benchmark of a suite: class name, inner iterations, extra class-path
/// directories (relative to the harness directory).
struct Bench {
    name: &'static str,
    inner: u32,
    dirs: &'static [&'static str],
}

const fn b(name: &'static str, inner: u32, dirs: &'static [&'static str]) -> Bench {
    Bench { name, inner, dirs }
}

/// SOM++'s one-second parameters for `Examples/Benchmarks` (the speed
/// target).
const CLASSIC: &[Bench] = &[
    b("Richards", 20, &["Richards"]),
    b("DeltaBlue", 10000, &["DeltaBlue"]),
    b("Mandelbrot", 400, &[]),
    b("NBody", 100000, &["NBody"]),
    b("Queens", 400, &[]),
    b("Sieve", 700, &[]),
    b("Bounce", 700, &[]),
    b("List", 600, &[]),
    b("Permute", 450, &[]),
    b("Towers", 350, &[]),
    b("Storage", 450, &[]),
    b("Json", 80, &["Json"]),
];

/// Our reflection benchmarks (`benchmarks/reflection`), after the PLDI 2015
/// artifact; each is compared with its baseline.
const REFLECTION: &[Bench] = &[
    b("DirectAdd", 100, &[]),
    b("PerformAdd", 100, &[]),
    b("DnuAdd", 100, &[]),
    b("DnuPerformAdd", 100, &[]),
    b("IndirectAdd", 100, &[]),
    b("ProxyAdd", 100, &[]),
];

/// Our OMOP micro benchmarks (`benchmarks/omop`), after the paper's Fig. 4.
const OMOP: &[Bench] = &[
    b("AddDispatch", 20, &[]),
    b("AddDispatchEnforced", 20, &[]),
    b("FieldRead", 20, &[]),
    b("FieldReadEnforced", 20, &[]),
    b("AddFieldWrite", 20, &[]),
    b("AddFieldWriteEnforced", 20, &[]),
    b("GlobalRead", 20, &[]),
    b("GlobalReadEnforced", 20, &[]),
    b("ReqPrim", 20, &[]),
    b("ReqPrimEnforced", 20, &[]),
    b("DispatchStd", 20, &[]),
];

/// The baseline each benchmark is normalised to, if any.
fn baseline_of(name: &str) -> Option<String> {
    match name {
        "PerformAdd" | "DnuAdd" | "DnuPerformAdd" => Some("DirectAdd".into()),
        "ProxyAdd" => Some("IndirectAdd".into()),
        "DispatchStd" => Some("AddDispatch".into()),
        _ => name
            .strip_suffix("Enforced")
            .or_else(|| name.strip_suffix("+omop"))
            .map(str::to_string),
    }
}

/// One thing to measure: a benchmark, the label it is reported under, and
/// the extra harness argument (the overhead mode's `plain`/`enforced`).
struct Job<'a> {
    bench: &'a Bench,
    label: String,
    mode: Option<&'static str>,
}

/// The Are-We-Fast-Yet suite. CD, Havlak, Mandelbrot and NBody verify their
/// result only at these sizes, so `--scale` makes them fail verification.
const AWFY: &[Bench] = &[
    b("DeltaBlue", 1000, &["DeltaBlue"]),
    b("Richards", 10, &["Richards"]),
    b("Json", 20, &["Json"]),
    b("CD", 250, &["CD"]),
    b("Havlak", 1500, &["Havlak"]),
    b("Bounce", 300, &[]),
    b("List", 300, &[]),
    b("Mandelbrot", 500, &[]),
    b("NBody", 250000, &["NBody"]),
    b("Permute", 300, &[]),
    b("Queens", 300, &[]),
    b("Sieve", 300, &[]),
    b("Storage", 300, &[]),
    b("Towers", 300, &[]),
];

/// The exit status for a missing `som` binary (reported), if it is.
fn som_missing(o: &Options) -> Option<ExitCode> {
    if o.som.is_file() {
        return None;
    }
    eprintln!(
        "som-bench: no som binary at {} (build it with cargo build --release)",
        o.som.display()
    );
    Some(ExitCode::from(2))
}

/// The suites `som-bench` knows.
const SUITES: &[&str] = &[
    "classic",
    "awfy",
    "overhead",
    "reflection",
    "omop",
    "zero-overhead",
];

struct Options {
    som: PathBuf,
    compare: Option<PathBuf>,
    compare_core: Option<PathBuf>,
    /// `--jit` mode of our VM (None: its default).
    jit: Option<String>,
    /// `--compare-jit`: the other VM is ours in this mode.
    compare_jit: Option<String>,
    som_home: Option<PathBuf>,
    core: PathBuf,
    runs: u32,
    iterations: u32,
    warmup: u32,
    inner_scale: f64,
    suite: String,
    only: Vec<String>,
    /// `--diff` (zero-overhead suite): print the diffs of differing loops.
    diff: bool,
}

const USAGE: &str =
    "usage: som-bench [--som PATH] [--som-home DIR] [--core DIR] [--runs N] [--iterations N]
                 [--warmup N] [--scale F] [--jit MODE] [--compare VM [--compare-core DIR] |
                 --compare-jit MODE] [--diff] SUITE [BENCHMARK...]

SUITE is 'classic', 'awfy', 'overhead' (AWFY with and without OMOP enforcement),
'reflection' or 'omop' (our own benchmarks; no SOM_HOME needed), or 'zero-overhead'
(each reflective or enforced loop's compiled hot loop against its direct twin's:
identical or not, sizes, time ratio; --diff prints the diffs). --scale multiplies every inner-iteration count
(e.g. 0.1 for a quick smoke run). --jit off|on|eager runs our VM in that tier
mode; --compare-jit MODE compares it with itself in another mode (e.g. --jit on
--compare-jit off: the compiled tier against the interpreter, run by run). Defaults: --runs 3 --iterations 5 --warmup 1,
--som target/release/som, --core smalltalk-src/core, --som-home $SOM_HOME.";

/// What the command line asks for.
enum Cli {
    Run(Box<Options>),
    /// `--help`: print the usage on stdout and succeed.
    Help,
}

fn parse(args: Vec<String>) -> Result<Cli, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut o = Options {
        som: root.join("target/release/som"),
        compare: None,
        compare_core: None,
        jit: None,
        compare_jit: None,
        som_home: std::env::var_os("SOM_HOME").map(PathBuf::from),
        core: root.join("smalltalk-src/core"),
        runs: 3,
        iterations: 5,
        warmup: 1,
        inner_scale: 1.0,
        suite: String::new(),
        only: Vec::new(),
        diff: false,
    };
    let mut i = 0;
    let value = |i: usize| {
        args.get(i + 1)
            .cloned()
            .ok_or_else(|| format!("{} needs a value", args[i]))
    };
    while i < args.len() {
        match args[i].as_str() {
            "--som" => o.som = PathBuf::from(value(i)?),
            "--compare" => o.compare = Some(PathBuf::from(value(i)?)),
            "--compare-core" => o.compare_core = Some(PathBuf::from(value(i)?)),
            "--jit" => o.jit = Some(jit_mode(&value(i)?)?),
            "--compare-jit" => o.compare_jit = Some(jit_mode(&value(i)?)?),
            "--som-home" => o.som_home = Some(PathBuf::from(value(i)?)),
            "--core" => o.core = PathBuf::from(value(i)?),
            "--runs" => o.runs = value(i)?.parse().map_err(|_| "bad --runs")?,
            "--iterations" => o.iterations = value(i)?.parse().map_err(|_| "bad --iterations")?,
            "--warmup" => o.warmup = value(i)?.parse().map_err(|_| "bad --warmup")?,
            "--scale" => o.inner_scale = value(i)?.parse().map_err(|_| "bad --scale")?,
            "-h" | "--help" => return Ok(Cli::Help),
            "--diff" => {
                o.diff = true;
                i += 1;
                continue;
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}")),
            s => {
                if o.suite.is_empty() {
                    o.suite = s.to_string();
                } else {
                    o.only.push(s.to_string());
                }
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    if o.suite.is_empty() {
        return Err(format!("som-bench: no suite given\n{USAGE}"));
    }
    if o.compare_jit.is_some() {
        if o.compare.is_some() {
            return Err(
                "som-bench: --compare-jit compares our VM with itself; drop --compare".into(),
            );
        }
        o.compare = Some(o.som.clone());
        o.compare_core = Some(o.core.clone());
    }
    if !SUITES.contains(&o.suite.as_str()) {
        return Err(format!(
            "som-bench: unknown suite '{}' (known: {})\n{USAGE}",
            o.suite,
            SUITES.join(" ")
        ));
    }
    if o.runs == 0 {
        return Err("som-bench: --runs must be at least 1".into());
    }
    if o.warmup >= o.iterations {
        return Err("som-bench: --warmup must be smaller than --iterations".into());
    }
    if !(o.inner_scale.is_finite() && o.inner_scale > 0.0) {
        return Err("som-bench: --scale must be a positive number".into());
    }
    Ok(Cli::Run(Box::new(o)))
}

/// Statistics of one benchmark's iteration times (microseconds).
struct Stats {
    median: f64,
    min: f64,
    max: f64,
    mad_percent: f64,
    samples: usize,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn stats(mut times: Vec<f64>) -> Stats {
    let m = median(&mut times);
    let mut dev: Vec<f64> = times.iter().map(|t| (t - m).abs()).collect();
    let mad = median(&mut dev);
    Stats {
        median: m,
        min: times[0],
        max: times[times.len() - 1],
        mad_percent: if m > 0.0 { 100.0 * mad / m } else { 0.0 },
        samples: times.len(),
    }
}

/// A `--jit` mode, checked.
fn jit_mode(m: &str) -> Result<String, String> {
    match m {
        "off" | "on" | "eager" => Ok(m.to_string()),
        other => Err(format!(
            "som-bench: --jit takes off, on or eager, not '{other}'"
        )),
    }
}

/// A VM to run: its binary, the core library to put on its class path, and
/// the tier mode to give it (ours only).
struct Vm<'a> {
    binary: &'a Path,
    core: &'a Path,
    jit: Option<&'a str>,
}

/// Runs one benchmark once; answers the post-warm-up iteration times.
fn run_once(
    o: &Options,
    vm: &Vm,
    harness: &Path,
    extra_cp: &[PathBuf],
    bench: &Bench,
    mode: Option<&str>,
) -> Result<Vec<f64>, String> {
    let inner = ((bench.inner as f64) * o.inner_scale).round().max(1.0) as u32;
    // A benchmark's own directories are relative to its suite's directory:
    // the harness's, except for the overhead mode's AWFY benchmarks, which
    // run under our harness.
    let dir = match (o.suite.as_str(), &o.som_home) {
        ("overhead", Some(home)) => home.join("Examples/AreWeFastYet"),
        _ => harness.parent().unwrap().to_path_buf(),
    };
    let mut cp: Vec<String> = extra_cp.iter().map(|p| p.display().to_string()).collect();
    cp.extend(bench.dirs.iter().map(|d| dir.join(d).display().to_string()));
    cp.push(vm.core.display().to_string());
    let out = Command::new(vm.binary)
        .args(vm.jit.map(|m| format!("--jit={m}")))
        .arg("-cp")
        .arg(cp.join(":"))
        .arg(harness)
        .arg(bench.name)
        .arg(o.iterations.to_string())
        .arg(inner.to_string())
        .args(mode)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", vm.binary.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{}: {}{}",
            out.status,
            stdout.lines().rev().take(3).collect::<Vec<_>>().join(" | "),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or("")
        ));
    }
    let per_iter: Vec<f64> = stdout
        .lines()
        .filter(|l| l.contains(": iterations=1 runtime: "))
        .filter_map(|l| {
            l.rsplit("runtime: ")
                .next()?
                .trim_end_matches("us")
                .trim()
                .parse()
                .ok()
        })
        .collect();
    if per_iter.len() != o.iterations as usize {
        return Err(format!(
            "expected {} iteration lines, found {}",
            o.iterations,
            per_iter.len()
        ));
    }
    Ok(per_iter.into_iter().skip(o.warmup as usize).collect())
}

/// One line on stderr as a benchmark finishes (its last run done, or
/// failed), so a long run shows where it is; the table comes at the end.
fn report_progress(
    k: usize,
    n: usize,
    label: &str,
    mine: &[f64],
    other: &[f64],
    error: &Option<String>,
) {
    let head = format!("[{}/{}] {label}", k + 1, n);
    if let Some(e) = error {
        eprintln!("{head}: FAILED: {e}");
        return;
    }
    let m = median(&mut mine.to_vec());
    if other.is_empty() {
        eprintln!("{head}: median {:.1} ms", m / 1000.0);
    } else {
        let t = median(&mut other.to_vec());
        eprintln!(
            "{head}: median {:.1} ms, other {:.1} ms, ratio {:.2}",
            m / 1000.0,
            t / 1000.0,
            m / t
        );
    }
}

fn main() -> ExitCode {
    let o = match parse(std::env::args().skip(1).collect()) {
        Ok(Cli::Run(o)) => o,
        Ok(Cli::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if o.suite == "zero-overhead" {
        return zero_overhead_suite::run(&o);
    }
    let home = match o.som_home.clone() {
        Some(h) => h,
        None if o.suite == "reflection" || o.suite == "omop" => PathBuf::from("."),
        None => {
            eprintln!("som-bench: set SOM_HOME (or --som-home) to a SOM-st/SOM checkout");
            return ExitCode::from(2);
        }
    };
    let (benches, harness, extra_cp): (&[Bench], PathBuf, Vec<PathBuf>) = match o.suite.as_str() {
        "classic" => (
            CLASSIC,
            home.join("Examples/Benchmarks/BenchmarkHarness.som"),
            vec![],
        ),
        "awfy" => {
            let dir = home.join("Examples/AreWeFastYet");
            // AWFY's own Vector and friends must shadow the core library's.
            (AWFY, dir.join("Harness.som"), vec![dir.join("Core")])
        }
        "reflection" => {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            (
                REFLECTION,
                dir.join("harness/Harness.som"),
                vec![dir.join("reflection")],
            )
        }
        "omop" => {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            (
                OMOP,
                dir.join("harness/Harness.som"),
                vec![dir.join("omop")],
            )
        }
        "overhead" => {
            let dir = home.join("Examples/AreWeFastYet");
            let ours = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("harness");
            (
                AWFY,
                ours.join("OmopHarness.som"),
                vec![dir.join("Core"), dir.clone()],
            )
        }
        other => unreachable!("suite '{other}' was validated by parse"),
    };
    let unknown: Vec<&str> = o
        .only
        .iter()
        .filter(|n| !benches.iter().any(|b| b.name == n.as_str()))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = benches.iter().map(|b| b.name).collect();
        eprintln!(
            "som-bench: suite '{}' has no benchmark named {} (known: {})",
            o.suite,
            unknown.join(", "),
            known.join(" ")
        );
        return ExitCode::from(2);
    }
    if let Some(missing) = som_missing(&o) {
        return missing;
    }
    println!(
        "suite {} | {} run(s) x {} iteration(s), first {} of each run dropped | inner scale {}",
        o.suite, o.runs, o.iterations, o.warmup, o.inner_scale
    );
    print!(
        "{:<22} {:>7} {:>12} {:>12} {:>12} {:>8} {:>5}",
        "benchmark", "inner", "median ms", "min ms", "max ms", "MAD %", "n"
    );
    if o.compare.is_some() {
        print!(" {:>12} {:>8} {:>7}", "other ms", "MAD %", "ratio");
    }
    println!();
    let ours = Vm {
        binary: &o.som,
        core: &o.core,
        jit: o.jit.as_deref(),
    };
    let compare_core = o
        .compare_core
        .clone()
        .unwrap_or_else(|| home.join("Smalltalk"));
    let theirs = o.compare.as_deref().map(|binary| Vm {
        binary,
        core: &compare_core,
        jit: o.compare_jit.as_deref(),
    });
    let mut failed = 0;
    let mut medians: Vec<(&str, f64)> = Vec::new();
    let selected: Vec<Job> = benches
        .iter()
        .filter(|b| o.only.is_empty() || o.only.iter().any(|n| n == b.name))
        .flat_map(|bench| {
            if o.suite == "overhead" {
                vec![
                    Job {
                        bench,
                        label: bench.name.to_string(),
                        mode: Some("plain"),
                    },
                    Job {
                        bench,
                        label: format!("{}+omop", bench.name),
                        mode: Some("enforced"),
                    },
                ]
            } else {
                vec![Job {
                    bench,
                    label: bench.name.to_string(),
                    mode: None,
                }]
            }
        })
        .collect();
    // Runs go round-robin over the benchmarks (and the two VMs), so a drift
    // of machine speed affects every benchmark alike and ratios stay
    // meaningful.
    let mut mine: Vec<Vec<f64>> = vec![Vec::new(); selected.len()];
    let mut other: Vec<Vec<f64>> = vec![Vec::new(); selected.len()];
    let mut errors: Vec<Option<String>> = vec![None; selected.len()];
    for run in 0..o.runs {
        for (k, job) in selected.iter().enumerate() {
            if errors[k].is_some() {
                continue;
            }
            match run_once(&o, &ours, &harness, &extra_cp, job.bench, job.mode) {
                Ok(t) => mine[k].extend(t),
                Err(e) => errors[k] = Some(e),
            }
            if let Some(vm) = &theirs {
                match run_once(&o, vm, &harness, &extra_cp, job.bench, job.mode) {
                    Ok(t) => other[k].extend(t),
                    Err(e) => errors[k] = Some(format!("{}: {e}", vm.binary.display())),
                }
            }
            if run + 1 == o.runs || errors[k].is_some() {
                report_progress(
                    k,
                    selected.len(),
                    &job.label,
                    &mine[k],
                    &other[k],
                    &errors[k],
                );
            }
        }
    }
    for (k, job) in selected.iter().enumerate() {
        let inner = ((job.bench.inner as f64) * o.inner_scale).round().max(1.0) as u32;
        if let Some(e) = &errors[k] {
            failed += 1;
            println!("{:<22} {:>7} FAILED: {e}", job.label, inner);
            continue;
        }
        let s = stats(std::mem::take(&mut mine[k]));
        medians.push((job.label.as_str(), s.median));
        print!(
            "{:<22} {:>7} {:>12.1} {:>12.1} {:>12.1} {:>8.1} {:>5}",
            job.label,
            inner,
            s.median / 1000.0,
            s.min / 1000.0,
            s.max / 1000.0,
            s.mad_percent,
            s.samples
        );
        if theirs.is_some() {
            let t = stats(std::mem::take(&mut other[k]));
            print!(
                " {:>12.1} {:>8.1} {:>7.2}",
                t.median / 1000.0,
                t.mad_percent,
                s.median / t.median
            );
        }
        println!();
    }
    let ratios: Vec<(&str, String, f64)> = medians
        .iter()
        .filter_map(|(name, m)| {
            let base = baseline_of(name)?;
            let (_, b) = medians.iter().find(|(n, _)| *n == base)?;
            Some((*name, base, m / b))
        })
        .collect();
    if !ratios.is_empty() {
        println!();
        println!("{:<22} {:<14} {:>7}", "benchmark", "baseline", "ratio");
        for (name, base, r) in &ratios {
            println!("{name:<22} {base:<14} {r:>7.2}");
        }
        if ratios.len() > 1 {
            let geo =
                (ratios.iter().map(|(_, _, r)| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
            println!("{:<22} {:<14} {:>7.2}", "geometric mean", "", geo);
        }
    }
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_iteration_times() {
        let s = stats(vec![10.0, 12.0, 11.0, 50.0, 9.0]);
        assert_eq!(s.median, 11.0);
        assert_eq!(s.min, 9.0);
        assert_eq!(s.max, 50.0);
        // deviations 1, 1, 0, 39, 2 -> median 1 -> 1/11
        assert!((s.mad_percent - 100.0 / 11.0).abs() < 1e-9);
    }
}
