//! Object primitives: identity, hashing, reflection (`perform:` family,
//! `instVarAt:`), and debugging aids.

use super::symbol_arg;
use crate::interpreter::Args;
use crate::nodes::Reflective;
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

/// `Object>>#hashcode`: consistent with `=` for numbers (whose `=` compares
/// values), and for every other object its identity hash, which depends only
/// on the order in which the program asks for hashes (see
/// [`Vm::identity_hash`]), never on addresses: the same program prints the
/// same hashes in every run, with or without `--gc-stress`, in every tier.
pub fn hashcode(vm: &mut Vm, v: Value) -> i64 {
    if let Some(i) = v.small_int() {
        return i;
    }
    match object::kind_of(v) {
        Kind::Double => double_hash(object::double_of(v)),
        Kind::BigInt => {
            // The low 62 bits of the magnitude, signed like the number.
            let (sign, digits) = object::bigint_of(v).to_u64_digits();
            let low = (digits.first().copied().unwrap_or(0) & ((1 << 62) - 1)) as i64;
            if sign == num_bigint::Sign::Minus {
                -low
            } else {
                low
            }
        }
        _ => vm.identity_hash(v) as i64,
    }
}

/// A Double equal to a small integer hashes like it (`1.0 = 1`); any other
/// Double by its bits, so equal Doubles hash alike (`0.0 = -0.0` included).
fn double_hash(d: f64) -> i64 {
    if d.fract() == 0.0 && d.abs() < (1u64 << 62) as f64 {
        return d as i64;
    }
    ((d.to_bits() >> 2) & ((1 << 62) - 1)) as i64
}

fn object_hashcode(vm: &mut Vm, a: Args) -> VmResult {
    let r = a.rcvr(vm);
    let h = hashcode(vm, r);
    Ok(vm.int(h))
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

/// The perform primitives and `invokeOn:with:` can call one another without
/// any SOM activation in between (a perform of `perform:withArguments:` with
/// an argument Array that contains itself), so they check the native stack
/// themselves: the backstop that turns such recursion into "stack overflow".
fn perform_as(vm: &mut Vm, a: Args, with_array: bool, in_superclass: bool) -> VmResult {
    vm.check_native_stack()?;
    let kind = crate::nodes::PerformKind {
        with_array,
        in_superclass,
    };
    crate::nodes::PerformCache::uncached().perform(vm, kind, a.base, a.argc)
}

/// The `performEnforced:` family: runs the method at base level in enforced
/// execution (the caller's mode is restored afterwards), without asking the
/// receiver's owner: this is how the standard `requestExecutionOf:` proceeds.
fn perform_enforced_as(vm: &mut Vm, a: Args, with_array: bool, in_superclass: bool) -> VmResult {
    vm.check_native_stack()?;
    let prim = "Object>>#performEnforced:";
    let kind = crate::nodes::PerformKind {
        with_array,
        in_superclass,
    };
    let sel_value = a.arg(vm, 0);
    let selector = symbol_arg(vm, prim, sel_value)?;
    let lookup_class = if in_superclass {
        let c = a.arg(vm, a.argc - 1);
        super::class_arg(vm, prim, c)?
    } else {
        Value::ZERO
    };
    let nargs = crate::nodes::lay_out_arguments(vm, kind, prim, a.base, a.argc)?;
    let want = super::selector_arity(vm.symbols.text(selector));
    if want != nargs {
        return Err(crate::interpreter::Unwind::error_as(
            crate::error::ErrorClass::ArgumentError,
            format!(
                "{prim} #{} takes {want} argument(s), given {nargs}",
                vm.symbols.text(selector)
            ),
        ));
    }
    vm.perform_enforced_at(selector, lookup_class, a.base, nargs)
}

/// `performEnforced:` and `performEnforced:with:...`.
pub(crate) fn perform_enforced(vm: &mut Vm, a: Args) -> VmResult {
    perform_enforced_as(vm, a, false, false)
}

/// `performEnforced:withArguments:`.
pub(crate) fn perform_enforced_with_arguments(vm: &mut Vm, a: Args) -> VmResult {
    perform_enforced_as(vm, a, true, false)
}

/// `performEnforced:inSuperclass:`.
pub(crate) fn perform_enforced_in_superclass(vm: &mut Vm, a: Args) -> VmResult {
    perform_enforced_as(vm, a, false, true)
}

/// `performEnforced:withArguments:inSuperclass:`.
pub(crate) fn perform_enforced_with_arguments_in_superclass(vm: &mut Vm, a: Args) -> VmResult {
    perform_enforced_as(vm, a, true, true)
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

/// `instVarAt:`, `instVarAt:put:` and `instVarNamed:` outside a send site;
/// the validation is the one the sites' caches use.
fn inst_var(vm: &mut Vm, a: Args, kind: Reflective) -> VmResult {
    let r = a.rcvr(vm);
    let i = crate::nodes::field_of(vm, kind, r, a.arg(vm, 0))?;
    let slots = field_slots(r).expect("validated");
    if kind == Reflective::InstVarAtPut {
        let v = a.arg(vm, 1);
        slots[i] = v;
        Ok(v)
    } else {
        Ok(slots[i])
    }
}

fn object_inst_var_at(vm: &mut Vm, a: Args) -> VmResult {
    inst_var(vm, a, Reflective::InstVarAt)
}

fn object_inst_var_at_put(vm: &mut Vm, a: Args) -> VmResult {
    inst_var(vm, a, Reflective::InstVarAtPut)
}

fn object_inst_var_named(vm: &mut Vm, a: Args) -> VmResult {
    inst_var(vm, a, Reflective::InstVarNamed)
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
