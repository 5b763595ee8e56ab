//! Activations and evaluation.
//!
//! Calling convention: the caller pushes the receiver and the arguments on the
//! VM's value stack and calls [`invoke`] with the index of the receiver slot
//! (`base`). The callee's frame slots are the arguments followed by its locals,
//! so arguments are never copied for methods whose variables stay on the stack.
//! A method whose variables are captured by a block keeps all its slots in a
//! heap `Context` instead (decided at compile time, `AstBody::needs_context`).
//! The caller resets the stack pointer to `base` after the call, on every path.
//!
//! Control transfers other than a normal return travel as `Err(Unwind)`: local
//! `^` from inlined blocks, non-local returns, `restart`, errors and `exit:`.
//! Methods pay for them only on the error path of the `Result`, so non-local
//! return costs nothing in methods that do not use it.
//!
//! Backtraces are built on the error path too: an `Unwind::ERROR` leaving a
//! send node notes the send's position (the first, innermost one in each
//! activation wins), and the activation writes its backtrace line with that
//! position as the error leaves it. Sends store nothing on the normal path.
//! A classed error ([`crate::error::ErrorClass`]) is signalled as a SOM
//! exception at the first send it leaves, while every activation is still
//! live, so handlers run on top of the failing code as for `signal`.

use std::cell::Cell;

use crate::error::SomError;
use crate::method::{AstBody, MethodData, MethodKind};
use crate::nodes::Node;
use crate::object::{self, Kind};
use crate::value::Value;
use crate::vm::{Vm, VmResult};

/// Why evaluation left the normal path.
///
/// The type is one machine word (not an enum), so that `Result<Value,
/// Unwind>`, the return type of every evaluation, is a tag plus one word at the
/// same offset and travels in two registers. Payloads wait elsewhere: the
/// returned value, the home context and the exit code in the VM
/// (`Vm::unwind_value`, `Vm::unwind_home`, `Vm::exit_code`), the error of an
/// `Error` unwind in a per-thread slot ([`take_error`]), because errors are
/// raised in places that hold no mutable VM reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unwind(u64);

impl Unwind {
    /// `^` inside an inlined block of a method body: the method returns
    /// `vm.unwind_value`.
    pub const RETURN: Unwind = Unwind(1);
    /// `^` inside a block: unwind to the activation whose context is
    /// `vm.unwind_home`, which returns `vm.unwind_value`.
    pub const NON_LOCAL: Unwind = Unwind(2);
    /// A block activation answers `vm.unwind_value` after its `^` found its
    /// home gone and `escapedBlock:` handled it.
    pub const ESCAPED: Unwind = Unwind(3);
    /// `Block>>restart`: re-run the nearest method activation from the start.
    pub const RESTART: Unwind = Unwind(4);
    /// A SOM-level error, retrieved with [`take_error`]; the program ends with
    /// a message and backtrace.
    pub const ERROR: Unwind = Unwind(5);
    /// `system exit: vm.exit_code`.
    pub const EXIT: Unwind = Unwind(6);
    /// An exception handler finished, or `return:`/`retry`: unwind to the
    /// `on:do:` named by `vm.exc.target` with `vm.unwind_value`.
    pub const EXCEPTION: Unwind = Unwind(7);
    /// `resume:`: the `signal` of exception `vm.exc.resume` answers
    /// `vm.unwind_value`.
    pub const RESUME: Unwind = Unwind(8);
}

impl Unwind {
    /// The unwind's code (never 0), as compiled code carries it.
    #[inline(always)]
    pub const fn code(self) -> u64 {
        self.0
    }

    /// The unwind of a code from [`Unwind::code`].
    #[inline(always)]
    pub const fn from_code(code: u64) -> Unwind {
        Unwind(code)
    }

    /// A SOM-level error.
    #[cold]
    pub fn error(message: impl Into<String>) -> Unwind {
        Unwind::raise(SomError::new(message))
    }

