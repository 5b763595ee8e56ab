//! The zero-overhead proof as tests: for every pair, the hot loop of the
//! reflective or enforced benchmark compiles to the same optimized CLIF and
//! the same machine code as the hot loop of its direct twin
//! (`som_bench::zero_overhead` extracts, normalizes and compares them).
//!
//! Pairs that are not identical yet are ignored with the reason; the
//! control pair (a loop that really differs), the refusals (a loop with a
//! call, with an allocation, no loop at all) and the sanity checks (a loop
//! against another compilation of itself) always run.
//!
//! Uses the `som` binary that `cargo test --workspace` builds next to
//! `som-bench` in the same target directory.

use std::path::PathBuf;

use som_bench::zero_overhead::{
    self, compare, compare_pair, hot_loop, last_listing, pairs, print_ir, Comparison, Listing,
    Side, Tier,
};

fn som() -> PathBuf {
    let som = PathBuf::from(env!("CARGO_BIN_EXE_som-bench")).with_file_name("som");
    assert!(
        som.is_file(),
        "no som binary at {} (cargo test --workspace builds it)",
        som.display()
    );
    som
}

fn show(c: &Comparison) -> String {
    format!(
        "hot loop CLIF ({} / {} instructions):\n{}\nhot loop machine code ({} / {} instructions):\n{}",
        c.base.clif_insts,
        c.meta.clif_insts,
        c.clif_diff.as_deref().unwrap_or("identical\n"),
        c.base.code_insts,
        c.meta.code_insts,
        c.code_diff.as_deref().unwrap_or("identical\n"),
    )
}

/// The pair named `name` compared, with its baseline's name.
fn compare_named(name: &str) -> (Comparison, String) {
    let pair = pairs()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no pair {name}"));
    let c = compare_pair(&som(), Tier::On, &pair)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .unwrap_or_else(|e| panic!("{name} vs {}: {e}", pair.base.bench));
    (c, pair.base.bench)
}

/// The pair named `name` has identical hot loops in optimized CLIF.
fn assert_identical_clif(name: &str) {
    let (c, base) = compare_named(name);
    assert!(
        c.clif_diff.is_none(),
        "{name} vs {base}: the hot loops' CLIF differs\n{}",
        show(&c)
    );
}

/// The pair named `name` has identical hot loops, CLIF and machine code
/// (registers named by the definitions that reach them: the allocator,
/// which sees the cold paths too, may pick other registers for the same
/// values).
fn assert_identical(name: &str) {
    let (c, base) = compare_named(name);
    assert!(
        c.identical(),
        "{name} vs {base}: the hot loops differ\n{}",
        show(&c)
    );
}

#[test]
fn perform_add_is_direct_add_in_clif() {
    assert_identical_clif("PerformAdd");
}

#[test]
fn perform_add_is_direct_add() {
    assert_identical("PerformAdd");
}

#[test]
fn dnu_add_is_direct_add_in_clif() {
    assert_identical_clif("DnuAdd");
}

#[test]
fn dnu_add_is_direct_add() {
    assert_identical("DnuAdd");
}

#[test]
fn dnu_perform_add_is_direct_add_in_clif() {
    assert_identical_clif("DnuPerformAdd");
}

#[test]
fn dnu_perform_add_is_direct_add() {
    assert_identical("DnuPerformAdd");
}

#[test]
fn proxy_add_is_indirect_add_in_clif() {
    assert_identical_clif("ProxyAdd");
}

#[test]
fn proxy_add_is_indirect_add() {
    assert_identical("ProxyAdd");
}

#[test]
fn enforced_dispatch_is_plain_dispatch_in_clif() {
    assert_identical_clif("AddDispatchEnforced");
}

#[test]
#[ignore = "not yet identical in machine code: the same CLIF, but the register allocator, which sees the cold paths too (the handler's inlined activation unwinds through the runtime), keeps `sum` in another register and adds moves at the loop's joins"]
fn enforced_dispatch_is_plain_dispatch() {
    assert_identical("AddDispatchEnforced");
}

#[test]
fn enforced_field_read_is_plain_field_read_in_clif() {
    assert_identical_clif("FieldReadEnforced");
}

#[test]
#[ignore = "not yet identical in machine code: the same CLIF, but the register allocator, which sees the cold paths too, keeps `sum` in a stack slot across the enforced loop"]
fn enforced_field_read_is_plain_field_read() {
    assert_identical("FieldReadEnforced");
}

