//! Lowering of variable access: literals, `self`, locals, fields and globals
//! (the tier's side of `runtime/src/nodes/variables.rs`).
//!
//! Fields are a load or store at a constant offset behind one check of the
//! receiver's kind and length, or none where a guard fixed its shape (a
//! shape fixes the layout, see `som_runtime::object`); anything else
//! (class-side fields, the error) is the runtime's `rt_field`. A global bound to a value that has not changed
//! since code folded it is that value, a constant, behind the unit's validity
//! test (a write that changes it invalidates the unit); otherwise it is a
//! load from its cell; an unbound cell (a class not loaded yet,
//! `unknownGlobal:`) is the interpreter's.

use cranelift_codegen::ir::{self, InstBuilder};

use som_runtime::nodes::{FieldIndex, GlobalReadNode, Node};
use som_runtime::tier::layout;

use super::entry::Entry;
use super::unit::Lowerer;

impl Lowerer<'_> {
    pub(crate) fn lower_literal_array(&mut self, template: som_runtime::value::Value) -> ir::Value {
        let vm = self.vm();
        let t = self.som_const(template);
        self.call(Entry::LiteralArray, &[vm, t])[0]
    }

    /// Whether `self` in the current activation is a class object: the
    /// method is defined on the class side (its holder is a metaclass).
    fn self_is_class(&self) -> bool {
        self.holder_is_metaclass(self.scope().method)
    }

    /// Whether `m` is defined on the class side (its holder is a
    /// metaclass): its `self` is a class object.
    fn holder_is_metaclass(&self, m: &som_runtime::method::MethodData) -> bool {
        let holder = m.holder.get();
        holder.is_ptr() && {
            let shape = som_runtime::object::header(holder).shape;
            // SAFETY: shapes are interned and never freed.
            unsafe { (*shape).class == self.consts.metaclass }
        }
    }

    /// Offset of field `i` of `self`: class objects keep their fields after
    /// the class data word.
    pub(crate) fn self_field_offset(&self, i: usize) -> i32 {
        layout::BODY + ((i + self.self_is_class() as usize) * 8) as i32
    }

    /// Whether `obj` is the current activation's `self` and a check that
    /// dominates the code being added proved it has field `i`.
    pub(crate) fn knows_field(&self, obj: ir::Value, i: usize) -> bool {
        let kind = self.fields_kind_of(self.scope().method);
        self.fields_known(obj, i, kind)
    }

    /// The kind byte of `self` in `m`: a class object on the class side,
    /// a plain object otherwise.
    pub(crate) fn fields_kind_of(&self, m: &som_runtime::method::MethodData) -> i64 {
        if self.holder_is_metaclass(m) {
            layout::KIND_CLASS
        } else {
            layout::KIND_OBJECT
        }
    }

    /// Branches to `fast` when `obj` is an object of the layout `self` has
    /// (plain, or a class object) with more than `i` fields, else to `slow`.
    pub(crate) fn check_field(
        &mut self,
        obj: ir::Value,
        i: usize,
        fast: ir::Block,
        slow: ir::Block,
    ) {
        // `branch_if_fields` jumps straight to `fast` where a check of an
        // enclosing activation covers `obj`.
        let m = self.scope().method;
        self.check_fields_of(m, obj, i, fast, slow);
    }

    /// Branches to `fast` when `obj` has the layout of `self` in `m` with
    /// more than `i` fields, else to `slow`.
    pub(crate) fn check_fields_of(
        &mut self,
        m: &som_runtime::method::MethodData,
        obj: ir::Value,
        i: usize,
        fast: ir::Block,
        slow: ir::Block,
    ) {
        let kind_byte = self.fields_kind_of(m);
        self.branch_if_fields(obj, i, kind_byte, fast, slow);
    }

    pub(crate) fn lower_field_read(&mut self, i: FieldIndex, pos: (u32, u32)) -> ir::Value {
        let rcvr = self.receiver();
        let off = self.self_field_offset(i.0);
        if self.knows_field(rcvr, i.0) {
            return self.load(rcvr, off);
        }
        let fast = self.b.create_block();
        let slow = self.cold_block();
        let done = self.value_block();
        self.check_field(rcvr, i.0, fast, slow);
        self.b.seal_block(fast);
        self.b.seal_block(slow);
        self.b.switch_to_block(fast);
        let v = self.load(rcvr, off);
        self.jump_with(done, v);
        self.b.switch_to_block(slow);
        let vm = self.vm();
        let (index, pos, zero) = (self.iconst(i.0 as i64), self.pos(pos), self.iconst(0));
        let v = self.call_fallible(Entry::Field, &[vm, rcvr, index, pos, zero]);
        self.join(done, v)
    }

    pub(crate) fn lower_field_write(
        &mut self,
        i: FieldIndex,
        pos: (u32, u32),
        value: &'static Node,
    ) -> ir::Value {
        let v = self.lower(value);
        let rcvr = self.receiver();
        if self.knows_field(rcvr, i.0) {
            let off = self.self_field_offset(i.0);
            self.store(v, rcvr, off);
            return v;
        }
        let fast = self.b.create_block();
        let slow = self.cold_block();
        let done = self.b.create_block();
        self.check_field(rcvr, i.0, fast, slow);
        self.b.seal_block(fast);
        self.b.seal_block(slow);
        self.b.switch_to_block(fast);
        let off = self.self_field_offset(i.0);
        self.store(v, rcvr, off);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(slow);
        let vm = self.vm();
        let (index, pos) = (self.iconst(i.0 as i64), self.pos(pos));
        self.call_fallible(Entry::Field, &[vm, rcvr, index, pos, v]);
        self.b.ins().jump(done, &[]);
        self.b.seal_block(done);
        self.b.switch_to_block(done);
        v
    }

    pub(crate) fn lower_global_read(
        &mut self,
        node: &'static Node,
        g: &'static GlobalReadNode,
    ) -> ir::Value {
        let Some(cell) = g.cell.get() else {
            // Never read yet: the interpreter binds the cell.
            return self.interpret(node);
        };
        if let Some(k) = self.foldable_global(cell).filter(|_| self.valid_known()) {
            // The value: the unit is valid here (a write that changes it
            // invalidates the unit).
            self.folded_globals.push(cell);
            return self.som_const(k);
        }
        let done = self.value_block();
        if let Some(k) = self.foldable_global(cell) {
            // The value, while the unit is valid; else the cell is read.
            self.folded_globals.push(cell);
            let reread = self.cold_block();
            self.guard_valid(reread);
            let c = self.som_const(k);
            self.jump_with(done, c);
            self.b.seal_block(reread);
            self.b.switch_to_block(reread);
        }
        let addr = self.addr("cell", std::ptr::from_ref(&cell.value) as i64);
        let v = self.load(addr, 0);
        let bound = self.b.create_block();
        let unbound = self.cold_block();
        self.b.ins().brif(v, bound, &[], unbound, &[]);
        self.b.seal_block(bound);
        self.b.seal_block(unbound);
        self.b.switch_to_block(bound);
        self.jump_with(done, v);
        self.b.switch_to_block(unbound);
        let r = self.interpret(node);
        self.join(done, r)
    }
}
