//! Closures, non-local returns and outer variables (the tier's side of
//! `runtime/src/nodes/block.rs`).
//!
//! A block literal passed to a method the unit inlines, or sent `value`
//! right away, is not made a closure: its body is inlined where it is
//! evaluated (`send.rs`), as an activation whose outer variables are those
//! of the scope that defines it. In such an activation, outer variables
//! are that scope's slots and `^` jumps to the exit of the home method's
//! activation (when it is in the unit). Everything else (a closure that
//! escapes, an outer variable of a real closure, a `^` whose home is outside
//! the unit) is the interpreter's, in the activation's frame, with the
//! activation's variables written back before and read again after
//! (`Lowerer::interpret`); an inlined block's frame gets a real closure then.

use cranelift_codegen::ir;

use som_runtime::nodes::{Node, OuterVar};

use super::entry::Entry;
use super::unit::Lowerer;

impl Lowerer<'_> {
    pub(crate) fn lower_in_interpreter(&mut self, node: &'static Node) -> ir::Value {
        self.interpret(node)
    }

    /// The scope holding the variables `depth` levels out of the current
    /// activation, if the unit has it.
    fn outer_scope(&self, depth: u32) -> Option<usize> {
        let mut idx = self.scopes.len() - 1;
        for _ in 0..depth {
            idx = self.scopes[idx].outer?.0;
        }
        Some(idx)
    }

    pub(crate) fn lower_outer_read(&mut self, node: &'static Node, o: OuterVar) -> ir::Value {
        match self.outer_scope(o.depth) {
            Some(idx) => self.read_local_in(idx, o.slot.0),
            None => self.interpret(node),
        }
    }

    pub(crate) fn lower_outer_write(
        &mut self,
        node: &'static Node,
        o: OuterVar,
        value: &'static Node,
    ) -> ir::Value {
        match self.outer_scope(o.depth) {
            Some(idx) => {
                let v = self.lower(value);
                self.write_local_in(idx, o.slot.0, v);
                v
            }
            None => self.interpret(node),
        }
    }

    /// `^value` in a block: when the home method's activation is in the unit
    /// (the inlined block's chain of defining scopes ends in a method), the
    /// activations in between end and the home one answers `value`.
    pub(crate) fn lower_non_local_return(
        &mut self,
        node: &'static Node,
        value: &'static Node,
    ) -> ir::Value {
        let mut home = self.scopes.len() - 1;
        while let Some((def, _)) = self.scopes[home].outer {
            home = def;
        }
        let top = self.scopes.len() - 1;
        if home == top || self.scopes[home].method.is_block {
            return self.interpret(node);
        }
        let v = self.lower(value);
        if home == 0 && self.osr {
            // The home is the interpreter's activation around the loop.
            let vm = self.vm;
            self.call_fallible(Entry::Return, &[vm, v]);
        }
        let exit = self.scopes[home].exit;
        self.jump_with(exit, v);
        self.dead_end()
    }
}
