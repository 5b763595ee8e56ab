//! Lowering of inlined control flow (the tier's side of
//! `runtime/src/nodes/control.rs`): conditionals and `and:`/`or:` compare the
//! receiver with `true` and `false`, loops are Cranelift loops, and `^` in an
//! inlined block jumps to the exit of its activation.
//!
//! The cases inlining did not assume stay the runtime's, with the operands
//! already evaluated: a non-Boolean receiver is the node's `Fallback` send
//! (`rt_fallback`), a non-Boolean loop condition its error, and a counting
//! loop outside the fast path (operands not small integers, a step that is
//! not positive, a limit near the end of the small range) runs whole in the
//! interpreter (`rt_to_do`). All of these are cold.

use cranelift_codegen::ir::{self, condcodes::IntCC, types::I64, InstBuilder};

use som_runtime::nodes::{
    AndOrNode, Fallback, IfElseNode, IfKind, IfNode, LoopNode, Node, ToDoKind, ToDoNode,
};
use som_runtime::value::{SMALL_MAX, SMALL_MIN};

use super::entry::Entry;
use super::unit::Lowerer;

impl Lowerer<'_> {
    pub(crate) fn lower_sequence(&mut self, ns: &'static [Node]) -> ir::Value {
        let Some((last, rest)) = ns.split_last() else {
            return self.nil();
        };
        for n in rest {
            self.lower_effect(n);
        }
        self.lower(last)
    }

    pub(crate) fn lower_return(&mut self, value: &'static Node) -> ir::Value {
        let v = self.lower(value);
        if self.osr && self.scopes.len() == 1 {
            // The method is the interpreter's activation around the loop:
            // `^` unwinds to it, as in the interpreter.
            let vm = self.vm();
            self.call_fallible(Entry::Return, &[vm, v]);
            // rt_return always unwinds; this edge only ends the block.
            let exit = self.scope().exit;
            self.jump_with(exit, v);
            return self.dead_end();
        }
        let exit = self.scope().exit;
        self.jump_with(exit, v);
        self.dead_end()
    }

    /// Branches on `c`: `t` for true, `f` for false, else the cold fallback
    /// send, whose result goes to `done`.
    fn branch_boolean(
        &mut self,
        c: ir::Value,
        t: ir::Block,
        f: ir::Block,
        fallback: &'static Fallback,
        done: ir::Block,
    ) {
        let (tv, fv) = (self.consts.true_, self.consts.false_);
        if let Some(k) = self.const_value(c) {
            // A condition the lowering folded: one way only.
            if k == tv || k == fv {
                self.b.ins().jump(if k == tv { t } else { f }, &[]);
                return;
            }
        }
        // Listings name the Booleans compared with by kind.
        self.embedded.note(tv.bits(), "object");
        self.embedded.note(fv.bits(), "object");
        let not_true = self.b.create_block();
        let other = self.cold_block();
        let is_true = self.b.ins().icmp_imm_s(IntCC::Equal, c, tv.bits() as i64);
        self.b.ins().brif(is_true, t, &[], not_true, &[]);
        self.b.seal_block(not_true);
        self.b.switch_to_block(not_true);
        let is_false = self.b.ins().icmp_imm_s(IntCC::Equal, c, fv.bits() as i64);
        self.b.ins().brif(is_false, f, &[], other, &[]);
        self.b.seal_block(other);
        self.b.switch_to_block(other);
        let fb = self.addr("node", fallback as *const Fallback as i64);
        let r = self.call_with_frame(Entry::Fallback, &[fb, c]);
        self.jump_with(done, r);
    }

    pub(crate) fn lower_if(&mut self, n: &'static IfNode) -> ir::Value {
        let c = self.lower(&n.cond);
        let (run, skip) = (self.b.create_block(), self.b.create_block());
        let done = self.value_block();
        let (t, f) = match n.kind {
            IfKind::True => (run, skip),
            IfKind::False => (skip, run),
        };
        self.branch_boolean(c, t, f, &n.fallback, done);
        self.b.seal_block(run);
        self.b.seal_block(skip);
        self.b.switch_to_block(run);
        let v = self.lower(&n.body);
        self.jump_with(done, v);
        self.b.switch_to_block(skip);
        let nil = self.nil();
        self.join(done, nil)
    }

    pub(crate) fn lower_if_else(&mut self, n: &'static IfElseNode) -> ir::Value {
        let c = self.lower(&n.cond);
        let (t, f) = (self.b.create_block(), self.b.create_block());
        let done = self.value_block();
        self.branch_boolean(c, t, f, &n.fallback, done);
        self.b.seal_block(t);
        self.b.seal_block(f);
        self.b.switch_to_block(t);
        let v = self.lower(&n.then_branch);
        self.jump_with(done, v);
        self.b.switch_to_block(f);
        let v = self.lower(&n.else_branch);
        self.join(done, v)
    }

    pub(crate) fn lower_and_or(&mut self, n: &'static AndOrNode) -> ir::Value {
        let l = self.lower(&n.left);
        let (right, short) = (self.b.create_block(), self.b.create_block());
        let done = self.value_block();
        let (t, f) = if n.is_and {
            (right, short)
        } else {
            (short, right)
        };
        self.branch_boolean(l, t, f, &n.fallback, done);
        self.b.seal_block(right);
        self.b.seal_block(short);
        self.b.switch_to_block(right);
        let v = self.lower(&n.right);
        self.jump_with(done, v);
        self.b.switch_to_block(short);
        // The test passed: `l` is that Boolean. The constant lets a branch
        // on the answer go straight to its side (`cleanup.rs`).
        let k = if n.is_and {
            self.consts.false_
        } else {
            self.consts.true_
        };
        let k = self.som_const(k);
        self.join(done, k)
    }

    pub(crate) fn lower_loop(&mut self, n: &'static LoopNode) -> ir::Value {
        // The back edge brings the loop's own calls before its header.
        self.epoch += 1;
        let header = self.b.create_block();
        let body = self.b.create_block();
        let not_go = self.b.create_block();
        let other = self.cold_block();
        let exit = self.b.create_block();
        self.b.ins().jump(header, &[]);
        self.b.switch_to_block(header);
        let c = self.lower(&n.cond);
        let (tv, fv) = (
            self.consts.true_.bits() as i64,
            self.consts.false_.bits() as i64,
        );
        let (go, stop) = if n.while_true { (tv, fv) } else { (fv, tv) };
        let is_go = self.b.ins().icmp_imm_s(IntCC::Equal, c, go);
        self.b.ins().brif(is_go, body, &[], not_go, &[]);
        self.b.seal_block(body);
        self.b.seal_block(not_go);
        self.b.switch_to_block(not_go);
        let is_stop = self.b.ins().icmp_imm_s(IntCC::Equal, c, stop);
        self.b.ins().brif(is_stop, exit, &[], other, &[]);
        self.b.seal_block(other);
        self.b.switch_to_block(other);
        let (vm, node) = (self.vm(), self.addr("node", n as *const LoopNode as i64));
        self.call_fallible(Entry::LoopNotBoolean, &[vm, node, c]);
        // The entry point always fails; this edge only keeps the CFG whole.
        self.b.ins().jump(exit, &[]);
        self.b.switch_to_block(body);
        if let Some(b) = &n.body {
            self.lower_effect(b);
        }
        self.b.ins().jump(header, &[]);
        self.b.seal_block(header);
        self.b.seal_block(exit);
        self.b.switch_to_block(exit);
        self.nil()
    }

    /// The loop of an inlined counting loop over untagged `start..limit` by
    /// `step` (which cannot overflow): the counter slot written each round,
    /// then the body; leaves to `done` with `done_args`.
    fn counting_loop(
        &mut self,
        n: &'static ToDoNode,
        start: ir::Value,
        limit: ir::Value,
        step: ir::Value,
        done: ir::Block,
        done_args: &[ir::BlockArg],
    ) {
        let down = n.kind == ToDoKind::Down;
        let i = self.b.declare_var(I64);
        self.b.def_var(i, start);
        self.epoch += 1;
        let header = self.b.create_block();
        let body = self.b.create_block();
        self.b.ins().jump(header, &[]);
        self.b.switch_to_block(header);
        let cur = self.b.use_var(i);
        let cc = if down {
            IntCC::SignedGreaterThanOrEqual
        } else {
            IntCC::SignedLessThanOrEqual
        };
        let go = self.b.ins().icmp(cc, cur, limit);
        self.b.ins().brif(go, body, &[], done, done_args);
        self.b.seal_block(body);
        self.b.switch_to_block(body);
        if let Some(c) = n.counter {
            let tagged = self.b.ins().ishl_imm_s(cur, 1);
            let tagged = self.b.ins().bor_imm_s(tagged, 1);
            self.write_local(c.0, tagged);
        }
        self.lower_effect(&n.body);
        let cur = self.b.use_var(i);
        let next = if down {
            self.b.ins().isub(cur, step)
        } else {
            self.b.ins().iadd(cur, step)
        };
        self.b.def_var(i, next);
        self.b.ins().jump(header, &[]);
        self.b.seal_block(header);
    }

    /// A counting loop entered in the middle by OSR: counter `i`, bounds
    /// checked by the interpreter (small, positive step, no overflow).
    pub(crate) fn lower_to_do_entered(
        &mut self,
        n: &'static ToDoNode,
        i0: ir::Value,
        limit: ir::Value,
        step: ir::Value,
    ) -> ir::Value {
        // A limit or step written as a literal is the value the interpreter
        // passes (it evaluated that literal): a constant, so the loop keeps
        // one value fewer live and compares against an immediate, as the
        // same loop compiled in its method does.
        let literal = |node: Option<&Node>| match node {
            Some(Node::Const(v)) => v.small_int(),
            _ => None,
        };
        let limit_node = match n.kind {
            ToDoKind::Times => Some(&n.from),
            _ => n.to.as_ref(),
        };
        let limit = literal(limit_node).map_or(limit, |c| self.iconst(c));
        let step = match &n.step {
            None => self.iconst(1),
            Some(s) => literal(Some(s)).map_or(step, |c| self.iconst(c)),
        };
        let done = self.b.create_block();
        self.counting_loop(n, i0, limit, step, done, &[]);
        self.b.seal_block(done);
        self.b.switch_to_block(done);
        // The interpreter answers the loop's receiver itself.
        self.nil()
    }

    pub(crate) fn lower_to_do(&mut self, n: &'static ToDoNode) -> ir::Value {
        let from = self.lower(&n.from);
        let to = match &n.to {
            Some(t) => self.lower(t),
            None => self.nil(),
        };
        let step = match &n.step {
            Some(s) => self.lower(s),
            None => self.iconst(som_runtime::value::Value::small(1).bits() as i64),
        };
        let down = n.kind == ToDoKind::Down;
        // The loop answers its receiver, or what the fallback send answers.
        let done = self.value_block();
        let slow = self.cold_block();
        // Fast path: small-integer operands, a positive step, and a limit
        // so far from the end of the small range that the counter stays
        // small (`ToDoNode::run` checks the same before its own fast loop).
        let limit_v = if n.kind == ToDoKind::Times { from } else { to };
        let all = self.b.ins().band(from, limit_v);
        let all = self.b.ins().band(all, step);
        let small = self.is_small(all);
        let checked = self.b.create_block();
        self.b.ins().brif(small, checked, &[], slow, &[]);
        self.b.seal_block(checked);
        self.b.switch_to_block(checked);
        let start_i = self.b.ins().sshr_imm_s(from, 1);
        let limit = self.b.ins().sshr_imm_s(limit_v, 1);
        let step_i = self.b.ins().sshr_imm_s(step, 1);
        let positive = self.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, step_i, 0);
        let in_range = if down {
            // limit >= SMALL_MIN + step
            let min = self.b.ins().iadd_imm_s(step_i, SMALL_MIN);
            self.b
                .ins()
                .icmp(IntCC::SignedGreaterThanOrEqual, limit, min)
        } else {
            // limit <= SMALL_MAX - step
            let max = self.iconst(SMALL_MAX);
            let max = self.b.ins().isub(max, step_i);
            self.b.ins().icmp(IntCC::SignedLessThanOrEqual, limit, max)
        };
        let ok = self.b.ins().band(positive, in_range);
        let fast = self.b.create_block();
        self.b.ins().brif(ok, fast, &[], slow, &[]);
        self.b.seal_block(fast);
        self.b.switch_to_block(fast);
        let start = if n.kind == ToDoKind::Times {
            self.iconst(1)
        } else {
            start_i
        };
        self.counting_loop(n, start, limit, step_i, done, &[ir::BlockArg::Value(from)]);
        self.b.seal_block(slow);
        self.b.switch_to_block(slow);
        let node = self.addr("node", n as *const ToDoNode as i64);
        let r = self.call_with_frame(Entry::ToDo, &[node, from, to, step]);
        self.join(done, r)
    }
}
