//! Calls between compiled units: a send whose guard chose a target the unit
//! does not inline runs the target's compiled body directly, without the
//! runtime's send or activation code in between.
//!
//! Invariant: a direct call does exactly what the runtime's activation of
//! the method would (`som_runtime::interpreter`'s `activate_method`), in the
//! same order: the activation is counted against the same budget (and the
//! native stack checked against the same limit), its frame is linked as the
//! innermost one while it runs, and an unwind leaving the callee is handled
//! first as its activation would (`rt_call_unwound`: `restart`, backtrace
//! line) and then as the send. The callee's code needs no bookkeeping here
//! to stay mapped: the runtime frees code only inside a call into it, and
//! every compiled activation is then suspended in a call whose return
//! address, inside its own code, is on the native stack the runtime scans
//! first (`som_runtime::tier::free_retired`).
//!
//! The callee's frame and slots live in the caller's native stack frame,
//! which the collector scans conservatively; so only bodies whose slots
//! need no heap context are called this way, with at most
//! [`MAX_DIRECT_SLOTS`] slots. The receiver and the first [`REG_ARGS`]
//! arguments are passed in registers (`BodyFn`); the callee writes those
//! arguments to its slots only on its way out with an unwind or a decline,
//! where the runtime reads its frame. Further arguments go in the slots.
//!
//! Whether the callee has code is decided at run time, on its entry cell:
//! no code (not hot yet, or invalidated) takes the generic path, which
//! counts the invocation and compiles it when it is hot. In `--jit=eager`
//! mode the runtime is asked first whether the callee's code is current
//! (`rt_eager_current`); if not, the call goes through the runtime, which
//! recompiles it, as eager mode promises.

use cranelift_codegen::ir::{self, condcodes::IntCC, types::I64, InstBuilder};
use cranelift_codegen::ir::{BlockArg, StackSlotData, StackSlotKind};

use som_runtime::tier::{layout, AstBody, MethodData, MethodKind};
use som_runtime::tier::{TierCell, CELL_CODE_OFFSET, REG_ARGS};

use super::entry::Entry;
use super::unit::{mem, Lowerer};

/// Most slots (arguments and locals) of a body called directly: its frame
/// is a stack slot of the caller.
pub const MAX_DIRECT_SLOTS: usize = 64;

