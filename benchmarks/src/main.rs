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

use som_bench::plot;
use som_bench::report::{median, BenchInfo, Metadata, Report, Sample, VmInfo};

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
    /// `--json FILE`: write every sample, the statistics and the metadata.
    json: Option<PathBuf>,
    /// `--plot FILE.svg`: draw the ratio plot.
    plot: Option<PathBuf>,
}

const USAGE: &str =
    "usage: som-bench [--som PATH] [--som-home DIR] [--core DIR] [--runs N] [--iterations N]
                 [--warmup N] [--scale F] [--jit MODE] [--compare VM [--compare-core DIR] |
                 --compare-jit MODE] [--json FILE] [--plot FILE.svg] [--diff]
                 SUITE [BENCHMARK...]
       som-bench plot RESULTS.json -o FILE.svg
       som-bench chains TRACE.jsonl -o FILE.svg [--rows N] [--filter TEXT]

SUITE is 'classic', 'awfy', 'overhead' (AWFY with and without OMOP enforcement),
'reflection' or 'omop' (our own benchmarks; no SOM_HOME needed), or 'zero-overhead'
(each reflective or enforced loop's compiled hot loop against its direct twin's:
identical or not, sizes, time ratio; --diff prints the diffs). --scale multiplies every inner-iteration count
(e.g. 0.1 for a quick smoke run). --jit off|on|eager runs our VM in that tier
mode; --compare-jit MODE compares it with itself in another mode (e.g. --jit on
--compare-jit off: the compiled tier against the interpreter, run by run). --json FILE
writes every sample, the statistics and the run's metadata; --plot FILE.svg draws
each benchmark's time relative to its baseline (or to the other VM); 'plot' redraws
that from a --json file. Defaults: --runs 3 --iterations 5 --warmup 1,
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
        json: None,
        plot: None,
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
            "--json" => o.json = Some(PathBuf::from(value(i)?)),
            "--plot" => o.plot = Some(PathBuf::from(value(i)?)),
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
    let all = run_all(o, vm, harness, extra_cp, bench, mode)?;
    Ok(all.into_iter().skip(o.warmup as usize).collect())
}

/// Runs one benchmark once; answers every iteration's time, warm-up
/// iterations included.
fn run_all(
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
    Ok(per_iter)
}

/// One line on stderr as a benchmark finishes (its last run done, or
/// failed), so a long run shows where it is; the table comes at the end.
/// `baseline` is the label and median of the benchmark this one is
/// normalised to, when that one has finished.
fn report_progress(
    k: usize,
    n: usize,
    label: &str,
    mine: &[f64],
    other: &[f64],
    error: &Option<String>,
    baseline: Option<(&str, f64)>,
) {
    let head = format!("[{}/{}] {label}", k + 1, n);
    if let Some(e) = error {
        eprintln!("{head}: FAILED: {e}");
        return;
    }
    let m = median(&mut mine.to_vec());
    let mut line = format!("{head}: median {:.1} ms", m / 1000.0);
    if !other.is_empty() {
        let t = median(&mut other.to_vec());
        line += &format!(", other {:.1} ms, ratio {:.2}", t / 1000.0, m / t);
    }
    if let Some((base, bm)) = baseline {
        line += &format!(", {:.2} x {base}", m / bm);
    }
    eprintln!("{line}");
}

/// A VM's entry in the report.
fn vm_info(id: &str, vm: &Vm) -> VmInfo {
    VmInfo {
        id: id.to_string(),
        binary: vm.binary.display().to_string(),
        core: vm.core.display().to_string(),
        flags: vm.jit.map(|m| format!("--jit={m}")).into_iter().collect(),
    }
}

