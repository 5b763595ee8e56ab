//! Language tests: every `tests/lang/**/*.som` file is a program with its
//! expected behaviour in a header comment, run through the real `som` binary.
//!
//! Header format (the first comment of the file):
//!
//! ```text
//! "
//! status: 0                (exit status; default 0)
//! args: a b                (program arguments; optional)
//! stdout:                  (exact standard output, indented lines)
//!     line 1
//!     line 2
//! stderr:                  (lines that must appear in standard error, in order)
//!     stack overflow
//! "
//! ```
//!
//! Each test runs once per execution configuration, all expected to behave
//! identically: the interpreter alone (`--jit=off`), with `--gc-stress` (a
//! collection before every allocation) and with `--verify-caches` (every
//! cache hit re-checked against a full lookup; a disagreement is a VM bug,
//! exit status 70); the compiled tier forced on (`--jit=eager`: every body
//! compiled at its first call and recompiled as its chains learn), alone and
//! under `--gc-stress`; and the default (`--jit=on`).
//! Set `LANG_TEST_FILTER=substring` to run a subset.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

struct Expectation {
    status: i32,
    args: Vec<String>,
    stdout: Option<String>,
    stderr: Vec<String>,
}

fn parse_header(path: &Path, text: &str) -> Result<Expectation, String> {
    let start = text.find('"').ok_or("no header comment")?;
    let rest = &text[start + 1..];
    let end = rest.find('"').ok_or("unterminated header comment")?;
    let header = &rest[..end];
    let mut exp = Expectation {
        status: 0,
        args: Vec::new(),
        stdout: None,
        stderr: Vec::new(),
    };
    let mut section: Option<&str> = None;
    let mut stdout_lines: Vec<String> = Vec::new();
    for line in header.lines() {
        let trimmed = line.trim();
        let indented = line.starts_with("    ") || line.starts_with('\t');
        if indented && section.is_some() {
            let content = line
                .strip_prefix("    ")
                .or_else(|| line.strip_prefix('\t'))
                .unwrap_or(line);
            match section {
                Some("stdout") => stdout_lines.push(content.to_string()),
                Some("stderr") => exp.stderr.push(content.trim().to_string()),
                _ => {}
            }
            continue;
        }
        if trimmed.is_empty() {
            // Inside stdout, an empty line is an empty output line; trailing
            // ones are dropped below.
            if section == Some("stdout") {
                stdout_lines.push(String::new());
            }
            continue;
        }
        section = None;
        if let Some(v) = trimmed.strip_prefix("status:") {
            exp.status = v
                .trim()
                .parse()
                .map_err(|_| format!("{}: bad status", path.display()))?;
        } else if let Some(v) = trimmed.strip_prefix("args:") {
            exp.args = v.split_whitespace().map(str::to_string).collect();
        } else if trimmed == "stdout:" {
            section = Some("stdout");
            exp.stdout = Some(String::new());
        } else if trimmed == "stderr:" {
            section = Some("stderr");
        }
    }
    while stdout_lines.last().is_some_and(|l| l.is_empty()) {
        stdout_lines.pop();
    }
    if exp.stdout.is_some() {
        let mut s = stdout_lines.join("\n");
        if !stdout_lines.is_empty() {
            s.push('\n');
        }
        exp.stdout = Some(s);
    }
    Ok(exp)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "som") {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            // Support classes of a multi-class test carry no header.
            if text.trim_start().starts_with("\"\nstatus:")
                || text.contains("\nstdout:")
                || text.contains("\nstatus:")
            {
                out.push(p);
            }
        }
    }
}

fn run_one(som: &str, root: &Path, path: &Path, extra: &[&str]) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let exp = parse_header(path, &text)?;
    let core = root.join("smalltalk-src/core");
    let rel = path.strip_prefix(root).unwrap_or(path);
    let out = Command::new(som)
        .current_dir(root)
        .args(extra)
        .arg("-cp")
        .arg(&core)
        .arg(rel)
        .args(&exp.args)
        .output()
        .map_err(|e| format!("cannot run som: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let status = out.status.code().unwrap_or(-1);
    let mut problems = Vec::new();
    if status != exp.status {
        problems.push(format!("exit status {status}, expected {}", exp.status));
    }
    if let Some(want) = &exp.stdout {
        if *want != stdout {
            problems.push(format!(
                "stdout differs.\n--- expected\n{want}--- actual\n{stdout}---"
            ));
        }
    }
    let mut from = 0;
    for line in &exp.stderr {
        match stderr[from..].find(line.as_str()) {
            Some(i) => from += i + line.len(),
            None => problems.push(format!("stderr lacks {line:?}")),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\nstderr was:\n{stderr}", problems.join("\n")))
    }
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let som = env!("CARGO_BIN_EXE_som");
    let mut files = Vec::new();
    collect(&root.join("tests/lang"), &mut files);
    // The examples carry expected output too, so they cannot rot.
    collect(&root.join("smalltalk-src/examples"), &mut files);
    files.sort();
    if let Ok(f) = std::env::var("LANG_TEST_FILTER") {
        files.retain(|p| p.to_string_lossy().contains(&f));
    }
    let configs: [(&str, &[&str]); 6] = [
        ("jit-off", &["--jit=off"]),
        ("gc-stress", &["--jit=off", "--gc-stress"]),
        ("verify-caches", &["--verify-caches"]),
        ("jit-eager", &["--jit=eager"]),
        ("jit-eager-gc-stress", &["--jit=eager", "--gc-stress"]),
        ("jit-on", &[]),
    ];
    let jobs: Vec<(PathBuf, &str, &[&str])> = files
        .iter()
        .flat_map(|f| configs.iter().map(move |(n, a)| (f.clone(), *n, *a)))
        .collect();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((path, name, args)) = jobs.get(i) else {
                    break;
                };
                if let Err(e) = run_one(som, &root, path, args) {
                    failures.lock().unwrap().push(format!(
                        "FAIL [{name}] {}\n{e}",
                        path.strip_prefix(&root).unwrap_or(path).display()
                    ));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    for f in &failures {
        eprintln!("{f}\n");
    }
    let total = jobs.len();
    println!(
        "language tests: {} files x {} configurations",
        files.len(),
        configs.len()
    );
    println!(
        "{} passed, {} failed",
        total - failures.len(),
        failures.len()
    );
    if !failures.is_empty() || files.is_empty() {
        std::process::exit(1);
    }
}
