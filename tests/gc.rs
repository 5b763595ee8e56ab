//! Collector tests through the public API: unreachable cycles are reclaimed,
//! reachable structures survive, and the heap stays bounded under a stream of
//! short-lived objects.

mod common;

use common::{class, send, vm_with};
use som_runtime::Value;

const SOURCES: &[(&str, &str)] = &[(
    "GcWork",
    "GcWork = (
        | keep |
        cycles: n = ( 1 to: n do: [:i | | a b | a := Array new: 2. b := Array new: 2. a at: 1 put: b. b at: 1 put: a. a at: 2 put: i ] )
        keepChain: n = ( 1 to: n do: [:i | keep := Array with: keep with: i ] )
        sumChain = ( | s c | s := 0. c := keep. [ c notNil ] whileTrue: [ s := s + (c at: 2). c := c at: 1 ]. ^s )
        churn: n = ( | x | 1 to: n do: [:i | x := Array new: 4 ]. ^n )
    )",
)];

#[test]
fn unreachable_cycles_are_reclaimed() {
    let mut vm = vm_with(SOURCES, &[]);
    let c = class(&mut vm, "GcWork");
    let w = vm.new_instance(c);
    vm.collect_garbage();
    let before = vm.heap.object_count();
    send(&mut vm, w, "cycles:", &[Value::small(20_000)]);
    assert!(
        vm.heap.object_count() > before + 10_000,
        "the cycles were allocated"
    );
    vm.collect_garbage();
    let after = vm.heap.object_count();
    // Conservative stack scanning may keep a handful of objects alive.
    assert!(after < before + 64, "before {before}, after {after}");
}

#[test]
fn reachable_structures_survive_collections() {
    let mut vm = vm_with(SOURCES, &[]);
    let c = class(&mut vm, "GcWork");
    let w = vm.new_instance(c);
    let id = vm.intern("Keeper");
    vm.set_global(id, w);
    vm.heap.stress = true;
    send(&mut vm, w, "keepChain:", &[Value::small(2_000)]);
    vm.heap.stress = false;
    vm.collect_garbage();
    let sum = send(&mut vm, w, "sumChain", &[]);
    assert_eq!(sum, Value::small(2_000 * 2_001 / 2));
}

#[test]
fn heap_stays_bounded_under_short_lived_allocation() {
    let mut vm = vm_with(SOURCES, &[]);
    let c = class(&mut vm, "GcWork");
    let w = vm.new_instance(c);
    send(&mut vm, w, "churn:", &[Value::small(3_000_000)]);
    // 3M arrays of 48 bytes are 144 MB in total; the heap must recycle them.
    let reserved = vm.heap.reserved_bytes();
    assert!(reserved < 80 * 1024 * 1024, "reserved {reserved} bytes");
    assert!(vm.heap.stats.collections >= 1);
}

/// A core library whose own classes hold literal arrays (as SOM-st/SOM's
/// `System>>gcStats` does): the templates are created while the core library
/// loads, and must carry the Array shape like any later Array, or a
/// collection that finds one (a conservative root while it is copied) reads
/// a null shape.
#[test]
fn literal_arrays_of_the_core_library_survive_stress_collection() {
    let dir = common::scratch_dir("core-literals");
    let core = common::root().join("smalltalk-src/core");
    for e in std::fs::read_dir(&core).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap();
        let text = if e.file_name() == "System.som" {
            let at = text.find("gcStats = primitive").expect("gcStats");
            format!(
                "{}gcStats = ( ^#(0 #(1 2) 3) ) {}",
                &text[..at],
                &text[at..].replacen("gcStats = primitive", "oldGcStats = primitive", 1)
            )
        } else {
            text
        };
        std::fs::write(dir.join(e.file_name()), text).unwrap();
    }
    std::fs::write(
        dir.join("CoreLiterals.som"),
        "CoreLiterals = ( run = ( | s | 1 to: 20 do: [:i | s := system gcStats ]. ((s at: 2) at: 2) println ) )",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_som"))
        .arg("--gc-stress")
        .arg("-cp")
        .arg(dir.path())
        .arg(dir.join("CoreLiterals.som"))
        .output()
        .expect("run som");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));
}
