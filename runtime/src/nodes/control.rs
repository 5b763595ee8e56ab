//! Inlined control flow: `ifTrue:` and friends, `whileTrue:`, `and:`/`or:`,
//! `to:do:` and `timesRepeat:` with literal block arguments.
//!
//! The literal blocks' bodies are evaluated in the enclosing frame (their
//! arguments and locals were given slots of that frame at compile time), so no
//! closure is created. When the receiver is not what inlining assumed (a
//! non-Boolean for `ifTrue:`, a non-number for `to:do:`), the node falls back to
//! a real send of the original selector with real closures ([`Fallback`]), so a
//! class that defines `ifTrue:` or `to:do:` itself still gets the message.
//!
//! The fallback closures see the frame's variables through a context. A frame
//! that already has one (because some block captures its variables) shares it;
//! otherwise the fallback copies the slots into a fresh context for the duration
//! of the send and copies them back afterwards.

use crate::interpreter::{Frame, Unwind};
use crate::method::MethodKind;
use crate::nodes::block::DeferredBlock;
use crate::nodes::{Node, SlotIndex};
use crate::object;
use crate::symbols::SymbolId;
use crate::value::{Value, SMALL_MAX, SMALL_MIN};
use crate::vm::{Vm, VmResult};

/// How to send the original message when inlining's assumption fails.
pub struct Fallback {
    /// The original selector.
    pub selector: SymbolId,
    /// The literal block arguments, in argument order after the evaluated ones.
    pub blocks: Box<[DeferredBlock]>,
    /// Source line and column of the inlined send, for backtraces.
    pub pos: (u32, u32),
}

impl Fallback {
    /// A fallback for `selector` (written at `pos`) with the given deferred
    /// blocks.
    pub fn new(selector: SymbolId, blocks: Vec<DeferredBlock>, pos: (u32, u32)) -> Fallback {
        Fallback {
            selector,
            blocks: blocks.into_boxed_slice(),
            pos,
        }
    }

    /// Sends the original message to `rcvr` with `values` followed by closures
    /// of the literal blocks.
    #[cold]
    #[inline(never)]
    pub fn send(&self, vm: &mut Vm, f: &Frame, rcvr: Value, values: &[Value]) -> VmResult {
        // Receiver and evaluated arguments go on the value stack first: it is a
        // precise root, and the allocations below may collect.
        let base = vm.sp();
        vm.push(rcvr)?;
        for v in values {
            vm.push(*v)?;
        }
        let num_slots = match &f.method.kind {
            MethodKind::Ast(b) => b.num_slots,
            MethodKind::Primitive(_) => 0,
        };
        let shares_context = matches!(&f.method.kind, MethodKind::Ast(b) if b.needs_context);
        let ctx = if shares_context {
            f.ctx.get()
        } else {
            let outer = if f.closure.is_ptr() {
                f.outer()
            } else {
                Value::ZERO
            };
            let snapshot = vm.new_context(num_slots, outer);
            for i in 0..num_slots {
                object::slots(snapshot)[i] = f.slot(i);
            }
            if !f.closure.is_ptr() && !f.ctx.get().is_ptr() {
                // The first snapshot of a method activation doubles as its home
                // marker, so a `^` in a fallback closure can find it.
                f.ctx.set(snapshot);
            }
            snapshot
        };
        let home = f.home();
        for b in self.blocks.iter() {
            let m = b.method(vm)?;
            let closure = vm.new_block(m, ctx, f.receiver, home);
            vm.push(closure)?;
        }
        let argc = values.len() + self.blocks.len();
        let r = vm.send_at(self.selector, base, argc);
        let r = crate::interpreter::sent(self.pos, r, vm);
        vm.set_sp(base);
        if !shares_context {
            for i in 0..num_slots {
                f.set_slot(i, object::slots(ctx)[i]);
            }
        }
        r
    }
}

/// Which test an inlined single-branch conditional makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfKind {
    /// `ifTrue:`
    True,
    /// `ifFalse:`
    False,
}

/// Inlined `ifTrue:` / `ifFalse:`.
pub struct IfNode {
    /// The receiver.
    pub cond: Node,
    /// The inlined block body.
    pub body: Node,
    /// Which branch runs the body.
    pub kind: IfKind,
    /// The real send for non-Boolean receivers.
    pub fallback: Fallback,
}

