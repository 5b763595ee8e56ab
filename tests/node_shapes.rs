//! Node-shape tests: a send site's dispatch chain goes uninitialized ->
//! monomorphic -> polymorphic -> generic as it sees more receiver classes, and
//! inlinable control flow becomes inlined nodes.

mod common;

use common::{class, send, vm_with};
use som_runtime::dispatch::{ChainState, SEND_CACHE_LIMIT};
use som_runtime::method::MethodKind;
use som_runtime::nodes::Node;
use som_runtime::{Value, Vm};

/// The (state, length) of the chain of the first send of `send_sel` in
/// `class>>method_sel`.
fn chain_of(vm: &mut Vm, class: Value, method_sel: &str, send_sel: &str) -> (ChainState, usize) {
    let m = vm.intern(method_sel);
    let s = vm.intern(send_sel);
    let method = vm.lookup(class, m).expect("method");
    let MethodKind::Ast(body) = &method.kind else {
        panic!("not an AST method")
    };
    let mut found = None;
    body.body.walk(&mut |n| {
        if let Some(send) = n.as_send() {
            if send.selector == s && found.is_none() {
                found = Some((send.chain.state(), send.chain.chain_len()));
            }
        }
    });
    found.expect("send site")
}

fn shape_classes() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = (1..=8)
        .map(|i| (format!("R{i}"), format!("R{i} = ( foo = ( ^{i} ) )")))
        .collect();
    v.push((
        "Site".into(),
        "Site = ( call: x = ( ^x foo ) branch: b = ( ^b ifTrue: [ 1 ] ifFalse: [ 2 ] ) loop = ( | s | s := 0. 1 to: 3 do: [:i | s := s + i ]. ^s ) )".into(),
    ));
    v
}

fn vm() -> common::TestVm {
    let owned = shape_classes();
    let refs: Vec<(&str, &str)> = owned
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    vm_with(&refs, &[])
}

#[test]
fn send_site_goes_from_uninitialized_to_generic() {
    let mut vm = vm();
    let site_class = class(&mut vm, "Site");
    let site = vm.new_instance(site_class);
    assert_eq!(
        chain_of(&mut vm, site_class, "call:", "foo"),
        (ChainState::Uninitialized, 0)
    );

    let r1c = class(&mut vm, "R1");
    let r1 = vm.new_instance(r1c);
    for _ in 0..3 {
        assert_eq!(send(&mut vm, site, "call:", &[r1]), Value::small(1));
    }
    assert_eq!(
        chain_of(&mut vm, site_class, "call:", "foo"),
        (ChainState::Monomorphic, 1)
    );

    let r2c = class(&mut vm, "R2");
    let r2 = vm.new_instance(r2c);
    assert_eq!(send(&mut vm, site, "call:", &[r2]), Value::small(2));
    assert_eq!(
        chain_of(&mut vm, site_class, "call:", "foo"),
        (ChainState::Polymorphic, 2)
    );

    for i in 3..=SEND_CACHE_LIMIT {
        let c = class(&mut vm, &format!("R{i}"));
        let r = vm.new_instance(c);
        assert_eq!(send(&mut vm, site, "call:", &[r]), Value::small(i as i64));
    }
    assert_eq!(
        chain_of(&mut vm, site_class, "call:", "foo"),
        (ChainState::Polymorphic, SEND_CACHE_LIMIT)
    );

    // One shape more than the limit: the site goes generic and stays correct.
    let c = class(&mut vm, &format!("R{}", SEND_CACHE_LIMIT + 1));
    let r = vm.new_instance(c);
    assert_eq!(
        send(&mut vm, site, "call:", &[r]),
        Value::small(SEND_CACHE_LIMIT as i64 + 1)
    );
    assert_eq!(
        chain_of(&mut vm, site_class, "call:", "foo"),
        (ChainState::Generic, 0)
    );
    assert_eq!(send(&mut vm, site, "call:", &[r1]), Value::small(1));
    assert_eq!(
        chain_of(&mut vm, site_class, "call:", "foo").0,
        ChainState::Generic
    );
}

