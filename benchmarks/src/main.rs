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
//! so both see the same machine conditions, and prints its median and the
//! ratio ours/theirs. It gets SOM's own core library (`--compare-core`,
//! default `$SOM_HOME/Smalltalk`). `--compare-jit MODE` compares ours with
//! itself in another tier mode. Both repeat: every VM named runs in turn,
//! and the table and `--json` give ours / each of them, or with
//! `--baseline-vm ID` each VM / that one.

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

/// A VM to compare ours with (`--compare VM` or `--compare-jit MODE`).
struct OtherVm {
    binary: PathBuf,
    /// Its core library; `None`: the `--compare-core` given before any
    /// `--compare`, or `$SOM_HOME/Smalltalk`.
    core: Option<PathBuf>,
    /// `--compare-jit`: our VM in this mode.
    jit: Option<String>,
}

struct Options {
    som: PathBuf,
    /// The VMs compared with ours, in command-line order.
    others: Vec<OtherVm>,
    /// `--compare-core` given before any `--compare`: the default core of
    /// the compared VMs.
    compare_core: Option<PathBuf>,
    /// `--jit` mode of our VM (None: its default).
    jit: Option<String>,
    /// `--baseline-vm ID`: normalise every VM to this one.
    baseline_vm: Option<String>,
    som_home: Option<PathBuf>,
    core: PathBuf,
    runs: u32,
    iterations: u32,
    warmup: u32,
    /// `--rounds N` (zero-overhead suite): interleaved rounds of both sides
    /// per process.
    rounds: u32,
    inner_scale: f64,
    suite: String,
    only: Vec<String>,
    /// `--diff` (zero-overhead suite): print the diffs of differing loops.
    diff: bool,
    /// `--json FILE`: write every sample, the statistics and the metadata.
    json: Option<PathBuf>,
    /// `--plot FILE.svg`: draw the ratio plot.
    plot: Option<PathBuf>,
    /// `--plot-warmup FILE.svg`: draw time per iteration, one line per VM.
    plot_warmup: Option<PathBuf>,
}

const USAGE: &str =
    "usage: som-bench [--som PATH] [--som-home DIR] [--core DIR] [--runs N] [--iterations N]
                 [--warmup N] [--rounds N] [--scale F] [--jit MODE] [--compare VM [--compare-core DIR]]...
                 [--compare-jit MODE]... [--baseline-vm ID] [--json FILE] [--plot FILE.svg]
                 [--plot-warmup FILE.svg] [--diff] SUITE [BENCHMARK...]
       som-bench plot [--warmup] [--benchmark NAME]... RESULTS.json -o FILE.svg
       som-bench chains TRACE.jsonl -o FILE.svg [--rows N] [--filter TEXT]

