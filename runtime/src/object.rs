//! Heap object layouts.
//!
//! Every heap object starts with a [`Header`] of two words:
//! - `shape`: a pointer to an interned [`Shape`], the pair (class, owner domain).
//!   One load and one compare of this word guards receiver class *and* owner
//!   domain at once, which is what dispatch chains and compiled code key on.
//! - `meta`: the object [`Kind`] (how the body is laid out), the collector's mark
//!   and permanent bits, the identity hash (assigned on first request, then
//!   fixed for the object's lifetime) and the body length (slots or bytes,
//!   depending on kind).
//!
//! A shape also fixes the body's layout: every heap object with shape `s` is
//! of kind `s.kind`, and a plain or class object has exactly `s.fields`
//! fields. One class can have instances of several kinds (small and big
//! Integers; an `Array` subclass has indexable instances from `new:` and plain
//! ones from `Class>>new`; `Double new` is a plain object of class Double):
//! they get one shape per layout ([`crate::vm::Vm::shape_for`]). An owner
//! change swaps the shape for the one with the same class and layout, so an
//! object's layout never changes and a fast path that guarded the shape may
//! read the body without checking the kind or length itself.
//!
//! The body follows the header directly. All layouts are `#[repr(C)]` and only
//! ever accessed through the functions here, which rely on the invariant of
//! [`crate::value`]: a pointer value always refers to a live, initialised object.
//! A value whose kind does not match the accessor is a VM bug, caught by
//! `debug_assert!` in debug builds.

use crate::value::Value;

/// Which layout an object body has; stored in the low byte of `Header::meta`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Kind {
    /// A free cell on a free list (never seen by SOM code).
    Free = 0,
    /// Plain instance: `len` field slots.
    Object = 1,
    /// Array: `len` element slots.
    Array = 2,
    /// String: char count word, then `len` UTF-8 bytes.
    String = 3,
    /// Symbol: like String, plus its interned id in the count word.
    Symbol = 4,
    /// Double: one `f64`.
    Double = 5,
    /// Integer outside the small range: one owned `Box<BigInt>` pointer.
    BigInt = 6,
    /// Block closure: method, context, receiver, home context.
    Block = 7,
    /// Heap frame of captured variables: outer context, home id, `len` slots.
    Context = 8,
    /// Class object: class data pointer, then `len` class-side field slots.
    Class = 9,
    /// Method or primitive object: one invokable pointer.
    Method = 10,
}

impl Kind {
    fn from_u8(b: u8) -> Kind {
        match b {
            1 => Kind::Object,
            2 => Kind::Array,
            3 => Kind::String,
            4 => Kind::Symbol,
            5 => Kind::Double,
            6 => Kind::BigInt,
            7 => Kind::Block,
            8 => Kind::Context,
            9 => Kind::Class,
            10 => Kind::Method,
            _ => Kind::Free,
        }
    }
}

/// An interned (class, owner domain, layout) triple. Shapes are never freed
/// while a class lives, so a shape pointer is a stable cache key.
#[repr(C)]
#[derive(Debug)]
pub struct Shape {
    /// The class object.
    pub class: Value,
    /// The owner domain; `Value::ZERO` stands for the standard domain.
    pub domain: Value,
    /// Dense id, for tables and traces.
    pub id: u32,
    /// The kind of every object with this shape.
    pub kind: Kind,
    /// For [`Kind::Object`] and [`Kind::Class`], the number of fields of
    /// every object with this shape; 0 for the other kinds, whose length
    /// varies.
    pub fields: u32,
}

impl Shape {
    /// The `fields` a shape of `kind` for bodies of `len` words records.
    pub fn fields_key(kind: Kind, len: usize) -> u32 {
        match kind {
            Kind::Object | Kind::Class => len as u32,
            _ => 0,
        }
    }

    /// Whether this is the shape's layout for objects of `kind` with
    /// bodies of `len` words.
    pub fn has_layout(&self, kind: Kind, len: usize) -> bool {
        self.kind == kind && self.fields == Shape::fields_key(kind, len)
    }
}

