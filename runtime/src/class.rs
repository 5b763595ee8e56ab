//! Class data: the Rust side of a SOM class object.
//!
//! A class object is a heap object of kind `Class` whose body starts with a
//! pointer to a leaked [`ClassData`] followed by its class-side field slots (the
//! instance fields of its metaclass). Classes are immortal: the VM keeps every
//! class object in its root set, which is what lets dispatch chains and the JIT
//! hold raw class and shape pointers without tracing them.

use std::cell::{Cell, RefCell};

use indexmap::IndexMap;

use crate::method::MethodData;
use crate::object::Shape;
use crate::symbols::SymbolId;
use crate::value::Value;

/// Per-class data that SOM code cannot see as slots.
pub struct ClassData {
    /// Class name (`Foo`, or `Foo class` for a metaclass).
    pub name: SymbolId,
    /// Superclass object, or nil.
    pub superclass: Cell<Value>,
    /// All instance field names, inherited ones first.
    pub instance_fields: RefCell<Vec<SymbolId>>,
    /// Methods in source order.
    pub methods: RefCell<IndexMap<SymbolId, &'static MethodData>>,
    /// Whether this is a metaclass.
    pub is_metaclass: bool,
    /// Shape of instances in the standard domain.
    pub shape: Cell<*const Shape>,
    /// Version counter, bumped whenever a method of this class changes.
    pub version: Cell<u64>,
}