    /// A SOM-level error that is signalled as the core library's exception
    /// `class` when a handler wants it.
    #[cold]
    pub fn error_as(class: crate::error::ErrorClass, message: impl Into<String>) -> Unwind {
        let mut e = SomError::new(message);
        e.class = Some(class);
        Unwind::raise(e)
    }

    /// Raises `e`: stores it for [`take_error`] and answers `Unwind::ERROR`.
    #[cold]
    pub fn raise(e: SomError) -> Unwind {
        PENDING_ERROR.with(|p| *p.borrow_mut() = Some(e));
        Unwind::ERROR
    }
}

thread_local! {
    static PENDING_ERROR: std::cell::RefCell<Option<SomError>> = const { std::cell::RefCell::new(None) };
}

/// Takes the error of the `Unwind::ERROR` being propagated on this thread.
pub fn take_error() -> SomError {
    PENDING_ERROR
        .with(|p| p.borrow_mut().take())
        .unwrap_or_else(|| SomError::new("unknown error"))
}

/// Adds the line of the activation running `m` to the backtrace of the
/// pending error, with the position of the send that failed in it (noted by
/// [`send_failed`]), and clears that position for the next activation.
fn push_backtrace(vm: &Vm, m: &MethodData) {
    PENDING_ERROR.with(|p| {
        if let Some(e) = p.borrow_mut().as_mut() {
            let pos = e.pos.take();
            if e.backtrace.len() < crate::vm::MAX_BACKTRACE_LINES {
                e.backtrace.push(vm.describe_activation(m, pos));
            } else {
                e.elided += 1;
            }
        }
    });
}

/// Passes on the result of the send at `pos`; an error leaving the send
/// takes the cold path. Send nodes call it around their whole evaluation.
#[inline(always)]
pub(crate) fn sent(pos: (u32, u32), r: VmResult, vm: &mut Vm) -> VmResult {
    // Only the Ok/Err tag is tested on the hot path; which unwind it is gets
    // decided out of line.
    if r.is_err() {
        return send_unwound(pos, r, vm);
    }
    r
}

/// An operation at `pos` (line, column) that is not a send (a field access,
/// an inlined loop's condition) failed with `e`: like a failed send, the
/// error names that position in the backtrace and is offered to the handlers
/// there, before the activation unwinds.
#[cold]
#[inline(never)]
pub(crate) fn failed_at(pos: (u32, u32), e: Unwind, vm: &mut Vm) -> VmResult {
    send_unwound(pos, Err(e), vm)
}

/// A send ended in an unwind: errors go to [`send_failed`], every other
/// transfer passes through unchanged.
#[cold]
#[inline(never)]
fn send_unwound(pos: (u32, u32), r: VmResult, vm: &mut Vm) -> VmResult {
    match r {
        Err(Unwind::ERROR) => send_failed(vm, pos),
        r => r,
    }
}

/// An error left the send at `pos`: if it is classed and fresh (no
/// activation unwound yet), it is signalled now as its exception; the
/// position is noted for the backtrace line of the current activation
/// unless a send inside this one failed first.
#[cold]
#[inline(never)]
fn send_failed(vm: &mut Vm, pos: (u32, u32)) -> VmResult {
    let r = offer_to_handlers(vm, Some(pos)).unwrap_or(Err(Unwind::ERROR));
    if r == Err(Unwind::ERROR) {
        // An error out of the handling (or the original one, unhandled)
        // leaves this activation through this send.
        PENDING_ERROR.with(|p| {
            if let Some(e) = p.borrow_mut().as_mut() {
                e.pos.get_or_insert(pos);
            }
        });
    }
    r
}

