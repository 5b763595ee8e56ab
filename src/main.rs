//! `som`: the metasom command-line launcher.
//!
//! `som [options] [-cp dir1:dir2] path/Main.som [args...]` follows SOM's
//! conventions: options are read up to the first non-option argument; the main
//! file's directory goes in front of the class path; the class name and the
//! remaining arguments reach `System>>initialize:` as Strings. Exit status: 0 on
//! normal completion, `n` for `system exit: n`, 1 for SOM-level errors and
//! malformed sources, 2 for bad command lines, 70 for internal VM errors.
//!
//! The interpreter runs on a thread with a large native stack
//! ([`INTERPRETER_STACK_SIZE`]): deep SOM recursion ends in a clean "stack
//! overflow" error at `som_runtime::vm::MAX_ACTIVATION_DEPTH` activations, well
//! before the native stack is exhausted; the VM's native-stack guard reports the
//! same error for any other deep Rust recursion.
//!
//! Memory: a String longer than `som_runtime::vm::MAX_STRING_LENGTH` or an
//! Array longer than `MAX_ARRAY_LENGTH` is a catchable SOM error; any other
//! allocation the system refuses ends the process with `som: out of memory`
//! and status 1 ([`ExitOnOutOfMemory`]), never a crash.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

use som_compiler::jit::CraneliftTier;
use som_compiler::SomFrontend;
use som_runtime::tier::JitMode;
use som_runtime::{LoadError, Outcome, Vm};

/// The system allocator, except that an allocation it refuses ends the
/// process with `som: out of memory` and status 1. Rust's default is an
/// abort, and the VM's heap has no way to go on without the memory.
struct ExitOnOutOfMemory;

#[global_allocator]
static ALLOCATOR: ExitOnOutOfMemory = ExitOnOutOfMemory;

