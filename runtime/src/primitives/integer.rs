//! Integer primitives: arbitrary precision with small integers unboxed.
//!
//! Results are normalised: a result that fits the small range is always a small
//! integer, so equality and hashing never see two representations of one number.
//! Mixed Integer/Double arithmetic answers a Double.

use num_bigint::BigInt;
use num_integer::Integer as _;
use num_traits::{Signed, ToPrimitive, Zero};

use super::{int_arg, text_arg, wrong_arg, wrong_receiver};
use crate::interpreter::{Args, Unwind};
use crate::object::{self, Kind};
use crate::value::Value;
use crate::vm::{Vm, VmResult};

/// An integer operand: small or big.
pub enum IntRef<'a> {
    /// Unboxed.
    Small(i64),
    /// Boxed.
    Big(&'a BigInt),
}

impl IntRef<'_> {
    /// As a BigInt.
    pub fn to_big(&self) -> BigInt {
        match self {
            IntRef::Small(i) => BigInt::from(*i),
            IntRef::Big(b) => (*b).clone(),
        }
    }
}

/// The integer in `v`, if it is an Integer.
pub fn int_ref<'a>(v: Value) -> Option<IntRef<'a>> {
    if let Some(i) = v.small_int() {
        Some(IntRef::Small(i))
    } else if v.is_ptr() && object::kind_of(v) == Kind::BigInt {
        Some(IntRef::Big(object::bigint_of(v)))
    } else {
        None
    }
}

/// Turns a BigInt into the canonical Integer value.
pub fn normalize_bigint(vm: &mut Vm, b: BigInt) -> Value {
    if let Some(v) = b.to_i64().and_then(Value::try_small) {
        return v;
    }
    let shape = vm.instance_shape(vm.classes.integer);
    let v = vm.allocate(Kind::BigInt, 1, shape);
    // SAFETY: a BigInt body holds one owning pointer, released by `finalize`.
    unsafe { *object::body_ptr::<*mut BigInt>(v) = Box::into_raw(Box::new(b)) };
    v
}

impl Vm {
    /// An Integer value for any i64.
    pub fn int(&mut self, i: i64) -> Value {
        match Value::try_small(i) {
            Some(v) => v,
            None => normalize_bigint(self, BigInt::from(i)),
        }
    }

    /// An Integer value for an i128.
    pub fn int128(&mut self, i: i128) -> Value {
        match i64::try_from(i).ok().and_then(Value::try_small) {
            Some(v) => v,
            None => normalize_bigint(self, BigInt::from(i)),
        }
    }
}

enum Num<'a> {
    Int(IntRef<'a>),
    Double(f64),
}

fn num<'a>(v: Value) -> Option<Num<'a>> {
    if let Some(i) = int_ref(v) {
        return Some(Num::Int(i));
    }
    if v.is_ptr() && object::kind_of(v) == Kind::Double {
        return Some(Num::Double(object::double_of(v)));
    }
    None
}

fn big_to_f64(b: &BigInt) -> f64 {
    b.to_f64().unwrap_or(if b.is_negative() {
        f64::NEG_INFINITY
    } else {
        f64::INFINITY
    })
}

fn to_f64(i: &IntRef) -> f64 {
    match i {
        IntRef::Small(i) => *i as f64,
        IntRef::Big(b) => big_to_f64(b),
    }
}

fn rcvr_int<'a>(vm: &Vm, prim: &str, v: Value) -> Result<IntRef<'a>, Unwind> {
    int_ref(v).ok_or_else(|| wrong_receiver(vm, prim, "an Integer", v))
}

macro_rules! arith {
    ($name:ident, $prim:literal, $checked:ident, $big:expr, $dbl:expr) => {
        fn $name(vm: &mut Vm, a: Args) -> VmResult {
            let (r, x) = (a.rcvr(vm), a.arg(vm, 0));
            if let (Some(p), Some(q)) = (r.small_int(), x.small_int()) {
                if let Some(v) = p.$checked(q).and_then(Value::try_small) {
                    return Ok(v);
                }
            }
            let l = rcvr_int(vm, $prim, r)?;
            match num(x) {
                Some(Num::Int(ri)) => {
                    let f: fn(BigInt, BigInt) -> BigInt = $big;
                    let b = f(l.to_big(), ri.to_big());
                    Ok(normalize_bigint(vm, b))
                }
                Some(Num::Double(d)) => {
                    let f: fn(f64, f64) -> f64 = $dbl;
                    let v = f(to_f64(&l), d);
                    Ok(vm.new_double(v))
                }
                None => Err(wrong_arg(vm, $prim, "a number", x)),
            }
        }
    };
}

