//! Variable access: frame slots, enclosing-scope slots, fields and globals.
//!
//! Slots and fields are resolved at compile time to indices, so their nodes
//! need no cache. A global read caches the global's cell after the first
//! lookup: the cell is stable for the life of the VM, so later reads are one
//! load and one compare (an unbound cell holds `Value::ZERO`).

use std::cell::Cell;

use crate::interpreter::{Frame, Unwind};
use crate::object::{self, Kind};
use crate::symbols::SymbolId;
use crate::value::Value;
use crate::vm::{Vm, VmResult};

/// Index of a slot (argument or local) in a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotIndex(pub usize);

/// 0-based index of an instance field (1-based in SOM's `instVarAt:`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldIndex(pub usize);

/// A slot of an enclosing scope: `depth` context hops from the current block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OuterVar {
    /// Number of scopes outwards (1 = the scope defining the current block).
    pub depth: u32,
    /// Slot in that scope.
    pub slot: SlotIndex,
}

impl OuterVar {
    #[inline(always)]
    fn context(&self, f: &Frame) -> Value {
        let mut ctx = f.outer();
        for _ in 1..self.depth {
            ctx = object::context_outer(ctx);
        }
        ctx
    }

    /// Reads the variable.
    #[inline(always)]
    pub fn read(&self, f: &Frame) -> Value {
        object::slots(self.context(f))[self.slot.0]
    }

    /// Writes the variable.
    #[inline(always)]
    pub fn write(&self, f: &Frame, v: Value) {
        object::slots(self.context(f))[self.slot.0] = v;
    }
}

/// A field access on an object that has no such field: a method of a class
/// with fields running on a receiver made by a primitive of a built-in class
/// (`Array new:` in an `Array` subclass), or on an unrelated receiver through
/// `perform:inSuperclass:` or `invokeOn:with:`. Bad input, so an
/// `ArgumentError` the program can handle.
#[cold]
#[inline(never)]
fn bad_field(vm: &Vm, rcvr: Value, i: usize) -> Unwind {
    let storage = if rcvr.is_small() {
        "a small Integer"
    } else {
        match object::kind_of(rcvr) {
            Kind::Array => "the storage of an Array",
            Kind::String | Kind::Symbol => "the storage of a String",
            Kind::Double => "the storage of a Double",
            Kind::BigInt => "the storage of an Integer",
            Kind::Block => "the storage of a Block",
            Kind::Method => "the storage of a Method",
            _ => "fewer fields",
        }
    };
    Unwind::error_as(
        crate::error::ErrorClass::ArgumentError,
        format!(
            "field {} accessed on an instance of {} without such a field (it has {storage})",
            i + 1,
            vm.class_name_of(rcvr)
        ),
    )
}

impl FieldIndex {
    /// Reads this field of `rcvr`.
    #[inline(always)]
    pub fn read(self, vm: &Vm, rcvr: Value) -> VmResult {
        if rcvr.is_ptr() && matches!(object::kind_of(rcvr), Kind::Object | Kind::Class) {
            if let Some(v) = object::slots(rcvr).get(self.0) {
                return Ok(*v);
            }
        }
        Err(bad_field(vm, rcvr, self.0))
    }

    /// Writes this field of `rcvr`.
    #[inline(always)]
    pub fn write(self, vm: &Vm, rcvr: Value, v: Value) -> Result<(), Unwind> {
        if rcvr.is_ptr() && matches!(object::kind_of(rcvr), Kind::Object | Kind::Class) {
            if let Some(s) = object::slots(rcvr).get_mut(self.0) {
                *s = v;
                return Ok(());
            }
        }
        Err(bad_field(vm, rcvr, self.0))
    }
}

/// The binding of one global name. Cells are leaked, so a cached pointer to a
/// cell stays valid; rebinding a global writes the cell.
pub struct GlobalCell {
    /// The name.
    pub name: SymbolId,
    /// The value, or `Value::ZERO` while unbound. Written only through
    /// [`Vm::write_global`] (or compiled code that then tells the VM), so
    /// that code which folded the value is invalidated.
    pub value: Cell<Value>,
    /// Compiled code embeds the value as a constant (and is registered
    /// under the name in the VM's dependency registry).
    pub folded: Cell<bool>,
    /// The value changed after compiled code had folded it: it is read
    /// from the cell from now on, so a global that keeps changing does not
    /// keep invalidating code.
    pub unstable: Cell<bool>,
}

/// A read of a global variable.
pub struct GlobalReadNode {
    /// The global's name.
    pub name: SymbolId,
    /// The cell, once looked up.
    pub cell: Cell<Option<&'static GlobalCell>>,
    /// Source line and column, for backtraces of `unknownGlobal:`.
    pub pos: (u32, u32),
}

impl GlobalReadNode {
    /// A new, unresolved global read at `pos`.
    pub fn new(name: SymbolId, pos: (u32, u32)) -> GlobalReadNode {
        GlobalReadNode {
            name,
            cell: Cell::new(None),
            pos,
        }
    }

    /// The value, when the cell is cached and bound.
    #[inline(always)]
    pub fn cached(&self) -> Option<Value> {
        let v = self.cell.get()?.value.get();
        (v != Value::ZERO).then_some(v)
    }

    /// Evaluates the read.
    #[inline(never)]
    pub fn eval(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        if let Some(cell) = self.cell.get() {
            let v = cell.value.get();
            if v != Value::ZERO {
                if vm.verify_caches {
                    crate::verify::global_read(vm, self.name, cell);
                }
                return Ok(v);
            }
        }
        self.slow_read(vm, f)
    }

    #[cold]
    #[inline(never)]
    fn slow_read(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        let cell = vm.global_cell(self.name);
        self.cell.set(Some(cell));
        if cell.value.get() == Value::ZERO {
            // A class not loaded yet is the common case: load it from the class
            // path. Only when that fails does the receiver decide.
            if let Some(class) = vm.try_load_class(self.name)? {
                return Ok(class);
            }
            let name = vm.symbol_value(self.name);
            let sel = vm.well_known.unknown_global;
            let r = vm.send(f.receiver, sel, &[name]);
            // The implicit send of unknownGlobal: is at the global's position.
            return crate::interpreter::sent(self.pos, r, vm);
        }
        Ok(cell.value.get())
    }
}
