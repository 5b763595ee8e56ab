//! Dispatch-chain tracing: `--trace dispatch` and `RUST_LOG` emit one event
//! per chain transition on stderr, `--dispatch-stats` summarises the sites,
//! and program output is unchanged.

mod common;

use std::process::Command;

fn run(args: &[&str], rust_log: Option<&str>) -> (String, String, i32) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_som"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args(args);
    match rust_log {
        Some(v) => cmd.env("RUST_LOG", v),
        None => cmd.env_remove("RUST_LOG"),
    };
    let o = cmd.output().expect("run som");
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
        o.status.code().unwrap_or(-1),
    )
}

const PROGRAM: &str = "tests/trace/TraceSites.som";

fn events_of<'a>(stderr: &'a str, site: &str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter(|l| l.contains("metasom::dispatch") && l.contains(site))
        .collect()
}

#[test]
fn a_site_growing_to_polymorphic_reports_each_step() {
    let (out, err, status) = run(
        &["--trace", "dispatch", "-cp", "smalltalk-src/core", PROGRAM],
        None,
    );
    assert_eq!(status, 0);
    assert_eq!(out, "done\n", "tracing must not change program output");
    let poly = events_of(&err, "site=\"TraceSites>>#poly:\"");
    let sends: Vec<&&str> = poly
        .iter()
        .filter(|l| l.contains("selector=\"asString\""))
        .collect();
    assert_eq!(sends.len(), 3, "{poly:#?}");
    assert!(
        sends[0].contains("key=\"Integer\"")
            && sends[0].contains("depth=1")
            && sends[0].contains("state=\"monomorphic\"")
    );
    assert!(
        sends[1].contains("key=\"String\"")
            && sends[1].contains("depth=2")
            && sends[1].contains("state=\"polymorphic\"")
    );
    assert!(sends[2].contains("key=\"Symbol\"") && sends[2].contains("depth=3"));
}

#[test]
fn a_site_going_generic_reports_it_once() {
    let (_, err, _) = run(
        &["--trace", "dispatch", "-cp", "smalltalk-src/core", PROGRAM],
        None,
    );
    let mega: Vec<&str> = events_of(&err, "site=\"TraceSites>>#mega:\"")
        .into_iter()
        .filter(|l| l.contains("selector=\"isNil\""))
        .collect();
    // Six cached entries, then one transition to generic, then silence.
    assert_eq!(mega.len(), 7, "{mega:#?}");
    assert!(mega[5].contains("depth=6"));
    assert!(
        mega[6].contains("generic") && mega[6].contains("state=\"generic\""),
        "{}",
        mega[6]
    );
}

#[test]
fn reflective_and_primitive_sites_report_their_kind() {
    let (out, err, _) = run(
        &["--trace", "dispatch", "-cp", "smalltalk-src/core", PROGRAM],
        None,
    );
    assert_eq!(out, "done\n");
    let run_events = events_of(&err, "site=\"TraceSites>>#run\"");
    assert!(
        run_events
            .iter()
            .any(|l| l.contains("kind=\"global\"") && l.contains("key=\"#TraceSites\"")),
        "{run_events:#?}"
    );
    assert!(run_events
        .iter()
        .any(|l| l.contains("kind=\"field\"") && l.contains("key=\"field 1\"")));
    assert!(run_events
        .iter()
        .any(|l| l.contains("kind=\"primitive\"") && l.contains("selector=\"new:\"")));
}