arith!(
    integer_plus,
    "Integer>>#+",
    checked_add,
    |a, b| a + b,
    |a, b| a + b
);
arith!(
    integer_minus,
    "Integer>>#-",
    checked_sub,
    |a, b| a - b,
    |a, b| a - b
);
arith!(
    integer_times,
    "Integer>>#*",
    checked_mul,
    |a, b| a * b,
    |a, b| a * b
);

fn zero_division(prim: &str) -> Unwind {
    Unwind::error_as(
        crate::error::ErrorClass::ZeroDivide,
        format!("{prim}: division by zero"),
    )
}

fn integer_divide(vm: &mut Vm, a: Args) -> VmResult {
    let (r, x) = (a.rcvr(vm), a.arg(vm, 0));
    let l = rcvr_int(vm, "Integer>>#/", r)?;
    match num(x) {
        Some(Num::Int(ri)) => {
            if let (IntRef::Small(p), IntRef::Small(q)) = (&l, &ri) {
                if *q == 0 {
                    return Err(zero_division("Integer>>#/"));
                }
                return Ok(vm.int128(*p as i128 / *q as i128));
            }
            let q = ri.to_big();
            if q.is_zero() {
                return Err(zero_division("Integer>>#/"));
            }
            // Truncating division, like Java's and C's `/`.
            Ok(normalize_bigint(vm, l.to_big() / q))
        }
        Some(Num::Double(d)) => {
            let v = to_f64(&l) / d;
            Ok(vm.new_double(v))
        }
        None => Err(wrong_arg(vm, "Integer>>#/", "a number", x)),
    }
}

fn integer_double_divide(vm: &mut Vm, a: Args) -> VmResult {
    let (r, x) = (a.rcvr(vm), a.arg(vm, 0));
    let l = to_f64(&rcvr_int(vm, "Integer>>#//", r)?);
    let d = match num(x) {
        Some(Num::Int(i)) => to_f64(&i),
        Some(Num::Double(d)) => d,
        None => return Err(wrong_arg(vm, "Integer>>#//", "a number", x)),
    };
    Ok(vm.new_double(l / d))
}

fn integer_modulo(vm: &mut Vm, a: Args) -> VmResult {
    let (r, x) = (a.rcvr(vm), a.arg(vm, 0));
    let l = rcvr_int(vm, "Integer>>#%", r)?;
    match num(x) {
        Some(Num::Int(ri)) => {
            if let (IntRef::Small(p), IntRef::Small(q)) = (&l, &ri) {
                if *q == 0 {
                    return Err(zero_division("Integer>>#%"));
                }
                return Ok(vm.int(p.mod_floor(q)));
            }
            let q = ri.to_big();
            if q.is_zero() {
                return Err(zero_division("Integer>>#%"));
            }
            Ok(normalize_bigint(vm, l.to_big().mod_floor(&q)))
        }
        Some(Num::Double(d)) => {
            let p = to_f64(&l);
            let m = p - d * (p / d).floor();
            Ok(vm.new_double(m))
        }
        None => Err(wrong_arg(vm, "Integer>>#%", "a number", x)),
    }
}

fn integer_rem(vm: &mut Vm, a: Args) -> VmResult {
    let (r, x) = (a.rcvr(vm), a.arg(vm, 0));
    let l = rcvr_int(vm, "Integer>>#rem:", r)?;
    match num(x) {
        Some(Num::Int(ri)) => {
            if let (IntRef::Small(p), IntRef::Small(q)) = (&l, &ri) {
                if *q == 0 {
                    return Err(zero_division("Integer>>#rem:"));
                }
                return Ok(vm.int128(*p as i128 % *q as i128));
            }
            let q = ri.to_big();
            if q.is_zero() {
                return Err(zero_division("Integer>>#rem:"));
            }
            Ok(normalize_bigint(vm, l.to_big() % q))
        }
        Some(Num::Double(d)) => {
            let v = to_f64(&l) % d;
            Ok(vm.new_double(v))
        }
        None => Err(wrong_arg(vm, "Integer>>#rem:", "a number", x)),
    }
}