/// The shape `s` points to; None for a null pointer (a shape not made
/// yet, during bootstrap).
pub(crate) fn shape_ref(s: *const Shape) -> Option<&'static Shape> {
    // SAFETY: shapes are interned and never freed.
    unsafe { s.as_ref() }
}

/// The two-word header at the start of every heap object.
#[repr(C)]
pub struct Header {
    /// The object's shape (class + owner domain); the `next` link on free cells.
    pub shape: *const Shape,
    /// Kind, mark and permanent bits, and body length.
    pub meta: u64,
}

/// Size of the header in bytes.
pub const HEADER_SIZE: usize = std::mem::size_of::<Header>();

const MARK_BIT: u64 = 1 << 8;
const PERM_BIT: u64 = 1 << 9;
/// The identity hash lives in meta bits 10..32 (between the flags and the
/// length); 0 means "not assigned yet".
const HASH_SHIFT: u32 = 10;
/// Width of a stored identity hash.
pub const IDENTITY_HASH_BITS: u32 = 22;
const HASH_MASK: u64 = ((1 << IDENTITY_HASH_BITS) - 1) << HASH_SHIFT;

impl Header {
    /// Builds the meta word.
    pub fn meta_word(kind: Kind, len: usize) -> u64 {
        debug_assert!(len <= u32::MAX as usize);
        (kind as u64) | ((len as u64) << 32)
    }

    /// The object kind.
    #[inline(always)]
    pub fn kind(&self) -> Kind {
        Kind::from_u8(self.meta as u8)
    }