/// `som-bench plot RESULTS.json -o FILE.svg`: redraws the ratio plot of a
/// saved run.
fn plot_command(args: &[String]) -> ExitCode {
    let mut input = None;
    let mut output = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-o" | "--output" => {
                output = args.get(i + 1).cloned();
                i += 2;
            }
            "-h" | "--help" => {
                println!("{PLOT_USAGE}");
                return ExitCode::SUCCESS;
            }
            s if s.starts_with('-') => {
                eprintln!("som-bench plot: unknown option {s}\n{PLOT_USAGE}");
                return ExitCode::from(2);
            }
            s if input.is_none() => {
                input = Some(PathBuf::from(s));
                i += 1;
            }
            s => {
                eprintln!("som-bench plot: one results file only ('{s}')\n{PLOT_USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let (Some(input), Some(output)) = (input, output) else {
        eprintln!("{PLOT_USAGE}");
        return ExitCode::from(2);
    };
    let report = match Report::read(&input) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("som-bench plot: {e}");
            return ExitCode::from(1);
        }
    };
    match plot::write_ratio_plot(&report, Path::new(&output)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("som-bench plot: {e}");
            ExitCode::from(1)
        }
    }
}

/// `som-bench chains TRACE.jsonl -o FILE.svg [--rows N]`: draws the
/// growth of dispatch chains from a JSON trace.
fn chains_command(args: &[String]) -> ExitCode {
    let mut input = None;
    let mut output = None;
    let mut rows = 20;
    let mut filter = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-o" | "--output" => output = args.get(i + 1).cloned(),
            "--filter" => filter = args.get(i + 1).cloned(),
            "--rows" => match args.get(i + 1).and_then(|r| r.parse().ok()) {
                Some(r) if r > 0 => rows = r,
                _ => {
                    eprintln!("som-bench chains: --rows needs a positive number\n{CHAINS_USAGE}");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("{CHAINS_USAGE}");
                return ExitCode::SUCCESS;
            }
            s if s.starts_with('-') || input.is_some() => {
                eprintln!("som-bench chains: unexpected '{s}'\n{CHAINS_USAGE}");
                return ExitCode::from(2);
            }
            s => {
                input = Some(PathBuf::from(s));
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    let (Some(input), Some(output)) = (input, output) else {
        eprintln!("{CHAINS_USAGE}");
        return ExitCode::from(2);
    };
    let options = som_bench::chains::ChainsOptions {
        rows,
        filter,
        title: String::new(),
    };
    match som_bench::chains::write_chains(&input, Path::new(&output), &options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("som-bench chains: {e}");
            ExitCode::from(1)
        }
    }
}

const CHAINS_USAGE: &str =
    "usage: som-bench chains TRACE.jsonl -o FILE.svg [--rows N] [--filter TEXT]

Draws each dispatch chain's depth and state over time (the busiest and
deepest N chains, default 20; with --filter only those whose position or
method contains TEXT), with the tier's compilations and invalidations, from
`som --trace dispatch,jit --trace-format=json` output.";

const PLOT_USAGE: &str = "usage: som-bench plot RESULTS.json -o FILE.svg

