//! Machine-readable results of a `som-bench` run (`--json FILE`): every
//! iteration time of every run of every VM, the summary statistics the
//! table shows, the ratios to baselines, and the run's metadata.
//!
//! The format is `serde_json` of [`Report`]; `som-bench plot results.json`
//! reads it back. Its `schema` field is [`SCHEMA`]; a field added later is
//! optional (`#[serde(default)]`), so older files still load.

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

/// The value of [`Report::schema`].
pub const SCHEMA: &str = "som-bench/1";

/// One run of `som-bench` on one suite.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: String,
    pub metadata: Metadata,
    /// The VMs measured, ours first, then each `--compare`/`--compare-jit`
    /// VM in command-line order.
    pub vms: Vec<VmInfo>,
    /// `--baseline-vm`: the VM every other VM is normalised to. `None` (the
    /// default, and files written before it existed): the first VM is
    /// normalised to each other VM (ours / theirs), as with one `--compare`.
    #[serde(default)]
    pub baseline_vm: Option<String>,
    /// The benchmarks in the order they ran, with what they are compared to.
    pub benchmarks: Vec<BenchInfo>,
    /// Every iteration time, warm-up iterations included (marked).
    pub samples: Vec<Sample>,
    /// Per benchmark and VM: the statistics of the post-warm-up samples.
    pub summaries: Vec<Summary>,
    /// Median ratios: each benchmark to its baseline benchmark (same VM), and
    /// across VMs (same benchmark) for each of [`Report::vm_pairs`].
    pub ratios: Vec<Ratio>,
}

/// Where and how the run happened.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Metadata {
    /// `git rev-parse HEAD` of the checkout `som-bench` ran in, if any.
    pub commit: Option<String>,
    /// Whether that checkout had uncommitted changes (`git status`), if known.
    #[serde(default)]
    pub dirty: Option<bool>,
    pub hostname: String,
    /// Logical CPUs (`available_parallelism`).
    pub cpus: usize,
    pub os: String,
    pub arch: String,
    /// UTC, RFC 3339 (`2026-11-29T16:20:00Z`).
    pub date: String,
    /// Seconds since the Unix epoch, for sorting.
    pub unix_time: u64,
    /// `som-bench` and its arguments, as given.
    pub command_line: Vec<String>,
    pub suite: String,
    pub runs: u32,
    pub iterations: u32,
    pub warmup: u32,
    pub inner_scale: f64,
}

/// A VM taking part in the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VmInfo {
    /// `ours`; `other` for the one `--compare` VM, or `other1`, `other2`,
    /// ... when several are compared.
    pub id: String,
    /// What to call it in tables and legends (`ours --jit=on`, `SOM++`);
    /// empty in files written before it existed (then the id is used).
    #[serde(default)]
    pub label: String,
    pub binary: String,
    /// The core library on its class path.
    pub core: String,
    /// The flags it was started with (`--jit=off`, ...).
    pub flags: Vec<String>,
}

impl VmInfo {
    /// Its label, or its id when it has none.
    pub fn name(&self) -> &str {
        if self.label.is_empty() {
            &self.id
        } else {
            &self.label
        }
    }
}

/// A benchmark of the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BenchInfo {
    /// The label it is reported under (`Richards`, `Richards+omop`).
    pub name: String,
    /// Inner iterations (after `--scale`).
    pub inner: u32,
    /// The benchmark it is normalised to, if any.
    pub baseline: Option<String>,
    /// Why it has no results, if it failed.
    #[serde(default)]
    pub error: Option<String>,
}

/// One iteration time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    pub benchmark: String,
    /// A [`VmInfo::id`].
    pub vm: String,
    /// The VM's flags (a copy of [`VmInfo::flags`], so a sample stands alone).
    pub flags: Vec<String>,
    /// Which run (process) of the benchmark, from 0.
    pub run: u32,
    /// Which iteration of that run, from 0.
    pub iteration: u32,
    /// Dropped from the statistics (one of the first `--warmup` of its run).
    pub warmup: bool,
    /// Microseconds, as the harness reports it.
    pub time_us: f64,
}

/// Statistics of one benchmark on one VM (post-warm-up samples).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub benchmark: String,
    pub vm: String,
    pub median_us: f64,
    pub min_us: f64,
    pub max_us: f64,
    /// Median absolute deviation, % of the median.
    pub mad_percent: f64,
    pub samples: usize,
}

/// A ratio of medians.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ratio {
    pub benchmark: String,
    /// The VM whose numerator it is.
    pub vm: String,
    /// `baseline` (another benchmark on the same VM) or `vm` (the same
    /// benchmark on another VM).
    pub against: String,
    /// The baseline benchmark, or the other VM's id (the denominator).
    pub reference: String,
    pub ratio: f64,
}

/// Statistics of one benchmark's iteration times (microseconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub mad_percent: f64,
    pub samples: usize,
}