#[test]
fn repeated_receivers_do_not_grow_the_chain() {
    let mut vm = vm();
    let site_class = class(&mut vm, "Site");
    let site = vm.new_instance(site_class);
    let a = class(&mut vm, "R1");
    let b = class(&mut vm, "R2");
    let (a, b) = (vm.new_instance(a), vm.new_instance(b));
    for _ in 0..50 {
        send(&mut vm, site, "call:", &[a]);
        send(&mut vm, site, "call:", &[b]);
    }
    assert_eq!(
        chain_of(&mut vm, site_class, "call:", "foo"),
        (ChainState::Polymorphic, 2)
    );
}

#[test]
fn control_flow_with_literal_blocks_is_inlined() {
    let mut vm = vm();
    let site_class = class(&mut vm, "Site");
    let sel = vm.intern("branch:");
    let m = vm.lookup(site_class, sel).unwrap();
    let MethodKind::Ast(body) = &m.kind else {
        panic!()
    };
    let mut kinds = Vec::new();
    body.body.walk(&mut |n| {
        kinds.push(match n {
            Node::IfElse(_) => "IfElse",
            Node::Send(_) | Node::Send0(_) | Node::Send1(_) | Node::BinarySpecial(_) => "Send",
            Node::Block(_) => "Block",
            _ => "other",
        })
    });
    assert!(kinds.contains(&"IfElse"));
    assert!(
        !kinds.contains(&"Send") && !kinds.contains(&"Block"),
        "{kinds:?}"
    );
    assert!(!body.needs_context, "inlined blocks need no context");

    let sel = vm.intern("loop");
    let m = vm.lookup(site_class, sel).unwrap();
    let MethodKind::Ast(body) = &m.kind else {
        panic!()
    };
    let mut has_todo = false;
    body.body
        .walk(&mut |n| has_todo |= matches!(n, Node::ToDo(_)));
    assert!(has_todo);
    let site = vm.new_instance(site_class);
    assert_eq!(send(&mut vm, site, "loop", &[]), Value::small(6));
}

#[test]
fn redefinition_drops_exactly_the_dependent_entries() {
    let mut vm = vm();
    let site_class = class(&mut vm, "Site");
    let site = vm.new_instance(site_class);
    let classes: Vec<Value> = (1..=3).map(|i| class(&mut vm, &format!("R{i}"))).collect();
    let objs: Vec<Value> = classes.iter().map(|c| vm.new_instance(*c)).collect();
    for o in &objs {
        send(&mut vm, site, "call:", &[*o]);
    }
    assert_eq!(
        chain_of(&mut vm, site_class, "call:", "foo"),
        (ChainState::Polymorphic, 3)
    );

    // Redefining R2>>foo invalidates R2's entry only.
    let src = vm.new_string("foo = ( ^20 )").expect("a short string");
    send(&mut vm, classes[1], "compile:", &[src]);
    assert_eq!(
        chain_of(&mut vm, site_class, "call:", "foo"),
        (ChainState::Polymorphic, 2)
    );
    assert_eq!(send(&mut vm, site, "call:", &[objs[1]]), Value::small(20));
    assert_eq!(send(&mut vm, site, "call:", &[objs[0]]), Value::small(1));
    assert_eq!(
        chain_of(&mut vm, site_class, "call:", "foo"),
        (ChainState::Polymorphic, 3)
    );

    // A method of another selector leaves the chain alone.
    let src = vm.new_string("bar = ( ^0 )").expect("a short string");
    send(&mut vm, classes[0], "compile:", &[src]);
    assert_eq!(
        chain_of(&mut vm, site_class, "call:", "foo"),
        (ChainState::Polymorphic, 3)
    );

    // Defining foo in Object (superclass of all three) invalidates every entry.
    let object = class(&mut vm, "Object");
    let src = vm.new_string("foo = ( ^0 )").expect("a short string");
    send(&mut vm, object, "compile:", &[src]);
    // Object>>foo does not change what R1..R3 answer (they override it), but
    // their lookups could have changed, so every entry is re-specialized.
    assert_eq!(
        chain_of(&mut vm, site_class, "call:", "foo"),
        (ChainState::Uninitialized, 0)
    );
    assert_eq!(send(&mut vm, site, "call:", &[objs[2]]), Value::small(3));
}