/// Signals the pending error as its exception class if it has one and no
/// activation has been unwound yet (else it would run a handler too late).
/// None when nothing was signalled; otherwise what signalling answered.
/// `pos`, if given, is noted as the failing send first.
fn offer_to_handlers(vm: &mut Vm, pos: Option<(u32, u32)>) -> Option<VmResult> {
    let class = PENDING_ERROR.with(|p| {
        let mut p = p.borrow_mut();
        let e = p.as_mut()?;
        let class = e.class.take();
        if e.pos.is_none() {
            e.pos = pos;
        }
        class.filter(|_| e.backtrace.is_empty())
    })?;
    if !crate::primitives::handler_may_catch(vm) {
        return None;
    }
    let e = take_error();
    Some(crate::primitives::signal_runtime_error(
        vm,
        class.class_name(),
        e.message,
        |_, _| Ok(()),
    ))
}

/// One activation of a method or block. `repr(C)`: compiled code reads it
/// and builds frames of inlined activations at the offsets in
/// [`crate::tier::layout`].
#[repr(C)]
pub struct Frame {
    /// `self`.
    pub receiver: Value,
    /// The slots: arguments then locals; points into the value stack or into
    /// the heap context.
    pub slots: *mut Value,
    /// This activation's heap context, or ZERO.
    pub ctx: Cell<Value>,
    /// For block activations, the closure (ZERO for methods).
    pub closure: Value,
    /// The running code.
    pub method: &'static MethodData,
    /// The calling activation (null for the outermost).
    pub parent: *const Frame,
}

impl Frame {
    /// The context a non-local `^` in this activation targets.
    #[inline]
    pub fn home(&self) -> Value {
        if self.closure.is_ptr() {
            object::block_body(self.closure).home
        } else {
            self.ctx.get()
        }
    }

    /// The context holding the enclosing scope's variables (block activations).
    #[inline]
    pub fn outer(&self) -> Value {
        object::block_body(self.closure).context
    }

    /// Reads slot `i`.
    #[inline(always)]
    pub fn slot(&self, i: usize) -> Value {
        // SAFETY: slot indices are checked against `num_slots` when the method
        // is compiled, and `slots` points to `num_slots` initialised values.
        unsafe { *self.slots.add(i) }
    }

    /// Writes slot `i`.
    #[inline(always)]
    pub fn set_slot(&self, i: usize, v: Value) {
        // SAFETY: as for `slot`.
        unsafe { *self.slots.add(i) = v }
    }
}

/// The arguments of a primitive: receiver at index 0, then the arguments, on
/// the value stack.
#[derive(Clone, Copy)]
pub struct Args {
    /// Stack index of the receiver.
    pub base: usize,
    /// Number of arguments (receiver excluded).
    pub argc: usize,
}

impl Args {
    /// The receiver.
    #[inline(always)]
    pub fn rcvr(self, vm: &Vm) -> Value {
        vm.stack_at(self.base)
    }

    /// Argument `i` (0-based, receiver excluded).
    #[inline(always)]
    pub fn arg(self, vm: &Vm, i: usize) -> Value {
        debug_assert!(i < self.argc);
        vm.stack_at(self.base + 1 + i)
    }
}

/// Runs `m` on the receiver and arguments at `vm.stack[base..]`.
#[inline]
pub fn invoke(vm: &mut Vm, m: &'static MethodData, base: usize) -> VmResult {
    match &m.kind {
        MethodKind::Primitive(p) => p(
            vm,
            Args {
                base,
                argc: m.num_args,
            },
        ),
        MethodKind::Ast(body) => invoke_ast(vm, m, body, base, Value::ZERO),
    }
}

/// Runs the block `closure` with the arguments at `vm.stack[base + 1..]`.
/// In enforced execution the block runs its enforced body: where a block was
/// made does not matter, only the mode of the code evaluating it.
pub fn invoke_block(vm: &mut Vm, closure: Value, base: usize) -> VmResult {
    let m = unsafe_block_method(closure);
    if vm.tier_state.enforced {
        return invoke_block_enforced(vm, m, closure, base);
    }
    match &m.kind {
        MethodKind::Ast(body) => invoke_ast(vm, m, body, base, closure),
        MethodKind::Primitive(_) => Err(Unwind::error("block without a body")),
    }
}

