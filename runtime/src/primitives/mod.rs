//! Primitives: the methods of the core library implemented in Rust.
//!
//! Each file covers one class family and ends with its `install` table of
//! (class, selector, function) entries; functions are named
//! `<class>_<selector>`. A class's `= primitive` declaration is bound to the
//! entry with the same class name and selector when the class is defined.
//!
//! Primitives validate their arguments: a wrong argument class is a SOM-level
//! error naming the primitive, never a VM crash.

mod array;
mod block;
mod class;
mod double;
mod exception;
mod integer;
mod method;
mod object;
mod string;
mod system;

use crate::interpreter::{is_kind, Unwind};
use crate::object::Kind;
use crate::value::Value;
use crate::vm::Vm;

pub(crate) use exception::{handler_may_catch, signal_runtime_error};
pub use exception::{ExceptionTransfer, HandlerRecord};
pub use integer::{normalize_bigint, IntRef};
pub(crate) use object::{
    perform_enforced, perform_enforced_in_superclass, perform_enforced_with_arguments,
    perform_enforced_with_arguments_in_superclass, perform_primitive,
};

/// Registers every primitive of the core library.
pub fn install(vm: &mut Vm) {
    object::install(vm);
    class::install(vm);
    integer::install(vm);
    double::install(vm);
    string::install(vm);
    array::install(vm);
    block::install(vm);
    method::install(vm);
    system::install(vm);
    exception::install(vm);
    for (class, sel) in [
        ("Block", "value"),
        ("Block1", "value"),
        ("Block2", "value:"),
        ("Block3", "value:with:"),
        ("Block", "restart"),
        ("Block", "whileTrue:"),
        ("Block", "whileFalse:"),
        ("Method", "invokeOn:with:"),
        ("Primitive", "invokeOn:with:"),
        ("Object", "perform:"),
        ("Object", "perform:withArguments:"),
        ("Object", "perform:inSuperclass:"),
        ("Object", "perform:withArguments:inSuperclass:"),
    ] {
        vm.register_transparent(class, sel);
    }
}

impl Vm {
    /// true or false.
    #[inline(always)]
    pub fn boolean(&self, b: bool) -> Value {
        if b {
            self.true_
        } else {
            self.false_
        }
    }
}

/// `name` with its indefinite article: "an Integer", "a ZeroDivide".
pub fn with_article(name: &str) -> String {
    let vowel = name
        .chars()
        .next()
        .is_some_and(|c| "AEIOUaeiou".contains(c));
    format!("{} {name}", if vowel { "an" } else { "a" })
}

/// How an error message names a value that is not what a primitive wants.
/// An instance of String (Array, Integer...) that `new` made is an ordinary
/// object without the contents of its class's values: saying only "an
/// instance of String" would contradict "must be a String".
fn describe(vm: &Vm, expected: &str, got: Value) -> String {
    let class = vm.class_name_of(got);
    let named = with_article(&class);
    if expected == named {
        format!("an instance of {class} made by new (it has no {class} contents)")
    } else {
        format!("an instance of {class}")
    }
}

/// The error for a primitive given an argument of the wrong class;
/// `expected` is the class wanted, with its article ("an Integer").
#[cold]
pub(crate) fn wrong_arg(vm: &Vm, prim: &str, expected: &str, got: Value) -> Unwind {
    Unwind::error_as(
        crate::error::ErrorClass::ArgumentError,
        format!(
            "{prim}: argument must be {expected}, not {}",
            describe(vm, expected, got)
        ),
    )
}

/// The error for a primitive sent to a receiver of the wrong class (a
/// primitive method inherited by, or copied to, another class).
#[cold]
pub(crate) fn wrong_receiver(vm: &Vm, prim: &str, expected: &str, got: Value) -> Unwind {
    Unwind::error_as(
        crate::error::ErrorClass::ArgumentError,
        format!(
            "{prim}: receiver must be {expected}, not {}",
            describe(vm, expected, got)
        ),
    )
}

/// The decimal text of an Integer (small or big).
fn integer_text(v: Value) -> String {
    match v.small_int() {
        Some(i) => i.to_string(),
        None => crate::object::bigint_of(v).to_string(),
    }
}

/// The error for an Integer argument outside what a primitive can take.
#[cold]
fn out_of_range(prim: &str, v: Value) -> Unwind {
    Unwind::error_as(
        crate::error::ErrorClass::ArgumentError,
        format!("{prim}: argument {} is out of range", integer_text(v)),
    )
}

/// A 1-based index argument into something of `len` elements, as a 0-based
/// offset. Every Integer outside `1..=len` (a big one too) is an
/// `IndexOutOfBounds` error; `what` names the receiver in its message
/// ("Array of length 3").
pub(crate) fn index_arg(
    vm: &Vm,
    prim: &str,
    v: Value,
    len: usize,
    what: &str,
) -> Result<usize, Unwind> {
    match v.small_int() {
        Some(i) if i >= 1 && (i as u64) <= len as u64 => Ok(i as usize - 1),
        _ if is_kind(v, Kind::BigInt) || v.is_small() => Err(Unwind::error_as(
            crate::error::ErrorClass::IndexOutOfBounds,
            format!(
                "{prim}: index {} out of bounds for {what}length {len}",
                integer_text(v)
            ),
        )),
        _ => Err(wrong_arg(vm, prim, "an Integer", v)),
    }
}

/// The text of a String or Symbol argument.
pub(crate) fn text_arg<'a>(vm: &Vm, prim: &str, v: Value) -> Result<&'a str, Unwind> {
    if is_kind(v, Kind::String) || is_kind(v, Kind::Symbol) {
        Ok(crate::object::str_of(v))
    } else {
        Err(wrong_arg(vm, prim, "a String", v))
    }
}

/// The text of a String or Symbol receiver.
pub(crate) fn text_rcvr<'a>(vm: &Vm, prim: &str, v: Value) -> Result<&'a str, Unwind> {
    if is_kind(v, Kind::String) || is_kind(v, Kind::Symbol) {
        Ok(crate::object::str_of(v))
    } else {
        Err(wrong_receiver(vm, prim, "a String", v))
    }
}

/// A Symbol argument's id.
pub(crate) fn symbol_arg(
    vm: &mut Vm,
    prim: &str,
    v: Value,
) -> Result<crate::symbols::SymbolId, Unwind> {
    if is_kind(v, Kind::Symbol) {
        Ok(vm.symbol_id(v))
    } else if is_kind(v, Kind::String) {
        let s = crate::object::str_of(v).to_string();
        Ok(vm.intern(&s))
    } else {
        Err(wrong_arg(vm, prim, "a Symbol", v))
    }
}

/// A small-integer argument; a big Integer is out of range.
pub(crate) fn int_arg(vm: &Vm, prim: &str, v: Value) -> Result<i64, Unwind> {
    match v.small_int() {
        Some(i) => Ok(i),
        None if is_kind(v, Kind::BigInt) => Err(out_of_range(prim, v)),
        None => Err(wrong_arg(vm, prim, "an Integer", v)),
    }
}

/// A class argument.
pub(crate) fn class_arg(vm: &Vm, prim: &str, v: Value) -> Result<Value, Unwind> {
    if is_kind(v, Kind::Class) {
        Ok(v)
    } else {
        Err(wrong_arg(vm, prim, "a Class", v))
    }
}

/// Number of arguments a selector takes, from its text.
pub fn selector_arity(sel: &str) -> usize {
    let first = sel.chars().next().unwrap_or('a');
    if first.is_alphabetic() || first == '_' {
        sel.matches(':').count()
    } else {
        1
    }
}