Redraws the ratio plot of a run saved with --json.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("plot") => return plot_command(&args[1..]),
        Some("chains") => return chains_command(&args[1..]),
        _ => {}
    }
    let o = match parse(args) {
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
    let inner_of = |job: &Job| ((job.bench.inner as f64) * o.inner_scale).round().max(1.0) as u32;
    let mut report = Report::new(Metadata::collect(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        std::env::args().collect(),
        &o.suite,
        o.runs,
        o.iterations,
        o.warmup,
        o.inner_scale,
    ));
    report.vms.push(vm_info("ours", &ours));
    if let Some(vm) = &theirs {
        report.vms.push(vm_info("other", vm));
    }
    // A benchmark's baseline, when it is selected too (as its index).
    let baseline_index: Vec<Option<usize>> = selected
        .iter()
        .map(|job| {
            let base = baseline_of(&job.label)?;
            selected.iter().position(|j| j.label == base)
        })
        .collect();
    report.benchmarks = selected
        .iter()
        .zip(&baseline_index)
        .map(|(job, base)| BenchInfo {
            name: job.label.clone(),
            inner: inner_of(job),
            baseline: base.map(|b| selected[b].label.clone()),
            error: None,
        })
        .collect();
    // Runs go round-robin over the benchmarks (and the two VMs), so a drift
    // of machine speed affects every benchmark alike and ratios stay
    // meaningful.
    let mut mine: Vec<Vec<f64>> = vec![Vec::new(); selected.len()];
    let mut other: Vec<Vec<f64>> = vec![Vec::new(); selected.len()];
    let mut errors: Vec<Option<String>> = vec![None; selected.len()];
    let record = |report: &mut Report, job: &Job, vm: &VmInfo, run: u32, times: &[f64]| {
        for (i, &t) in times.iter().enumerate() {
            report.samples.push(Sample {
                benchmark: job.label.clone(),
                vm: vm.id.clone(),
                flags: vm.flags.clone(),
                run,
                iteration: i as u32,
                warmup: (i as u32) < o.warmup,
                time_us: t,
            });
        }
        times[o.warmup as usize..].to_vec()
    };
    for run in 0..o.runs {
        for (k, job) in selected.iter().enumerate() {
            if errors[k].is_some() {
                continue;
            }
            match run_all(&o, &ours, &harness, &extra_cp, job.bench, job.mode) {
                Ok(t) => {
                    let vm = report.vms[0].clone();
                    let kept = record(&mut report, job, &vm, run, &t);
                    mine[k].extend(kept);
                }
                Err(e) => errors[k] = Some(e),
            }
            if let Some(vm) = &theirs {
                match run_all(&o, vm, &harness, &extra_cp, job.bench, job.mode) {
                    Ok(t) => {
                        let info = report.vms[1].clone();
                        let kept = record(&mut report, job, &info, run, &t);
                        other[k].extend(kept);
                    }
                    Err(e) => errors[k] = Some(format!("{}: {e}", vm.binary.display())),
                }
            }
            if run + 1 == o.runs || errors[k].is_some() {
                let baseline = baseline_index[k]
                    .filter(|&b| b < k && errors[b].is_none() && !mine[b].is_empty())
                    .map(|b| (selected[b].label.as_str(), median(&mut mine[b].clone())));
                report_progress(
                    k,
                    selected.len(),
                    &job.label,
                    &mine[k],
                    &other[k],
                    &errors[k],
                    baseline,
                );
            }
        }
    }
    for (b, e) in report.benchmarks.iter_mut().zip(&errors) {
        b.error.clone_from(e);
    }
    report.summarize();
    let summary = |name: &str, vm: &str| {
        report
            .summaries
            .iter()
            .find(|s| s.benchmark == name && s.vm == vm)
    };
    let mut failed = 0;
    for (k, job) in selected.iter().enumerate() {
        let inner = inner_of(job);
        if let Some(e) = &errors[k] {
            failed += 1;
            println!("{:<22} {:>7} FAILED: {e}", job.label, inner);
            continue;
        }
        let Some(s) = summary(&job.label, "ours") else {
            continue;
        };
        print!(
            "{:<22} {:>7} {:>12.1} {:>12.1} {:>12.1} {:>8.1} {:>5}",
            job.label,
            inner,
            s.median_us / 1000.0,
            s.min_us / 1000.0,
            s.max_us / 1000.0,
            s.mad_percent,
            s.samples
        );
        if let Some(t) = summary(&job.label, "other") {
            print!(
                " {:>12.1} {:>8.1} {:>7.2}",
                t.median_us / 1000.0,
                t.mad_percent,
                s.median_us / t.median_us
            );
        }
        println!();
    }
    let ratios: Vec<_> = report
        .ratios
        .iter()
        .filter(|r| r.vm == "ours" && r.against == "baseline")
        .collect();
    if !ratios.is_empty() {
        println!();
        println!("{:<22} {:<14} {:>7}", "benchmark", "baseline", "ratio");
        for r in &ratios {
            println!("{:<22} {:<14} {:>7.2}", r.benchmark, r.reference, r.ratio);
        }
        if ratios.len() > 1 {
            let geo =
                (ratios.iter().map(|r| r.ratio.ln()).sum::<f64>() / ratios.len() as f64).exp();
            println!("{:<22} {:<14} {:>7.2}", "geometric mean", "", geo);
        }
    }
    if let Some(path) = &o.json {
        match report.write(path) {
            Ok(()) => eprintln!("som-bench: results written to {}", path.display()),
            Err(e) => {
                eprintln!("som-bench: {e}");
                failed += 1;
            }
        }
    }
    if let Some(path) = &o.plot {
        match plot::write_ratio_plot(&report, path) {
            Ok(()) => eprintln!("som-bench: plot written to {}", path.display()),
            Err(e) => {
                eprintln!("som-bench: {e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
