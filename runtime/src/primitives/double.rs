//! Double primitives. Mixed arithmetic converts the Integer operand; results
//! that SOM defines as Integers (`round`, `asInteger`) may be big.

use num_bigint::BigInt;
use num_traits::FromPrimitive;

use super::{text_arg, wrong_arg, wrong_receiver};
use crate::interpreter::{Args, Unwind};
use crate::object::{self, Kind};
use crate::value::Value;
use crate::vm::{Vm, VmResult};

fn rcvr(vm: &Vm, prim: &str, v: Value) -> Result<f64, Unwind> {
    if v.is_ptr() && object::kind_of(v) == Kind::Double {
        Ok(object::double_of(v))
    } else {
        Err(wrong_receiver(vm, prim, "a Double", v))
    }
}

fn operand(vm: &Vm, prim: &str, v: Value) -> Result<f64, Unwind> {
    vm.as_f64(v)
        .ok_or_else(|| wrong_arg(vm, prim, "a number", v))
}

fn binary(vm: &mut Vm, a: Args, prim: &str, f: fn(f64, f64) -> f64) -> VmResult {
    let l = rcvr(vm, prim, a.rcvr(vm))?;
    let r = operand(vm, prim, a.arg(vm, 0))?;
    Ok(vm.new_double(f(l, r)))
}

fn double_plus(vm: &mut Vm, a: Args) -> VmResult {
    binary(vm, a, "Double>>#+", |x, y| x + y)
}
fn double_minus(vm: &mut Vm, a: Args) -> VmResult {
    binary(vm, a, "Double>>#-", |x, y| x - y)
}
fn double_times(vm: &mut Vm, a: Args) -> VmResult {
    binary(vm, a, "Double>>#*", |x, y| x * y)
}
fn double_divide(vm: &mut Vm, a: Args) -> VmResult {
    binary(vm, a, "Double>>#//", |x, y| x / y)
}
fn double_modulo(vm: &mut Vm, a: Args) -> VmResult {
    // C fmod: the result takes the sign of the dividend.
    binary(vm, a, "Double>>#%", |x, y| x % y)
}

fn unary(vm: &mut Vm, a: Args, prim: &str, f: fn(f64) -> f64) -> VmResult {
    let x = rcvr(vm, prim, a.rcvr(vm))?;
    Ok(vm.new_double(f(x)))
}

fn double_sqrt(vm: &mut Vm, a: Args) -> VmResult {
    unary(vm, a, "Double>>#sqrt", f64::sqrt)
}
fn double_cos(vm: &mut Vm, a: Args) -> VmResult {
    unary(vm, a, "Double>>#cos", f64::cos)
}
fn double_sin(vm: &mut Vm, a: Args) -> VmResult {
    unary(vm, a, "Double>>#sin", f64::sin)
}

fn to_integer(vm: &mut Vm, prim: &str, d: f64) -> VmResult {
    if !d.is_finite() {
        return Err(Unwind::error_as(
            crate::error::ErrorClass::ArgumentError,
            format!("{prim}: {d:?} has no Integer value"),
        ));
    }
    if d.abs() < 4.0e18 {
        return Ok(vm.int(d as i64));
    }
    let b = BigInt::from_f64(d).expect("finite double");
    Ok(super::normalize_bigint(vm, b))
}

fn double_round(vm: &mut Vm, a: Args) -> VmResult {
    let x = rcvr(vm, "Double>>#round", a.rcvr(vm))?;
    // Half rounds towards positive infinity (1.5 -> 2, -1.5 -> -1), as Java's
    // Math.round does in the reference VM.
    to_integer(vm, "Double>>#round", (x + 0.5).floor())
}

fn double_as_integer(vm: &mut Vm, a: Args) -> VmResult {
    let x = rcvr(vm, "Double>>#asInteger", a.rcvr(vm))?;
    to_integer(vm, "Double>>#asInteger", x.trunc())
}

fn double_equal(vm: &mut Vm, a: Args) -> VmResult {
    let x = rcvr(vm, "Double>>#=", a.rcvr(vm))?;
    let y = vm.as_f64(a.arg(vm, 0));
    Ok(vm.boolean(y == Some(x)))
}

fn double_less(vm: &mut Vm, a: Args) -> VmResult {
    let x = rcvr(vm, "Double>>#<", a.rcvr(vm))?;
    let y = operand(vm, "Double>>#<", a.arg(vm, 0))?;
    Ok(vm.boolean(x < y))
}

/// Shortest text that reads back as the same Double, with `.0` for whole
/// numbers and a lower-case exponent.
pub fn format_double(d: f64) -> String {
    format!("{d:?}")
}

fn double_as_string(vm: &mut Vm, a: Args) -> VmResult {
    let x = rcvr(vm, "Double>>#asString", a.rcvr(vm))?;
    let s = format_double(x);
    vm.new_string(&s)
}

fn double_positive_infinity(vm: &mut Vm, _a: Args) -> VmResult {
    Ok(vm.new_double(f64::INFINITY))
}

fn double_from_string(vm: &mut Vm, a: Args) -> VmResult {
    let x = a.arg(vm, 0);
    let s = text_arg(vm, "Double class>>#fromString:", x)?
        .trim()
        .to_string();
    let d = s.parse::<f64>().unwrap_or(f64::NAN);
    Ok(vm.new_double(d))
}

pub(super) fn install(vm: &mut Vm) {
    let table: [(&str, &str, crate::method::PrimFn); 15] = [
        ("Double", "+", double_plus),
        ("Double", "-", double_minus),
        ("Double", "*", double_times),
        ("Double", "//", double_divide),
        ("Double", "%", double_modulo),
        ("Double", "sqrt", double_sqrt),
        ("Double", "round", double_round),
        ("Double", "asInteger", double_as_integer),
        ("Double", "cos", double_cos),
        ("Double", "sin", double_sin),
        ("Double", "=", double_equal),
        ("Double", "<", double_less),
        ("Double", "asString", double_as_string),
        ("Double class", "PositiveInfinity", double_positive_infinity),
        ("Double class", "fromString:", double_from_string),
    ];
    for (c, s, f) in table {
        vm.register_primitive(c, s, f);
    }
}
