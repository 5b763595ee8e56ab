//! The tagged 64-bit value every SOM expression evaluates to.
//!
//! Invariants (everything else in the runtime relies on them):
//! - low bit `1`: a small integer, the value shifted left by one. Small integers
//!   cover `[SMALL_MIN, SMALL_MAX]` (63 bits); anything outside is a heap `BigInt`,
//!   and arithmetic normalises results back to small integers when they fit, so one
//!   number has exactly one representation.
//! - low three bits `000` and non-zero: a pointer to the [`Header`](crate::object::Header)
//!   of a live heap object. Objects are 16-byte aligned.
//! - `Value::ZERO` (all bits clear) is never a SOM value; it marks uninitialised
//!   slots that the collector must skip.
//!
//! Because an integer is never a pointer, the collector can scan a slot without
//! knowing its static type, and the JIT can test "is small integer" with one `and`.

use std::fmt;

/// One SOM value: a small integer or a pointer to a heap object.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct Value(u64);

/// Smallest integer stored unboxed.
pub const SMALL_MIN: i64 = -(1 << 62);
/// Largest integer stored unboxed.
pub const SMALL_MAX: i64 = (1 << 62) - 1;

impl Value {
    /// The all-zero word: not a SOM value; fills uninitialised slots.
    pub const ZERO: Value = Value(0);

    /// Raw bits, for hashing and for code that embeds values as constants.
    #[inline(always)]
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Rebuilds a value from raw bits produced by [`Value::bits`].
    #[inline(always)]
    pub const fn from_bits(bits: u64) -> Value {
        Value(bits)
    }

    /// A small integer; the caller guarantees the range.
    #[inline(always)]
    pub const fn small(i: i64) -> Value {
        debug_assert!(i >= SMALL_MIN && i <= SMALL_MAX);
        Value(((i as u64) << 1) | 1)
    }

    /// A small integer if `i` fits in 63 bits.
    #[inline(always)]
    pub fn try_small(i: i64) -> Option<Value> {
        if (SMALL_MIN..=SMALL_MAX).contains(&i) {
            Some(Value::small(i))
        } else {
            None
        }
    }

    /// Whether this is an unboxed integer.
    #[inline(always)]
    pub const fn is_small(self) -> bool {
        self.0 & 1 == 1
    }

    /// The integer of an unboxed integer value.
    #[inline(always)]
    pub const fn as_small(self) -> i64 {
        (self.0 as i64) >> 1
    }

    /// The integer if this is an unboxed integer.
    #[inline(always)]
    pub fn small_int(self) -> Option<i64> {
        if self.is_small() {
            Some(self.as_small())
        } else {
            None
        }
    }

    /// Whether this points to a heap object.
    #[inline(always)]
    pub const fn is_ptr(self) -> bool {
        self.0 & 7 == 0 && self.0 != 0
    }

    /// A value pointing at a heap object header.
    #[inline(always)]
    pub fn from_ptr<T>(p: *const T) -> Value {
        debug_assert!(!p.is_null() && (p as usize) & 7 == 0);
        Value(p as u64)
    }

    /// The object pointer; meaningful only when [`Value::is_ptr`] holds.
    #[inline(always)]
    pub const fn as_ptr<T>(self) -> *mut T {
        self.0 as *mut T
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_small() {
            write!(f, "Int({})", self.as_small())
        } else {
            write!(f, "Ptr({:#x})", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_integers_round_trip_at_the_limits() {
        for i in [0, 1, -1, SMALL_MIN, SMALL_MAX, 42, -42] {
            let v = Value::try_small(i).unwrap();
            assert!(v.is_small());
            assert!(!v.is_ptr());
            assert_eq!(v.as_small(), i);
        }
        assert!(Value::try_small(SMALL_MAX + 1).is_none());
        assert!(Value::try_small(SMALL_MIN - 1).is_none());
        assert!(!Value::ZERO.is_ptr());
    }
}