impl IfNode {
    /// Evaluates the conditional.
    #[inline(never)]
    pub fn eval(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        let c = self.cond.eval(vm, f)?;
        let run = match self.kind {
            IfKind::True => c == vm.true_,
            IfKind::False => c == vm.false_,
        };
        if run {
            return self.body.eval(vm, f);
        }
        let skip = match self.kind {
            IfKind::True => c == vm.false_,
            IfKind::False => c == vm.true_,
        };
        if skip {
            Ok(vm.nil)
        } else {
            self.fallback.send(vm, f, c, &[])
        }
    }
}

/// Inlined `ifTrue:ifFalse:` (and `ifFalse:ifTrue:`, compiled with the
/// branches swapped).
pub struct IfElseNode {
    /// The receiver.
    pub cond: Node,
    /// Runs when the receiver is true.
    pub then_branch: Node,
    /// Runs when the receiver is false.
    pub else_branch: Node,
    /// The real send for non-Boolean receivers.
    pub fallback: Fallback,
}

impl IfElseNode {
    /// Evaluates the conditional.
    #[inline(never)]
    pub fn eval(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        let c = self.cond.eval(vm, f)?;
        if c == vm.true_ {
            self.then_branch.eval(vm, f)
        } else if c == vm.false_ {
            self.else_branch.eval(vm, f)
        } else {
            self.fallback.send(vm, f, c, &[])
        }
    }
}

/// Inlined `whileTrue:` / `whileFalse:` with literal receiver and argument
/// blocks (or the unary `whileTrue` / `whileFalse`, with no body).
pub struct LoopNode {
    /// The receiver block's body.
    pub cond: Node,
    /// The argument block's body.
    pub body: Option<Node>,
    /// Loop while the condition is true (`whileTrue:`) or false.
    pub while_true: bool,
    /// Line and column of the `whileTrue:`, for a non-Boolean condition.
    pub pos: (u32, u32),
    /// Back-edge counter and compiled code for on-stack replacement.
    pub osr: crate::tier::TierCell,
}

impl LoopNode {
    /// Runs the loop; answers nil.
    #[inline(never)]
    pub fn eval(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        let (go, stop) = if self.while_true {
            (vm.true_, vm.false_)
        } else {
            (vm.false_, vm.true_)
        };
        loop {
            let c = self.cond.eval(vm, f)?;
            if c == go {
                if let Some(b) = &self.body {
                    b.eval(vm, f)?;
                }
                if self.osr.count_back_edge() {
                    // SAFETY: nodes live in leaked ASTs, never freed.
                    let me: &'static LoopNode = unsafe { &*(self as *const LoopNode) };
                    let hot = crate::tier::HotLoop::While(me);
                    if let Some(r) = crate::tier::osr(vm, f, hot, &me.osr, 0, 0, 0) {
                        return r;
                    }
                }
            } else if c == stop {
                return Ok(vm.nil);
            } else {
                return self.not_boolean_at(vm, c);
            }
        }
    }

    /// The error of a condition that answered `c`, not a Boolean.
    #[cold]
    #[inline(never)]
    pub fn not_boolean_at(&self, vm: &mut Vm, c: Value) -> VmResult {
        let e = not_boolean(vm, c, self.while_true);
        crate::interpreter::failed_at(self.pos, e, vm)
    }
}

/// A loop condition that is not a Boolean: bad input, an `ArgumentError`.
#[cold]
fn not_boolean(vm: &mut Vm, c: Value, while_true: bool) -> Unwind {
    let class = vm.class_name_of(c);
    Unwind::error_as(
        crate::error::ErrorClass::ArgumentError,
        format!(
            "{} condition answered an instance of {class}, not a Boolean",
            if while_true {
                "whileTrue:"
            } else {
                "whileFalse:"
            }
        ),
    )
}

/// Inlined `and:` / `or:` (also `&&` / `||`) with a literal block argument.
pub struct AndOrNode {
    /// The receiver.
    pub left: Node,
    /// The inlined block body.
    pub right: Node,
    /// `and:` when true, `or:` when false.
    pub is_and: bool,
    /// The real send for non-Boolean receivers.
    pub fallback: Fallback,
}

impl AndOrNode {
    /// Evaluates the short-circuit operator.
    #[inline(never)]
    pub fn eval(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        let l = self.left.eval(vm, f)?;
        let (evaluate_right, short) = if self.is_and {
            (vm.true_, vm.false_)
        } else {
            (vm.false_, vm.true_)
        };
        if l == evaluate_right {
            self.right.eval(vm, f)
        } else if l == short {
            Ok(short)
        } else {
            self.fallback.send(vm, f, l, &[])
        }
    }
}

