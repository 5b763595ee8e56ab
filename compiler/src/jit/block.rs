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

use som_runtime::tier::layout;

use super::entry::Entry;
use super::unit::{FrameRef, Lowerer};

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

    /// For a variable `depth` levels out that lives outside the unit (its
    /// own activation is a block's): how many contexts out from the
    /// closure's defining one it is. A variable outside the unit always
    /// lives in a context (the compiler that checked `depth` made it so).
    fn outside_levels(&self, depth: u32) -> Option<u32> {
        let mut idx = self.scopes.len() - 1;
        let mut left = depth;
        while left > 0 {
            match self.scopes[idx].outer {
                Some((def, _)) => {
                    idx = def;
                    left -= 1;
                }
                None => break,
            }
        }
        let real = matches!(self.scopes[0].frame, FrameRef::Real { .. });
        (left > 0 && idx == 0 && self.scopes[0].method.is_block && real).then_some(left)
    }

    /// The context `levels` out from the unit's closure (1: its defining
    /// context), read now.
    fn outside_context(&mut self, levels: u32) -> ir::Value {
        let FrameRef::Real { frame, .. } = self.scopes[0].frame else {
            unreachable!("checked by outside_levels");
        };
        let closure = self.load(frame, layout::FRAME_CLOSURE);
        let mut ctx = self.load(closure, layout::BLOCK_CONTEXT);
        for _ in 1..levels {
            ctx = self.load(ctx, layout::CONTEXT_OUTER);
        }
        ctx
    }

    pub(crate) fn lower_outer_read(&mut self, node: &'static Node, o: OuterVar) -> ir::Value {
        if let Some(idx) = self.outer_scope(o.depth) {
            return self.read_local_in(idx, o.slot.0);
        }
        match self.outside_levels(o.depth) {
            Some(levels) => {
                let ctx = self.outside_context(levels);
                self.load(ctx, layout::CONTEXT_SLOTS + (o.slot.0 * 8) as i32)
            }
            None => self.interpret(node),
        }
    }

    pub(crate) fn lower_outer_write(
        &mut self,
        node: &'static Node,
        o: OuterVar,
        value: &'static Node,
    ) -> ir::Value {
        if let Some(idx) = self.outer_scope(o.depth) {
            let v = self.lower(value);
            self.write_local_in(idx, o.slot.0, v);
            return v;
        }
        if let Some(levels) = self.outside_levels(o.depth) {
            // The value first, as the interpreter does.
            let v = self.lower(value);
            let ctx = self.outside_context(levels);
            self.store(v, ctx, layout::CONTEXT_SLOTS + (o.slot.0 * 8) as i32);
            return v;
        }
        self.interpret(node)
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
            let vm = self.vm();
            self.call_fallible(Entry::Return, &[vm, v]);
        }
        let exit = self.scopes[home].exit;
        self.jump_with(exit, v);
        self.dead_end()
    }
}