/// The enforced twin of an AST method or block body.
fn enforced_body_of(vm: &mut Vm, m: &'static MethodData) -> Result<&'static AstBody, Unwind> {
    match m.enforced.force(vm) {
        Ok(Some(b)) => Ok(b),
        Ok(None) => match &m.kind {
            MethodKind::Ast(b) => Ok(b),
            MethodKind::Primitive(_) => Err(Unwind::error("a primitive has no enforced body")),
        },
        Err(e) => Err(Unwind::error(e)),
    }
}

/// Runs the enforced body of AST method `m` on the receiver and arguments at
/// `base`, in enforced execution.
#[cold]
#[inline(never)]
pub fn invoke_enforced_body(vm: &mut Vm, m: &'static MethodData, base: usize) -> VmResult {
    let body = enforced_body_of(vm, m)?;
    let was = vm.tier_state.enforced;
    vm.tier_state.enforced = true;
    let r = activate_method(vm, m, body, base);
    vm.tier_state.enforced = was;
    r
}

/// Activates an already compiled enforced twin from enforced execution (the
/// enforced send's fast path).
#[inline(always)]
pub(crate) fn activate_enforced_twin(
    vm: &mut Vm,
    m: &'static MethodData,
    body: &'static AstBody,
    base: usize,
) -> VmResult {
    activate_method(vm, m, body, base)
}

#[cold]
#[inline(never)]
fn invoke_block_enforced(
    vm: &mut Vm,
    m: &'static MethodData,
    closure: Value,
    base: usize,
) -> VmResult {
    let body = enforced_body_of(vm, m)?;
    activate_block(vm, m, body, base, closure)
}

fn unsafe_block_method(closure: Value) -> &'static MethodData {
    // SAFETY: block bodies point to leaked, immortal MethodData.
    unsafe { &*object::block_body(closure).method }
}

#[inline(always)]
fn invoke_ast(
    vm: &mut Vm,
    m: &'static MethodData,
    body: &'static AstBody,
    base: usize,
    closure: Value,
) -> VmResult {
    if closure.is_ptr() {
        activate_block(vm, m, body, base, closure)
    } else {
        activate_method(vm, m, body, base)
    }
}

/// Reserves the callee's slots above its arguments, fills its locals with
/// nil and counts the activation ([`Vm::enter_activation`]; the caller pairs
/// it with `leave_activation` once this succeeded).
#[inline(always)]
fn reserve_frame(vm: &mut Vm, m: &MethodData, body: &AstBody, base: usize) -> Result<(), Unwind> {
    let first_local = base + 1 + m.num_args;
    let new_sp = base + 1 + body.num_slots;
    vm.reserve_stack(new_sp)?;
    vm.enter_activation()?;
    if new_sp > first_local {
        let nil = vm.nil;
        vm.stack_slice_mut(first_local, new_sp).fill(nil);
    }
    vm.set_sp(new_sp);
    Ok(())
}

/// Moves the slots of a new activation into a heap context.
#[inline(never)]
fn context_frame(
    vm: &mut Vm,
    m: &'static MethodData,
    body: &AstBody,
    base: usize,
    receiver: Value,
    closure: Value,
    outer: Value,
) -> Frame {
    let ctx = vm.new_context(body.num_slots, outer);
    let ctx_slots = object::slots(ctx);
    for (i, s) in ctx_slots.iter_mut().enumerate() {
        *s = vm.stack_at(base + 1 + i);
    }
    Frame {
        receiver,
        slots: ctx_slots.as_mut_ptr(),
        ctx: Cell::new(ctx),
        closure,
        method: m,
        parent: vm.tier_state.frame,
    }
}