#[test]
#[ignore = "not yet identical: where the first addition's slow path fails the unit's validity test after its store, the plain loop's second addition reads the field (that path's value) and the handler adds 1 to the value it stored (the joined one), so the plain slow path of the second addition takes the value as an argument"]
fn enforced_field_write_is_plain_field_write() {
    assert_identical("AddFieldWriteEnforced");
}

#[test]
fn enforced_global_read_is_plain_global_read_in_clif() {
    assert_identical_clif("GlobalReadEnforced");
}

#[test]
fn enforced_global_read_is_plain_global_read() {
    assert_identical("GlobalReadEnforced");
}

#[test]
#[ignore = "not yet identical: the enforced guard reads the Array's shape through the header select, the plain inline `at:` tests the tag bits first; where the index check fails, the plain `at:` goes to the send's one slow path, the handler's inlined primitive to the primitive's own"]
fn enforced_primitive_is_plain_primitive() {
    assert_identical("ReqPrimEnforced");
}

#[test]
fn standard_domain_is_unenforced() {
    assert_identical("DispatchStd");
}

/// Two compilations of the same loop (two processes) compare identical:
/// the comparison does not report differences that are not there.
#[test]
fn a_loop_is_identical_to_itself() {
    let side = Side::reflection("DirectAdd");
    let a = last_listing(&som(), Tier::On, &side).unwrap();
    let b = last_listing(&som(), Tier::On, &side).unwrap();
    let c = compare(&a, &b).unwrap();
    assert!(c.identical(), "{}", show(&c));
    assert!(c.base.clif_insts > 0 && c.base.code_insts > 0);
    let side = Side::omop_enforced("FieldReadEnforced");
    let a = last_listing(&som(), Tier::On, &side).unwrap();
    let c = compare(&a, &a).unwrap();
    assert!(c.identical(), "{}", show(&c));
}

/// The control pair: DirectAdd's loop adding 2 instead of 1 differs from
/// DirectAdd's, and the diff shows the constant.
#[test]
fn a_loop_that_really_differs_is_reported_different() {
    let base = last_listing(&som(), Tier::On, &Side::reflection("DirectAdd")).unwrap();
    let control = Side {
        bench: "DirectAdd2".into(),
        unit: "AddBenchmark>>#benchmark".into(),
        dirs: vec![
            "benchmarks/tests/fixtures".into(),
            "benchmarks/reflection".into(),
        ],
    };
    let meta = last_listing(&som(), Tier::On, &control).unwrap();
    let c = compare(&base, &meta).unwrap();
    assert!(!c.identical(), "DirectAdd2 compared identical to DirectAdd");
    let d = c.clif_diff.as_deref().expect("the CLIF differs");
    // Adding 1 to a tagged integer adds 2 to the word (the literal's tag
    // taken off at compile time), adding 2 adds 4.
    assert!(
        d.lines()
            .any(|l| l.starts_with('-') && l.contains("iconst.i64 2")),
        "{d}"
    );
    assert!(
        d.lines()
            .any(|l| l.starts_with('+') && l.contains("iconst.i64 4")),
        "{d}"
    );
    assert!(
        d.starts_with("--- AddBenchmark>>#benchmark (base)\n"),
        "{d}"
    );
}

/// The last compilation of a method of `fixtures/HotLoops.som`.
fn hot_loops_listing(tier: Tier, unit: &str) -> Listing {
    print_ir(
        &som(),
        tier,
        &format!("HotLoops>>#{unit}"),
        &[],
        "benchmarks/tests/fixtures/HotLoops.som",
        &[],
    )
    .unwrap()
    .pop()
    .unwrap()
}

#[test]
fn a_loop_that_calls_the_runtime_is_not_comparable() {
    let l = hot_loops_listing(Tier::On, "loopWithCall");
    let e = hot_loop(&l).unwrap_err();
    assert!(e.to_string().starts_with("not comparable: "), "{e}");
    assert!(e.0.contains("calls"), "{e}");
    // Whatever it is compared with.
    let e = compare(&l, &l).unwrap_err();
    assert!(e.0.contains("calls"), "{e}");
}

#[test]
fn a_loop_that_allocates_is_not_comparable() {
    let l = hot_loops_listing(Tier::On, "loopWithAllocation");
    let e = hot_loop(&l).unwrap_err();
    assert!(e.0.contains("allocates"), "{e}");
}

