//! The compiled tier seen through the `som` binary: what it compiles
//! (`--print-ir` listings), what it reports (`--trace jit`) and its flags.
//! That compiled code computes what the interpreter computes is the job of
//! the language tests, which run every program with the tier off and eager.

use std::process::{Command, Output};

const SOM: &str = env!("CARGO_BIN_EXE_som");

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a reflection benchmark under the harness with extra flags.
/// `som` with `args`, from the workspace root.
fn run_som(args: &[&str]) -> Output {
    Command::new(SOM)
        .current_dir(root())
        .args(args)
        .output()
        .expect("som runs")
}

fn run_benchmark(name: &str, flags: &[&str]) -> Output {
    Command::new(SOM)
        .current_dir(root())
        .args(flags)
        .args([
            "-cp",
            "smalltalk-src/core:benchmarks/reflection",
            "benchmarks/harness/Harness.som",
            name,
            "3",
            "5",
        ])
        .output()
        .expect("som runs")
}

/// The listings `--print-ir` printed, one per compilation.
fn listings(stderr: &str) -> Vec<String> {
    stderr
        .split("; unit ")
        .skip(1)
        .map(|s| format!("; unit {s}"))
        .collect()
}

/// The CLIF blocks of a listing that are not cold, as (header, body).
fn hot_blocks(listing: &str) -> Vec<(String, String)> {
    let clif = listing
        .split("; optimized CLIF")
        .nth(1)
        .and_then(|s| s.split("; machine code").next())
        .expect("a CLIF section");
    let mut blocks = Vec::new();
    let mut cur: Option<(String, String)> = None;
    for line in clif.lines() {
        if line.starts_with("block") {
            if let Some(b) = cur.take() {
                blocks.push(b);
            }
            cur = Some((line.to_string(), String::new()));
        } else if let Some((_, body)) = cur.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    blocks.extend(cur);
    blocks.retain(|(h, _)| !h.contains(" cold"));
    blocks
}

#[test]
fn the_six_reflection_loops_compile_to_hot_code_without_calls() {
    for bench in [
        "DirectAdd",
        "IndirectAdd",
        "PerformAdd",
        "DnuAdd",
        "DnuPerformAdd",
        "ProxyAdd",
    ] {
        let out = run_benchmark(
            bench,
            &["--jit=eager", "--print-ir=AddBenchmark>>#benchmark"],
        );
        assert!(out.status.success(), "{bench}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let all = listings(&err);
        let last = all.last().expect("the benchmark loop was compiled");
        assert!(
            last.contains("inlined") || last.contains("block"),
            "{bench}: {last}"
        );
        let hot = hot_blocks(last);
        assert!(!hot.is_empty(), "{bench}: no hot code in\n{last}");
        for (header, body) in &hot {
            assert!(
                !body.contains("call"),
                "{bench}: hot block {header} calls the runtime:\n{body}\nin\n{last}"
            );
        }
        // The loop is there: a back edge to a block that compares the counter.
        assert!(
            last.contains("icmp sle"),
            "{bench}: no counting loop:\n{last}"
        );
    }
}

#[test]
fn listings_are_normalized_so_two_runs_print_the_same() {
    let a = run_benchmark(
        "DirectAdd",
        &["--jit=eager", "--print-ir=Calculator>>#inc:"],
    );
    let b = run_benchmark(
        "DirectAdd",
        &["--jit=eager", "--print-ir=Calculator>>#inc:"],
    );
    let (la, lb) = (
        listings(&String::from_utf8_lossy(&a.stderr)),
        listings(&String::from_utf8_lossy(&b.stderr)),
    );
    assert!(!la.is_empty());
    assert_eq!(la, lb);
    assert!(la[0].contains("; machine code"));
    // Embedded addresses appear by kind, never as numbers.
    assert!(la.iter().any(|l| l.contains("unit#0")), "{}", la[0]);
    assert!(!la[0].contains("0x7f"), "{}", la[0]);
}

#[test]
fn trace_jit_reports_compilations_and_invalidations() {
    let out = run_som(&[
        "--jit=eager",
        "--trace",
        "jit",
        "tests/lang/tier/TierRedefineInlined.som",
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("metasom::jit"), "{err}");
    assert!(
        err.contains("compiled unit=\"TierRedefineInlined>>#sum:redefineAt:\""),
        "{err}"
    );
    assert!(err.contains("invalidated"), "{err}");
    assert!(err.contains("reason=\"method changed\""), "{err}");
}

#[test]
fn jit_mode_is_checked() {
    let out = Command::new(SOM)
        .args(["--jit=sometimes", "x.som"])
        .output()
        .expect("som runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--jit takes off, on or eager"));
}

#[test]
fn the_tier_is_on_by_default_and_off_when_asked() {
    let on = run_benchmark("DirectAdd", &["--trace", "jit"]);
    assert!(String::from_utf8_lossy(&on.stderr).contains("compiled unit"));
    let off = run_benchmark("DirectAdd", &["--jit=off", "--trace", "jit"]);
    assert!(!String::from_utf8_lossy(&off.stderr).contains("compiled unit"));
    assert_eq!(
        String::from_utf8_lossy(&on.stdout).lines().count(),
        String::from_utf8_lossy(&off.stdout).lines().count()
    );
}

#[test]
fn a_long_loop_in_a_method_run_once_enters_compiled_code() {
    let out = run_som(&["--trace", "jit", "tests/lang/tier/TierOsr.som"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    // One compilation of `run`'s first loop, entered in its middle.
    assert!(err.contains("OSR entry unit=\"TierOsr>>#run\""), "{err}");
    let off = run_som(&["--jit=off", "--trace", "jit", "tests/lang/tier/TierOsr.som"]);
    assert!(!String::from_utf8_lossy(&off.stderr).contains("OSR entry"));
    assert_eq!(out.stdout, off.stdout);
}

#[test]
fn failing_guards_are_traced_and_make_the_unit_recompile() {
    let out = run_som(&["--trace", "jit", "tests/lang/tier/TierGuardFailures.som"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("guard failed unit=\"TierGuardFailures>>#ask:\"")
            && err.contains("expected=TierBase seen=TierThing2"),
        "{err}"
    );
    let invalidated = err
        .find("invalidated unit=\"TierGuardFailures>>#ask:\" reason=\"guard failures\"")
        .expect("invalidated after the failures");
    assert!(
        err[invalidated..].contains("compiled unit=\"TierGuardFailures>>#ask:\""),
        "recompiled: {err}"
    );
    // The chain learns the new receivers at their first failures; the
    // failures of receivers it knows count KNOWN_MISS_WEIGHT each, so the
    // unit is recompiled long before GUARD_MISS_LIMIT failures.
    let failures = err[..invalidated]
        .matches("guard failed unit=\"TierGuardFailures>>#ask:\"")
        .count();
    assert!(
        (2..=60).contains(&failures),
        "{failures} guard failures before the recompilation"
    );
}

#[test]
fn failing_guards_in_enforced_code_make_the_unit_recompile() {
    let out = run_som(&[
        "--trace",
        "jit",
        "tests/lang/tier/TierEnforcedGuardFailures.som",
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let unit = "unit=\"TierEnforcedGuardFailures>>#ask:\"";
    assert!(
        err.contains(&format!("guard failed {unit}"))
            && err.contains("expected=TierBase seen=TierThing2"),
        "{err}"
    );
    let invalidated = err
        .find(&format!("invalidated {unit} reason=\"guard failures\""))
        .expect("invalidated after the failures");
    assert!(
        err[invalidated..].contains(&format!("compiled {unit}")),
        "recompiled: {err}"
    );
}

#[test]
fn a_polymorphic_enforced_site_settles_without_guard_failures() {
    let out = run_som(&[
        "--trace",
        "jit",
        "tests/lang/tier/TierEnforcedUncompiledTarget.som",
    ]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "6000\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("compiled unit=\"TierEnforcedUncompiledTarget>>#sym:\""),
        "{err}"
    );
    assert!(!err.contains("guard failed"), "{err}");
    assert!(!err.contains("reason=\"guard failures\""), "{err}");
}

/// (compilations, live units, live bytes) from `--dispatch-stats`.
fn tier_stats(stderr: &str) -> (u64, u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("compiled tier:"))
        .unwrap_or_else(|| panic!("no tier statistics in {stderr}"));
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        .filter_map(|w| w.parse().ok())
        .collect();
    // "N compilations in X ms, U units live (B bytes of code); ..."
    (nums[0], nums[2], nums[3])
}

#[test]
fn live_code_stays_bounded_while_a_hot_method_is_redefined() {
    let run = |count: &str| {
        let out = run_som(&[
            "--jit=eager",
            "--dispatch-stats",
            "tests/tier/RedefineMany.som",
            count,
        ]);
        assert!(out.status.success(), "{out:?}");
        tier_stats(&String::from_utf8_lossy(&out.stderr))
    };
    let (few_compiled, few_units, few_bytes) = run("20");
    let (many_compiled, many_units, many_bytes) = run("400");
    // Every version was compiled, and the code of the replaced ones freed.
    assert!(
        many_compiled >= few_compiled + 380,
        "{many_compiled} vs {few_compiled}"
    );
    assert!(
        many_units <= few_units + 2,
        "{many_units} units live vs {few_units}"
    );
    assert!(
        many_bytes <= few_bytes + 2 * 4096,
        "{many_bytes} bytes live vs {few_bytes}"
    );
}

#[test]
fn a_primitive_handler_accesses_the_array_its_guard_fixed_without_another_check() {
    // ReqPrimDomain's handler runs `prim invokeOn: obj with: args` on the
    // Array the enforced `at:` site guarded (its owner's shape, which fixes
    // its class): the inlined primitive tests the index only, not the
    // object's kind byte again, and knowing `invokeOn:` of a constant
    // method other than `restart` cannot restart the handler keeps that
    // fact.
    let out = Command::new(SOM)
        .current_dir(root())
        .args([
            "--jit=on",
            "--print-ir=[] in ReqPrimEnforced>>#benchmark",
            "-cp",
            "smalltalk-src/core:benchmarks/omop",
            "benchmarks/harness/Harness.som",
            "ReqPrimEnforced",
            "20",
            "5",
        ])
        .output()
        .expect("som runs");
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let last = listings(&err)
        .pop()
        .expect("the enforced loop was compiled");
    let hot: String = hot_blocks(&last)
        .iter()
        .map(|(h, b)| format!("{h}\n{b}"))
        .collect();
    assert!(hot.contains("shape#"), "the owner's guard:\n{hot}");
    // The kind-byte test of an Array: the header's low byte masked and
    // compared with the Array kind (2).
    let lines: Vec<&str> = hot.lines().collect();
    let kind_test = lines.windows(3).any(|w| {
        w[0].contains("iconst.i64 255") && w[1].contains("band") && w[2].contains("iconst.i64 2")
    });
    assert!(!kind_test, "a kind-byte test after the guard:\n{hot}");
}

#[test]
fn enforced_loops_compile_to_hot_code_without_calls() {
    // DispatchStd runs AddDispatch's loop enforced in the standard domain
    // (every domain chain folds into the shape guard the send needs
    // anyway); the others run enforced in a domain that customises one
    // handler, which is inlined with its reflective step folded (a field
    // load or store, a global's cell, the method's enforced twin, the Array
    // access).
    for bench in [
        "DispatchStd",
        "AddDispatchEnforced",
        "FieldReadEnforced",
        "AddFieldWriteEnforced",
        "GlobalReadEnforced",
        "ReqPrimEnforced",
    ] {
        let out = Command::new(SOM)
            .current_dir(root())
            .args([
                "--jit=on",
                &format!("--print-ir=[] in {bench}>>#benchmark"),
                "-cp",
                "smalltalk-src/core:benchmarks/omop",
                "benchmarks/harness/Harness.som",
                bench,
                "20",
                "5",
            ])
            .output()
            .expect("som runs");
        assert!(out.status.success(), "{bench}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let all = listings(&err);
        let last = all.last().expect("the enforced loop was compiled");
        let hot = hot_blocks(last);
        assert!(!hot.is_empty(), "{bench}: no hot code in\n{last}");
        for (header, body) in &hot {
            assert!(
                !body.contains("call") && !body.contains("heap#"),
                "{bench}: hot block {header} calls the runtime or allocates:\n{body}\nin\n{last}"
            );
        }
        // The generic path is the enforced send, in a cold block.
        assert!(last.contains("rt_enforced_send"), "{bench}: {last}");
        assert!(
            last.contains("icmp sle"),
            "{bench}: no counting loop:\n{last}"
        );
    }
}

#[test]
fn perf_map_names_each_compiled_unit() {
    let child = Command::new(SOM)
        .current_dir(root())
        .args([
            "--jit=eager",
            "--perf-map",
            "-cp",
            "smalltalk-src/core:benchmarks/reflection",
            "benchmarks/harness/Harness.som",
            "DirectAdd",
            "1",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("som runs");
    let path = format!("/tmp/perf-{}.map", child.id());
    let out = child.wait_with_output().expect("som finishes");
    assert!(out.status.success(), "{out:?}");
    let map = std::fs::read_to_string(&path).expect("the perf map was written");
    let _ = std::fs::remove_file(&path);
    let lines: Vec<&str> = map.lines().collect();
    assert!(lines.len() > 5, "{map}");
    for line in &lines {
        let mut parts = line.splitn(3, ' ');
        let (start, size, name) = (parts.next(), parts.next(), parts.next());
        assert!(
            start.is_some_and(|s| u64::from_str_radix(s, 16).is_ok())
                && size.is_some_and(|s| u64::from_str_radix(s, 16).is_ok_and(|n| n > 0))
                && name.is_some_and(|n| n.starts_with("som:")),
            "malformed line {line:?} in\n{map}"
        );
    }
    assert!(
        map.contains("som:AddBenchmark>>#benchmark"),
        "the benchmark loop is named:\n{map}"
    );
}

/// Runs `tests/tier/UnboxedDoubles.som` for `n` rounds; answers (result
/// line, bytes allocated while the loop ran).
fn unboxed_doubles(jit: &str, n: u32) -> (String, u64) {
    let out = run_som(&[
        &format!("--jit={jit}"),
        "tests/tier/UnboxedDoubles.som",
        &n.to_string(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines = text.lines();
    let result = lines.next().expect("a result").to_string();
    let bytes = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("allocated bytes");
    (result, bytes)
}

#[test]
fn doubles_in_a_compiled_loop_stay_unboxed() {
    let (interpreted, interp_bytes) = unboxed_doubles("off", 100_000);
    let (compiled, tier_bytes) = unboxed_doubles("on", 100_000);
    assert_eq!(interpreted, compiled);
    // The interpreter boxes every intermediate Double (four per round at
    // least); the compiled loop boxes only the Double it answers.
    assert!(interp_bytes > 100_000 * 4 * 16, "{interp_bytes}");
    assert!(
        tier_bytes < 1_000,
        "the compiled loop allocated {tier_bytes} bytes"
    );
    let (_, longer) = unboxed_doubles("on", 400_000);
    assert_eq!(
        longer, tier_bytes,
        "allocation grows with the loop's length"
    );
}

#[test]
fn loading_a_new_class_invalidates_no_compiled_code() {
    let out = run_som(&[
        "--jit=eager",
        "--trace",
        "jit",
        "tests/tier/LoadKeepsCode.som",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "100\n4000\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("compiled unit=\"LoadKeepsCode>>#sum\""),
        "the loop was compiled:\n{err}"
    );
    assert!(
        !err.contains("invalidated unit=\"LoadKeepsCode>>#sum\" reason=\"method changed\""),
        "loading FreshFoo (which defines foo) invalidated code that inlined foo:\n{err}"
    );
}

/// The last eager compilation of `unit` in `program`, and its hot blocks'
/// text.
fn last_eager_listing(unit: &str, program: &str) -> (String, String) {
    let out = run_som(&["--jit=eager", &format!("--print-ir={unit}"), program]);
    let err = String::from_utf8_lossy(&out.stderr);
    let last = listings(&err)
        .pop()
        .unwrap_or_else(|| panic!("{unit} was compiled"));
    let hot: String = hot_blocks(&last)
        .iter()
        .map(|(h, b)| format!("{h}\n{b}"))
        .collect();
    (last, hot)
}

/// `last` is an enforced unit (its generic path, a cold one, calls
/// `generic`), and its hot path calls neither enforced entry point.
fn assert_enforced_and_direct(last: &str, hot: &str, generic: &str) {
    assert!(
        last.contains(generic),
        "an enforced unit (its generic path calls {generic}):\n{last}"
    );
    assert!(
        !hot.contains("rt_enforced_invoke") && !hot.contains("rt_enforced_send"),
        "the hot path calls into the runtime:\n{hot}"
    );
}

/// The hot blocks make at least `n` direct calls (a `call_indirect` whose
/// callee is not a runtime function).
fn assert_direct_calls(hot: &str, n: usize) {
    let direct = hot
        .lines()
        .filter(|l| l.contains("call_indirect") && !l.contains("= rt_"))
        .count();
    assert!(direct >= n, "expected {n} direct calls:\n{hot}");
}

/// The hot path reads a callee's entry cell and calls its code directly
/// (a `call_indirect` whose callee is not a runtime function).
fn assert_direct_call(last: &str, hot: &str) {
    assert!(
        hot.contains("cell#"),
        "the hot path reads the callee's entry cell:\n{last}"
    );
    assert!(
        hot.lines()
            .any(|l| l.contains("call_indirect") && !l.contains("= rt_")),
        "no direct call in the hot path:\n{hot}"
    );
}

#[test]
fn a_call_that_is_not_inlined_runs_the_callees_compiled_code_directly() {
    // `sum:` inlines itself once, then calls itself: that call must load the
    // callee's code from its entry cell and call it, the runtime's send and
    // activation (`rt_invoke`) only on the cold path.
    let (last, hot) = last_eager_listing(
        "TierDirectCalls>>#sum:",
        "tests/lang/tier/TierDirectCalls.som",
    );
    assert!(
        !hot.contains("rt_invoke") && !hot.contains("rt_send"),
        "the hot path calls into the runtime:\n{hot}"
    );
    assert_direct_call(&last, &hot);
}

#[test]
fn a_site_polymorphic_over_subclasses_calls_their_shared_method_once() {
    // Three classes inherit `work:`, too big to inline: the site's three
    // shape guards share one direct call rather than one call each.
    let (last, hot) = last_eager_listing(
        "TierSharedCallee>>#sum:",
        "tests/lang/tier/TierSharedCallee.som",
    );
    let direct = hot
        .lines()
        .filter(|l| l.contains("call_indirect") && !l.contains("= rt_"))
        .count();
    assert_eq!(direct, 1, "one direct call:\n{last}");
    let shapes: std::collections::BTreeSet<&str> = hot
        .split(|c: char| !(c.is_alphanumeric() || c == '#'))
        .filter(|w| w.starts_with("shape#"))
        .collect();
    assert!(
        shapes.len() >= 4,
        "the Array's and three classes' shapes:\n{hot}"
    );
}

#[test]
fn a_polymorphic_site_inlines_only_small_targets() {
    // `o work: i` reaches two methods of some fifty nodes: both are called
    // (POLYMORPHIC_INLINE_BUDGET); `o tiny` reaches two tiny ones, both
    // inlined. The same `work:` from a site that reaches only it is inlined.
    let direct_calls = |unit: &str| {
        let (_, hot) = last_eager_listing(unit, "tests/lang/tier/TierPolymorphicInlining.som");
        hot.lines()
            .filter(|l| l.contains("call_indirect") && !l.contains("= rt_"))
            .count()
    };
    assert_eq!(direct_calls("TierPolymorphicInlining>>#poly:"), 2);
    assert_eq!(direct_calls("TierPolymorphicInlining>>#mono:"), 0);
}

#[test]
fn an_enforced_call_runs_the_callees_compiled_twin_directly() {
    // In enforced code a call that is not inlined runs the callee's
    // enforced twin's compiled code directly, `rt_enforced_invoke` only on
    // the cold path.
    let (last, hot) = last_eager_listing(
        "TierEnforcedDirectCalls>>#sum:",
        "tests/lang/tier/TierEnforcedDirectCalls.som",
    );
    assert_enforced_and_direct(&last, &hot, "rt_enforced_invoke");
    assert_direct_call(&last, &hot);
}

#[test]
fn a_closure_evaluated_from_compiled_code_runs_its_compiled_body_directly() {
    // Closures fetched from an Array: the `value:with:` sites cannot inline
    // them, so they call the closure's compiled body (its cell read through
    // the closure's method), never the runtime's send, on the hot path.
    let (_, hot) = last_eager_listing(
        "TierClosureCalls>>#apply:",
        "tests/lang/tier/TierClosureCalls.som",
    );
    assert!(
        !hot.contains("rt_send") && !hot.contains("rt_invoke"),
        "the hot path calls into the runtime:\n{hot}"
    );
    assert_direct_calls(&hot, 3);
}

#[test]
fn rebinding_a_folded_global_invalidates_the_code_that_folded_it() {
    // `step:` keeps the argument Array of its perform:withArguments:
    // virtual, folding the global Array to the class; rebinding the global
    // in the hot loop must drop that code ("global changed"), and the
    // program still prints what the interpreter prints.
    let out = run_som(&[
        "--trace",
        "jit",
        "-cp",
        "tests/lang/tier",
        "tests/lang/tier/TierFoldedArrayGlobal.som",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2504499000\n6\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "invalidated unit=\"TierFoldedArrayGlobal>>#step:\" reason=\"global changed\""
        ),
        "the rebinding did not invalidate the folded code:\n{err}"
    );
}

#[test]
fn a_receiver_of_another_layout_makes_the_unit_decline_then_recompile_without_the_check() {
    // `bump:` checks on entry that its receiver has the fields it touches
    // (its accesses need no check of their own); run on a plain object,
    // it declines, each decline counted as a guard failure, until it is
    // compiled without the check.
    let out = run_som(&[
        "--jit=eager",
        "--trace",
        "jit",
        "tests/lang/tier/TierForeignReceiverLayout.som",
    ]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "30\n3000\n-970\n1\n300000\n"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let unit = "unit=\"TierForeignReceiverLayout class>>#bump:\"";
    let miss = format!("guard failed {unit} expected=\"a receiver with the fields it reads\"");
    let last_miss = err
        .rfind(&miss)
        .unwrap_or_else(|| panic!("no decline: {err}"));
    let after = &err[last_miss..];
    let recompiled = after
        .find(&format!("compiled {unit}"))
        .unwrap_or_else(|| panic!("not recompiled after the declines: {err}"));
    assert!(
        !after[recompiled..].contains("guard failed"),
        "the last compilation still declines: {err}"
    );
}

#[test]
fn a_closure_evaluated_from_compiled_enforced_code_runs_its_compiled_twin_directly() {
    // As in plain code, but the closure's enforced twin runs: its code is
    // read through the closure's method, never the runtime's enforced send.
    let (last, hot) = last_eager_listing(
        "TierEnforcedClosureCalls>>#apply:",
        "tests/lang/tier/TierEnforcedClosureCalls.som",
    );
    assert_enforced_and_direct(&last, &hot, "rt_enforced_send");
    assert_direct_calls(&hot, 3);
}

#[test]
fn a_site_that_first_runs_after_compilation_makes_the_unit_recompile_to_inline_it() {
    // `obj answer` had never run when `tick:` got hot: the unit sends it
    // through the runtime, counting each run, and after GUARD_MISS_LIMIT
    // runs (a site that keeps running) is recompiled with the chain's
    // target inline.
    let out = run_som(&["--trace", "jit", "tests/lang/tier/TierSiteThatRanLate.som"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1500\n1500\n");
    let err = String::from_utf8_lossy(&out.stderr);
    let unit = "unit=\"TierSiteThatRanLate>>#tick:\"";
    let invalidated = err
        .find(&format!("invalidated {unit} reason=\"guard failures\""))
        .unwrap_or_else(|| panic!("not invalidated: {err}"));
    let runs = err[..invalidated]
        .matches(&format!(
            "guard failed {unit} expected=\"a site that had not run\" seen=it ran"
        ))
        .count();
    assert_eq!(runs, 1000, "runs counted before the recompilation");
    let after = &err[invalidated..];
    let recompiled = after
        .find(&format!("compiled {unit}"))
        .unwrap_or_else(|| panic!("not recompiled: {err}"));
    assert!(
        !after[recompiled..].contains(&format!("guard failed {unit}")),
        "the recompiled unit still leaves the send to the runtime: {err}"
    );
}

#[test]
fn a_block_unit_reads_and_writes_outer_variables_in_their_contexts() {
    // The block `Array>>do:` calls is a unit of its own; the method's
    // variables it reads and writes are loads and stores in the method's
    // heap context, not the interpreter's (`rt_eval_node`).
    let out = Command::new(SOM)
        .current_dir(root())
        .args([
            "--jit=eager",
            "--print-ir=[] in TierOuterVariables>>#run",
            "tests/lang/tier/TierOuterVariables.som",
        ])
        .output()
        .expect("som runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "5050\n100\n9\n");
    let err = String::from_utf8_lossy(&out.stderr);
    let all = listings(&err);
    assert!(!all.is_empty(), "the block was compiled: {err}");
    for l in &all {
        assert!(
            !l.lines()
                .any(|x| x.contains("call_indirect") && x.contains("rt_eval_node")),
            "an outer variable through the interpreter:\n{l}"
        );
    }
}

#[test]
fn an_enforced_primitive_of_a_standard_receiver_runs_without_a_domain_lookup() {
    // `Array new:` with a run-time length in enforced code: the guard fixed
    // the receiver's owner (the standard domain, which reifies no
    // primitive), so the primitive runs through `rt_enforced_primitive`,
    // not the enforced invocation that looks the domain up.
    let out = run_som(&[
        "--print-ir=TierEnforcedPrimitiveCall>>#lengths:",
        "tests/lang/tier/TierEnforcedPrimitiveCall.som",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "9000\nok\n");
    let err = String::from_utf8_lossy(&out.stderr);
    let last = listings(&err).pop().expect("lengths: was compiled");
    let hot: String = hot_blocks(&last)
        .iter()
        .map(|(h, b)| format!("{h}\n{b}"))
        .collect();
    assert!(
        hot.contains("rt_enforced_primitive") && !hot.contains("rt_enforced_invoke"),
        "the primitive is not run at once:\n{hot}"
    );
}

/// The hot lines of `listing` that test the unit's `valid` word (a load
/// from its `unit#` address).
fn hot_validity_tests(listing: &str) -> usize {
    hot_blocks(listing)
        .iter()
        .flat_map(|(_, b)| b.lines())
        .filter(|l| l.contains("load") && l.contains("unit#"))
        .count()
}

#[test]
fn a_branch_on_a_comparison_goes_where_the_comparison_leads() {
    // `n <= 250 ifTrue:`, `and:`/`or:` and `whileTrue:` conditions branch
    // on the compare itself: no Boolean is selected only to be compared
    // with `true` and `false` again. The one Boolean left is kept in a
    // variable (`kept := i < 249`), so it must be made.
    let (last, hot) = last_eager_listing(
        "TierBooleanBranches>>#run",
        "tests/lang/tier/TierBooleanBranches.som",
    );
    let made = hot
        .lines()
        .filter(|l| l.contains("select") && l.matches("object#").count() == 2)
        .count();
    assert_eq!(made, 1, "Booleans made in the hot path:\n{last}");
}

/// The hot validity tests of each enforced compilation of `unit` in
/// `TierEnforcedStores.som` whose hot code inlines an addition.
fn enforced_store_tests(unit: &str) -> (Vec<usize>, String) {
    let out = run_som(&[
        "--jit=eager",
        &format!("--print-ir=TierEnforcedStores>>#{unit}"),
        "-cp",
        "smalltalk-src/core:tests/lang/tier",
        "tests/lang/tier/TierEnforcedStores.som",
    ]);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let counts = listings(&err)
        .iter()
        .filter(|l| {
            l.contains("rt_enforced_field")
                && hot_blocks(l)
                    .iter()
                    .any(|(_, b)| b.contains("sadd_overflow"))
        })
        .map(|l| hot_validity_tests(l))
        .collect();
    (counts, err)
}

#[test]
fn reads_of_self_in_enforced_code_leave_validity_tests_to_slow_paths() {
    // `total` reads four fields and adds them up: a read's slow path runs
    // only once the unit is invalid, and an arithmetic slow path (which may
    // call anything) tests validity on its own way back: the hot path,
    // which passed the unit's entry test and calls nothing, tests none.
    let (counts, err) = enforced_store_tests("total");
    assert_eq!(
        counts.iter().min(),
        Some(&0),
        "hot validity tests per enforced compilation: {counts:?}\n{err}"
    );
}

#[test]
fn stores_to_self_in_enforced_code_leave_validity_tests_to_slow_paths() {
    // In `setAll:` (enforced, specialized on self's owner) the addition's
    // slow path may call anything, so the store after it tests the unit's
    // validity, but only on the way back from that slow path; the stores
    // do not test it again, since a store's slow path runs only once the
    // unit is invalid. The hot path tests nothing.
    let (counts, err) = enforced_store_tests("setAll:");
    assert_eq!(
        counts.iter().min(),
        Some(&0),
        "hot validity tests per enforced compilation: {counts:?}\n{err}"
    );
}

#[test]
fn allocation_in_enforced_code_is_bumped_inline() {
    // `Object new`, `Array new: 3` and `length` sent in enforced code to
    // objects the standard domain owns run as in plain code: the hot path
    // bumps the heap and calls nothing (`rt_enforced_primitive` only on the
    // cold path, which also takes allocation in another domain).
    let (last, hot) = last_eager_listing(
        "[] in TierEnforcedAllocation>>#loopIn:",
        "tests/lang/tier/TierEnforcedAllocation.som",
    );
    assert!(hot.contains("heap#"), "no inline allocation:\n{last}");
    assert!(
        !hot.lines().any(|l| l.contains("= rt_")),
        "the hot path calls into the runtime:\n{hot}"
    );
    assert!(last.contains("rt_enforced_primitive"), "{last}");
}

#[test]
fn a_field_written_then_read_is_not_read_again() {
    // `incTwice` (`x := x + 1. x := x + 1`): the second addition reads the
    // value the first stored, not the field; the hot path loads `x` once.
    let out = run_som(&[
        "--jit=eager",
        "--print-ir=TierStoreForwarding>>#incTwice",
        "-cp",
        "smalltalk-src/core:tests/lang/tier",
        "tests/lang/tier/TierStoreForwarding.som",
    ]);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let last = listings(&err).pop().expect("incTwice compiled");
    let field_loads = hot_blocks(&last)
        .iter()
        .flat_map(|(_, b)| b.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| l.contains("= load") && l.contains("+16"))
        .count();
    let stores = hot_blocks(&last)
        .iter()
        .flat_map(|(_, b)| b.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| l.trim_start().starts_with("store") && l.contains("+16"))
        .count();
    assert_eq!(
        (field_loads, stores),
        (1, 2),
        "hot field loads and stores:\n{last}"
    );
}

#[test]
fn an_osr_loop_with_a_literal_limit_compares_against_a_constant() {
    // `1 to: 20000 do:` entered by OSR (`--jit=on`, the benchmark method
    // called too rarely to compile on its own): the interpreter passes the
    // limit it evaluated, but the literal says what it is, so the loop
    // compares the counter with the constant and keeps one value fewer
    // live, as the loop compiled in its method does.
    let out = run_som(&[
        "--jit=on",
        "--print-ir=AddBenchmark>>#benchmark",
        "-cp",
        "smalltalk-src/core:benchmarks/reflection",
        "benchmarks/harness/Harness.som",
        "DirectAdd",
        "20",
        "5",
    ]);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let osr = listings(&err)
        .into_iter()
        .find(|l| l.contains("function u0:0(i64, i64, i64, i64, i64)"))
        .expect("an OSR unit (VM, frame, i, limit, step) of the benchmark loop");
    let compares: Vec<String> = hot_blocks(&osr)
        .iter()
        .flat_map(|(_, b)| b.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| l.contains("= icmp sle"))
        .collect();
    assert_eq!(compares.len(), 1, "one loop test:\n{osr}");
    assert!(
        compares[0].contains("= 0x4e20"),
        "the loop test compares with 20000: {}\n{osr}",
        compares[0]
    );
}