#[inline(never)]
fn activate_method(
    vm: &mut Vm,
    m: &'static MethodData,
    body: &'static AstBody,
    base: usize,
) -> VmResult {
    reserve_frame(vm, m, body, base)?;
    let receiver = vm.stack_at(base);
    let frame = if body.needs_context {
        context_frame(vm, m, body, base, receiver, Value::ZERO, Value::ZERO)
    } else {
        Frame {
            receiver,
            slots: vm.stack_ptr(base + 1),
            ctx: Cell::new(Value::ZERO),
            closure: Value::ZERO,
            method: m,
            parent: vm.tier_state.frame,
        }
    };
    vm.tier_state.frame = &frame;
    let result = crate::tier::run_body(vm, m, body, &frame);
    vm.tier_state.frame = frame.parent;
    let ctx = frame.ctx.get();
    if ctx.is_ptr() {
        object::set_context_alive(ctx, false);
    }
    let r = match result {
        Ok(v) => Ok(v),
        Err(e) => unwind_through(vm, &frame, body, Some(base), e),
    };
    vm.leave_activation();
    r
}

#[inline(never)]
fn activate_block(
    vm: &mut Vm,
    m: &'static MethodData,
    body: &'static AstBody,
    base: usize,
    closure: Value,
) -> VmResult {
    reserve_frame(vm, m, body, base)?;
    let b = object::block_body(closure);
    let (receiver, outer) = (b.receiver, b.context);
    let frame = if body.needs_context {
        context_frame(vm, m, body, base, receiver, closure, outer)
    } else {
        Frame {
            receiver,
            slots: vm.stack_ptr(base + 1),
            ctx: Cell::new(Value::ZERO),
            closure,
            method: m,
            parent: vm.tier_state.frame,
        }
    };
    vm.tier_state.frame = &frame;
    let result = crate::tier::run_body(vm, m, body, &frame);
    vm.tier_state.frame = frame.parent;
    let r = match result {
        Ok(v) => Ok(v),
        Err(e) => unwind_through(vm, &frame, body, Some(base), e),
    };
    vm.leave_activation();
    r
}

/// Evaluates a method or block body; the statement loop of a sequence runs
/// here rather than in a further call.
#[inline(always)]
pub(crate) fn eval_body(body: &Node, vm: &mut Vm, f: &Frame) -> VmResult {
    match body {
        Node::Sequence(ns) => {
            let (last, init) = ns.split_last().expect("non-empty sequence");
            for n in init {
                n.eval(vm, f)?;
            }
            last.eval(vm, f)
        }
        other => other.eval(vm, f),
    }
}

/// Handles an unwind arriving at an activation: catches what targets it,
/// records the activation in error backtraces, and propagates the rest.
#[cold]
#[inline(never)]
pub(crate) fn unwind_through(
    vm: &mut Vm,
    frame: &Frame,
    body: &'static AstBody,
    base: Option<usize>,
    mut e: Unwind,
) -> VmResult {
    loop {
        match e {
            Unwind::RETURN if !frame.closure.is_ptr() => return Ok(vm.take_unwind_value()),
            Unwind::NON_LOCAL
                if !frame.closure.is_ptr()
                    && vm.unwind_home == frame.ctx.get()
                    && vm.unwind_home.is_ptr() =>
            {
                vm.unwind_home = Value::ZERO;
                return Ok(vm.take_unwind_value());
            }
            Unwind::ESCAPED if frame.closure.is_ptr() => return Ok(vm.take_unwind_value()),
            Unwind::RESTART if !frame.closure.is_ptr() => {
                // Re-run the body with fresh locals, as Block>>restart requires.
                let nargs = frame.method.num_args;
                let nil = vm.nil;
                // An activation compiled code made itself (`base` None) keeps
                // its slots outside the value stack.
                if let Some(base) = base {
                    vm.set_sp(base + 1 + body.num_slots);
                }
                for i in nargs..body.num_slots {
                    frame.set_slot(i, nil);
                }
                if frame.ctx.get().is_ptr() {
                    object::set_context_alive(frame.ctx.get(), true);
                }
                match body.body.eval(vm, frame) {
                    Ok(v) => {
                        if frame.ctx.get().is_ptr() {
                            object::set_context_alive(frame.ctx.get(), false);
                        }
                        return Ok(v);
                    }
                    Err(next) => {
                        if frame.ctx.get().is_ptr() {
                            object::set_context_alive(frame.ctx.get(), false);
                        }
                        e = next;
                    }
                }
            }
            Unwind::ERROR => {
                // A classed error raised outside any send of this activation
                // (by a control-flow fallback, say) is offered here, the last
                // moment its handler can still run on top of the failing code.
                match offer_to_handlers(vm, None) {
                    None | Some(Err(Unwind::ERROR)) => {}
                    Some(Ok(v)) => return Ok(v),
                    Some(Err(next)) => {
                        e = next;
                        continue;
                    }
                }
                push_backtrace(vm, frame.method);
                return Err(Unwind::ERROR);
            }
            other => return Err(other),
        }
    }
}

