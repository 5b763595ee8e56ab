//! String and Symbol primitives. Strings are immutable UTF-8; indices count
//! code points (1-based), with an O(1) path for ASCII strings.

use super::{index_arg, int_arg, text_arg, text_rcvr, wrong_receiver};
use crate::interpreter::{is_kind, Args, Unwind};
use crate::object::{self, Kind};
use crate::vm::{Vm, VmResult};

fn rcvr_text<'a>(vm: &Vm, prim: &str, a: Args) -> Result<&'a str, Unwind> {
    text_rcvr(vm, prim, a.rcvr(vm))
}

fn string_concatenate(vm: &mut Vm, a: Args) -> VmResult {
    let l = rcvr_text(vm, "String>>#concatenate:", a)?;
    let r = text_arg(vm, "String>>#concatenate:", a.arg(vm, 0))?;
    // Both operands stay reachable from the value stack and objects never
    // move, so their text can be copied straight into the new string.
    vm.new_string_concat(l, r)
}

fn string_as_symbol(vm: &mut Vm, a: Args) -> VmResult {
    let s = rcvr_text(vm, "String>>#asSymbol", a)?.to_string();
    let id = vm.intern(&s);
    Ok(vm.symbol_value(id))
}

/// Content hash of a string (FNV-1a, folded to a non-negative small integer).
pub fn string_hash(s: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 34) as i64
}

fn string_hashcode(vm: &mut Vm, a: Args) -> VmResult {
    let s = rcvr_text(vm, "String>>#hashcode", a)?;
    Ok(vm.int(string_hash(s)))
}

fn string_length(vm: &mut Vm, a: Args) -> VmResult {
    let r = a.rcvr(vm);
    rcvr_text(vm, "String>>#length", a)?;
    Ok(vm.int(object::str_char_count(r) as i64))
}

fn all_chars(vm: &mut Vm, a: Args, prim: &str, p: fn(char) -> bool) -> VmResult {
    let s = rcvr_text(vm, prim, a)?;
    Ok(vm.boolean(!s.is_empty() && s.chars().all(p)))
}

fn string_is_white_space(vm: &mut Vm, a: Args) -> VmResult {
    all_chars(vm, a, "String>>#isWhiteSpace", char::is_whitespace)
}
fn string_is_letters(vm: &mut Vm, a: Args) -> VmResult {
    all_chars(vm, a, "String>>#isLetters", char::is_alphabetic)
}
fn string_is_digits(vm: &mut Vm, a: Args) -> VmResult {
    all_chars(vm, a, "String>>#isDigits", |c| c.is_ascii_digit())
}

fn string_equal(vm: &mut Vm, a: Args) -> VmResult {
    let (r, x) = (a.rcvr(vm), a.arg(vm, 0));
    if r == x {
        return Ok(vm.true_);
    }
    let l = rcvr_text(vm, "String>>#=", a)?;
    let eq = (is_kind(x, Kind::String) || is_kind(x, Kind::Symbol)) && object::str_of(x) == l;
    Ok(vm.boolean(eq))
}

fn string_prim_substring(vm: &mut Vm, a: Args) -> VmResult {
    let r = a.rcvr(vm);
    let s = rcvr_text(vm, "String>>#primSubstringFrom:to:", a)?;
    let from = int_arg(vm, "String>>#primSubstringFrom:to:", a.arg(vm, 0))?;
    let to = int_arg(vm, "String>>#primSubstringFrom:to:", a.arg(vm, 1))?;
    let n = object::str_char_count(r) as i64;
    if to < from {
        return vm.new_string("");
    }
    if from < 1 || to > n {
        return Err(Unwind::error_as(
            crate::error::ErrorClass::IndexOutOfBounds,
            format!(
                "String>>#primSubstringFrom:to:: range {from}..{to} out of bounds for length {n}"
            ),
        ));
    }
    let sub = if s.len() as i64 == n {
        &s[(from - 1) as usize..to as usize]
    } else {
        let start = s
            .char_indices()
            .nth((from - 1) as usize)
            .map(|(i, _)| i)
            .unwrap_or(s.len());
        let end = s
            .char_indices()
            .nth(to as usize)
            .map(|(i, _)| i)
            .unwrap_or(s.len());
        &s[start..end]
    };
    // The receiver stays reachable from the value stack and never moves, so
    // the slice stays valid while the new string is allocated.
    vm.new_string(sub)
}

/// `String>>charAt:` (1-based); one-character ASCII results are shared
/// strings, since Strings are immutable.
fn string_char_at(vm: &mut Vm, a: Args) -> VmResult {
    let r = a.rcvr(vm);
    let s = rcvr_text(vm, "String>>#charAt:", a)?;
    let n = object::str_char_count(r);
    let i = index_arg(vm, "String>>#charAt:", a.arg(vm, 0), n, "")?;
    if s.len() == n {
        let b = s.as_bytes()[i];
        return Ok(vm.ascii_char_string(b));
    }
    let c = s.chars().nth(i).unwrap_or(' ');
    let mut buf = [0u8; 4];
    let text: &str = c.encode_utf8(&mut buf);
    vm.new_string(text)
}

fn symbol_as_string(vm: &mut Vm, a: Args) -> VmResult {
    let r = a.rcvr(vm);
    if !is_kind(r, Kind::Symbol) {
        return Err(wrong_receiver(vm, "Symbol>>#asString", "a Symbol", r));
    }
    let s = object::str_of(r).to_string();
    vm.new_string(&s)
}

pub(super) fn install(vm: &mut Vm) {
    let table: [(&str, &str, crate::method::PrimFn); 11] = [
        ("String", "concatenate:", string_concatenate),
        ("String", "asSymbol", string_as_symbol),
        ("String", "hashcode", string_hashcode),
        ("String", "length", string_length),
        ("String", "isWhiteSpace", string_is_white_space),
        ("String", "isLetters", string_is_letters),
        ("String", "isDigits", string_is_digits),
        ("String", "=", string_equal),
        ("String", "primSubstringFrom:to:", string_prim_substring),
        ("String", "charAt:", string_char_at),
        ("Symbol", "asString", symbol_as_string),
    ];
    for (c, s, f) in table {
        vm.register_primitive(c, s, f);
    }
}