/// Reports that memory is exhausted and ends the process. Only async-signal-
/// safe calls: allocating (or running exit handlers that might) is what just
/// failed.
#[cold]
#[inline(never)]
fn out_of_memory() -> ! {
    const MESSAGE: &[u8] = b"som: out of memory\n";
    // SAFETY: write(2) reads MESSAGE's bytes, a static buffer; _exit(2) ends
    // the process without touching the heap.
    unsafe {
        libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
        libc::_exit(1)
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments and
// only adds a check of the result, so `System`'s guarantees carry over.
unsafe impl GlobalAlloc for ExitOnOutOfMemory {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is `System.alloc`'s.
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            out_of_memory();
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            out_of_memory();
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System`; the caller's contract is its.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            out_of_memory();
        }
        p
    }
}

/// Native stack of the interpreter thread. Virtual memory: only the pages a
/// program actually uses are committed. `MAX_ACTIVATION_DEPTH` activations use
/// 30-80 MB of it (measured for plain, block, perform, `doesNotUnderstand:`,
/// exception-handler and enforced recursion), so the depth limit is always
/// reached first; the size also bounds what the native-stack guard lets any
/// other recursion commit.
const INTERPRETER_STACK_SIZE: usize = 256 << 20;

const USAGE: &str = "\
usage: som [options] [-cp dir1:dir2:...] path/Main.som [arguments...]

Runs a SOM program: loads class Main from Main.som, creates an instance and
sends it #run: with the arguments (or #run).

options:
  -cp, --cp, --classpath DIRS   directories to search for classes, separated by ':'
  --gc-stress                   collect garbage before every allocation (testing)
  --jit=off|on|eager            the compiled tier: off (interpreter only), on
                                (default: bodies compiled once hot), eager
                                (compiled at first call, recompiled when a
                                chain they were compiled from changes)
  --print-ir='Class>>#selector'  print each compilation of that method (the
                                optimized CLIF and the machine code) to stderr
  --perf-map                    name compiled code in /tmp/perf-<pid>.map
                                for `perf report`
  --trace dispatch,jit          log every dispatch-chain transition (dispatch)
                                and every compilation and invalidation (jit)
                                to stderr (RUST_LOG=metasom::dispatch=trace,
                                metasom::jit=trace do the same)
  --trace-format=text|json      json: one JSON object per traced event (seq,
                                t_us, cat, event, site, file, line, col, kind,
                                key, depth, state, unit, ...)
  --dispatch-stats              print a summary of all send sites at exit (stderr)
  --verify-caches               re-check every cache hit against a full lookup;
                                a disagreement is a VM bug (exit status 70);
                                checks the interpreter's caches, so the
                                compiled tier is off
  -h, --help                    show this help
  --version                     show the version

The core library is taken from the class path; when it has no Object.som, the
library shipped with metasom (smalltalk-src/core, embedded in this binary) is
used, and likewise the OMOP library (smalltalk-src/omop) when it has no
Domain.som.";

struct Options {
    classpath: Vec<PathBuf>,
    gc_stress: bool,
    trace: Vec<String>,
    /// `--trace-format=json`: one JSON object per event.
    trace_json: bool,
    dispatch_stats: bool,
    verify_caches: bool,
    jit: JitMode,
    print_ir: Option<String>,
    perf_map: bool,
    program: Vec<String>,
}

enum Cli {
    Run(Options),
    Exit(u8),
}

fn parse_args(args: Vec<String>) -> Cli {
    let mut classpath = Vec::new();
    let mut gc_stress = false;
    let mut trace = Vec::new();
    let mut trace_json = false;
    let mut dispatch_stats = false;
    let mut verify_caches = false;
    let mut jit = JitMode::On;
    let mut print_ir = None;
    let mut perf_map = false;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        match a.as_str() {
            "-cp" | "--cp" | "--classpath" => {
                let Some(v) = args.get(i + 1) else {
                    eprintln!("som: {a} needs a list of directories\n\n{USAGE}");
                    return Cli::Exit(2);
                };
                classpath.extend(v.split(':').filter(|s| !s.is_empty()).map(PathBuf::from));
                i += 2;
            }
            "--gc-stress" => {
                gc_stress = true;
                i += 1;
            }
            "--trace" => {
                let Some(v) = args.get(i + 1) else {
                    eprintln!("som: --trace needs what to trace (dispatch)\n\n{USAGE}");
                    return Cli::Exit(2);
                };
                for what in v.split(',') {
                    if what != "dispatch" && what != "jit" {
                        eprintln!("som: cannot trace '{what}' (known: dispatch, jit)");
                        return Cli::Exit(2);
                    }
                    trace.push(what.to_string());
                }
                i += 2;
            }
            "--trace-format=json" | "--trace-format=text" => {
                trace_json = a.ends_with("json");
                i += 1;
            }
            s if s.starts_with("--trace-format") => {
                eprintln!("som: --trace-format=text or --trace-format=json, not '{s}'");
                return Cli::Exit(2);
            }
            "--dispatch-stats" => {
                dispatch_stats = true;
                i += 1;
            }
            "--verify-caches" => {
                verify_caches = true;
                i += 1;
            }
            "--perf-map" => {
                perf_map = true;
                i += 1;
            }
            s if s.starts_with("--jit=") => {
                jit = match &s["--jit=".len()..] {
                    "off" => JitMode::Off,
                    "on" => JitMode::On,
                    "eager" => JitMode::Eager,
                    other => {
                        eprintln!("som: --jit takes off, on or eager, not '{other}'");
                        return Cli::Exit(2);
                    }
                };
                i += 1;
            }
            s if s.starts_with("--print-ir=") => {
                print_ir = Some(s["--print-ir=".len()..].to_string());
                i += 1;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Cli::Exit(0);
            }
            "--version" => {
                println!("metasom {}", env!("CARGO_PKG_VERSION"));
                return Cli::Exit(0);
            }
            s if s.starts_with('-') && s.len() > 1 => {
                eprintln!("som: unknown option '{s}'\n\n{USAGE}");
                return Cli::Exit(2);
            }
            _ => break,
        }
    }
    let program = args[i..].to_vec();
    if program.is_empty() {
        eprintln!("som: no program given\n\n{USAGE}");
        return Cli::Exit(2);
    }
    Cli::Run(Options {
        classpath,
        gc_stress,
        trace,
        trace_json,
        dispatch_stats,
        verify_caches,
        jit,
        print_ir,
        perf_map,
        program,
    })
}

/// The SOM libraries shipped with metasom, embedded by `build.rs`: `CORE`
/// (`smalltalk-src/core`) and `OMOP` (`smalltalk-src/omop`: Domain, Mirror,
/// ActorDomain...).
mod libraries {
    include!(concat!(env!("OUT_DIR"), "/libraries.rs"));
}

fn run(opts: Options) -> u8 {
    let main_path = PathBuf::from(&opts.program[0]);
    let file_name = main_path
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default();
    let class_name = file_name
        .strip_suffix(".som")
        .unwrap_or(&file_name)
        .to_string();
    let mut classpath = Vec::new();
    let dir = main_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    classpath.push(dir.clone());
    for entry in opts.classpath {
        // SOM VMs accept class paths with stale entries; say so, since a
        // typo here otherwise shows up much later as a missing class.
        if !entry.is_dir() {
            eprintln!(
                "som: warning: class path entry '{}' is not a directory",
                entry.display()
            );
        }
        classpath.push(entry);
    }
    let main_file = dir.join(format!("{class_name}.som"));
    if !main_file.is_file() {
        eprintln!("som: cannot find '{}'", main_file.display());
        return 1;
    }
    let mut embedded = Vec::new();
    if !classpath.iter().any(|d| d.join("Domain.som").is_file()) {
        embedded.push(&libraries::OMOP);
    }
    if !classpath.iter().any(|d| d.join("Object.som").is_file()) {
        embedded.push(&libraries::CORE);
    }

    let mut vm = Vm::new(classpath, Rc::new(SomFrontend));
    vm.embedded = embedded;
    vm.verify_caches = opts.verify_caches;
    som_omop::install(&mut vm);
    if let Err(e) = vm.bootstrap() {
        eprintln!(
            "som: cannot load the core library: {e} (looked in: {})",
            vm.class_search_path()
        );
        return 1;
    }
    vm.heap.stress = opts.gc_stress;
    let mode = if opts.verify_caches {
        JitMode::Off
    } else {
        opts.jit
    };
    if mode != JitMode::Off {
        let tier = CraneliftTier::new(opts.print_ir.clone()).and_then(|t| {
            if opts.perf_map {
                t.with_perf_map()
            } else {
                Ok(t)
            }
        });
        match tier {
            Ok(t) => vm.set_tier(Some(Rc::new(t)), mode),
            Err(e) => eprintln!("som: warning: compiled tier unavailable ({e}); interpreting"),
        }
    }
    match vm.load_class_from_path(&main_file, Some(&class_name)) {
        Ok(_) => {}
        Err(LoadError::Compile(msg)) | Err(LoadError::Definition(msg)) => {
            eprintln!("{msg}");
            return 1;
        }
        Err(e) => {
            eprintln!("som: {e}");
            return 1;
        }
    }
    let mut args = vec![class_name];
    args.extend(opts.program[1..].iter().cloned());
    let outcome = vm.run_main(&args);
    if opts.dispatch_stats {
        eprint!("{}", vm.dispatch_stats());
    }
    match outcome {
        Outcome::Exit(n) => n.clamp(0, 255) as u8,
        Outcome::Error(e) => {
            eprint!("{}", e.render());
            1
        }
    }
}

/// Installs the `tracing` subscriber: `--trace dispatch` and `RUST_LOG` both
/// enable events; they go to stderr so program output is unchanged.
fn init_tracing(trace: &[String], json: bool) {
    let mut filter = std::env::var("RUST_LOG").unwrap_or_default();
    for (what, target) in [("dispatch", "metasom::dispatch"), ("jit", "metasom::jit")] {
        if trace.iter().any(|t| t == what) {
            if !filter.is_empty() {
                filter.push(',');
            }
            filter.push_str(target);
            filter.push_str("=trace");
        }
    }
    if filter.is_empty() {
        return;
    }
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .without_time()
        .with_ansi(false);
    let _ = if json {
        fmt.event_format(JsonLines::default()).try_init()
    } else {
        fmt.try_init()
    };
}

/// `--trace-format=json`: each event as one JSON line
/// (`som_runtime::trace::event_json`), numbered in order.
#[derive(Default)]
struct JsonLines {
    seq: std::sync::atomic::AtomicU64,
    start: std::sync::OnceLock<std::time::Instant>,
}

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for JsonLines
where
    S: som_runtime::trace::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &som_runtime::trace::Event<'_>,
    ) -> std::fmt::Result {
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let start = *self.start.get_or_init(std::time::Instant::now);
        let t_us = start.elapsed().as_micros() as u64;
        writeln!(
            writer,
            "{}",
            som_runtime::trace::event_json(seq, t_us, event)
        )
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_args(args) {
        Cli::Run(o) => o,
        Cli::Exit(n) => return ExitCode::from(n),
    };
    init_tracing(&opts.trace, opts.trace_json);
    std::panic::set_hook(Box::new(|info| {
        eprintln!("som: internal error (a VM bug, please report it): {info}");
    }));
    let handle = std::thread::Builder::new()
        .name("som-interpreter".into())
        .stack_size(INTERPRETER_STACK_SIZE)
        .spawn(move || run(opts));
    match handle.map(|h| h.join()) {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(_)) => ExitCode::from(70),
        Err(e) => {
            eprintln!("som: cannot start the interpreter thread: {e}");
            ExitCode::from(70)
        }
    }
}