#[test]
fn a_unit_without_a_loop_is_not_comparable() {
    let l = hot_loops_listing(Tier::Eager, "noLoop:");
    let e = hot_loop(&l).unwrap_err();
    assert!(e.0.contains("no loop"), "{e}");
}

/// The listings of each phase of `fixtures/RedefineHandler.som` (original
/// handler, changed, restored), for FieldReadEnforced.
fn field_read_phases(tier: Tier) -> Vec<(String, Vec<Listing>)> {
    let side = Side::omop_enforced("FieldReadEnforced");
    let out = std::process::Command::new(som())
        .current_dir(zero_overhead::workspace_root())
        .arg(tier.flag())
        .arg(format!("--print-ir={}", side.unit))
        .args(["-cp", "benchmarks/omop:smalltalk-src/core"])
        .arg("benchmarks/tests/fixtures/RedefineHandler.som")
        .args([
            "FieldReadEnforced",
            "FieldReadDomain",
            "readField: idx of: obj = unenforced ( ^ 2 + (obj instVarAt: idx) )",
            "readField: idx of: obj = unenforced ( ^ 1 + (obj instVarAt: idx) )",
        ])
        .output()
        .expect("som runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // The changed handler answers 2 more per field read, then 1 again.
    assert_eq!(stdout, "40000\n60000\n40000\n", "{stderr}");
    let phases: Vec<(String, Vec<Listing>)> = stderr
        .split("zero-overhead phase: ")
        .skip(1)
        .map(|p| {
            let name = p.lines().next().unwrap_or("").to_string();
            (name, zero_overhead::listings(p))
        })
        .collect();
    let names: Vec<&str> = phases.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["original", "changed", "restored"]);
    for (name, l) in &phases {
        assert!(!l.is_empty(), "phase {name}: the loop was not recompiled");
    }
    phases
}

/// The driver runs, each phase computes with the handler of the moment,
/// and each phase recompiles the enforced loop.
#[test]
fn a_handler_change_recompiles_the_enforced_loop() {
    let phases = field_read_phases(Tier::On);
    let first = phases[0].1.last().unwrap();
    hot_loop(first).unwrap_or_else(|e| panic!("before the change: {e}"));
}

/// After the handler is redefined and restored, the recompiled enforced
/// loop is again the loop compiled before the change.
#[test]
fn a_restored_handler_recompiles_to_the_same_loop() {
    restored_is_original(Tier::On);
}

/// The same with the tier eager.
#[test]
#[ignore = "not yet: with --jit=eager the unit has recompiled more than UNSTABLE_AFTER_COMPILATIONS times by the third phase, so it is no longer specialized on its receiver's owner and checks the owner in the loop"]
fn a_restored_handler_recompiles_to_the_same_loop_eager() {
    restored_is_original(Tier::Eager);
}

fn restored_is_original(tier: Tier) {
    let phases = field_read_phases(tier);
    let first = phases[0].1.last().unwrap();
    let again = phases[2].1.last().unwrap();
    let c = compare(first, again).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.identical(), "{}", show(&c));
}

/// The changed handler compiles to a loop that differs from the original
/// one (the handler's constant), and every phase's loop is comparable.
#[test]
fn a_changed_handler_recompiles_to_a_different_loop() {
    let phases = field_read_phases(Tier::On);
    let changed = phases[1].1.last().unwrap();
    let restored = phases[2].1.last().unwrap();
    let c = compare(restored, changed).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !c.identical(),
        "the changed handler compiled to the same loop"
    );
}

/// The identity of the field-read pair holds after the metaobject change
/// and recompilation: the last compilation (handler restored) against the
/// plain FieldRead loop, in CLIF.
#[test]
fn field_read_is_identical_in_clif_after_a_handler_change() {
    let phases = field_read_phases(Tier::On);
    let restored = phases[2].1.last().unwrap();
    let plain = last_listing(&som(), Tier::On, &Side::omop_plain("FieldRead")).unwrap();
    let c = compare(&plain, restored).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.clif_diff.is_none(), "{}", show(&c));
}

/// The same in machine code.
#[test]
#[ignore = "not yet identical in machine code (see enforced_field_read_is_plain_field_read)"]
fn field_read_is_identical_after_a_handler_change() {
    let phases = field_read_phases(Tier::On);
    let restored = phases[2].1.last().unwrap();
    let plain = last_listing(&som(), Tier::On, &Side::omop_plain("FieldRead")).unwrap();
    let c = compare(&plain, restored).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.identical(), "{}", show(&c));
}
