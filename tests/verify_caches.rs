//! `--verify-caches`: a cache hit that disagrees with a full lookup stops the
//! VM with a report naming the site; without disagreement the program runs
//! as it does without verification.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;

use common::{class, send, vm_with};
use som_runtime::Value;

/// The panic message of `f`, or None when it returns.
fn panic_message(f: impl FnOnce()) -> Option<String> {
    let r = catch_unwind(AssertUnwindSafe(f));
    r.err().map(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

#[test]
fn a_provoked_disagreement_is_reported_with_its_site() {
    let mut vm = vm_with(
        &[(
            "Vc",
            "Vc = (\n  foo = ( ^1 )\n  bar = ( ^2 )\n  call = ( ^self foo )\n)",
        )],
        &[],
    );
    // As the launcher does: verification is on before anything is cached.
    vm.verify_caches = true;
    let c = class(&mut vm, "Vc");
    let obj = vm.new_instance(c);
    assert_eq!(send(&mut vm, obj, "call", &[]), Value::small(1));
    assert_eq!(send(&mut vm, obj, "call", &[]), Value::small(1));
    // Change the method table behind the caches' back: the site's chain
    // still holds Vc>>#foo, which a full lookup no longer finds.
    let (foo, bar) = (vm.intern("foo"), vm.intern("bar"));
    let bar_m = vm.lookup(c, bar).expect("bar");
    vm.class_data(c).methods.borrow_mut().insert(foo, bar_m);
    vm.flush_lookup_cache();
    let msg = panic_message(|| {
        send(&mut vm, obj, "call", &[]);
    })
    .expect("verification must stop the VM");
    assert!(msg.contains("cache verification failed at"), "{msg}");
    assert!(msg.contains("Vc.som:4:18 in Vc>>#call"), "{msg}");
    assert!(msg.contains("(send cache, #foo to a Vc)"), "{msg}");
    assert!(
        msg.contains("answered Vc>>#foo, a full lookup answers Vc>>#bar"),
        "{msg}"
    );
}

#[test]
fn verified_runs_print_and_specialize_as_plain_runs_do() {
    // Same output, and the same chain transitions and final states: verified
    // entries are stored differently but grow, go generic and are
    // invalidated as plain ones.
    for program in ["tests/trace/TraceSites.som", "tests/trace/TraceDomains.som"] {
        for observe in ["--dispatch-stats", "--trace"] {
            let run = |extra: &[&str]| {
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_som"));
                cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
                    .env_remove("RUST_LOG")
                    .args(extra)
                    .arg(observe);
                if observe == "--trace" {
                    cmd.arg("dispatch");
                }
                let o = cmd
                    .args(["-cp", "smalltalk-src/core", program])
                    .output()
                    .expect("run som");
                (o.status.code(), o.stdout, o.stderr)
            };
            // Verification checks the interpreter's caches (the tier is off).
            let plain = run(&["--jit=off"]);
            let verified = run(&["--verify-caches"]);
            assert_eq!(plain, verified, "{program} {observe}");
            assert_eq!(verified.0, Some(0));
        }
    }
}

#[test]
fn registration_is_bounded_per_site() {
    let mut vm = vm_with(
        &[
            ("RbBase", "RbBase = ( value = ( ^0 ) )"),
            (
                "RbSub",
                "RbSub = RbBase ( value = ( ^super value ) can: s = ( ^self respondsTo: s ) )",
            ),
        ],
        &[],
    );
    let base = class(&mut vm, "RbBase");
    let sub = class(&mut vm, "RbSub");
    let obj = vm.new_instance(sub);
    let sels: Vec<Value> = (0..20)
        .map(|i| {
            let s = vm.intern(&format!("sel{i}"));
            vm.symbol_value(s)
        })
        .collect();
    let round = |vm: &mut som_runtime::Vm, n: usize| {
        for i in 0..n {
            send(vm, obj, "can:", &[sels[i % sels.len()]]);
            let src = vm
                .new_string(&format!("value = ( ^{i} )"))
                .expect("a short string");
            send(vm, base, "compile:", &[src]);
            assert_eq!(send(vm, obj, "value", &[]), Value::small(i as i64));
        }
    };
    round(&mut vm, 50);
    let after_50 = vm.dependent_count();
    round(&mut vm, 500);
    assert_eq!(vm.dependent_count(), after_50);
}
