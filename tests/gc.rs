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