#[test]
fn perform_site_builds_a_two_level_chain() {
    let mut vm = vm_with(
        &[
            (
                "Calc",
                "Calc = ( | a | inc: x = ( a := (a ifNil: [0]) + x ) a = ( ^a ) )",
            ),
            (
                "PerformSite",
                "PerformSite = ( go: c with: sel = ( ^c perform: sel with: 1 ) )",
            ),
        ],
        &[],
    );
    let site_class = class(&mut vm, "PerformSite");
    let site = vm.new_instance(site_class);
    let calc_class = class(&mut vm, "Calc");
    let calc = vm.new_instance(calc_class);
    let inc = vm.intern("inc:");
    let inc_sym = vm.symbol_value(inc);
    for _ in 0..10 {
        send(&mut vm, site, "go:with:", &[calc, inc_sym]);
    }
    assert_eq!(send(&mut vm, calc, "a", &[]), Value::small(10));
    let go = vm.intern("go:with:");
    let m = vm.lookup(site_class, go).unwrap();
    let MethodKind::Ast(body) = &m.kind else {
        panic!()
    };
    let pw = vm.intern("perform:with:");
    let mut found = None;
    body.body.walk(&mut |n| {
        if let Some(s) = n.as_send() {
            if s.selector == pw {
                let entries = s.perform.entries();
                found = Some((
                    s.chain.chain_len(),
                    entries.len(),
                    entries.first().map(|e| (e.selector, e.chain.chain_len())),
                ));
            }
        }
    });
    // One entry for Calc's perform:with: primitive, one perform entry for
    // #inc:, whose own chain has one entry for Calc.
    assert_eq!(found, Some((1, 1, Some((inc, 1)))));
}

#[test]
fn reflective_sites_cache_per_key_and_go_generic() {
    let mut vm = vm_with(
        &[(
            "Refl",
            "Refl = ( | a b c d e f g h | at: i = ( ^self instVarAt: i ) glob = ( ^system global: #Refl ) can: s = ( ^self respondsTo: s ) )",
        )],
        &[],
    );
    let class_v = class(&mut vm, "Refl");
    let obj = vm.new_instance(class_v);
    let reflect_of = |vm: &mut Vm, method: &str, sel: &str| {
        let m = vm.intern(method);
        let s = vm.intern(sel);
        let mm = vm.lookup(class_v, m).unwrap();
        let MethodKind::Ast(body) = &mm.kind else {
            panic!()
        };
        let mut found = None;
        body.body.walk(&mut |n| {
            if let Some(send) = n.as_send() {
                if send.selector == s {
                    found = Some((send.reflect.entries().len(), send.reflect.is_generic()));
                }
            }
        });
        found.unwrap()
    };
    for _ in 0..5 {
        send(&mut vm, obj, "at:", &[Value::small(1)]);
    }
    assert_eq!(reflect_of(&mut vm, "at:", "instVarAt:"), (1, false));
    for i in 2..=6 {
        send(&mut vm, obj, "at:", &[Value::small(i)]);
    }
    assert_eq!(reflect_of(&mut vm, "at:", "instVarAt:"), (6, false));
    send(&mut vm, obj, "at:", &[Value::small(7)]);
    assert_eq!(reflect_of(&mut vm, "at:", "instVarAt:"), (0, true));
    assert_eq!(send(&mut vm, obj, "at:", &[Value::small(8)]), vm.nil);

    assert_eq!(send(&mut vm, obj, "glob", &[]), class_v);
    assert_eq!(send(&mut vm, obj, "glob", &[]), class_v);
    assert_eq!(reflect_of(&mut vm, "glob", "global:"), (1, false));

    let yes = vm.intern("at:");
    let yes = vm.symbol_value(yes);
    let no = vm.intern("nothing");
    let no = vm.symbol_value(no);
    assert_eq!(send(&mut vm, obj, "can:", &[yes]), vm.true_);
    assert_eq!(send(&mut vm, obj, "can:", &[no]), vm.false_);
    assert_eq!(reflect_of(&mut vm, "can:", "respondsTo:"), (2, false));
    // Defining #nothing invalidates that answer only.
    let src = vm.new_string("nothing = ( ^nil )").expect("a short string");
    send(&mut vm, class_v, "compile:", &[src]);
    assert_eq!(reflect_of(&mut vm, "can:", "respondsTo:"), (1, false));
    assert_eq!(send(&mut vm, obj, "can:", &[no]), vm.true_);
}