/// The median of `v` (sorted in place); NaN when empty.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Median, extremes and MAD of `times` (not empty).
pub fn stats(mut times: Vec<f64>) -> Stats {
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

impl Report {
    /// An empty report for a run described by `metadata`.
    pub fn new(metadata: Metadata) -> Report {
        Report {
            schema: SCHEMA.to_string(),
            metadata,
            vms: Vec::new(),
            baseline_vm: None,
            benchmarks: Vec::new(),
            samples: Vec::new(),
            summaries: Vec::new(),
            ratios: Vec::new(),
        }
    }

    /// The VM comparisons of the report, as (numerator, denominator) ids:
    /// without [`Report::baseline_vm`] the first VM against each other one
    /// (ours / theirs), with it every other VM against the baseline.
    pub fn vm_pairs(&self) -> Vec<(String, String)> {
        match &self.baseline_vm {
            Some(base) => self
                .vms
                .iter()
                .filter(|v| &v.id != base)
                .map(|v| (v.id.clone(), base.clone()))
                .collect(),
            None => self
                .vms
                .iter()
                .skip(1)
                .filter_map(|v| Some((self.vms.first()?.id.clone(), v.id.clone())))
                .collect(),
        }
    }

    /// The VM with id `id`.
    pub fn vm(&self, id: &str) -> Option<&VmInfo> {
        self.vms.iter().find(|v| v.id == id)
    }

    /// All times (warm-up included) of `benchmark` on `vm`, as (run,
    /// iteration, microseconds), in run order.
    pub fn all_times(&self, benchmark: &str, vm: &str) -> Vec<(u32, u32, f64)> {
        self.samples
            .iter()
            .filter(|s| s.benchmark == benchmark && s.vm == vm)
            .map(|s| (s.run, s.iteration, s.time_us))
            .collect()
    }

    /// The post-warm-up times of `benchmark` on `vm`, in run order.
    pub fn times(&self, benchmark: &str, vm: &str) -> Vec<f64> {
        self.samples
            .iter()
            .filter(|s| s.benchmark == benchmark && s.vm == vm && !s.warmup)
            .map(|s| s.time_us)
            .collect()
    }

    /// Fills `summaries` and `ratios` from `samples` (benchmarks with an
    /// error or no samples get none).
    pub fn summarize(&mut self) {
        self.summaries.clear();
        self.ratios.clear();
        for b in &self.benchmarks {
            if b.error.is_some() {
                continue;
            }
            for vm in &self.vms {
                let t = self.times(&b.name, &vm.id);
                if t.is_empty() {
                    continue;
                }
                let s = stats(t);
                self.summaries.push(Summary {
                    benchmark: b.name.clone(),
                    vm: vm.id.clone(),
                    median_us: s.median,
                    min_us: s.min,
                    max_us: s.max,
                    mad_percent: s.mad_percent,
                    samples: s.samples,
                });
            }
        }
        let median_of = |b: &str, vm: &str| {
            self.summaries
                .iter()
                .find(|s| s.benchmark == b && s.vm == vm)
                .map(|s| s.median_us)
        };
        let mut ratios = Vec::new();
        let pairs = self.vm_pairs();
        for b in &self.benchmarks {
            for vm in &self.vms {
                let (Some(m), Some(base)) = (median_of(&b.name, &vm.id), &b.baseline) else {
                    continue;
                };
                if let Some(bm) = median_of(base, &vm.id) {
                    ratios.push(Ratio {
                        benchmark: b.name.clone(),
                        vm: vm.id.clone(),
                        against: "baseline".into(),
                        reference: base.clone(),
                        ratio: m / bm,
                    });
                }
            }
            for (num, den) in &pairs {
                if let (Some(m), Some(om)) = (median_of(&b.name, num), median_of(&b.name, den)) {
                    ratios.push(Ratio {
                        benchmark: b.name.clone(),
                        vm: num.clone(),
                        against: "vm".into(),
                        reference: den.clone(),
                        ratio: m / om,
                    });
                }
            }
        }
        self.ratios = ratios;
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serializes")
    }

    /// Reads a report written by [`Report::to_json`].
    pub fn from_json(text: &str) -> Result<Report, String> {
        let r: Report = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if r.schema != SCHEMA {
            return Err(format!("schema '{}', expected '{SCHEMA}'", r.schema));
        }
        if let Some(base) = &r.baseline_vm {
            if r.vm(base).is_none() {
                return Err(format!("baseline_vm '{base}' is not one of the vms"));
            }
        }
        Ok(r)
    }

    /// Writes the report to `path`.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        std::fs::write(path, self.to_json() + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// Reads a report from `path`.
    pub fn read(path: &Path) -> Result<Report, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Report::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

impl Metadata {
    /// The metadata of a run starting now in the checkout at `root`.
    #[allow(clippy::too_many_arguments, reason = "one argument per run parameter")]
    pub fn collect(
        root: &Path,
        command_line: Vec<String>,
        suite: &str,
        runs: u32,
        iterations: u32,
        warmup: u32,
        inner_scale: f64,
    ) -> Metadata {
        let unix_time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let git = |args: &[&str]| {
            Command::new("git")
                .arg("-C")
                .arg(root)
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        let commit = git(&["rev-parse", "HEAD"]).filter(|c| !c.is_empty());
        let dirty = commit
            .as_ref()
            .and_then(|_| git(&["status", "--porcelain", "--untracked-files=no"]))
            .map(|s| !s.is_empty());
        Metadata {
            commit,
            dirty,
            hostname: hostname(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            date: rfc3339_utc(unix_time),
            unix_time,
            command_line,
            suite: suite.to_string(),
            runs,
            iterations,
            warmup,
            inner_scale,
        }
    }
}

/// The machine's host name (`/proc/sys/kernel/hostname`, `$HOSTNAME`, or
/// the `hostname` command), or `unknown`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| {
            Command::new("hostname")
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        })
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// `secs` since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian,
/// after Howard Hinnant's `civil_from_days`).
pub fn rfc3339_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
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

    #[test]
    fn dates_are_utc_rfc3339() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_796_055_600), "2026-11-30T16:20:00Z");
    }
}