/// Handles an unwind arriving at an activation that compiled code inlined,
/// through its materialized `frame`, as [`unwind_through`] would at a real
/// one: a non-local return to its home answers the value (so does a handled
/// error); an error gets the activation's backtrace line. `restart` of an
/// inlined method is passed on as `RESTART` to the compiled code, which
/// re-runs the inlined body.
#[cold]
#[inline(never)]
pub(crate) fn unwind_inlined(vm: &mut Vm, frame: &Frame, e: Unwind) -> VmResult {
    match e {
        Unwind::NON_LOCAL if vm.unwind_home == frame.ctx.get() && vm.unwind_home.is_ptr() => {
            vm.unwind_home = Value::ZERO;
            Ok(vm.take_unwind_value())
        }
        Unwind::ERROR => {
            match offer_to_handlers(vm, None) {
                None | Some(Err(Unwind::ERROR)) => {}
                Some(r) => return r,
            }
            push_backtrace(vm, frame.method);
            Err(Unwind::ERROR)
        }
        other => Err(other),
    }
}

/// Whether `v` is a heap object of the given kind.
#[inline(always)]
pub fn is_kind(v: Value, k: Kind) -> bool {
    v.is_ptr() && object::kind_of(v) == k
}

impl Node {
    /// Evaluates this node in `frame`.
    ///
    /// This `match` is inlined into every caller: leaf nodes (constants,
    /// `self`, slot and field reads) are evaluated right there, every other
    /// node is a call to its own out-of-line function. That keeps each node's
    /// prologue proportional to its own work; one big non-inlined `match`
    /// would save and restore registers for every constant or local read.
    #[inline(always)]
    pub fn eval(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        match self {
            Node::Const(v) => Ok(*v),
            Node::SelfRef => Ok(f.receiver),
            Node::LocalRead(i) => Ok(f.slot(i.0)),
            Node::FieldRead(i, pos) => match object::object_field(f.receiver, i.0) {
                Some(v) => Ok(v),
                None => eval_field_read(*i, *pos, vm, f),
            },
            Node::Send0(s) => s.eval_unary(vm, f),
            Node::Send1(s) => s.eval_binary(vm, f),
            Node::BinarySpecial(s) => s.eval_binary_special(vm, f),
            Node::Send(s) => s.eval(vm, f),
            Node::GlobalRead(g) => match g.cached() {
                Some(v) => Ok(v),
                None => g.eval(vm, f),
            },
            Node::If(n) => n.eval(vm, f),
            Node::IfElse(n) => n.eval(vm, f),
            Node::Sequence(ns) => eval_sequence(ns, vm, f),
            Node::LocalWrite(i, n) => eval_local_write(*i, n, vm, f),
            Node::FieldWrite(i, pos, n) => eval_field_write(*i, *pos, n, vm, f),
            Node::OuterRead(o) => eval_outer_read(*o, f),
            Node::OuterWrite(o, n) => eval_outer_write(*o, n, vm, f),
            Node::SuperSend(s) => s.eval(vm, f),
            Node::Loop(n) => n.eval(vm, f),
            Node::AndOr(n) => n.eval(vm, f),
            Node::ToDo(n) => n.eval(vm, f),
            Node::LiteralArray(t) => eval_literal_array(*t, vm),
            Node::Return(n) => eval_return(n, vm, f),
            Node::NonLocalReturn(n) => eval_non_local_return(n, vm, f),
            Node::Block(b) => eval_block(b, vm, f),
            Node::EnforcedSend(s) => s.eval(vm, f),
            Node::EnforcedFieldRead(n) => match n.fast_read(vm, f) {
                Some(v) => Ok(v),
                None => n.read(vm, f),
            },
            Node::EnforcedFieldWrite(n) => n.write(vm, f),
            Node::EnforcedGlobalRead(n) => match n.fast_read(vm) {
                Some(v) => Ok(v),
                None => n.eval(vm, f),
            },
        }
    }
}