#[test]
fn perform_sites_go_generic_and_dnu_entries_are_cached() {
    let mut vm = vm_with(
        &[(
            "Many",
            "Many = ( a = ( ^1 ) b = ( ^2 ) c = ( ^3 ) d = ( ^4 ) e = ( ^5 ) f = ( ^6 ) g = ( ^7 ) \
             go: s = ( ^self perform: s ) miss = ( ^self zork ) \
             doesNotUnderstand: s arguments: a = ( ^#dnu ) )",
        )],
        &[],
    );
    let c = class(&mut vm, "Many");
    let o = vm.new_instance(c);
    let state = |vm: &mut Vm, method: &str, sel: &str| {
        let m = vm.intern(method);
        let s = vm.intern(sel);
        let mm = vm.lookup(c, m).unwrap();
        let MethodKind::Ast(body) = &mm.kind else {
            panic!()
        };
        let mut found = None;
        body.body.walk(&mut |n| {
            if let Some(send) = n.as_send() {
                if send.selector == s {
                    found = Some((
                        send.perform.entries().len(),
                        send.perform.is_generic(),
                        send.chain
                            .entries()
                            .iter()
                            .any(|e| matches!(e.target, som_runtime::dispatch::Target::Dnu(_))),
                    ));
                }
            }
        });
        found.unwrap()
    };
    for (i, name) in ["a", "b", "c", "d", "e", "f"].iter().enumerate() {
        let id = vm.intern(name);
        let sym = vm.symbol_value(id);
        assert_eq!(send(&mut vm, o, "go:", &[sym]), Value::small(i as i64 + 1));
    }
    assert_eq!(state(&mut vm, "go:", "perform:"), (6, false, false));
    let g = vm.intern("g");
    let g = vm.symbol_value(g);
    assert_eq!(send(&mut vm, o, "go:", &[g]), Value::small(7));
    assert_eq!(state(&mut vm, "go:", "perform:"), (0, true, false));

    let dnu = vm.intern("dnu");
    assert_eq!(send(&mut vm, o, "miss", &[]), vm.symbol_value(dnu));
    assert_eq!(state(&mut vm, "miss", "zork"), (0, false, true));
}

#[test]
fn responds_to_site_registers_per_selector_up_to_the_limit() {
    use som_runtime::nodes::REFLECT_CACHE_LIMIT;
    let mut vm = vm_with(
        &[("Rt6", "Rt6 = ( can: s = ( ^self respondsTo: s ) )")],
        &[],
    );
    let c = class(&mut vm, "Rt6");
    let obj = vm.new_instance(c);
    let state = |vm: &mut Vm| {
        let m = vm.intern("can:");
        let s = vm.intern("respondsTo:");
        let MethodKind::Ast(body) = &vm.lookup(c, m).unwrap().kind else {
            panic!()
        };
        let mut found = None;
        body.body.walk(&mut |n| {
            if let Some(send) = n.as_send() {
                if send.selector == s {
                    found = Some((send.reflect.entries().len(), send.reflect.is_generic()));
                }
            }
        });
        found.unwrap()
    };
    let sel = |vm: &mut Vm, i: usize| {
        let s = vm.intern(&format!("limit{i}"));
        vm.symbol_value(s)
    };
    // Warm the site once so that only its own registrations count below.
    let first = sel(&mut vm, 0);
    send(&mut vm, obj, "can:", &[first]);
    let before = vm.dependent_count();
    for i in 1..REFLECT_CACHE_LIMIT {
        let s = sel(&mut vm, i);
        // Asking twice registers once.
        send(&mut vm, obj, "can:", &[s]);
        send(&mut vm, obj, "can:", &[s]);
    }
    assert_eq!(state(&mut vm), (REFLECT_CACHE_LIMIT, false));
    assert_eq!(vm.dependent_count(), before + REFLECT_CACHE_LIMIT - 1);
    // One selector over the limit: generic, and no more registrations.
    let over = sel(&mut vm, REFLECT_CACHE_LIMIT);
    assert_eq!(send(&mut vm, obj, "can:", &[over]), vm.false_);
    assert_eq!(state(&mut vm), (0, true));
    for i in 0..100 {
        let s = sel(&mut vm, 1000 + i);
        send(&mut vm, obj, "can:", &[s]);
    }
    assert_eq!(vm.dependent_count(), before + REFLECT_CACHE_LIMIT - 1);
}