SUITE is 'classic', 'awfy', 'overhead' (AWFY with and without OMOP enforcement),
'reflection' or 'omop' (our own benchmarks; no SOM_HOME needed), or 'zero-overhead'
(each reflective or enforced loop's compiled hot loop against its direct twin's:
identical or not, sizes, and the time ratio of the best of --rounds interleaved
rounds of both sides in one process, --runs processes; --diff prints the diffs). --scale multiplies every inner-iteration count
(e.g. 0.1 for a quick smoke run). --jit off|on|eager runs our VM in that tier
mode; --compare-jit MODE compares it with itself in another mode (e.g. --jit on
--compare-jit off: the compiled tier against the interpreter, run by run).
--compare and --compare-jit repeat: every VM named runs alternately with ours, in
the order given (ids ours, then other, or other1, other2, ... when several);
--compare-core DIR after a --compare sets that VM's core library, before any
--compare every compared VM's. Ratios are ours / each other VM, or with
--baseline-vm ID every VM / that one. --json FILE writes every sample, the
statistics and the run's metadata; --plot FILE.svg draws each benchmark's time
relative to its baseline (or to the other VMs); --plot-warmup FILE.svg draws the
time of each iteration (warm-up included), one line per VM; 'plot' redraws either
from a --json file. Defaults: --runs 3 --iterations 5 --warmup 1 --rounds 40,
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
        others: Vec::new(),
        compare_core: None,
        jit: None,
        baseline_vm: None,
        som_home: std::env::var_os("SOM_HOME").map(PathBuf::from),
        core: root.join("smalltalk-src/core"),
        runs: 3,
        iterations: 5,
        warmup: 1,
        rounds: 40,
        inner_scale: 1.0,
        suite: String::new(),
        only: Vec::new(),
        diff: false,
        json: None,
        plot: None,
        plot_warmup: None,
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
            "--compare" => o.others.push(OtherVm {
                binary: PathBuf::from(value(i)?),
                core: None,
                jit: None,
            }),
            "--compare-core" => {
                let core = PathBuf::from(value(i)?);
                match o.others.iter_mut().rev().find(|v| v.jit.is_none()) {
                    Some(vm) if vm.core.is_none() => vm.core = Some(core),
                    Some(vm) => {
                        return Err(format!(
                            "som-bench: --compare {} has its --compare-core already",
                            vm.binary.display()
                        ))
                    }
                    None => o.compare_core = Some(core),
                }
            }
            "--jit" => o.jit = Some(jit_mode(&value(i)?)?),
            "--compare-jit" => {
                let jit = jit_mode(&value(i)?)?;
                // Our binary and core library, whichever --som/--core come.
                o.others.push(OtherVm {
                    binary: PathBuf::new(),
                    core: None,
                    jit: Some(jit),
                });
            }
            "--baseline-vm" => o.baseline_vm = Some(value(i)?),
            "--json" => o.json = Some(PathBuf::from(value(i)?)),
            "--plot" => o.plot = Some(PathBuf::from(value(i)?)),
            "--plot-warmup" => o.plot_warmup = Some(PathBuf::from(value(i)?)),
            "--som-home" => o.som_home = Some(PathBuf::from(value(i)?)),
            "--core" => o.core = PathBuf::from(value(i)?),
            "--runs" => o.runs = value(i)?.parse().map_err(|_| "bad --runs")?,
            "--iterations" => o.iterations = value(i)?.parse().map_err(|_| "bad --iterations")?,
            "--warmup" => o.warmup = value(i)?.parse().map_err(|_| "bad --warmup")?,
            "--rounds" => {
                o.rounds = value(i)?.parse().map_err(|_| "bad --rounds")?;
                // More rounds would call a benchmark a thousand times and
                // time code other than the compared loops (see
                // `zero_overhead_suite::ROUND_CALLS`).
                if !(1..=49).contains(&o.rounds) {
                    return Err("--rounds must be between 1 and 49".into());
                }
            }
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
    for vm in o.others.iter_mut().filter(|v| v.jit.is_some()) {
        vm.binary = o.som.clone();
        vm.core = Some(o.core.clone());
    }
    if let Some(base) = &o.baseline_vm {
        let ids = vm_ids(o.others.len());
        if !ids.contains(base) {
            return Err(format!(
                "som-bench: --baseline-vm '{base}' is not one of the VMs ({})",
                ids.join(" ")
            ));
        }
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

/// The ids of our VM and `others` compared VMs: `ours`, then `other` for
/// one, or `other1`, `other2`, ... for several.
fn vm_ids(others: usize) -> Vec<String> {
    let mut ids = vec!["ours".to_string()];
    if others == 1 {
        ids.push("other".into());
    } else {
        ids.extend((1..=others).map(|k| format!("other{k}")));
    }
    ids
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
    /// Our binary (ours or `--compare-jit`), for its label.
    ours: bool,
}

/// The time a harness line ends with (`... runtime: <us>us`), in
/// microseconds.
fn runtime_us(line: &str) -> Option<f64> {
    line.rsplit("runtime: ")
        .next()?
        .trim_end_matches("us")
        .trim()
        .parse()
        .ok()
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
        .filter_map(runtime_us)
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
/// `times` are the benchmark's post-warm-up times on each VM of `report`;
/// `baseline` is the label and median (ours) of the benchmark this one is
/// normalised to, when that one has finished.
fn report_progress(
    report: &Report,
    (k, n): (usize, usize),
    label: &str,
    times: &[&[f64]],
    error: &Option<String>,
    baseline: Option<(&str, f64)>,
) {
    let head = format!("[{}/{}] {label}", k + 1, n);
    if let Some(e) = error {
        eprintln!("{head}: FAILED: {e}");
        return;
    }
    let medians: Vec<f64> = times.iter().map(|t| median(&mut t.to_vec())).collect();
    let m = medians[0];
    let mut line = format!("{head}: median {:.1} ms", m / 1000.0);
    let index = |id: &str| report.vms.iter().position(|v| v.id == id);
    for (v, vm) in report.vms.iter().enumerate().skip(1) {
        if times[v].is_empty() {
            continue;
        }
        line += &format!(", {} {:.1} ms", vm.id, medians[v] / 1000.0);
        if let Some((num, den)) = table_pair(report, &vm.id) {
            if let (Some(a), Some(b)) = (index(&num), index(&den)) {
                line += &format!(", ratio {:.2}", medians[a] / medians[b]);
            }
        }
    }
    if let Some((base, bm)) = baseline {
        line += &format!(", {:.2} x {base}", m / bm);
    }
    eprintln!("{line}");
}

/// The VM ratio shown in the column of compared VM `id`: ours / it without
/// `--baseline-vm`; with one, it / the baseline, or ours / the baseline in
/// the baseline's own column.
fn table_pair(report: &Report, id: &str) -> Option<(String, String)> {
    let ours = report.vms.first()?.id.clone();
    Some(match &report.baseline_vm {
        None => (ours, id.to_string()),
        Some(base) if base == id => (ours, base.clone()),
        Some(base) => (id.to_string(), base.clone()),
    })
}

/// A VM's entry in the report.
fn vm_info(id: &str, vm: &Vm) -> VmInfo {
    let flags: Vec<String> = vm.jit.map(|m| format!("--jit={m}")).into_iter().collect();
    let label = if vm.ours {
        std::iter::once("ours".to_string())
            .chain(flags.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        vm.binary.file_name().map_or_else(
            || vm.binary.display().to_string(),
            |f| f.to_string_lossy().into_owned(),
        )
    };
    VmInfo {
        id: id.to_string(),
        label,
        binary: vm.binary.display().to_string(),
        core: vm.core.display().to_string(),
        flags,
    }
}

/// `som-bench plot [--warmup] [--benchmark NAME]... RESULTS.json -o
/// FILE.svg`: redraws the ratio plot, or the warm-up plot, of a saved run.
fn plot_command(args: &[String]) -> ExitCode {
    let mut input = None;
    let mut output = None;
    let mut warmup = false;
    let mut benchmarks = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-o" | "--output" => {
                output = args.get(i + 1).cloned();
                i += 2;
            }
            "--warmup" => {
                warmup = true;
                i += 1;
            }
            "--benchmark" => {
                let Some(b) = args.get(i + 1) else {
                    eprintln!("som-bench plot: --benchmark needs a name\n{PLOT_USAGE}");
                    return ExitCode::from(2);
                };
                benchmarks.push(b.clone());
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
    if !warmup && !benchmarks.is_empty() {
        eprintln!("som-bench plot: --benchmark picks panels of the --warmup plot\n{PLOT_USAGE}");
        return ExitCode::from(2);
    }
    let report = match Report::read(&input) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("som-bench plot: {e}");
            return ExitCode::from(1);
        }
    };
    let written = if warmup {
        plot::write_warmup_plot(&report, &benchmarks, Path::new(&output))
    } else {
        plot::write_ratio_plot(&report, Path::new(&output))
    };
    match written {
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

const PLOT_USAGE: &str =
    "usage: som-bench plot [--warmup [--benchmark NAME]...] RESULTS.json -o FILE.svg

Redraws the ratio plot of a run saved with --json; with --warmup, the warm-up
plot instead: per benchmark (all, or each --benchmark), the time of every
iteration (warm-up included, median over the runs), one line per VM.";

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
    let ours = Vm {
        binary: &o.som,
        core: &o.core,
        jit: o.jit.as_deref(),
        ours: true,
    };
    let default_core = o
        .compare_core
        .clone()
        .unwrap_or_else(|| home.join("Smalltalk"));
    let vms: Vec<Vm> = std::iter::once(ours)
        .chain(o.others.iter().map(|v| Vm {
            binary: &v.binary,
            core: v.core.as_deref().unwrap_or(&default_core),
            jit: v.jit.as_deref(),
            ours: v.jit.is_some(),
        }))
        .collect();
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
    report.vms = vm_ids(o.others.len())
        .iter()
        .zip(&vms)
        .map(|(id, vm)| vm_info(id, vm))
        .collect();
    report.baseline_vm.clone_from(&o.baseline_vm);
    if vms.len() > 2 || o.baseline_vm.is_some() {
        for vm in &report.vms {
            println!("{:<8} {} ({})", vm.id, vm.name(), vm.binary);
        }
    }
    print!(
        "{:<22} {:>7} {:>12} {:>12} {:>12} {:>8} {:>5}",
        "benchmark", "inner", "median ms", "min ms", "max ms", "MAD %", "n"
    );
    // The ratio column of each compared VM, named after its pair when
    // there is more than one.
    let ratio_heads: Vec<String> = report.vms[1..]
        .iter()
        .map(|vm| {
            table_pair(&report, &vm.id).map_or(String::new(), |(num, den)| {
                if vms.len() > 2 || o.baseline_vm.is_some() {
                    format!("{num}/{den}")
                } else {
                    "ratio".into()
                }
            })
        })
        .collect();
    for (vm, head) in report.vms[1..].iter().zip(&ratio_heads) {
        print!(
            " {:>12} {:>8} {:>w$}",
            format!("{} ms", vm.id),
            "MAD %",
            head,
            w = head.len().max(7)
        );
    }
    println!();
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
    // Runs go round-robin over the benchmarks (and the VMs), so a drift of
    // machine speed affects every benchmark alike and ratios stay
    // meaningful.
    // Post-warm-up times, by VM and benchmark.
    let mut times: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); selected.len()]; vms.len()];
    let mut errors: Vec<Option<String>> = vec![None; selected.len()];
    let record = |report: &mut Report, job: &Job, v: usize, run: u32, t: &[f64]| {
        let vm = &report.vms[v];
        let samples: Vec<Sample> = t
            .iter()
            .enumerate()
            .map(|(i, &time_us)| Sample {
                benchmark: job.label.clone(),
                vm: vm.id.clone(),
                flags: vm.flags.clone(),
                run,
                iteration: i as u32,
                warmup: (i as u32) < o.warmup,
                time_us,
            })
            .collect();
        report.samples.extend(samples);
        t[o.warmup as usize..].to_vec()
    };
    for run in 0..o.runs {
        for (k, job) in selected.iter().enumerate() {
            for (v, vm) in vms.iter().enumerate() {
                if errors[k].is_some() {
                    break;
                }
                match run_all(&o, vm, &harness, &extra_cp, job.bench, job.mode) {
                    Ok(t) => {
                        let kept = record(&mut report, job, v, run, &t);
                        times[v][k].extend(kept);
                    }
                    Err(e) if v == 0 => errors[k] = Some(e),
                    Err(e) => errors[k] = Some(format!("{}: {e}", vm.binary.display())),
                }
            }
            if run + 1 == o.runs || errors[k].is_some() {
                let baseline = baseline_index[k]
                    .filter(|&b| b < k && errors[b].is_none() && !times[0][b].is_empty())
                    .map(|b| (selected[b].label.as_str(), median(&mut times[0][b].clone())));
                let of_job: Vec<&[f64]> = times.iter().map(|t| t[k].as_slice()).collect();
                report_progress(
                    &report,
                    (k, selected.len()),
                    &job.label,
                    &of_job,
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
        for (vm, head) in report.vms[1..].iter().zip(&ratio_heads) {
            let Some(t) = summary(&job.label, &vm.id) else {
                continue;
            };
            let ratio = table_pair(&report, &vm.id)
                .and_then(|(num, den)| {
                    report.ratios.iter().find(|r| {
                        r.benchmark == job.label
                            && r.against == "vm"
                            && r.vm == num
                            && r.reference == den
                    })
                })
                .map_or(f64::NAN, |r| r.ratio);
            print!(
                " {:>12.1} {:>8.1} {:>w$.2}",
                t.median_us / 1000.0,
                t.mad_percent,
                ratio,
                w = head.len().max(7)
            );
        }
        println!();
    }
    // Each benchmark against its baseline, one column per VM.
    let ratios: Vec<_> = report
        .ratios
        .iter()
        .filter(|r| r.vm == "ours" && r.against == "baseline")
        .collect();
    if !ratios.is_empty() {
        let many = report.vms.len() > 1;
        println!();
        print!("{:<22} {:<14}", "benchmark", "baseline");
        for vm in &report.vms {
            print!(" {:>7}", if many { vm.id.as_str() } else { "ratio" });
        }
        println!();
        let mut logs = vec![Vec::new(); report.vms.len()];
        for r in &ratios {
            print!("{:<22} {:<14}", r.benchmark, r.reference);
            for (v, vm) in report.vms.iter().enumerate() {
                match report.ratios.iter().find(|x| {
                    x.benchmark == r.benchmark && x.against == "baseline" && x.vm == vm.id
                }) {
                    Some(x) => {
                        logs[v].push(x.ratio.ln());
                        print!(" {:>7.2}", x.ratio);
                    }
                    None => print!(" {:>7}", "-"),
                }
            }
            println!();
        }
        if ratios.len() > 1 {
            print!("{:<22} {:<14}", "geometric mean", "");
            for l in &logs {
                print!(" {:>7.2}", (l.iter().sum::<f64>() / l.len() as f64).exp());
            }
            println!();
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
    if let Some(path) = &o.plot_warmup {
        match plot::write_warmup_plot(&report, &[], path) {
            Ok(()) => eprintln!("som-bench: warm-up plot written to {}", path.display()),
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