#[inline(never)]
fn eval_field_read(
    i: crate::nodes::FieldIndex,
    pos: (u32, u32),
    vm: &mut Vm,
    f: &Frame,
) -> VmResult {
    match i.read(vm, f.receiver) {
        Ok(v) => Ok(v),
        Err(e) => crate::interpreter::failed_at(pos, e, vm),
    }
}

#[inline(never)]
fn eval_outer_read(o: crate::nodes::OuterVar, f: &Frame) -> VmResult {
    Ok(o.read(f))
}

#[inline(never)]
fn eval_literal_array(t: Value, vm: &mut Vm) -> VmResult {
    Ok(vm.copy_literal_array(t))
}

#[inline(never)]
fn eval_block(b: &crate::nodes::BlockLiteral, vm: &mut Vm, f: &Frame) -> VmResult {
    Ok(b.make_closure(vm, f))
}

#[inline(never)]
fn eval_local_write(i: crate::nodes::SlotIndex, n: &Node, vm: &mut Vm, f: &Frame) -> VmResult {
    let v = n.eval(vm, f)?;
    f.set_slot(i.0, v);
    Ok(v)
}

#[inline(never)]
fn eval_field_write(
    i: crate::nodes::FieldIndex,
    pos: (u32, u32),
    n: &Node,
    vm: &mut Vm,
    f: &Frame,
) -> VmResult {
    let v = n.eval(vm, f)?;
    match i.write(vm, f.receiver, v) {
        Ok(()) => Ok(v),
        Err(e) => crate::interpreter::failed_at(pos, e, vm),
    }
}

#[inline(never)]
fn eval_outer_write(o: crate::nodes::OuterVar, n: &Node, vm: &mut Vm, f: &Frame) -> VmResult {
    let v = n.eval(vm, f)?;
    o.write(f, v);
    Ok(v)
}

#[inline(never)]
fn eval_return(n: &Node, vm: &mut Vm, f: &Frame) -> VmResult {
    let v = n.eval(vm, f)?;
    vm.unwind_value = v;
    Err(Unwind::RETURN)
}

#[inline(never)]
fn eval_non_local_return(n: &Node, vm: &mut Vm, f: &Frame) -> VmResult {
    let v = n.eval(vm, f)?;
    crate::nodes::BlockLiteral::non_local_return(vm, f, v)
}

#[inline(never)]
fn eval_sequence(ns: &[Node], vm: &mut Vm, f: &Frame) -> VmResult {
    let (last, init) = ns.split_last().expect("non-empty sequence");
    for n in init {
        n.eval(vm, f)?;
    }
    last.eval(vm, f)
}