/// Which counting loop a [`ToDoNode`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToDoKind {
    /// `from to: to do:` / `from to: to by: step do:`.
    Up,
    /// `from downTo: to do:`.
    Down,
    /// `n timesRepeat:`.
    Times,
}

/// Inlined counting loops.
pub struct ToDoNode {
    /// The receiver (start value, or the count for `timesRepeat:`).
    pub from: Node,
    /// The limit (None for `timesRepeat:`).
    pub to: Option<Node>,
    /// The step of `to:by:do:`.
    pub step: Option<Node>,
    /// The slot of the block parameter, if the block has one.
    pub counter: Option<SlotIndex>,
    /// The inlined block body.
    pub body: Node,
    /// Which loop.
    pub kind: ToDoKind,
    /// The real send for non-numeric receivers.
    pub fallback: Fallback,
    /// Back-edge counter and compiled code for on-stack replacement.
    pub osr: crate::tier::TierCell,
}

impl ToDoNode {
    /// Counts a back edge of the fast loop, entering compiled code when the
    /// loop is hot: Some(result) when compiled code ran the rest of it.
    #[inline(always)]
    fn back_edge(
        &self,
        vm: &mut Vm,
        f: &Frame,
        i: i64,
        limit: i64,
        step: i64,
    ) -> Option<Result<Option<i128>, Unwind>> {
        if !self.osr.count_back_edge() {
            return None;
        }
        // SAFETY: nodes live in leaked ASTs, never freed.
        let me: &'static ToDoNode = unsafe { &*(self as *const ToDoNode) };
        let r = crate::tier::osr(
            vm,
            f,
            crate::tier::HotLoop::ToDo(me),
            &me.osr,
            i,
            limit,
            step,
        )?;
        Some(r.map(|_| None))
    }

    /// Runs the loop; answers the receiver, like the SOM methods it replaces.
    ///
    /// The fast path counts in small integers. It computes exactly what the
    /// library's `to:by:do:` (`[i <= limit] whileTrue: [... i := i + step]`)
    /// computes, and when the next counter value leaves the small-integer
    /// range it hands the loop over to [`ToDoNode::count_sent`], which goes
    /// on in big integers with real sends, as the library would. A step that
    /// is not positive takes the library's path from the start.
    #[inline(never)]
    pub fn eval(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        let from = self.from.eval(vm, f)?;
        let to = match &self.to {
            Some(n) => n.eval(vm, f)?,
            None => vm.nil,
        };
        let step = match &self.step {
            Some(n) => n.eval(vm, f)?,
            None => Value::small(1),
        };
        self.run(vm, f, from, to, step)
    }

    /// Runs the loop with its operands evaluated (`to` nil for
    /// `timesRepeat:`, `step` 1 without `by:`): the rest of
    /// [`ToDoNode::eval`], and what compiled code calls when its own fast
    /// path does not apply.
    pub fn run(&self, vm: &mut Vm, f: &Frame, from: Value, to: Value, step: Value) -> VmResult {
        if let (Some(start), Some(step_i)) = (from.small_int(), step.small_int()) {
            let limit = match self.kind {
                ToDoKind::Times => Some(start),
                _ => vm.loop_limit(to, self.kind == ToDoKind::Down),
            };
            if let (Some(limit), true) = (limit, step_i > 0) {
                let next = match self.kind {
                    ToDoKind::Up => self.count_up(vm, f, start, limit, step_i)?,
                    ToDoKind::Down => self.count_down(vm, f, start, limit, step_i)?,
                    ToDoKind::Times => self.count_up(vm, f, 1, limit, 1)?,
                };
                if let Some(next) = next {
                    let limit = if self.kind == ToDoKind::Times {
                        from
                    } else {
                        to
                    };
                    self.count_sent(vm, f, next, limit, step)?;
                }
                return Ok(from);
            }
        }
        self.slow(vm, f, from, to, step)
    }