fn bitwise(
    vm: &mut Vm,
    a: Args,
    prim: &str,
    small: fn(i64, i64) -> i64,
    big: fn(&BigInt, &BigInt) -> BigInt,
) -> VmResult {
    let (r, x) = (a.rcvr(vm), a.arg(vm, 0));
    if let (Some(p), Some(q)) = (r.small_int(), x.small_int()) {
        return Ok(vm.int(small(p, q)));
    }
    let l = rcvr_int(vm, prim, r)?;
    let ri = int_ref(x).ok_or_else(|| wrong_arg(vm, prim, "an Integer", x))?;
    Ok(normalize_bigint(vm, big(&l.to_big(), &ri.to_big())))
}

fn integer_and(vm: &mut Vm, a: Args) -> VmResult {
    bitwise(vm, a, "Integer>>#&", |p, q| p & q, |p, q| p & q)
}

fn integer_bit_xor(vm: &mut Vm, a: Args) -> VmResult {
    bitwise(vm, a, "Integer>>#bitXor:", |p, q| p ^ q, |p, q| p ^ q)
}

/// Largest shift accepted by `<<`: beyond it the result would not fit in
/// memory sensibly (2^(2^24) has 16M bits).
pub const MAX_SHIFT: i64 = 1 << 24;

fn integer_shift_left(vm: &mut Vm, a: Args) -> VmResult {
    let (r, x) = (a.rcvr(vm), a.arg(vm, 0));
    let l = rcvr_int(vm, "Integer>>#<<", r)?;
    let n = int_arg(vm, "Integer>>#<<", x)?;
    if n < 0 {
        return Ok(normalize_bigint(
            vm,
            l.to_big() >> (-n).min(MAX_SHIFT) as usize,
        ));
    }
    if n > MAX_SHIFT {
        return Err(Unwind::error_as(
            crate::error::ErrorClass::ArgumentError,
            format!("Integer>>#<<: shift by {n} exceeds the limit of {MAX_SHIFT}"),
        ));
    }
    if let IntRef::Small(p) = l {
        if n < 62 {
            let v = (p as i128) << n;
            return Ok(vm.int128(v));
        }
    }
    Ok(normalize_bigint(vm, l.to_big() << n as usize))
}

fn integer_unsigned_shift_right(vm: &mut Vm, a: Args) -> VmResult {
    let (r, x) = (a.rcvr(vm), a.arg(vm, 0));
    let l = rcvr_int(vm, "Integer>>#>>>", r)?;
    let n = int_arg(vm, "Integer>>#>>>", x)?;
    if n < 0 {
        return Err(Unwind::error_as(
            crate::error::ErrorClass::ArgumentError,
            "Integer>>#>>>: negative shift",
        ));
    }
    match l {
        IntRef::Small(p) => {
            // A logical shift of the 64-bit two's complement pattern.
            let v = if n >= 64 { 0 } else { (p as u64) >> n };
            Ok(vm.int128(v as i128))
        }
        IntRef::Big(b) => {
            let v = b >> (n.min(MAX_SHIFT) as usize);
            Ok(normalize_bigint(vm, v))
        }
    }
}

fn integer_sqrt(vm: &mut Vm, a: Args) -> VmResult {
    let r = a.rcvr(vm);
    let l = rcvr_int(vm, "Integer>>#sqrt", r)?;
    let big = l.to_big();
    if !big.is_negative() {
        let root = big.sqrt();
        if &root * &root == big {
            return Ok(normalize_bigint(vm, root));
        }
    }
    let d = to_f64(&l).sqrt();
    Ok(vm.new_double(d))
}

fn integer_at_random(vm: &mut Vm, a: Args) -> VmResult {
    let r = a.rcvr(vm);
    let n = int_arg(vm, "Integer>>#atRandom", r)?;
    // xorshift64*: deterministic per run, good enough for benchmarks' needs.
    let mut s = vm.random_state.get();
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    vm.random_state.set(s);
    let x = s.wrapping_mul(0x2545_F491_4F6C_DD1D);
    if n <= 0 {
        return Ok(Value::small(0));
    }
    Ok(vm.int((x % n as u64) as i64))
}

/// Compares two numbers; None if `x` is not a number.
fn compare(l: &IntRef, x: Value) -> Option<std::cmp::Ordering> {
    match num(x)? {
        Num::Int(ri) => match (l, &ri) {
            (IntRef::Small(p), IntRef::Small(q)) => Some(p.cmp(q)),
            _ => Some(l.to_big().cmp(&ri.to_big())),
        },
        Num::Double(d) => to_f64(l).partial_cmp(&d),
    }
}

