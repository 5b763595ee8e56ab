//! Array primitives: fixed-size, 1-based, bounds-checked.

use super::{index_arg, int_arg, wrong_receiver};
use crate::interpreter::{is_kind, Args, Unwind};
use crate::object::{self, Kind};
use crate::value::Value;
use crate::vm::{Vm, VmResult};

/// Largest Array `new:` creates; larger requests are SOM-level errors rather
/// than an out-of-memory abort.
pub const MAX_ARRAY_LENGTH: i64 = 1 << 28;

fn rcvr_array(vm: &Vm, prim: &str, v: Value) -> Result<Value, Unwind> {
    if is_kind(v, Kind::Array) {
        Ok(v)
    } else {
        Err(wrong_receiver(vm, prim, "an Array", v))
    }
}

fn array_at(vm: &mut Vm, a: Args) -> VmResult {
    let arr = rcvr_array(vm, "Array>>#at:", a.rcvr(vm))?;
    let s = object::slots(arr);
    let i = index_arg(vm, "Array>>#at:", a.arg(vm, 0), s.len(), "Array of ")?;
    Ok(s[i])
}

fn array_at_put(vm: &mut Vm, a: Args) -> VmResult {
    let arr = rcvr_array(vm, "Array>>#at:put:", a.rcvr(vm))?;
    let s = object::slots(arr);
    let i = index_arg(vm, "Array>>#at:put:", a.arg(vm, 0), s.len(), "Array of ")?;
    let v = a.arg(vm, 1);
    s[i] = v;
    Ok(v)
}

fn array_length(vm: &mut Vm, a: Args) -> VmResult {
    let arr = rcvr_array(vm, "Array>>#length", a.rcvr(vm))?;
    Ok(Value::small(object::header(arr).len() as i64))
}

fn array_new(vm: &mut Vm, a: Args) -> VmResult {
    let class = a.rcvr(vm);
    let n = int_arg(vm, "Array class>>#new:", a.arg(vm, 0))?;
    if !(0..=MAX_ARRAY_LENGTH).contains(&n) {
        return Err(Unwind::error_as(
            crate::error::ErrorClass::ArgumentError,
            format!("Array class>>#new:: length {n} outside 0..{MAX_ARRAY_LENGTH}"),
        ));
    }
    Ok(vm.new_array_of(array_class(vm, class), n as usize))
}

/// The class of the Array a class-side primitive makes: sent to a subclass
/// of Array it makes an instance of that subclass.
fn array_class(vm: &Vm, rcvr: Value) -> Value {
    if is_kind(rcvr, Kind::Class) {
        rcvr
    } else {
        vm.classes.array
    }
}

/// `Array class>>with:`, `with:with:`, `with:with:with:`.
fn array_with(vm: &mut Vm, a: Args) -> VmResult {
    let class = array_class(vm, a.rcvr(vm));
    Ok(vm.new_array_of_from_stack(class, a.base + 1, a.argc))
}

pub(super) fn install(vm: &mut Vm) {
    vm.register_primitive("Array class", "with:", array_with);
    vm.register_primitive("Array class", "with:with:", array_with);
    vm.register_primitive("Array class", "with:with:with:", array_with);
    vm.register_primitive("Array", "at:", array_at);
    vm.register_primitive("Array", "at:put:", array_at_put);
    vm.register_primitive("Array", "length", array_length);
    vm.register_primitive("Array class", "new:", array_new);
}