    /// Counts up while the counter stays a small integer; answers the next
    /// counter value if it left the small range before the loop ended.
    #[inline(always)]
    fn count_up(
        &self,
        vm: &mut Vm,
        f: &Frame,
        start: i64,
        limit: i64,
        step: i64,
    ) -> Result<Option<i128>, Unwind> {
        let mut i = start;
        if limit <= SMALL_MAX - step {
            // While `i <= limit`, `i + step` stays small: no check per step.
            while i <= limit {
                if let Some(c) = self.counter {
                    f.set_slot(c.0, Value::small(i));
                }
                self.body.eval(vm, f)?;
                i += step;
                if let Some(r) = self.back_edge(vm, f, i, limit, step) {
                    return r;
                }
            }
            return Ok(None);
        }
        while i <= limit {
            if let Some(c) = self.counter {
                f.set_slot(c.0, Value::small(i));
            }
            self.body.eval(vm, f)?;
            i = match i.checked_add(step).filter(|n| *n <= SMALL_MAX) {
                Some(n) => n,
                None => return Ok(Some(i as i128 + step as i128)),
            };
        }
        Ok(None)
    }

    /// Counts down like [`ToDoNode::count_up`].
    #[inline(always)]
    fn count_down(
        &self,
        vm: &mut Vm,
        f: &Frame,
        start: i64,
        limit: i64,
        step: i64,
    ) -> Result<Option<i128>, Unwind> {
        let mut i = start;
        if limit >= SMALL_MIN + step {
            // While `i >= limit`, `i - step` stays small: no check per step.
            while i >= limit {
                if let Some(c) = self.counter {
                    f.set_slot(c.0, Value::small(i));
                }
                self.body.eval(vm, f)?;
                i -= step;
                if let Some(r) = self.back_edge(vm, f, i, limit, step) {
                    return r;
                }
            }
            return Ok(None);
        }
        while i >= limit {
            if let Some(c) = self.counter {
                f.set_slot(c.0, Value::small(i));
            }
            self.body.eval(vm, f)?;
            i = match i.checked_sub(step).filter(|n| *n >= SMALL_MIN) {
                Some(n) => n,
                None => return Ok(Some(i as i128 - step as i128)),
            };
        }
        Ok(None)
    }

    /// Goes on with a counter outside the small range, sending `<=` and `+`
    /// (`>=` and `-` counting down) as the library's loop does.
    #[cold]
    #[inline(never)]
    fn count_sent(
        &self,
        vm: &mut Vm,
        f: &Frame,
        next: i128,
        limit: Value,
        step: Value,
    ) -> Result<(), Unwind> {
        let down = self.kind == ToDoKind::Down;
        let test = vm.intern(if down { ">=" } else { "<=" });
        let advance = vm.intern(if down { "-" } else { "+" });
        // `i`, `limit` and `step` stay on the native stack, which the
        // collector scans conservatively.
        let mut i = vm.int128(next);
        loop {
            let go = vm.send(i, test, &[limit])?;
            if go == vm.false_ {
                return Ok(());
            }
            if go != vm.true_ {
                return Err(not_boolean(vm, go, true));
            }
            if let Some(c) = self.counter {
                f.set_slot(c.0, i);
            }
            self.body.eval(vm, f)?;
            i = vm.send(i, advance, &[step])?;
        }
    }

    #[cold]
    fn slow(&self, vm: &mut Vm, f: &Frame, from: Value, to: Value, step: Value) -> VmResult {
        // Only a Double receiver counts in Doubles, as Double>>to:do: does.
        // Every other receiver (a big integer counts exactly, in Integers,
        // whatever the limit) gets the real send: `vm.as_f64` would also
        // convert a big integer, and rounding its counter loses the steps.
        let double_from = from.is_ptr() && object::kind_of(from) == object::Kind::Double;
        if let (true, ToDoKind::Up | ToDoKind::Down) = (double_from, self.kind) {
            let start = object::double_of(from);
            if self.step.is_none() {
                if let Some(limit) = vm.as_f64(to) {
                    let mut i = start;
                    loop {
                        let go = if self.kind == ToDoKind::Up {
                            i <= limit
                        } else {
                            i >= limit
                        };
                        if !go {
                            break;
                        }
                        if let Some(c) = self.counter {
                            let d = vm.new_double(i);
                            f.set_slot(c.0, d);
                        }
                        self.body.eval(vm, f)?;
                        i += if self.kind == ToDoKind::Up { 1.0 } else { -1.0 };
                    }
                    return Ok(from);
                }
            }
        }
        let mut values = Vec::with_capacity(2);
        if self.to.is_some() {
            values.push(to);
        }
        if self.step.is_some() {
            values.push(step);
        }
        self.fallback.send(vm, f, from, &values)
    }
}