fn integer_equal(vm: &mut Vm, a: Args) -> VmResult {
    let (r, x) = (a.rcvr(vm), a.arg(vm, 0));
    if let (Some(p), Some(q)) = (r.small_int(), x.small_int()) {
        return Ok(vm.boolean(p == q));
    }
    let l = rcvr_int(vm, "Integer>>#=", r)?;
    Ok(vm.boolean(compare(&l, x) == Some(std::cmp::Ordering::Equal)))
}

fn integer_less(vm: &mut Vm, a: Args) -> VmResult {
    let (r, x) = (a.rcvr(vm), a.arg(vm, 0));
    if let (Some(p), Some(q)) = (r.small_int(), x.small_int()) {
        return Ok(vm.boolean(p < q));
    }
    let l = rcvr_int(vm, "Integer>>#<", r)?;
    match compare(&l, x) {
        Some(o) => Ok(vm.boolean(o == std::cmp::Ordering::Less)),
        None if num(x).is_some() => Ok(vm.false_),
        None => Err(wrong_arg(vm, "Integer>>#<", "a number", x)),
    }
}

fn integer_as_string(vm: &mut Vm, a: Args) -> VmResult {
    let r = a.rcvr(vm);
    let s = match rcvr_int(vm, "Integer>>#asString", r)? {
        IntRef::Small(i) => i.to_string(),
        IntRef::Big(b) => b.to_string(),
    };
    vm.new_string(&s)
}

fn integer_as_32bit_signed(vm: &mut Vm, a: Args) -> VmResult {
    let r = a.rcvr(vm);
    let l = rcvr_int(vm, "Integer>>#as32BitSignedValue", r)?;
    let low = low_u64(&l) as u32 as i32;
    Ok(Value::small(low as i64))
}

fn integer_as_32bit_unsigned(vm: &mut Vm, a: Args) -> VmResult {
    let r = a.rcvr(vm);
    let l = rcvr_int(vm, "Integer>>#as32BitUnsignedValue", r)?;
    let low = low_u64(&l) as u32;
    Ok(Value::small(low as i64))
}

/// The low 64 bits of the two's complement representation.
fn low_u64(i: &IntRef) -> u64 {
    match i {
        IntRef::Small(i) => *i as u64,
        IntRef::Big(b) => {
            let bytes = b.to_signed_bytes_le();
            let mut buf = if b.is_negative() {
                [0xffu8; 8]
            } else {
                [0u8; 8]
            };
            for (i, byte) in bytes.iter().take(8).enumerate() {
                buf[i] = *byte;
            }
            u64::from_le_bytes(buf)
        }
    }
}

fn integer_as_double(vm: &mut Vm, a: Args) -> VmResult {
    let r = a.rcvr(vm);
    let l = rcvr_int(vm, "Integer>>#asDouble", r)?;
    let d = to_f64(&l);
    Ok(vm.new_double(d))
}

fn integer_from_string(vm: &mut Vm, a: Args) -> VmResult {
    let x = a.arg(vm, 0);
    let s = text_arg(vm, "Integer class>>#fromString:", x)?
        .trim()
        .to_string();
    match s.parse::<BigInt>() {
        Ok(b) => Ok(normalize_bigint(vm, b)),
        Err(_) => Ok(vm.nil),
    }
}

pub(super) fn install(vm: &mut Vm) {
    let table: [(&str, &str, crate::method::PrimFn); 20] = [
        ("Integer", "+", integer_plus),
        ("Integer", "-", integer_minus),
        ("Integer", "*", integer_times),
        ("Integer", "/", integer_divide),
        ("Integer", "//", integer_double_divide),
        ("Integer", "%", integer_modulo),
        ("Integer", "rem:", integer_rem),
        ("Integer", "&", integer_and),
        ("Integer", "<<", integer_shift_left),
        ("Integer", ">>>", integer_unsigned_shift_right),
        ("Integer", "bitXor:", integer_bit_xor),
        ("Integer", "sqrt", integer_sqrt),
        ("Integer", "atRandom", integer_at_random),
        ("Integer", "=", integer_equal),
        ("Integer", "<", integer_less),
        ("Integer", "asString", integer_as_string),
        ("Integer", "as32BitSignedValue", integer_as_32bit_signed),
        ("Integer", "as32BitUnsignedValue", integer_as_32bit_unsigned),
        ("Integer", "asDouble", integer_as_double),
        ("Integer class", "fromString:", integer_from_string),
    ];
    for (c, s, f) in table {
        vm.register_primitive(c, s, f);
    }
}