    /// Body length (slots or bytes).
    #[inline(always)]
    pub fn len(&self) -> usize {
        (self.meta >> 32) as usize
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Collector mark bit.
    #[inline(always)]
    pub fn is_marked(&self) -> bool {
        self.meta & MARK_BIT != 0
    }

    /// Sets the mark bit.
    #[inline(always)]
    pub fn set_marked(&mut self, on: bool) {
        if on {
            self.meta |= MARK_BIT
        } else {
            self.meta &= !MARK_BIT
        }
    }

    /// Permanent objects (symbols, literals, classes, methods) are never freed.
    #[inline(always)]
    pub fn is_permanent(&self) -> bool {
        self.meta & PERM_BIT != 0
    }

    /// Marks the object permanent.
    pub fn set_permanent(&mut self) {
        self.meta |= PERM_BIT
    }

    /// The identity hash assigned to this object, 0 if none was yet.
    #[inline(always)]
    pub fn identity_hash(&self) -> u32 {
        ((self.meta & HASH_MASK) >> HASH_SHIFT) as u32
    }

    /// Stores the identity hash (non-zero, below 2^[`IDENTITY_HASH_BITS`]).
    pub fn set_identity_hash(&mut self, h: u32) {
        debug_assert!(h != 0 && (h as u64) < (1 << IDENTITY_HASH_BITS));
        self.meta = (self.meta & !HASH_MASK) | ((h as u64) << HASH_SHIFT);
    }
}

/// Bytes needed for an object of `kind` with body length `len`.
pub fn object_size(kind: Kind, len: usize) -> usize {
    let body = match kind {
        Kind::Free => 0,
        Kind::Object | Kind::Array => len * 8,
        Kind::String | Kind::Symbol => 8 + len,
        Kind::Double | Kind::BigInt | Kind::Method => 8,
        Kind::Block => 32,
        Kind::Context => 16 + len * 8,
        Kind::Class => 8 + len * 8,
    };
    (HEADER_SIZE + body)
        .max(HEADER_SIZE + 8)
        .next_multiple_of(16)
}

/// The header of a pointer value.
#[inline(always)]
pub fn header<'a>(v: Value) -> &'a mut Header {
    debug_assert!(v.is_ptr());
    // SAFETY: by the value invariant a pointer value refers to a live object,
    // whose first two words are its header. The VM is single-threaded, so no
    // other reference to this header is in use while the caller holds this one.
    unsafe { &mut *v.as_ptr::<Header>() }
}

/// The object kind of a pointer value.
#[inline(always)]
pub fn kind_of(v: Value) -> Kind {
    header(v).kind()
}

/// Address of the first body word.
#[inline(always)]
pub fn body_ptr<T>(v: Value) -> *mut T {
    // SAFETY: the body directly follows the header within the same allocation.
    unsafe { v.as_ptr::<u8>().add(HEADER_SIZE) as *mut T }
}

/// Slots of an Object, Array or Class (after the data word) or Context (after
/// its two words).
#[inline(always)]
pub fn slots<'a>(v: Value) -> &'a mut [Value] {
    let h = header(v);
    let (offset, len) = match h.kind() {
        Kind::Object | Kind::Array => (0, h.len()),
        Kind::Class => (1, h.len()),
        Kind::Context => (2, h.len()),
        k => {
            debug_assert!(false, "slots of {k:?}");
            (0, 0)
        }
    };
    // SAFETY: the body holds `offset + len` words for these kinds (see
    // `object_size`), all initialised at allocation.
    unsafe { std::slice::from_raw_parts_mut(body_ptr::<Value>(v).add(offset), len) }
}

/// Field `i` of a plain object, if `v` is one and has that many fields: the
/// fast path of field reads (class-side fields take the slow path).
#[inline(always)]
pub fn object_field(v: Value, i: usize) -> Option<Value> {
    if v.is_ptr() {
        let h = header(v);
        if h.meta as u8 == Kind::Object as u8 && i < h.len() {
            // SAFETY: an Object body holds `len` initialised slots.
            return Some(unsafe { *body_ptr::<Value>(v).add(i) });
        }
    }
    None
}

/// The bytes of a String or Symbol.
#[inline(always)]
pub fn str_bytes<'a>(v: Value) -> &'a [u8] {
    let h = header(v);
    debug_assert!(matches!(h.kind(), Kind::String | Kind::Symbol));
    // SAFETY: string bodies hold one count word followed by `len` bytes.
    unsafe { std::slice::from_raw_parts(body_ptr::<u8>(v).add(8), h.len()) }
}

/// The text of a String or Symbol. Strings are built only from `str`, so they
/// are valid UTF-8.
#[inline(always)]
pub fn str_of<'a>(v: Value) -> &'a str {
    // SAFETY: every constructor copies bytes from a `&str`.
    unsafe { std::str::from_utf8_unchecked(str_bytes(v)) }
}

/// The code-point count of a String or Symbol (first half of the count word).
#[inline(always)]
pub fn str_char_count(v: Value) -> usize {
    // SAFETY: string bodies start with the count word.
    unsafe { *body_ptr::<u32>(v) as usize }
}

/// The symbol id stored in a Symbol (second half of the count word).
#[inline(always)]
pub fn symbol_id_raw(v: Value) -> u32 {
    debug_assert!(kind_of(v) == Kind::Symbol);
    // SAFETY: symbol bodies start with (char count, id) as two u32s.
    unsafe { *body_ptr::<u32>(v).add(1) }
}

/// The payload of a Double.
#[inline(always)]
pub fn double_of(v: Value) -> f64 {
    debug_assert!(kind_of(v) == Kind::Double);
    // SAFETY: a Double body is one f64.
    unsafe { *body_ptr::<f64>(v) }
}

/// The payload of a BigInt.
#[inline(always)]
pub fn bigint_of<'a>(v: Value) -> &'a num_bigint::BigInt {
    debug_assert!(kind_of(v) == Kind::BigInt);
    // SAFETY: a BigInt body is one pointer to a boxed BigInt, owned by the
    // object and freed only when the collector frees the object.
    unsafe { &**body_ptr::<*mut num_bigint::BigInt>(v) }
}

/// Layout of a Block closure body.
#[repr(C)]
pub struct BlockBody {
    /// The block's code.
    pub method: *const crate::method::MethodData,
    /// Context of the defining frame (or `Value::ZERO` when it has none).
    pub context: Value,
    /// `self` of the home method.
    pub receiver: Value,
    /// Context of the home method activation, for non-local return.
    pub home: Value,
}

/// The body of a Block closure.
#[inline(always)]
pub fn block_body<'a>(v: Value) -> &'a mut BlockBody {
    debug_assert!(kind_of(v) == Kind::Block);
    // SAFETY: a Block body has exactly the `BlockBody` layout.
    unsafe { &mut *body_ptr::<BlockBody>(v) }
}

/// The `outer` word of a Context (enclosing context or `Value::ZERO`).
#[inline(always)]
pub fn context_outer(v: Value) -> Value {
    debug_assert!(kind_of(v) == Kind::Context);
    // SAFETY: a Context body starts with its outer context word.
    unsafe { *body_ptr::<Value>(v) }
}

/// The class-data pointer of a Class object.
#[inline(always)]
pub fn class_data_ptr(v: Value) -> *mut crate::class::ClassData {
    debug_assert!(kind_of(v) == Kind::Class);
    // SAFETY: a Class body starts with its data pointer.
    unsafe { *body_ptr::<*mut crate::class::ClassData>(v) }
}

/// The invokable of a Method object.
#[inline(always)]
pub fn method_data_of(v: Value) -> &'static crate::method::MethodData {
    debug_assert!(kind_of(v) == Kind::Method);
    // SAFETY: a Method body holds a pointer to a leaked (immortal) MethodData.
    unsafe { &**body_ptr::<*const crate::method::MethodData>(v) }
}