#[test]
fn invalidation_is_an_event_of_the_site() {
    let dir = common::scratch_dir("trace");
    std::fs::write(
        dir.join("Redef.som"),
        "Redef = ( v = ( ^1 ) call = ( ^self v ) run = ( self call. Redef compile: 'v = ( ^2 )'. self call println ) )",
    )
    .unwrap();
    let prog = dir.join("Redef.som");
    let (out, err, _) = run(
        &[
            "--trace",
            "dispatch",
            "-cp",
            "smalltalk-src/core",
            prog.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out, "2\n");
    let inv: Vec<&str> = err.lines().filter(|l| l.contains("invalidated")).collect();
    assert!(
        inv.iter().any(|l| l.contains("site=\"Redef>>#call\"")
            && l.contains("selector=\"v\"")
            && l.contains("state=\"uninitialized\"")),
        "{err}"
    );
}

#[test]
fn rust_log_enables_the_same_events() {
    let (_, err, _) = run(
        &["-cp", "smalltalk-src/core", PROGRAM],
        Some("metasom::dispatch=trace"),
    );
    assert!(!events_of(&err, "site=\"TraceSites>>#poly:\"").is_empty());
    let (_, quiet, _) = run(&["-cp", "smalltalk-src/core", PROGRAM], None);
    assert!(!quiet.contains("metasom::dispatch"));
}

#[test]
fn dispatch_stats_summarise_sites() {
    let (out, err, status) = run(
        &["--dispatch-stats", "-cp", "smalltalk-src/core", PROGRAM],
        None,
    );
    assert_eq!(status, 0);
    assert_eq!(out, "done\n");
    assert!(err.contains("dispatch statistics:"), "{err}");
    assert!(err.contains("deepest chains:"));
    assert!(err.contains("generic  TraceSites>>#mega:"), "{err}");
    assert!(err.contains("3  TraceSites>>#poly:"), "{err}");
}

#[test]
fn events_name_the_source_file_with_line_and_column() {
    let (_, err, status) = run(
        &["--trace", "dispatch", "-cp", "smalltalk-src/core", PROGRAM],
        None,
    );
    assert_eq!(status, 0);
    let poly = events_of(&err, "site=\"TraceSites>>#poly:\"");
    assert!(
        poly.iter()
            .all(|l| l.contains("pos=tests/trace/TraceSites.som:7:20")),
        "{poly:#?}"
    );
}

#[test]
fn dispatch_stats_count_every_chain_kind() {
    let (_, err, status) = run(
        &["--dispatch-stats", "-cp", "smalltalk-src/core", PROGRAM],
        None,
    );
    assert_eq!(status, 0);
    let row = |kind: &str| -> Vec<usize> {
        let line = err
            .lines()
            .find(|l| l.split_whitespace().next() == Some(kind))
            .unwrap_or_else(|| panic!("no {kind} row in\n{err}"));
        line.split_whitespace()
            .skip(1)
            .map(|n| n.parse().unwrap())
            .collect()
    };
    for kind in [
        "send",
        "perform",
        "dnu",
        "field",
        "global",
        "respondsTo",
        "primitive",
        "domain",
    ] {
        assert_eq!(row(kind).len(), 4, "{kind}");
    }
    // TraceSites reads a global and a field reflectively, performs one
    // selector, sends one message only its handler answers, and calls
    // primitives (`with:with:with:`, `at:put:`...); the core library's
    // System adds a global: and a respondsTo: site.
    assert!(row("global")[1] >= 1, "{err}");
    assert_eq!(row("field")[1], 1, "{err}");
    assert_eq!(row("perform")[1], 1, "{err}");
    assert_eq!(row("dnu")[1], 1, "{err}");
    assert!(row("respondsTo")[1] >= 1, "{err}");
    assert!(row("primitive")[1] > 0, "{err}");
    assert_eq!(row("send")[3], 1, "{err}");

    let (_, err, status) = run(&["--dispatch-stats", "tests/trace/TraceDomains.som"], None);
    assert_eq!(status, 0);
    let domain = err
        .lines()
        .find(|l| l.starts_with("domain "))
        .expect("domain row");
    let generic: usize = domain.split_whitespace().last().unwrap().parse().unwrap();
    assert!(generic > 0, "{err}");
}

/// The number of registered dependents `--dispatch-stats` reports after
/// running GenericRespondsTo with `count`, with the tier in `jit` mode.
fn dependents_after(count: &str, jit: &str) -> usize {
    let (out, err, status) = run(
        &[
            jit,
            "--dispatch-stats",
            "-cp",
            "smalltalk-src/core",
            "tests/trace/GenericRespondsTo.som",
            count,
        ],
        None,
    );
    assert_eq!(status, 0, "{err}");
    assert!(!out.is_empty());
    let line = err
        .lines()
        .find(|l| l.starts_with("dispatch statistics:"))
        .expect("statistics");
    let n = line
        .split(", ")
        .nth(1)
        .and_then(|p| p.split_whitespace().next())
        .unwrap_or_else(|| panic!("no dependents count in {line:?}"));
    n.parse().unwrap()
}

#[test]
fn generic_and_invalidated_sites_register_a_bounded_number_of_times() {
    // A generic respondsTo: site and a super send whose method is redefined
    // again and again: the registry does not grow with the number of calls.
    assert_eq!(
        dependents_after("1000", "--jit=off"),
        dependents_after("30000", "--jit=off")
    );
    // Compiled units register too, once per (re)compilation, and forget
    // the invalidated ones: the registry stops growing once everything hot
    // is compiled, however often the method is redefined.
    assert_eq!(
        dependents_after("60000", "--jit=on"),
        dependents_after("240000", "--jit=on")
    );
}

#[test]
fn unknown_trace_topic_is_a_usage_error() {
    let (_, err, status) = run(&["--trace", "everything", "x.som"], None);
    assert_eq!(status, 2);
    assert!(err.contains("cannot trace 'everything'"));
}

#[test]
fn domain_chains_report_their_transitions_as_kind_domain() {
    let (out, err, status) = run(
        &["--trace", "dispatch", "tests/trace/TraceDomains.som"],
        None,
    );
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "done\n");
    let sends: Vec<&str> = events_of(&err, "site=\"TraceDomains>>#touch:\"")
        .into_iter()
        .filter(|l| l.contains("kind=\"domain\""))
        .collect();
    // Seven owners at one site: six cached entries, then generic.
    assert_eq!(sends.len(), 7, "{sends:#?}");
    assert!(sends[0].contains("key=a TraceDomain") && sends[0].contains("state=\"monomorphic\""));
    assert!(sends[5].contains("depth=6") && sends[5].contains("cached standard"));
    assert!(sends[6].contains("state=\"generic\""), "{}", sends[6]);
    let reads: Vec<&str> = events_of(&err, "site=\"TraceDomains>>#value\"")
        .into_iter()
        .filter(|l| l.contains("selector=\"readField:of:\""))
        .collect();
    assert!(
        reads[0].contains("cached handler")
            && reads[0].contains("pos=tests/trace/TraceDomains.som:7:17"),
        "{}",
        reads[0]
    );
    assert!(reads[1].contains("cached standard"));
    assert!(reads[6].contains("state=\"generic\""));
    // Changing TraceDomain's handler drops exactly its entry.
    let inv: Vec<&str> = events_of(&err, "site=\"TraceDomains>>#other\"")
        .into_iter()
        .filter(|l| l.contains("invalidated"))
        .collect();
    assert_eq!(inv.len(), 1, "{err}");
    assert!(inv[0].contains("dropped=1") && inv[0].contains("key=\"TraceDomain\""));
    assert!(err.contains("changed owner"));
}