impl Lowerer<'_> {
    /// The body of `m` if a call of `m` can run its compiled code directly.
    pub(crate) fn direct_body(&self, m: &'static MethodData) -> Option<&'static AstBody> {
        match &m.kind {
            MethodKind::Ast(b) if self.direct_body_ok(b) => Some(b),
            _ => None,
        }
    }

    /// Whether a body (a method's, or its enforced twin) can be called
    /// directly: its slots need no heap context and fit the caller's frame.
    pub(crate) fn direct_body_ok(&self, b: &AstBody) -> bool {
        !b.needs_context && b.num_slots <= MAX_DIRECT_SLOTS
    }

    /// Calls `body`, the body of method `m`, with `values` (receiver, then
    /// arguments) when it has compiled code; otherwise (and when the
    /// activation budget is spent) continues in `generic`, a cold block
    /// that must answer the send's value to the returned merge block.
    /// Answers the merge block (the call's value is its parameter).
    pub(crate) fn direct_call(
        &mut self,
        m: &'static MethodData,
        body: &'static AstBody,
        values: &[ir::Value],
        pos: (u32, u32),
        generic: ir::Block,
    ) -> ir::Block {
        let cell = self.addr("cell", &body.tier as *const TierCell as i64);
        let method = self.addr("method", m as *const MethodData as i64);
        let callee = Callee {
            cell,
            method,
            receiver: values[0],
            closure: self.iconst(0),
            slots: body.num_slots,
        };
        self.activate(callee, &values[1..], pos, generic)
    }

    /// `value`, `value:`, `value:with:` (the core library's primitives) sent
    /// to `values[0]`: when it is a closure of that arity whose body has
    /// compiled code and needs no heap context, that code is called
    /// directly (the send is a plain one, so execution is unenforced and
    /// the closure's plain body is the one that runs); otherwise continues
    /// in `generic`, as [`Lowerer::direct_call`].
    pub(crate) fn direct_block_call(
        &mut self,
        values: &[ir::Value],
        pos: (u32, u32),
        generic: ir::Block,
    ) -> ir::Block {
        let (closure, method, wrong_arity) = self.closure_checks(values, generic);
        let tag = self
            .b
            .ins()
            .uload8(I64, mem(), method, layout::METHOD_KIND_TAG);
        let not_ast = self
            .b
            .ins()
            .icmp_imm_s(IntCC::NotEqual, tag, layout::METHOD_KIND_AST);
        let either = self.b.ins().bor(wrong_arity, not_ast);
        self.continue_unless(either, generic);
        let body = (method, layout::METHOD_AST);
        self.call_block_body(values, closure, method, body, pos, generic)
    }

    /// [`Lowerer::direct_block_call`] in enforced execution: the closure's
    /// enforced twin runs (block evaluation is transparent to the OMOP: the
    /// runtime runs the twin without consulting a domain), when it has been
    /// compiled to an AST and has code.
    pub(crate) fn enforced_direct_block_call(
        &mut self,
        values: &[ir::Value],
        pos: (u32, u32),
        generic: ir::Block,
    ) -> ir::Block {
        let (closure, method, wrong_arity) = self.closure_checks(values, generic);
        let twin = self.load(method, layout::METHOD_ENFORCED_TWIN);
        let none = self.b.ins().icmp_imm_s(IntCC::Equal, twin, 0);
        let either = self.b.ins().bor(wrong_arity, none);
        self.continue_unless(either, generic);
        self.call_block_body(values, closure, method, (twin, 0), pos, generic)
    }

    /// The closure `values[0]` and its method, past a check (to `generic`)
    /// that it is a closure, and whether it takes another number of
    /// arguments than the `values.len() - 1` given (left to the caller to
    /// test with its own conditions).
    fn closure_checks(
        &mut self,
        values: &[ir::Value],
        generic: ir::Block,
    ) -> (ir::Value, ir::Value, ir::Value) {
        let closure = values[0];
        let argc = values.len() - 1;
        let low = self.b.ins().band_imm_s(closure, 7);
        self.continue_unless(low, generic);
        let meta = self.load(closure, layout::HEADER_META);
        let kind = self.b.ins().band_imm_s(meta, 0xff);
        let not_block = self
            .b
            .ins()
            .icmp_imm_s(IntCC::NotEqual, kind, layout::KIND_BLOCK);
        self.continue_unless(not_block, generic);
        let method = self.load(closure, layout::BLOCK_METHOD);
        let nargs = self.load(method, layout::METHOD_NUM_ARGS);
        let wrong_arity = self.b.ins().icmp_imm_s(IntCC::NotEqual, nargs, argc as i64);
        (closure, method, wrong_arity)
    }

    /// Calls the closure's body, the [`AstBody`] at `body` (an address and
    /// an offset from it), when its slots need no heap context and fit a
    /// direct call's frame; otherwise continues in `generic`.
    fn call_block_body(
        &mut self,
        values: &[ir::Value],
        closure: ir::Value,
        method: ir::Value,
        (base, off): (ir::Value, i32),
        pos: (u32, u32),
        generic: ir::Block,
    ) -> ir::Block {
        let context = self
            .b
            .ins()
            .uload8(I64, mem(), base, off + layout::AST_NEEDS_CONTEXT);
        let slots = self.load(base, off + layout::AST_NUM_SLOTS);
        let too_many =
            self.b
                .ins()
                .icmp_imm_s(IntCC::UnsignedGreaterThan, slots, MAX_DIRECT_SLOTS as i64);
        let context = self.b.ins().icmp_imm_s(IntCC::NotEqual, context, 0);
        let no = self.b.ins().bor(context, too_many);
        self.continue_unless(no, generic);
        let cell = self
            .b
            .ins()
            .iadd_imm_s(base, (off + layout::AST_TIER) as i64);
        let receiver = self.load(closure, layout::BLOCK_RECEIVER);
        let callee = Callee {
            cell,
            method,
            receiver,
            closure,
            slots: MAX_DIRECT_SLOTS,
        };
        self.activate(callee, &values[1..], pos, generic)
    }

    /// A `value` send (`selector`) to `values[0]` made by calling a
    /// closure's compiled body (its enforced twin's with `enforced`) when
    /// it is one of the right arity, answering to `done`; the lowering goes
    /// on in the block taken otherwise. The interpreter evaluates such a
    /// closure without consulting the send's chain (which stays empty), and
    /// the primitives this stands for are the core library's while the unit
    /// is valid.
    pub(crate) fn value_by_direct_call(
        &mut self,
        selector: som_runtime::symbols::SymbolId,
        values: &[ir::Value],
        pos: (u32, u32),
        done: ir::Block,
        enforced: bool,
    ) {
        self.depends_on.push(selector);
        let not_direct = self.b.create_block();
        self.guard_valid(not_direct);
        let merge = if enforced {
            self.enforced_direct_block_call(values, pos, not_direct)
        } else {
            self.direct_block_call(values, pos, not_direct)
        };
        self.b.seal_block(merge);
        let v = self.enter_value_block(merge);
        self.jump_with(done, v);
        self.b.seal_block(not_direct);
        self.b.switch_to_block(not_direct);
    }

    /// Branches to `generic` when `cond` is non-zero, else goes on.
    fn continue_unless(&mut self, cond: ir::Value, generic: ir::Block) {
        let next = self.b.create_block();
        self.b.ins().brif(cond, generic, &[], next, &[]);
        self.b.seal_block(next);
        self.b.switch_to_block(next);
    }

    /// The activation of `callee` with `args`, as the runtime's: see the
    /// module doc.
    fn activate(
        &mut self,
        callee: Callee,
        args: &[ir::Value],
        pos: (u32, u32),
        generic: ir::Block,
    ) -> ir::Block {
        let merge = self.value_block();
        let cell = callee.cell;
        let code = self.load(cell, CELL_CODE_OFFSET);
        let has_code = self.b.create_block();
        self.b.ins().brif(code, has_code, &[], generic, &[]);
        self.b.seal_block(has_code);
        self.b.switch_to_block(has_code);
        if self.eager {
            // Eager mode recompiles a body whose chains changed at its next
            // call: the runtime decides, so stale code is not called.
            let current = self.call_unadjusted(Entry::EagerCurrent, &[cell])[0];
            let go_on = self.b.create_block();
            self.b.ins().brif(current, go_on, &[], generic, &[]);
            self.b.seal_block(go_on);
            self.b.switch_to_block(go_on);
        }

        // The activation budget and the native stack, as the runtime's
        // activation checks them; running out takes the generic path, which
        // reports the overflow.
        // The inlined activations around the call count as the
        // interpreter's would (see `Lowerer::call`).
        let tvm = self.addr("vm", self.tier_vm);
        let left = self.load(tvm, layout::VM_ACTIVATIONS_LEFT);
        let depth = self.inline_depth() as i64;
        let budget = if depth == 0 {
            left
        } else {
            self.b.ins().iadd_imm_s(left, -depth)
        };
        let limit = self.load(tvm, layout::VM_NATIVE_STACK_LIMIT);
        let fp = self.b.ins().get_frame_pointer(I64);
        let has_left = self.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, budget, 0);
        let has_stack = self
            .b
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, fp, limit);
        let ok = self.b.ins().band(has_left, has_stack);
        let go = self.b.create_block();
        self.b.ins().brif(ok, go, &[], generic, &[]);
        self.b.seal_block(go);
        self.b.switch_to_block(go);
        let less = self.b.ins().iadd_imm_s(budget, -1);
        self.store(less, tvm, layout::VM_ACTIVATIONS_LEFT);

        // The callee's frame: receiver, its slots (the arguments; the
        // callee's entry sets its locals to nil itself), no context, linked
        // as the innermost one.
        let frame_slot = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            layout::FRAME_SIZE,
            3,
        ));
        let slots_slot = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (callee.slots.max(1) * 8) as u32,
            3,
        ));
        let frame = self.b.ins().stack_addr(I64, frame_slot, 0);
        let slots = self.b.ins().stack_addr(I64, slots_slot, 0);
        // The first arguments go in registers (the callee writes them to
        // its slots itself if the runtime is to read them); the rest here.
        let in_registers = args.len().min(REG_ARGS);
        for (i, v) in args.iter().enumerate().skip(in_registers) {
            self.b
                .ins()
                .stack_store(I64, *v, slots_slot, (i * 8) as i32);
        }
        let zero = self.iconst(0);
        let parent = self.load(tvm, layout::VM_FRAME);
        self.store(callee.receiver, frame, layout::FRAME_RECEIVER);
        self.store(slots, frame, layout::FRAME_SLOTS);
        self.store(zero, frame, layout::FRAME_CTX);
        self.store(callee.closure, frame, layout::FRAME_CLOSURE);
        self.store(callee.method, frame, layout::FRAME_METHOD);
        self.store(parent, frame, layout::FRAME_PARENT);
        self.store(frame, tvm, layout::VM_FRAME);

        // Anything may change in a call, a shape included.
        self.epoch += 1;
        let sig = self.sigs.body(&mut self.b);
        let vm = self.vm();
        self.flag_for_call();
        let mut operands = vec![vm, frame, callee.receiver];
        operands.extend_from_slice(&args[..in_registers]);
        while operands.len() < 3 + REG_ARGS {
            operands.push(zero);
        }
        let inst = self.b.ins().call_indirect(sig, code, &operands);
        let r = self.b.inst_results(inst).to_vec();
        self.flag_after_call();
        let (status, value) = (r[0], r[1]);
        self.store(parent, tvm, layout::VM_FRAME);

        let done = self.b.create_block();
        let unwound = self.cold_block();
        self.b.ins().brif(status, unwound, &[], done, &[]);
        self.b.seal_block(done);
        self.b.seal_block(unwound);
        // The activation (and the inlined ones around it) ended: the
        // budget is what it was.
        self.b.switch_to_block(done);
        let tvm = self.addr("vm", self.tier_vm);
        self.store(left, tvm, layout::VM_ACTIVATIONS_LEFT);
        self.jump_with(merge, value);

        // As the runtime's activation, the unwind is handled before the
        // activation ends.
        self.b.switch_to_block(unwound);
        let pos = self.pos(pos);
        let r = self.call_unadjusted(Entry::CallUnwound, &[vm, frame, status, pos]);
        let tvm = self.addr("vm", self.tier_vm);
        self.store(left, tvm, layout::VM_ACTIVATIONS_LEFT);
        let unwind = self.scope().unwind;
        self.b.ins().brif(
            r[0],
            unwind,
            &[BlockArg::Value(r[0])],
            merge,
            &[BlockArg::Value(r[1])],
        );
        merge
    }
}

/// What a direct call activates.
struct Callee {
    /// The callee body's tier cell.
    cell: ir::Value,
    /// Its method (or block method).
    method: ir::Value,
    /// `self` in the callee.
    receiver: ir::Value,
    /// The closure (0 for a method).
    closure: ir::Value,
    /// Slots its frame reserves (at least the body's).
    slots: usize,
}