/// Releases resources an object owns outside the heap; called by the collector
/// just before it frees the cell.
pub fn finalize(v: Value) {
    if kind_of(v) == Kind::BigInt {
        // SAFETY: the box was created by `Box::into_raw` at allocation and is
        // dropped exactly once, here, when the object dies.
        unsafe { drop(Box::from_raw(*body_ptr::<*mut num_bigint::BigInt>(v))) }
    }
}

/// Calls `f` on every value an object refers to (for the collector).
pub fn for_each_reference(v: Value, mut f: impl FnMut(Value)) {
    let h = header(v);
    // SAFETY: shape pointers of live objects are valid interned shapes.
    let shape = unsafe { &*h.shape };
    f(shape.class);
    f(shape.domain);
    match h.kind() {
        Kind::Object | Kind::Array | Kind::Class => slots(v).iter().for_each(|s| f(*s)),
        Kind::Context => {
            f(context_outer(v));
            slots(v).iter().for_each(|s| f(*s));
        }
        Kind::Block => {
            let b = block_body(v);
            f(b.context);
            f(b.receiver);
            f(b.home);
        }
        Kind::Free | Kind::String | Kind::Symbol | Kind::Double | Kind::BigInt | Kind::Method => {}
    }
}

/// Whether the method activation owning this context is still running (the
/// second word of a Context body).
#[inline(always)]
pub fn context_alive(v: Value) -> bool {
    debug_assert!(kind_of(v) == Kind::Context);
    // SAFETY: a Context body is [outer, alive flag, slots...].
    unsafe { *body_ptr::<u64>(v).add(1) != 0 }
}

/// Sets the liveness flag of a Context.
#[inline(always)]
pub fn set_context_alive(v: Value, alive: bool) {
    debug_assert!(kind_of(v) == Kind::Context);
    // SAFETY: as for `context_alive`.
    unsafe { *body_ptr::<u64>(v).add(1) = alive as u64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_hash_bits_leave_kind_flags_and_length_alone() {
        let mut h = Header {
            shape: std::ptr::null(),
            meta: Header::meta_word(Kind::Array, u32::MAX as usize),
        };
        h.set_marked(true);
        h.set_permanent();
        assert_eq!(h.identity_hash(), 0);
        let max = (1u32 << IDENTITY_HASH_BITS) - 1;
        for v in [1, 12345, max] {
            h.set_identity_hash(v);
            assert_eq!(h.identity_hash(), v);
            assert_eq!(h.kind(), Kind::Array);
            assert_eq!(h.len(), u32::MAX as usize);
            assert!(h.is_marked() && h.is_permanent());
        }
        h.set_marked(false);
        assert_eq!(h.identity_hash(), max);
    }
}
