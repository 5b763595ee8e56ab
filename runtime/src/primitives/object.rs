//! Object primitives: identity, hashing, reflection (`perform:` family,
//! `instVarAt:`), and debugging aids.

use super::{int_arg, symbol_arg};
use crate::interpreter::{Args, Unwind};
use crate::object::{self, Kind};
use crate::value::Value;
use crate::vm::{Vm, VmResult};

fn object_class(vm: &mut Vm, a: Args) -> VmResult {
    Ok(vm.class_of(a.rcvr(vm)))
}

fn object_object_size(vm: &mut Vm, a: Args) -> VmResult {
    let r = a.rcvr(vm);
    let size = if r.is_ptr() {
        let h = object::header(r);
        object::object_size(h.kind(), h.len())
    } else {
        8
    };
    Ok(Value::small(size as i64))
}

fn object_identical(vm: &mut Vm, a: Args) -> VmResult {
    Ok(vm.boolean(a.rcvr(vm) == a.arg(vm, 0)))
}

/// Identity hash: objects never move, so the address is stable.
pub fn identity_hash(v: Value) -> i64 {
    if v.is_small() {
        v.as_small()
    } else {
        ((v.bits() >> 4) & ((1 << 40) - 1)) as i64
    }
}

fn object_hashcode(vm: &mut Vm, a: Args) -> VmResult {
    Ok(Value::small(identity_hash(a.rcvr(vm))))
}

fn object_inspect(vm: &mut Vm, a: Args) -> VmResult {
    use std::io::Write;
    let r = a.rcvr(vm);
    let class = vm.class_name_of(r);
    let mut text = format!("an instance of {class}\n");
    if r.is_ptr() && object::kind_of(r) == Kind::Object {
        let names = vm.instance_field_names(vm.class_of(r));
        for (i, name) in names.iter().enumerate() {
            let v = object::slots(r)[i];
            text.push_str(&format!(
                "  {name}: an instance of {}\n",
                vm.class_name_of(v)
            ));
        }
    }
    let _ = vm.out.write_all(text.as_bytes());
    Ok(r)
}

fn object_halt(vm: &mut Vm, a: Args) -> VmResult {
    vm.flush();
    eprintln!("halt: execution continues (no debugger in this VM)");
    eprint!("{}", vm.stack_trace());
    Ok(a.rcvr(vm))
}

fn perform_as(vm: &mut Vm, a: Args, with_array: bool, in_superclass: bool) -> VmResult {
    let kind = crate::nodes::PerformKind {
        with_array,
        in_superclass,
    };
    crate::nodes::PerformCache::uncached().perform(vm, kind, a.base, a.argc)
}

/// `perform:` and `perform:with:...`: arguments on the stack.
pub(crate) fn perform_primitive(vm: &mut Vm, a: Args) -> VmResult {
    perform_as(vm, a, false, false)
}

fn object_perform_with_arguments(vm: &mut Vm, a: Args) -> VmResult {
    perform_as(vm, a, true, false)
}

fn object_perform_in_superclass(vm: &mut Vm, a: Args) -> VmResult {
    perform_as(vm, a, false, true)
}

fn object_perform_with_arguments_in_superclass(vm: &mut Vm, a: Args) -> VmResult {
    perform_as(vm, a, true, true)
}

/// The field slots of `v` (instance fields, or class-side fields of a class).
fn field_slots(v: Value) -> Option<&'static mut [Value]> {
    if v.is_ptr() && matches!(object::kind_of(v), Kind::Object | Kind::Class) {
        Some(object::slots(v))
    } else {
        None
    }
}

fn field_index(vm: &Vm, prim: &str, r: Value, idx: Value) -> Result<usize, Unwind> {
    let i = int_arg(vm, prim, idx)?;
    let n = field_slots(r).map_or(0, |s| s.len());
    if i >= 1 && (i as usize) <= n {
        Ok(i as usize - 1)
    } else {
        Err(Unwind::error(format!(
            "{prim}: field index {i} out of range (the object has {n} field(s))"
        )))
    }
}

fn object_inst_var_at(vm: &mut Vm, a: Args) -> VmResult {
    let r = a.rcvr(vm);
    let i = field_index(vm, "Object>>#instVarAt:", r, a.arg(vm, 0))?;
    Ok(field_slots(r).expect("checked")[i])
}

fn object_inst_var_at_put(vm: &mut Vm, a: Args) -> VmResult {
    let r = a.rcvr(vm);
    let i = field_index(vm, "Object>>#instVarAt:put:", r, a.arg(vm, 0))?;
    let v = a.arg(vm, 1);
    field_slots(r).expect("checked")[i] = v;
    Ok(v)
}

fn object_inst_var_named(vm: &mut Vm, a: Args) -> VmResult {
    let r = a.rcvr(vm);
    let sel = symbol_arg(vm, "Object>>#instVarNamed:", a.arg(vm, 0))?;
    let class = vm.class_of(r);
    let pos = vm
        .class_data(class)
        .instance_fields
        .borrow()
        .iter()
        .position(|f| *f == sel);
    match (pos, field_slots(r)) {
        (Some(i), Some(s)) if i < s.len() => Ok(s[i]),
        _ => Err(Unwind::error(format!(
            "Object>>#instVarNamed:: {} has no field named {}",
            vm.class_name(class),
            vm.symbols.text(sel)
        ))),
    }
}

/// `respondsTo:` outside a send site (e.g. through `perform:`).
fn object_responds_to(vm: &mut Vm, a: Args) -> VmResult {
    let sel = symbol_arg(vm, "Object>>#respondsTo:", a.arg(vm, 0))?;
    let class = vm.class_of(a.rcvr(vm));
    let found = vm.lookup(class, sel).is_some();
    Ok(vm.boolean(found))
}

pub(super) fn install(vm: &mut Vm) {
    vm.register_primitive("Object", "respondsTo:", object_responds_to);
    let table: [(&str, crate::method::PrimFn); 13] = [
        ("class", object_class),
        ("objectSize", object_object_size),
        ("==", object_identical),
        ("hashcode", object_hashcode),
        ("inspect", object_inspect),
        ("halt", object_halt),
        ("perform:", perform_primitive),
        ("perform:withArguments:", object_perform_with_arguments),
        ("perform:inSuperclass:", object_perform_in_superclass),
        (
            "perform:withArguments:inSuperclass:",
            object_perform_with_arguments_in_superclass,
        ),
        ("instVarAt:", object_inst_var_at),
        ("instVarAt:put:", object_inst_var_at_put),
        ("instVarNamed:", object_inst_var_named),
    ];
    for (s, f) in table {
        vm.register_primitive("Object", s, f);
    }
}
