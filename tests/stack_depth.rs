//! Deep recursion ends in the SOM error `stack overflow` at
//! `MAX_ACTIVATION_DEPTH` activations, whatever the route (sends, blocks, the
//! perform family, `doesNotUnderstand:`, exception handlers, `ensure:`,
//! library iteration, enforced execution and domain handlers), with exit
//! status 1, quickly and with modest memory; primitives that call each other
//! without any activation hit the native-stack guard instead: never a native
//! stack overflow that aborts the process.
//!
//! Everything runs in one test function, one child at a time, so that
//! `getrusage(RUSAGE_CHILDREN)` (the peak RSS of the largest finished child)
//! measures exactly these runs.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The routes of `tests/stack/Routes.som`.
const ROUTES: &[&str] = &[
    "plain",
    "block",
    "forward",
    "dnu",
    "perform",
    "performWith",
    "performWithArguments",
    "performInSuperclass",
    "handler",
    "protected",
    "ensure",
    "ifCurtailed",
    "do",
    "inject",
    "enforced",
    "enforcedHandler",
];

/// Routes with no SOM activation per level (primitives calling primitives):
/// the native-stack guard stops them, after the whole interpreter stack, so
/// they run last and their memory is not checked.
const BACKSTOP_ROUTES: &[&str] = &["selfPerform", "selfInvoke"];

/// Peak RSS any route may reach (the bound).
const MAX_RSS_BYTES: u64 = 256 << 20;

/// Wall time any route may take (generous: debug builds on a loaded machine).
const MAX_TIME: Duration = Duration::from_secs(10);

fn peak_child_rss_bytes() -> u64 {
    // SAFETY: getrusage only writes the struct we pass.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut u), 0);
        u
    };
    // Linux reports ru_maxrss in kilobytes.
    usage.ru_maxrss as u64 * 1024
}

#[test]
fn every_recursion_route_ends_in_a_clean_stack_overflow_with_modest_memory() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let som = env!("CARGO_BIN_EXE_som");
    let mut failures = Vec::new();
    for route in ROUTES.iter().chain(BACKSTOP_ROUTES) {
        let start = Instant::now();
        let out = Command::new(som)
            .current_dir(&root)
            .args(["-cp", "smalltalk-src/core", "tests/stack/Routes.som", route])
            .output()
            .expect("run som");
        let took = start.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let rss = peak_child_rss_bytes();
        if out.status.code() != Some(1) {
            failures.push(format!("{route}: status {:?}", out.status));
        }
        if !stderr.contains("stack overflow") || stderr.contains("overflowed its stack") {
            failures.push(format!(
                "{route}: stderr {:?}",
                &stderr[..stderr.len().min(300)]
            ));
        }
        if took > MAX_TIME {
            failures.push(format!("{route}: took {took:?}"));
        }
        if rss > MAX_RSS_BYTES && !BACKSTOP_ROUTES.contains(route) {
            failures.push(format!("{route}: peak RSS {} MB", rss >> 20));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
