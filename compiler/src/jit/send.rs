//! Lowering of sends (the tier's side of `runtime/src/nodes/send.rs`).
//!
//! A send evaluates its receiver and arguments, then:
//! 1. a special selector (`+`, `<`, `at:`...) computes small-integer and
//!    plain-Array cases inline, with overflow and bounds checks;
//! 2. the site's dispatch chain becomes one guard per entry on the receiver's
//!    shape (behind the unit's `valid` word), each leading to its target
//!    inlined: a trivial method (accessor, constant, `^self`, `==`, `class`)
//!    or an AST method's body in a new [`Scope`];
//! 3. everything else (a miss, a generic site, a primitive or DNU target) is
//!    `rt_send`, which runs the site's chains as the interpreter would and
//!    lets them keep learning.
//!
//! Inlining policy: an AST method whose slots stay in its frame (no heap
//! context, no block literals), within [`INLINE_BUDGET`] nodes and
//! [`MAX_INLINE_DEPTH`] levels; a method inlines into itself at most once,
//! so recursion ends in a call.

use cranelift_codegen::ir::StackSlotKind;
use cranelift_codegen::ir::{self, condcodes::IntCC, types::I64, InstBuilder, StackSlotData};

use som_runtime::dispatch::Target;
use som_runtime::nodes::{Node, SendNode, SpecialOp, SuperSendNode};
use som_runtime::nodes::{PerformEntry, PerformKind, Reflective, Resolved};
use som_runtime::object::Shape;
use som_runtime::tier::layout;
use som_runtime::tier::{AstBody, MethodData, MethodKind, Trivial};
use som_runtime::tier::{UnitState, UNSTABLE_AFTER_COMPILATIONS};
use som_runtime::value::Value;

use super::entry::Entry;
use super::special::ArrayOwner;
use super::unit::{Binding, Lowerer, Scope, Slots, INLINE_OVERHEAD, MAX_INLINE_DEPTH};
use super::unit::{POLYMORPHIC_INLINE_BUDGET, POLYMORPHIC_TARGETS};

/// An argument as the lowering holds it.
#[derive(Clone)]
pub(crate) enum Arg {
    /// An ordinary value.
    Word(ir::Value),
    /// A constant the lowering knows (a DNU handler's selector).
    Const(Value),
    /// An Array never allocated: its elements.
    Virtual(Vec<ir::Value>),
    /// `Array with: x` not sent yet: the send and its receiver (None when
    /// it is a global folded to Array, read only by the generic path) and
    /// argument. Its guard decides between the virtual Array (the fast
    /// path) and the real send (the generic path).
    Pending(&'static SendNode, Option<ir::Value>, Box<Arg>),
    /// A block literal of scope `.1` not made a closure yet.
    Closure(&'static Node, usize),
}

impl Lowerer<'_> {
    pub(crate) fn lower_send(&mut self, s: &'static SendNode) -> ir::Value {
        // Asked by the send this one is the argument of, before anything
        // else here is lowered (its receiver may be a send too).
        let defer = self.take_defer_request(s as *const SendNode as usize);
        self.sites.push(s as *const SendNode as usize);
        if let Some(v) = self.value_of_known_block(s) {
            return v;
        }
        let rcvr = self.lower(&s.receiver);
        let mut args = Vec::new();
        let n = s.args.len();
        let here = self.scopes.len() - 1;
        let mut cold_arg = None;
        for (i, a) in s.args.iter().enumerate() {
            if let Some(inner) = deferrable_arg(s.special, s.args.len(), a) {
                let (v, cold) = self.lower_deferring(a, inner);
                cold_arg = cold;
                args.push(Arg::Word(v));
            } else if let Some((node, def)) = self.closure_of(a) {
                args.push(Arg::Closure(node, def));
            } else if matches!(a, Node::Block(_)) && self.block_inlinable(a) {
                args.push(Arg::Closure(a, here));
            } else if let Some(e) = self.virtual_of(a) {
                args.push(Arg::Virtual(e));
            } else if i + 1 == n && self.performs_with_array(s) && self.array_with(a).is_some() {
                let inner = self.array_with(a).expect("checked");
                let r = match self.folded_array_global(inner) {
                    // Its guard checks the unit is valid, so the global
                    // still holds Array: nothing to read (the generic path
                    // reads it, see `realize`).
                    Some(_) => None,
                    None => Some(self.lower(&inner.receiver)),
                };
                let x = match &inner.args[0] {
                    Node::Const(c) => Arg::Const(*c),
                    n => Arg::Word(self.lower(n)),
                };
                args.push(Arg::Pending(inner, r, Box::new(x)));
            } else if let Some(c) = self.const_of(a) {
                // Made where a path uses it: a constant only a cold path
                // passes on stays out of the hot code.
                args.push(Arg::Const(c));
            } else {
                args.push(Arg::Word(self.lower(a)));
            }
        }
        self.send_evaluated_with(s, rcvr, args, true, defer, cold_arg)
    }

    /// Whether the send at `addr` was asked to leave its miss path open;
    /// the question is answered once.
    pub(crate) fn take_defer_request(&mut self, addr: usize) -> bool {
        let defer = self.defer_join == Some(addr);
        if defer {
            self.defer_join = None;
        }
        defer
    }

    /// Lowers argument `a`, the send at `inner`, asking it to leave its
    /// miss path open; answers its value and the path left open, if it
    /// did (the cold block and the value there).
    pub(crate) fn lower_deferring(
        &mut self,
        a: &'static Node,
        inner: usize,
    ) -> (ir::Value, Option<(ir::Block, ir::Value)>) {
        self.defer_join = Some(inner);
        let v = self.lower(a);
        self.defer_join = None;
        let cold = self
            .deferred
            .take()
            .filter(|d| d.0 == inner)
            .map(|d| (d.1, d.2));
        (v, cold)
    }

    /// Fills `open`, the miss path its one argument left open (the block and
    /// the argument's value there), with the send that argument belongs to,
    /// made generically by `generic`, and joins `done`; lowering goes on in
    /// the block it was in. (A deferring send has one argument, see
    /// [`deferrable_arg`].)
    pub(crate) fn fill_deferred(
        &mut self,
        (pending, cold): (ir::Block, ir::Value),
        done: ir::Block,
        generic: impl FnOnce(&mut Self, ir::Value) -> ir::Value,
    ) {
        let here = self.b.current_block();
        self.b.switch_to_block(pending);
        let v = generic(self, cold);
        self.jump_with(done, v);
        if let Some(here) = here {
            self.b.switch_to_block(here);
        }
    }

    /// Leaves the miss path of the send at `addr` (its value `v`) open for
    /// the send it is the argument of, and continues at `done` with the
    /// inlined targets' value.
    #[cold]
    pub(crate) fn defer_miss(&mut self, addr: usize, done: ir::Block, v: ir::Value) -> ir::Value {
        let pending = self.cold_block();
        self.b.ins().jump(pending, &[]);
        self.b.seal_block(pending);
        self.deferred = Some((addr, pending, v));
        self.b.seal_block(done);
        self.enter_value_block(done)
    }

    /// The rest of [`Lowerer::lower_send`] once the receiver and arguments
    /// are evaluated; `doubles` says whether its Double case is emitted
    /// here (it is not when the caller computed it already).
    pub(crate) fn send_evaluated(
        &mut self,
        s: &'static SendNode,
        rcvr: ir::Value,
        args: Vec<Arg>,
        doubles: bool,
    ) -> ir::Value {
        self.send_evaluated_with(s, rcvr, args, doubles, false, None)
    }

    /// [`Lowerer::send_evaluated`], where a guard miss need not rejoin the
    /// fast code at once. With `defer`, the value a miss computes is not
    /// joined with the inlined targets' here: the miss path is left open
    /// ([`Lowerer::deferred`]) for the send this one is the argument of,
    /// which finishes itself generically there (`cold_arg`: that path and
    /// the value it computed) and joins after its own fast cases. So the
    /// fast path's consumer sees the inlined result, with what is known of
    /// it (a SmallInteger needs no tag test), as it would see a handler's
    /// result computed at the meta level, and a miss pays one more generic
    /// send, on the cold path.
    pub(crate) fn send_evaluated_with(
        &mut self,
        s: &'static SendNode,
        rcvr: ir::Value,
        args: Vec<Arg>,
        doubles: bool,
        defer: bool,
        cold_arg: Option<(ir::Block, ir::Value)>,
    ) -> ir::Value {
        let done = self.value_block();
        if let Some(open) = cold_arg {
            self.fill_deferred(open, done, |l, cold| l.generic_send(s, &[rcvr, cold]));
        }
        let generic = self.b.create_block();
        let mut fast = false;
        if let Some(Arg::Pending(inner, r, _)) = args.last().cloned() {
            // The fast path relies on the Array never being made: on a miss
            // the generic path sends `with:` and then this send.
            self.guard_array_with(inner, r, generic);
            fast = true;
        }
        let mut words = Some(vec![rcvr]);
        for a in &args {
            let w = match a {
                Arg::Word(v) => Some(*v),
                // Only inline special cases use these; made here, they are
                // dead when none applies.
                Arg::Const(c) if s.special.is_some() => Some(self.som_const(*c)),
                _ => None,
            };
            words = words.zip(w).map(|(mut ws, w)| {
                ws.push(w);
                ws
            });
        }
        if let (Some(op), Some(words)) = (s.special, &words) {
            fast |= self.special(op, words, done, s.selector, doubles && s.saw_double.get());
        }
        if let (Some(SpecialOp::Value), Some(words)) = (s.special, &words) {
            if self.consts.block_intact {
                self.value_by_direct_call(s.selector, words, s.pos, done, false);
                fast = true;
            }
        }
        let guarded = self.cached_targets(s, rcvr, &args, done, generic);
        fast |= guarded;
        if fast {
            // A miss of the inline cases; when there are none, the call is
            // the send's only path and stays hot.
            self.b.set_cold_block(generic);
        }
        self.b.ins().jump(generic, &[]);
        self.b.seal_block(generic);
        self.b.switch_to_block(generic);
        if let Some(Arg::Pending(inner, r, x)) = args.last() {
            // `Array with: x` and this send, in one call.
            let mut values = vec![rcvr];
            for a in &args[..args.len() - 1] {
                let v = self.realize(a);
                values.push(v);
            }
            let r = match r {
                Some(r) => *r,
                None => self.lower(&inner.receiver),
            };
            values.push(r);
            let x = self.realize(x);
            values.push(x);
            let argv = self.spill_values(&values);
            let vm = self.vm();
            let node = self.addr("node", s as *const SendNode as i64);
            let inner = self.addr("node", *inner as *const SendNode as i64);
            let argc = self.iconst(args.len() as i64);
            let v = self.call_fallible(Entry::SendPending, &[vm, node, inner, argv, argc]);
            self.jump_with(done, v);
            self.b.seal_block(done);
            return self.enter_value_block(done);
        }
        let mut values = vec![rcvr];
        for a in &args {
            let v = self.realize(a);
            values.push(v);
        }
        // Only a receiver the chain's guards did not expect is a guard
        // failure; a special case that does not apply (a `<` on Strings) is
        // an ordinary send. A site that had never run when the unit was
        // compiled counts its runs: once it runs often, the unit is
        // recompiled to inline what its chain learned (not a special send,
        // whose chain stays empty when the interpreter computes it without
        // a lookup: a block's `value`, arithmetic).
        let v = if guarded {
            self.missed_send(s, &values)
        } else {
            if !fast && s.special.is_none() && self.never_run(&s.chain, &s.unstable) {
                self.count_site_ran();
            }
            self.generic_send(s, &values)
        };
        if defer && guarded {
            return self.defer_miss(s as *const SendNode as usize, done, v);
        }
        self.join(done, v)
    }

    /// A super send: its target does not depend on the receiver, so the
    /// method the node resolved is inlined behind the unit's `valid` word
    /// alone (a change to any method of the selector clears it); anything
    /// else, or a send not resolved yet, is `rt_super_send`.
    pub(crate) fn lower_super_send(&mut self, s: &'static SuperSendNode) -> ir::Value {
        let rcvr = self.receiver();
        let mut values = vec![rcvr];
        for a in s.args.iter() {
            let v = self.lower(a);
            values.push(v);
        }
        let done = self.value_block();
        let generic = self.b.create_block();
        let target = match s.cached.get() {
            Some(Target::Method(m)) if m.num_args == s.args.len() => Some(m),
            _ => None,
        };
        let args: Vec<Arg> = values[1..].iter().map(|v| Arg::Word(*v)).collect();
        if let Some(m) = target.filter(|m| self.runtime.tier_is_class_new(m)) {
            // `super new` in a class-side method: when a guard fixed which
            // class `self` is, its instance is allocated inline.
            if let Some(plan) = self.known_receiver_shape().and_then(|sh| self.new_plan(sh)) {
                self.depends_on.push(s.selector);
                self.depends_on.push(m.signature);
                self.guard_valid(generic);
                let obj = self.allocate_instance(plan, generic);
                self.jump_with(done, obj);
                self.b.set_cold_block(generic);
                self.b.seal_block(generic);
                self.b.switch_to_block(generic);
                let argv = self.spill_values(&values);
                let vm = self.vm();
                let node = self.addr("node", s as *const SuperSendNode as i64);
                let argc = self.iconst((values.len() - 1) as i64);
                let v = self.call_fallible(Entry::SuperSend, &[vm, node, argv, argc]);
                self.jump_with(done, v);
                self.b.seal_block(done);
                return self.enter_value_block(done);
            }
        }
        let inline = target.and_then(|m| {
            let plain = matches!(m.trivial, Some(Trivial::Constant(_) | Trivial::ReturnSelf));
            let body = (m.reflective.is_none() && m.trivial.is_none())
                .then(|| self.inlinable_method(m))
                .flatten();
            (plain || body.is_some()).then_some((m, body))
        });
        if let Some((m, body)) = inline {
            self.depends_on.push(s.selector);
            self.depends_on.push(self.dnu_selector);
            self.guard_valid(generic);
            let v = match (m.trivial, body) {
                (Some(Trivial::Constant(c)), _) => self.som_const(c),
                (Some(Trivial::ReturnSelf), _) => rcvr,
                (_, Some(body)) => self.inline_method(s.site.1, m, body, rcvr, &args),
                _ => unreachable!("filtered above"),
            };
            self.jump_with(done, v);
            self.b.set_cold_block(generic);
        } else {
            self.b.ins().jump(generic, &[]);
        }
        self.b.seal_block(generic);
        self.b.switch_to_block(generic);
        let argv = self.spill_values(&values);
        let vm = self.vm();
        let node = self.addr("node", s as *const SuperSendNode as i64);
        let argc = self.iconst((values.len() - 1) as i64);
        let v = self.call_fallible(Entry::SuperSend, &[vm, node, argv, argc]);
        self.join(done, v)
    }

    /// An argument as an ordinary value: a virtual Array is allocated, a
    /// pending `with:` sent.
    pub(crate) fn realize(&mut self, a: &Arg) -> ir::Value {
        match a {
            Arg::Word(v) => *v,
            Arg::Const(c) => self.som_const(*c),
            Arg::Virtual(e) => self.new_array(e),
            Arg::Pending(inner, r, x) => {
                let r = match r {
                    Some(r) => *r,
                    None => self.lower(&inner.receiver),
                };
                let x = self.realize(x);
                self.generic_send(inner, &[r, x])
            }
            Arg::Closure(node, def) => self.make_closure(node, *def),
        }
    }

    /// `value`, `value:`, `value:with:` sent to a block literal (or to an
    /// argument bound to one) whose body can be inlined: the body, inline,
    /// as an activation of the block. None when the send is not one.
    fn value_of_known_block(&mut self, s: &'static SendNode) -> Option<ir::Value> {
        if s.special != Some(SpecialOp::Value) || !self.consts.block_intact {
            return None;
        }
        let here = self.scopes.len() - 1;
        let (node, def) = match &s.receiver {
            n @ Node::Block(_) if self.block_inlinable(n) => (n, here),
            n => self.closure_of(n)?,
        };
        let Node::Block(bl) = node else {
            return None;
        };
        if bl.method.num_args != s.args.len() || !self.block_inlinable(node) {
            return None;
        }
        let mut args = Vec::new();
        for a in s.args.iter() {
            let v = self.lower(a);
            args.push(v);
        }
        // The inline case relies on Block's `value` primitives: once a
        // Block class changes them, the real send (to a real closure).
        self.depends_on.push(s.selector);
        let done = self.value_block();
        let generic = self.cold_block();
        self.guard_valid(generic);
        let body = self
            .block_body_inlinable(node, false)
            .expect("checked above");
        let v = self.inline_block(s.pos, node, bl, body, def, &args);
        self.jump_with(done, v);
        self.b.seal_block(generic);
        self.b.switch_to_block(generic);
        let closure = self.make_closure(node, def);
        let mut values = vec![closure];
        values.extend_from_slice(&args);
        let v = self.generic_send(s, &values);
        self.jump_with(done, v);
        self.b.seal_block(done);
        Some(self.enter_value_block(done))
    }

    /// Whether a block literal's body may be inlined where it is evaluated:
    /// no further block literals in it, no enforced nodes, within budget.
    pub(crate) fn block_inlinable(&self, node: &Node) -> bool {
        self.block_body_inlinable(node, false).is_some()
    }

    /// The body of block literal `node` that runs where it is evaluated (its
    /// enforced twin in enforced code, once compiled), if it may be inlined
    /// there: no further block literals in it, no enforced nodes outside
    /// enforced code, within budget.
    pub(crate) fn block_body_inlinable(
        &self,
        node: &Node,
        enforced: bool,
    ) -> Option<&'static AstBody> {
        let Node::Block(bl) = node else {
            return None;
        };
        let body: &'static AstBody = if enforced {
            bl.method.enforced.get()?
        } else {
            match &bl.method.kind {
                MethodKind::Ast(body) => body,
                MethodKind::Primitive(_) => return None,
            }
        };
        if self.scopes.len() > MAX_INLINE_DEPTH {
            return None;
        }
        let mut size = 0;
        let mut ok = true;
        body.body.for_each_unit_node(&mut |n| {
            size += 1;
            match n {
                Node::Block(_) => ok = false,
                Node::EnforcedSend(_)
                | Node::EnforcedFieldRead(_)
                | Node::EnforcedFieldWrite(_)
                | Node::EnforcedGlobalRead(_)
                    if !enforced =>
                {
                    ok = false
                }
                _ => {}
            }
        });
        (ok && size + INLINE_OVERHEAD <= self.budget).then_some(body)
    }

    /// Inlines the body of block literal `node` (defined in scope `def`) as
    /// an activation of the block, with arguments `args`.
    pub(crate) fn inline_block(
        &mut self,
        pos: (u32, u32),
        node: &'static Node,
        bl: &'static som_runtime::nodes::BlockLiteral,
        body: &'static AstBody,
        def: usize,
        args: &[ir::Value],
    ) -> ir::Value {
        let m = bl.method;
        let mut size = 0;
        body.body.for_each_unit_node(&mut |_| size += 1);
        self.budget = self.budget.saturating_sub(size + INLINE_OVERHEAD);
        self.inlined.push(m);
        self.inlined_bodies.push(body);
        self.enter_activation();
        let vars = self.new_vars(body.num_slots);
        for (i, v) in args.iter().enumerate() {
            self.b.def_var(vars[i], *v);
        }
        let nil = self.nil();
        for var in &vars[args.len()..] {
            self.b.def_var(*var, nil);
        }
        let receiver = self.scopes[def].receiver;
        let bindings = vec![Binding::Plain; body.num_slots];
        self.run_inlined(
            m,
            body,
            receiver,
            vars,
            bindings,
            pos,
            None,
            Some((def, node)),
        )
    }

    /// Whether the site has performed with an argument Array.
    fn performs_with_array(&self, s: &SendNode) -> bool {
        !s.chain.is_generic()
            && s.chain.entries().iter().any(|e| {
                matches!(e.target, Target::Method(m)
                    if m.reflective == Some(Reflective::Perform(PerformKind { with_array: true, in_superclass: false })))
            })
    }

    /// `node` if it is a send of `with:` whose chain knows only
    /// `Array class>>with:`.
    fn array_with(&self, node: &'static Node) -> Option<&'static SendNode> {
        let s = node.as_send()?;
        if s.args.len() != 1 || s.chain.is_generic() {
            return None;
        }
        let e = s.chain.entries();
        match e.as_slice() {
            [one] => match one.target {
                Target::Method(m) if m.trivial == Some(Trivial::ArrayWith) => Some(s),
                _ => None,
            },
            _ => None,
        }
    }

    /// The global cell `inner` (an `Array with:` send) reads its receiver
    /// from, when that global holds the class Array and has kept its value
    /// since compiled code folded it (see `GlobalCell::unstable`).
    fn folded_array_global_cell(
        &self,
        inner: &'static SendNode,
    ) -> Option<&'static som_runtime::nodes::GlobalCell> {
        let Node::GlobalRead(g) = &inner.receiver else {
            return None;
        };
        let cell = g.cell.get()?;
        (cell.value.get() == self.consts.array_class && !cell.unstable.get()).then_some(cell)
    }

    /// The class Array, when `inner`'s receiver is a global folded to it.
    fn folded_array_global(&self, inner: &'static SendNode) -> Option<Value> {
        self.folded_array_global_cell(inner)
            .map(|_| self.consts.array_class)
    }

    /// Branches to `miss` unless `r` is the class Array, still answering
    /// `with:` with the core library's primitive.
    fn guard_array_with(
        &mut self,
        inner: &'static SendNode,
        r: Option<ir::Value>,
        miss: ir::Block,
    ) {
        self.depends_on.push(inner.selector);
        self.guard_valid(miss);
        let Some(r) = r else {
            // The global was folded to Array: the unit's validity says it
            // still is.
            let cell = self
                .folded_array_global_cell(inner)
                .expect("folded when the Arg was made");
            self.folded_globals.push(cell);
            return;
        };
        let array = self.som_const(self.consts.array_class);
        let is = self.b.ins().icmp(IntCC::Equal, r, array);
        let ok = self.b.create_block();
        self.b.ins().brif(is, ok, &[], miss, &[]);
        self.b.seal_block(ok);
        self.b.switch_to_block(ok);
    }

    /// `Class>>new` sent to the class whose class object has `shape` (the
    /// guard just passed): its instance bumped inline from the heap's
    /// region of its size, fields nil, owned by the standard domain while
    /// the current domain allocates there. Otherwise, and when a collection
    /// is due or the region is full, the primitive, called directly (a cold
    /// path, not a guard failure).
    fn inline_new(
        &mut self,
        s: &'static SendNode,
        m: &'static MethodData,
        shape: *const Shape,
        rcvr: ir::Value,
        args: &[Arg],
    ) -> ir::Value {
        match self.try_inline_new(s.selector, shape, |me| me.invoke(s, m, rcvr, args)) {
            Some(v) => v,
            None => self.invoke(s, m, rcvr, args),
        }
    }

    /// [`Lowerer::inline_new`] with the primitive's call made by `slow`
    /// (in a cold block, joining the fast path); None, emitting nothing,
    /// for a class whose instances are not allocated inline. Shared with
    /// enforced sends, whose call is `rt_enforced_primitive`.
    pub(crate) fn try_inline_new(
        &mut self,
        selector: som_runtime::symbols::SymbolId,
        shape: *const Shape,
        slow: impl FnOnce(&mut Self) -> ir::Value,
    ) -> Option<ir::Value> {
        let plan = self.new_plan(shape)?;
        // A redefinition of the class (another field count) invalidates
        // code that depends on `new`.
        self.depends_on.push(selector);
        let merge = self.value_block();
        let cold = self.cold_block();
        let obj = self.allocate_instance(plan, cold);
        self.jump_with(merge, obj);
        self.b.seal_block(cold);
        self.b.switch_to_block(cold);
        let v = slow(self);
        Some(self.join(merge, v))
    }

    /// `Array new: n` with a constant `n` up to [`INLINE_NEW_MAX_FIELDS`]
    /// sent to Array itself (the guard's `shape` is its class object's): the
    /// Array bumped inline, elements nil, owned by the standard domain while
    /// the current domain allocates there; otherwise the primitive.
    ///
    /// [`INLINE_NEW_MAX_FIELDS`]: super::unit::INLINE_NEW_MAX_FIELDS
    fn inline_array_new(
        &mut self,
        s: &'static SendNode,
        m: &'static MethodData,
        shape: *const Shape,
        rcvr: ir::Value,
        args: &[Arg],
    ) -> ir::Value {
        let n = self.const_of(&s.args[0]);
        match self.try_inline_array_new(shape, n, |me| me.invoke(s, m, rcvr, args)) {
            Some(v) => v,
            None => self.invoke(s, m, rcvr, args),
        }
    }

    /// [`Lowerer::inline_array_new`] for a length `n` known when compiling,
    /// with the primitive's call made by `slow`; None, emitting nothing,
    /// where it does not apply.
    pub(crate) fn try_inline_array_new(
        &mut self,
        shape: *const Shape,
        n: Option<Value>,
        slow: impl FnOnce(&mut Self) -> ir::Value,
    ) -> Option<ir::Value> {
        let n = n
            .filter(|v| v.is_small())
            .map(|v| v.as_small())
            .filter(|n| (0..=super::unit::INLINE_NEW_MAX_FIELDS as i64).contains(n))?;
        if self.runtime.tier_class_with_shape(shape) != Some(self.consts.array_class) {
            return None;
        }
        let n = n as usize;
        let kind = som_runtime::object::Kind::Array;
        let size = som_runtime::object::object_size(kind, n);
        let bump = self
            .object_bumps
            .iter()
            .find(|(sz, _)| *sz == size)
            .map(|(_, b)| *b)?;
        let meta = som_runtime::object::Header::meta_word(kind, n);
        let plan = (self.consts.array_shape, n, meta, bump);
        let merge = self.value_block();
        let cold = self.cold_block();
        let arr = self.allocate_instance(plan, cold);
        self.jump_with(merge, arr);
        self.b.seal_block(cold);
        self.b.switch_to_block(cold);
        let v = slow(self);
        Some(self.join(merge, v))
    }

    /// An instance allocated inline by `plan` (see [`Lowerer::new_plan`]),
    /// fields nil, owned by the standard domain while the current domain
    /// allocates there; otherwise, and when a collection is due or the
    /// region is full, to `slow`.
    fn allocate_instance(
        &mut self,
        (ishape, n, meta, bump): (*const Shape, usize, u64, som_runtime::tier::BumpRefs),
        slow: ir::Block,
    ) -> ir::Value {
        let size = som_runtime::object::object_size(som_runtime::object::Kind::Object, n);
        let alloc_at = self.addr("vm", self.alloc_domain);
        let alloc = self.load(alloc_at, 0);
        let standard = self.b.create_block();
        self.b.ins().brif(alloc, slow, &[], standard, &[]);
        self.b.seal_block(standard);
        self.b.switch_to_block(standard);
        let obj = self.bump_allocate(bump, size as i64, ishape, meta, slow);
        let nil = self.nil();
        for i in 0..n {
            self.store(nil, obj, layout::BODY + (i * 8) as i32);
        }
        obj
    }

    /// How `new` sent to the class whose class object has `shape` allocates
    /// inline: (instance shape, fields, meta word, bump region).
    #[allow(clippy::type_complexity, reason = "one plan, used once")]
    fn new_plan(
        &self,
        shape: *const Shape,
    ) -> Option<(*const Shape, usize, u64, som_runtime::tier::BumpRefs)> {
        let class = self.runtime.tier_class_with_shape(shape)?;
        let (ishape, n, meta) = self.runtime.tier_instance_layout(class)?;
        if n > super::unit::INLINE_NEW_MAX_FIELDS {
            return None;
        }
        let size = som_runtime::object::object_size(som_runtime::object::Kind::Object, n);
        let bump = self
            .object_bumps
            .iter()
            .find(|(sz, _)| *sz == size)
            .map(|(_, b)| *b)?;
        Some((ishape, n, meta, bump))
    }

    /// `String>>length` (or, with `char_at`, `charAt:`) inline on a String
    /// or Symbol: the character count, or the one-character String of an
    /// ASCII text's byte from the VM's table. What the checks reject (a
    /// text with other characters, an index out of range, a character not
    /// made yet) is the primitive's, called directly.
    fn text_access(
        &mut self,
        s: &'static SendNode,
        m: &'static MethodData,
        char_at: bool,
        rcvr: ir::Value,
        args: &[Arg],
    ) -> ir::Value {
        self.text_access_or(char_at, rcvr, args, |me| me.invoke(s, m, rcvr, args))
    }

    /// [`Lowerer::text_access`] with `fallback` lowering the primitive's
    /// call where the checks reject (in the slow block).
    pub(crate) fn text_access_or(
        &mut self,
        char_at: bool,
        rcvr: ir::Value,
        args: &[Arg],
        fallback: impl FnOnce(&mut Self) -> ir::Value,
    ) -> ir::Value {
        let merge = self.value_block();
        let slow = self.cold_block();
        let kind = self.kind_of_ptr_or(rcvr, slow);
        let is_text = self.is_text_kind(kind);
        let text = self.b.create_block();
        self.b.ins().brif(is_text, text, &[], slow, &[]);
        self.b.seal_block(text);
        self.b.switch_to_block(text);
        let count = self.b.ins().uload32(super::unit::mem(), rcvr, layout::BODY);
        if !char_at {
            let t = self.b.ins().ishl_imm_s(count, 1);
            let v = self.b.ins().bor_imm_s(t, 1);
            self.jump_with(merge, v);
        } else {
            let index = self.realize(&args[0]);
            let small = self.is_small(index);
            let indexed = self.b.create_block();
            self.b.ins().brif(small, indexed, &[], slow, &[]);
            self.b.seal_block(indexed);
            self.b.switch_to_block(indexed);
            let meta = self.load(rcvr, layout::HEADER_META);
            let bytes = self.b.ins().ushr_imm_s(meta, layout::META_LEN_SHIFT);
            let ascii = self.b.ins().icmp(IntCC::Equal, bytes, count);
            let i = self.b.ins().sshr_imm_s(index, 1);
            let i0 = self.b.ins().iadd_imm_s(i, -1);
            // Unsigned: an index below 1 wraps to a huge offset.
            let inside = self.b.ins().icmp(IntCC::UnsignedLessThan, i0, count);
            let ok = self.b.ins().band(ascii, inside);
            let fetch = self.b.create_block();
            self.b.ins().brif(ok, fetch, &[], slow, &[]);
            self.b.seal_block(fetch);
            self.b.switch_to_block(fetch);
            let at = self.b.ins().iadd(rcvr, i0);
            let byte = self
                .b
                .ins()
                .uload8(I64, super::unit::mem(), at, layout::TEXT_BYTES);
            let off = self.b.ins().ishl_imm_s(byte, 3);
            let table = self.addr("vm", self.runtime.tier_char_strings() as i64);
            let slot = self.b.ins().iadd(table, off);
            let v = self.load(slot, 0);
            let made = self.b.create_block();
            self.b.ins().brif(v, made, &[], slow, &[]);
            self.b.seal_block(made);
            self.b.switch_to_block(made);
            self.jump_with(merge, v);
        }
        self.b.seal_block(slow);
        self.b.switch_to_block(slow);
        let v = fallback(self);
        self.join(merge, v)
    }

    /// `performEnforced: sel withArguments: args inSuperclass: cls` with a
    /// constant selector and class and arguments the lowering holds (how a
    /// domain's execution handler proceeds): the method the lookup from
    /// `cls` finds, its enforced twin inlined and run enforced (as the
    /// primitive runs it), the enforcement flag restored after, also when
    /// an unwind leaves it. None when the operation cannot be folded (the
    /// caller then calls the primitive).
    fn perform_enforced(
        &mut self,
        s: &'static SendNode,
        rcvr: ir::Value,
        args: &[Arg],
    ) -> Option<ir::Value> {
        let (sel, cls) = (self.const_of(&s.args[0])?, self.const_of(&s.args[2])?);
        if !self.syms_is_symbol(sel) || !cls.is_ptr() {
            return None;
        }
        let selector = som_runtime::symbols::SymbolId(som_runtime::object::symbol_id_raw(sel));
        let elems: Vec<Arg> = match args.get(1)? {
            Arg::Virtual(e) => e.iter().map(|v| self.element_arg(*v)).collect(),
            _ => return None,
        };
        let target = self.runtime.tier_lookup(cls, selector)?;
        if target.num_args != elems.len() || target.unenforced || target.reflective.is_some() {
            return None;
        }
        let twin = target.enforced.get()?;
        let body = self.inlinable_body(target, twin, true)?;
        self.depends_on.push(selector);
        // The twin runs enforced (the flag is the lowering's, see
        // `Lowerer::flag`).
        let saved = std::mem::replace(&mut self.flag, true);
        let v = self.inline_method(s.pos, target, body, rcvr, &elems);
        self.flag = saved;
        Some(v)
    }

    /// `prim invokeOn: obj with: args` with a constant method or primitive
    /// `prim` and arguments the lowering holds (how a domain's primitive
    /// handler proceeds): the method itself, called without the reflective
    /// step (an Array access inline); a plain send runs in unenforced
    /// execution only, where the method is not run enforced. None when the
    /// operation cannot be folded.
    fn invoke_on_with(
        &mut self,
        s: &'static SendNode,
        args: &[Arg],
        done: ir::Block,
    ) -> Option<ir::Value> {
        let p = self.const_of(&s.receiver)?;
        let is_method = p.is_ptr() && {
            let k = som_runtime::object::kind_of(p);
            k == som_runtime::object::Kind::Method
        };
        if !is_method {
            return None;
        }
        let pm = som_runtime::object::method_data_of(p);
        let elems: Vec<ir::Value> = match args.get(1)? {
            Arg::Virtual(e) => e.clone(),
            _ => return None,
        };
        if elems.len() != pm.num_args || pm.reflective.is_some() {
            return None;
        }
        let obj = self.realize(&args[0]);
        // A plain send runs only in unenforced execution (see
        // `tier::run_body`): the method is called, not run enforced.
        let mut values = vec![obj];
        values.extend_from_slice(&elems);
        if let Some(put) = self.runtime.tier_array_access(pm) {
            // The primitive's own checks, inline; what they reject is the
            // primitive's to report. A guard that fixed the object's shape
            // to one of Array's (its owner's check) made it an Array.
            let value = put.then(|| values[2]);
            let array = match s.args.first() {
                Some(Node::LocalRead(i)) => self.known_slot_shape(i.0).is_some_and(|sh| {
                    // SAFETY: shapes are interned and never freed.
                    unsafe { (*sh).class == (*self.consts.array_shape).class }
                }),
                _ => false,
            };
            let owner = if array {
                ArrayOwner::AnyKnownArray
            } else {
                ArrayOwner::Any
            };
            self.array_access_of(&values[..2], value, done, owner);
        }
        let argv = self.spill_values(&values);
        let vm = self.vm();
        let node = self.addr("node", s as *const SendNode as i64);
        let method = self.addr("method", pm as *const MethodData as i64);
        let argc = self.iconst(elems.len() as i64);
        Some(self.call_fallible(Entry::Invoke, &[vm, node, method, argv, argc]))
    }

    /// An element of a virtual Array passed on as an argument: a constant
    /// when the lowering made it one (so the method it reaches folds it
    /// like a literal argument), else the word.
    pub(crate) fn element_arg(&self, v: ir::Value) -> Arg {
        let dfg = &self.b.func.dfg;
        if let Some(inst) = dfg.value_def(v).inst() {
            if let ir::InstructionData::UnaryImm {
                opcode: ir::Opcode::Iconst,
                imm,
            } = dfg.insts[inst]
            {
                return Arg::Const(Value::from_bits(imm.bits() as u64));
            }
        }
        Arg::Word(v)
    }

    /// Whether `v` is a Symbol.
    fn syms_is_symbol(&self, v: Value) -> bool {
        v.is_ptr() && som_runtime::object::kind_of(v) == som_runtime::object::Kind::Symbol
    }

    /// A call of target `m` of site `s` (chosen by the guard just passed):
    /// `rt_invoke`, the send without its lookup.
    fn invoke(
        &mut self,
        s: &'static SendNode,
        m: &'static MethodData,
        rcvr: ir::Value,
        args: &[Arg],
    ) -> ir::Value {
        let mut values = vec![rcvr];
        for a in args {
            let v = self.realize(a);
            values.push(v);
        }
        let block_value = s.special == Some(SpecialOp::Value)
            && self.consts.block_intact
            && matches!(m.kind, MethodKind::Primitive(_));
        let body = self.direct_body(m);
        if !block_value && body.is_none() {
            return self.invoke_generic(s, m, &values);
        }
        let generic = self.cold_block();
        let merge = match body {
            Some(body) if !block_value => self.direct_call(m, body, &values, s.pos, generic),
            // The core library's block evaluation: the closure's own body.
            _ => self.direct_block_call(&values, s.pos, generic),
        };
        self.b.seal_block(generic);
        self.b.switch_to_block(generic);
        let v = self.invoke_generic(s, m, &values);
        self.join(merge, v)
    }

    /// `rt_invoke` of target `m` of site `s` with `values` (receiver, then
    /// arguments): the runtime's activation, compiling the callee once hot.
    fn invoke_generic(
        &mut self,
        s: &'static SendNode,
        m: &'static MethodData,
        values: &[ir::Value],
    ) -> ir::Value {
        let argv = self.spill_values(values);
        let vm = self.vm();
        let node = self.addr("node", s as *const SendNode as i64);
        let method = self.addr("method", m as *const MethodData as i64);
        let argc = self.iconst((values.len() - 1) as i64);
        self.call_fallible(Entry::Invoke, &[vm, node, method, argv, argc])
    }

    /// `rt_send_miss` (a guard failed) with the evaluated receiver and
    /// arguments.
    fn missed_send(&mut self, s: &'static SendNode, values: &[ir::Value]) -> ir::Value {
        let argv = self.spill_values(values);
        let vm = self.vm();
        let node = self.addr("node", s as *const SendNode as i64);
        let argc = self.iconst((values.len() - 1) as i64);
        let unit = self.addr("unit", self.unit as *const UnitState as i64);
        self.call_fallible(Entry::SendMiss, &[vm, node, argv, argc, unit])
    }

    /// Stores `values` in a stack slot; answers its address.
    pub(crate) fn spill_values(&mut self, values: &[ir::Value]) -> ir::Value {
        let slot = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (values.len() * 8) as u32,
            3,
        ));
        for (i, v) in values.iter().enumerate() {
            self.b.ins().stack_store(I64, *v, slot, (i * 8) as i32);
        }
        self.b.ins().stack_addr(I64, slot, 0)
    }

    /// `rt_send` with the evaluated receiver and arguments.
    fn generic_send(&mut self, s: &'static SendNode, values: &[ir::Value]) -> ir::Value {
        let argv = self.spill_values(values);
        let vm = self.vm();
        let node = self.addr("node", s as *const SendNode as i64);
        let argc = self.iconst((values.len() - 1) as i64);
        self.call_fallible(Entry::Send, &[vm, node, argv, argc])
    }

    /// Whether a site's chain had never run when the unit is compiled (and
    /// the site has not been found unstable: its receivers kept changing).
    pub(crate) fn never_run(
        &self,
        chain: &som_runtime::dispatch::DispatchChain,
        unstable: &std::cell::Cell<bool>,
    ) -> bool {
        !chain.is_generic()
            && chain.entries().is_empty()
            && !(unstable.get() && self.compilations > UNSTABLE_AFTER_COMPILATIONS)
    }

    /// The shape of `v`: read from its header, or for a small integer from
    /// a header that holds Integer's shape (a select, not a branch: a guard
    /// is then one block).
    pub(crate) fn shape_of(&mut self, v: ir::Value) -> ir::Value {
        let tag = self.is_small(v);
        let int_header = self.addr("header", self.consts.int_header as i64);
        let at = self.b.ins().select(tag, int_header, v);
        self.load(at, layout::HEADER_SHAPE)
    }

    /// One guard per chain entry, each to its inlined target; falls through
    /// (in the current block) when none matches. Answers whether it emitted
    /// any.
    fn cached_targets(
        &mut self,
        s: &'static SendNode,
        rcvr: ir::Value,
        args: &[Arg],
        done: ir::Block,
        generic: ir::Block,
    ) -> bool {
        if s.chain.is_generic() {
            return false;
        }
        if s.unstable.get() && self.compilations > UNSTABLE_AFTER_COMPILATIONS {
            // Its receivers kept changing: a call, not guards that fail.
            return false;
        }
        let entries: Vec<_> = s
            .chain
            .entries()
            .into_iter()
            .filter(|e| self.inlinable_target(s, e.target, e.shape, args))
            .collect();
        if entries.is_empty() {
            return false;
        }
        let targets: std::collections::HashSet<*const MethodData> = entries
            .iter()
            .filter_map(|e| match e.target {
                Target::Method(m) => Some(m as *const MethodData),
                _ => None,
            })
            .collect();
        let saved = self.site_budget;
        if targets.len() >= POLYMORPHIC_TARGETS {
            self.site_budget = Some(POLYMORPHIC_INLINE_BUDGET);
        }
        let r = self.cached_targets_of(s, rcvr, args, entries, done, generic);
        self.site_budget = saved;
        r
    }

    /// [`Lowerer::cached_targets`] for the site's `entries` that can be
    /// lowered here.
    fn cached_targets_of(
        &mut self,
        s: &'static SendNode,
        rcvr: ir::Value,
        args: &[Arg],
        entries: Vec<som_runtime::dispatch::CacheEntry>,
        done: ir::Block,
        generic: ir::Block,
    ) -> bool {
        let known = match &s.receiver {
            Node::SelfRef => self.known_receiver_shape(),
            Node::LocalRead(i) => self.known_slot_shape(i.0),
            _ => None,
        }
        // A constant (a folded global, a literal, an argument bound to
        // one) whose shape is fixed.
        .or_else(|| self.fixed_const_shape(rcvr));
        {
            if let Some(known) = known {
                // A guard of this activation fixed `self`'s shape: its entry
                // needs no guard of its own.
                let Some(e) = entries.iter().find(|e| std::ptr::eq(e.shape, known)) else {
                    return false;
                };
                self.depends_on.push(s.selector);
                self.depends_on.push(self.dnu_selector);
                self.guard_valid(generic);
                self.emit_target(s, s.selector, e.target, e.shape, rcvr, args, done, generic);
                let after = self.b.create_block();
                self.b.switch_to_block(after);
                self.b.seal_block(after);
                return true;
            }
        }
        self.depends_on.push(s.selector);
        self.depends_on.push(self.dnu_selector);
        self.guard_valid(generic);
        let int_entry = entries
            .iter()
            .position(|e| std::ptr::eq(e.shape, self.consts.int_shape));
        let (shape, entries) = match int_entry {
            Some(i) => {
                // A small integer is told by its tag alone: its target is
                // one branch away, the others' shapes are loaded.
                let e = entries[i];
                self.embedded.note(e.shape as u64, "shape");
                let tag = self.is_small(rcvr);
                self.target_if(tag, s, e, rcvr, args, done, generic);
                let rest: Vec<_> = entries
                    .iter()
                    .copied()
                    .filter(|o| !std::ptr::eq(o.shape, e.shape))
                    .collect();
                if rest.is_empty() {
                    return true;
                }
                let shape = self.load(rcvr, layout::HEADER_SHAPE);
                (shape, rest)
            }
            None => (self.shape_of(rcvr), entries),
        };
        // Entries whose target compiles to code that does not depend on
        // the receiver's shape (a call, `==`, a constant) share that code:
        // their shapes are tested together, so a site polymorphic over
        // subclasses that inherit the method compiles it once, not once per
        // subclass.
        let called: Vec<Option<*const MethodData>> = entries
            .iter()
            .map(|e| {
                self.shape_free_target(e.target)
                    .map(|m| m as *const MethodData)
            })
            .collect();
        for (k, e) in entries.iter().enumerate() {
            let group: Vec<*const Shape> = match called[k] {
                // Emitted with the first entry that shares it.
                Some(m) if called[..k].contains(&Some(m)) => continue,
                Some(m) => entries
                    .iter()
                    .zip(&called)
                    .skip(k)
                    .filter(|(_, c)| **c == Some(m))
                    .map(|(o, _)| o.shape)
                    .collect(),
                None => vec![e.shape],
            };
            let mut is = None;
            for sh in group {
                self.embedded.note(sh as u64, "shape");
                let one = self.b.ins().icmp_imm_s(IntCC::Equal, shape, sh as i64);
                is = Some(match is {
                    None => one,
                    Some(other) => self.b.ins().bor(other, one),
                });
            }
            let is = is.expect("an entry's own shape");
            self.target_if(is, s, *e, rcvr, args, done, generic);
        }
        true
    }

    /// Emits entry `e`'s target where `cond` is non-zero, and goes on where
    /// it is zero.
    #[allow(clippy::too_many_arguments, reason = "the send's state, passed on")]
    fn target_if(
        &mut self,
        cond: ir::Value,
        s: &'static SendNode,
        e: som_runtime::dispatch::CacheEntry,
        rcvr: ir::Value,
        args: &[Arg],
        done: ir::Block,
        generic: ir::Block,
    ) {
        let hit = self.b.create_block();
        let next = self.b.create_block();
        self.b.ins().brif(cond, hit, &[], next, &[]);
        self.b.seal_block(hit);
        self.b.seal_block(next);
        self.b.switch_to_block(hit);
        self.emit_target(s, s.selector, e.target, e.shape, rcvr, args, done, generic);
        self.b.switch_to_block(next);
    }

    /// The method of a chain entry's target when what
    /// [`Lowerer::emit_target`] makes of it does not depend on the
    /// receiver's shape: a call (`invoke`; not inlined nor lowered
    /// specially), or a trivial method that answers a constant, the
    /// receiver, or compares identities or texts.
    fn shape_free_target(&self, t: Target) -> Option<&'static MethodData> {
        let Target::Method(m) = t else {
            return None;
        };
        let special = m.reflective.is_some()
            || self.is_array_length(m)
            || self.runtime.tier_is_class_new(m)
            || self.runtime.tier_is_array_new(m)
            || self.runtime.tier_text_access(m).is_some()
            || self.runtime.tier_is_invoke_on_with(m)
            || self.runtime.tier_is_perform_enforced(m);
        if special {
            return None;
        }
        match m.trivial {
            Some(
                Trivial::Constant(_)
                | Trivial::ReturnSelf
                | Trivial::Identity
                | Trivial::TextEquals,
            ) => Some(m),
            None | Some(Trivial::ArrayWith | Trivial::Forward { .. }) => {
                self.inlinable_method(m).is_none().then_some(m)
            }
            Some(Trivial::Getter(_) | Trivial::Setter(_) | Trivial::ClassOf) => None,
        }
    }

    /// `String>>=` (or Symbol's) inline: identical texts are equal, two
    /// Symbols that are not identical differ, texts of different byte
    /// lengths differ, one-byte texts compare their byte; anything else is
    /// `fallback`'s (the primitive, through the send's generic path).
    pub(crate) fn text_equals(
        &mut self,
        rcvr: ir::Value,
        arg: ir::Value,
        fallback: impl FnOnce(&mut Self, &[ir::Value]) -> ir::Value,
    ) -> ir::Value {
        // Identical texts (always so for equal Symbols) are equal;
        // comparing characters is the primitive's job.
        // Texts that differ are the normal case here, not a guard
        // failure: the primitive compares them.
        if let (Some(x), Some(y)) = (self.const_value(rcvr), self.const_value(arg)) {
            if x == y {
                // One constant twice (`#once = #once` once inlined).
                return self.som_const(self.consts.true_);
            }
        }
        let same = self.b.create_block();
        let differ = self.b.create_block();
        let merge = self.value_block();
        let same_c = self.b.ins().icmp(IntCC::Equal, rcvr, arg);
        self.b.ins().brif(same_c, same, &[], differ, &[]);
        self.b.seal_block(same);
        self.b.seal_block(differ);
        self.b.switch_to_block(same);
        let t = self.som_const(self.consts.true_);
        self.jump_with(merge, t);
        self.b.switch_to_block(differ);
        // Two Symbols that are not identical differ (Symbols are
        // interned); other texts are compared by the primitive.
        let f = self.som_const(self.consts.false_);
        let compare = self.cold_block();
        let both = self.b.create_block();
        let rk = self.kind_of_ptr_or(rcvr, compare);
        let ak = self.kind_of_ptr_or(arg, compare);
        let rs = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, rk, layout::KIND_SYMBOL);
        let as_ = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, ak, layout::KIND_SYMBOL);
        let syms = self.b.ins().band(rs, as_);
        let texts = self.b.create_block();
        self.b.ins().brif(syms, both, &[], texts, &[]);
        self.b.seal_block(both);
        self.b.seal_block(texts);
        self.b.switch_to_block(both);
        self.jump_with(merge, f);
        // Texts of different byte lengths differ; one-byte texts
        // (what `charAt:` answers for ASCII) compare their byte.
        self.b.switch_to_block(texts);
        // The Symbol tests are those above.
        let a_string = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, ak, layout::KIND_STRING);
        let a_text = self.b.ins().bor(a_string, as_);
        let r_string = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, rk, layout::KIND_STRING);
        let r_text = self.b.ins().bor(r_string, rs);
        let both_text = self.b.ins().band(r_text, a_text);
        let lens = self.b.create_block();
        self.b.ins().brif(both_text, lens, &[], compare, &[]);
        self.b.seal_block(lens);
        self.b.switch_to_block(lens);
        let rmeta = self.load(rcvr, layout::HEADER_META);
        let ameta = self.load(arg, layout::HEADER_META);
        let rlen = self.b.ins().ushr_imm_s(rmeta, layout::META_LEN_SHIFT);
        let alen = self.b.ins().ushr_imm_s(ameta, layout::META_LEN_SHIFT);
        let same_len = self.b.ins().icmp(IntCC::Equal, rlen, alen);
        let one = self.b.create_block();
        let len_differs = self.b.create_block();
        self.b.ins().brif(same_len, one, &[], len_differs, &[]);
        self.b.seal_block(one);
        self.b.seal_block(len_differs);
        self.b.switch_to_block(len_differs);
        self.jump_with(merge, f);
        self.b.switch_to_block(one);
        let is_one = self.b.ins().icmp_imm_s(IntCC::Equal, rlen, 1);
        let bytes = self.b.create_block();
        self.b.ins().brif(is_one, bytes, &[], compare, &[]);
        self.b.seal_block(bytes);
        self.b.switch_to_block(bytes);
        let rb = self
            .b
            .ins()
            .uload8(I64, super::unit::mem(), rcvr, layout::TEXT_BYTES);
        let ab = self
            .b
            .ins()
            .uload8(I64, super::unit::mem(), arg, layout::TEXT_BYTES);
        let eq = self.b.ins().icmp(IntCC::Equal, rb, ab);
        let v = self.boolean(eq);
        self.jump_with(merge, v);
        self.b.seal_block(compare);
        self.b.switch_to_block(compare);
        let v = fallback(self, &[rcvr, arg]);
        self.join(merge, v)
    }

    /// Whether target `t` of site `s` is inlined for these arguments.
    fn inlinable_target(&self, s: &SendNode, t: Target, shape: *const Shape, args: &[Arg]) -> bool {
        let all_words = args
            .iter()
            .all(|a| matches!(a, Arg::Word(_) | Arg::Const(_)));
        match t {
            Target::Method(m) => {
                if m.num_args != args.len() {
                    return false;
                }
                match m.reflective {
                    Some(Reflective::Perform(k)) => self.perform_plan(s, k, args).is_some(),
                    Some(k) => all_words && self.reflect_plan(s, k, shape).is_some(),
                    None => match m.trivial {
                        Some(
                            Trivial::Constant(_)
                            | Trivial::ReturnSelf
                            | Trivial::Getter(_)
                            | Trivial::Setter(_)
                            | Trivial::Identity
                            | Trivial::TextEquals
                            | Trivial::ClassOf,
                        ) => all_words,
                        // Inlined, or else invoked without a lookup.
                        _ => true,
                    },
                }
            }
            Target::Dnu(h) => h.num_args == 2 && self.inlinable_method(h).is_some(),
            Target::Empty => false,
        }
    }

    /// For a `perform:` site: the performed entry and its arguments, when
    /// the selector is a constant the site's perform chain knows and the
    /// arguments are known (on the stack, or a virtual Array).
    fn perform_plan(
        &self,
        s: &SendNode,
        k: PerformKind,
        args: &[Arg],
    ) -> Option<(&'static PerformEntry, Vec<Arg>)> {
        if k.in_superclass || s.perform.is_generic() {
            return None;
        }
        let sel = self.const_of(&s.args[0])?;
        let entry = s
            .perform
            .entries()
            .into_iter()
            .find(|e| e.selector_value == sel && e.lookup_class == Value::ZERO)?;
        let performed: Vec<Arg> = if k.with_array {
            match args.get(1)? {
                Arg::Virtual(e) => e.iter().map(|v| self.element_arg(*v)).collect(),
                Arg::Pending(_, _, x) => vec![(**x).clone()],
                _ => return None,
            }
        } else {
            args[1..].to_vec()
        };
        (performed.len() == entry.arity).then_some((entry, performed))
    }

    /// Whether `m` is the core library's `Array>>length` primitive.
    pub(crate) fn is_array_length(&self, m: &MethodData) -> bool {
        m.is_primitive()
            && m.num_args == 0
            && m.holder.get() == self.consts.array_class
            && self.syms.text(m.signature) == "length"
    }

    /// `length` of an Array (an instance of an Array class without
    /// indexable storage takes the primitive's path).
    pub(crate) fn array_length(&mut self, rcvr: ir::Value, generic: ir::Block) -> ir::Value {
        let not = self.b.create_block();
        let kind = self.kind_of_ptr_or(rcvr, not);
        let is = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, kind, layout::KIND_ARRAY);
        let fast = self.b.create_block();
        self.b.ins().brif(is, fast, &[], not, &[]);
        self.b.seal_block(not);
        self.b.switch_to_block(not);
        self.b.ins().jump(generic, &[]);
        self.b.seal_block(fast);
        self.b.switch_to_block(fast);
        let meta = self.load(rcvr, layout::HEADER_META);
        let len = self.b.ins().ushr_imm_s(meta, layout::META_LEN_SHIFT);
        let tagged = self.b.ins().ishl_imm_s(len, 1);
        self.b.ins().bor_imm_s(tagged, 1)
    }

    /// After compiled code wrote `v` over `old` in a global's cell: when
    /// other code folded the value and it changed, the VM is told (a cold
    /// call), as the runtime's own writes do (`Vm::write_global`).
    fn global_written(
        &mut self,
        cell: &'static som_runtime::nodes::GlobalCell,
        old: ir::Value,
        v: ir::Value,
    ) {
        let base = self.addr("cell", std::ptr::from_ref(cell) as i64);
        let folded = self
            .b
            .ins()
            .uload8(I64, super::unit::mem(), base, layout::GLOBAL_FOLDED);
        let folded = self.b.ins().icmp_imm_s(IntCC::NotEqual, folded, 0);
        let changed = self.b.ins().icmp(IntCC::NotEqual, old, v);
        let both = self.b.ins().band(folded, changed);
        let tell = self.cold_block();
        let done = self.b.create_block();
        self.b.ins().brif(both, tell, &[], done, &[]);
        self.b.seal_block(tell);
        self.b.switch_to_block(tell);
        let vm = self.vm();
        self.call(Entry::GlobalWritten, &[vm, base]);
        self.b.ins().jump(done, &[]);
        self.b.seal_block(done);
        self.b.switch_to_block(done);
    }

    /// For a field or global reflection site (`instVarAt:`,
    /// `instVarAt:put:`, `instVarNamed:`, `global:`, `global:put:`): what
    /// its cache resolved the constant key to, for receivers of `shape`.
    fn reflect_plan(&self, s: &SendNode, k: Reflective, shape: *const Shape) -> Option<Resolved> {
        if s.reflect.is_generic() {
            return None;
        }
        let key = self.const_of(&s.args[0])?;
        let want: *const Shape = match k {
            Reflective::Global | Reflective::GlobalPut => std::ptr::null(),
            Reflective::InstVarAt
            | Reflective::InstVarAtPut
            | Reflective::InstVarNamed
            | Reflective::RespondsTo => shape,
            _ => return None,
        };
        s.reflect
            .entries()
            .into_iter()
            .find(|e| std::ptr::eq(e.shape, want) && e.key == key)
            .map(|e| e.resolved)
    }

    /// A field or global reflection, resolved by the site's cache: a field
    /// load or store behind the receiver's layout check, or a global cell's
    /// load or store.
    fn reflective(
        &mut self,
        s: &'static SendNode,
        k: Reflective,
        shape: *const Shape,
        rcvr: ir::Value,
        args: &[Arg],
        generic: ir::Block,
    ) -> ir::Value {
        let resolved = self
            .reflect_plan(s, k, shape)
            .expect("checked by inlinable_target");
        let value = args.get(1).map(|a| self.realize(a));
        match resolved {
            Resolved::Field(i) => {
                let class_side = self.is_class_side(shape);
                let fast = self.b.create_block();
                self.branch_if_shape_fields(shape, rcvr, i, fields_kind(class_side), fast, generic);
                self.b.seal_block(fast);
                self.b.switch_to_block(fast);
                match value {
                    Some(v) => {
                        self.store(v, rcvr, field_offset(i, class_side));
                        v
                    }
                    None => self.load(rcvr, field_offset(i, class_side)),
                }
            }
            Resolved::Cell(cell) => {
                let addr = self.addr("cell", std::ptr::from_ref(&cell.value) as i64);
                match value {
                    Some(v) => {
                        let old = self.load(addr, 0);
                        self.store(v, addr, 0);
                        self.global_written(cell, old, v);
                        v
                    }
                    None => match self.foldable_global(cell) {
                        Some(k) => {
                            // As a global read folds it (see
                            // `variables.rs`); invalid code sends generically.
                            self.folded_globals.push(cell);
                            self.guard_valid(generic);
                            self.som_const(k)
                        }
                        None => {
                            let v = self.load(addr, 0);
                            // An unbound global reads as nil here.
                            let nil = self.nil();
                            self.b.ins().select(v, v, nil)
                        }
                    },
                }
            }
            Resolved::Answer(a) => {
                // The answer holds while no method of that selector changes
                // (the unit depends on the selector, like the cache).
                let key = self
                    .const_of(&s.args[0])
                    .expect("planned with a constant key");
                let sel = som_runtime::symbols::SymbolId(som_runtime::object::symbol_id_raw(key));
                self.depends_on.push(sel);
                let answer = if a {
                    self.consts.true_
                } else {
                    self.consts.false_
                };
                self.som_const(answer)
            }
        }
    }

    /// Emits target `t` of a send of `selector` (reached for receivers of
    /// `shape`) and jumps to `done` with its result.
    #[allow(
        clippy::too_many_arguments,
        reason = "one call site per kind of target, all alike"
    )]
    fn emit_target(
        &mut self,
        s: &'static SendNode,
        selector: som_runtime::symbols::SymbolId,
        t: Target,
        shape: *const Shape,
        rcvr: ir::Value,
        args: &[Arg],
        done: ir::Block,
        generic: ir::Block,
    ) {
        let v = match t {
            Target::Method(m) => match m.reflective {
                Some(Reflective::Perform(k)) => {
                    let (entry, performed) = self
                        .perform_plan(s, k, args)
                        .expect("checked by inlinable_target");
                    self.perform_entry(s, entry, shape, rcvr, &performed, done, generic);
                    return;
                }
                Some(k) => self.reflective(s, k, shape, rcvr, args, generic),
                _ if self.is_array_length(m) => self.array_length(rcvr, generic),
                _ if self.runtime.tier_is_class_new(m) => self.inline_new(s, m, shape, rcvr, args),
                _ if self.runtime.tier_is_array_new(m) => {
                    self.inline_array_new(s, m, shape, rcvr, args)
                }
                _ if self.runtime.tier_text_access(m).is_some() => {
                    let char_at = self.runtime.tier_text_access(m) == Some(true);
                    self.text_access(s, m, char_at, rcvr, args)
                }
                _ if self.runtime.tier_is_invoke_on_with(m) => {
                    match self.invoke_on_with(s, args, done) {
                        Some(v) => v,
                        None => self.invoke(s, m, rcvr, args),
                    }
                }
                _ if self.runtime.tier_is_perform_enforced(m) => {
                    match self.perform_enforced(s, rcvr, args) {
                        Some(v) => v,
                        None => self.invoke(s, m, rcvr, args),
                    }
                }
                _ => match self.trivial(Some(s), m, shape, rcvr, args, generic) {
                    Some(v) => v,
                    None => match self.inlinable_method(m) {
                        Some(body) => {
                            self.shape_next = Some((shape, generic));
                            self.inline_method(s.pos, m, body, rcvr, args)
                        }
                        None => self.invoke(s, m, rcvr, args),
                    },
                },
            },
            Target::Dnu(h) => match self.inlinable_method(h) {
                Some(body) => {
                    let elems: Vec<ir::Value> = args.iter().map(|a| self.realize(a)).collect();
                    let sel = self.syms.object(selector);
                    let hargs = [Arg::Const(sel), Arg::Virtual(elems)];
                    // The guard fixed the receiver's shape for the handler
                    // too (its self-sends need no guard of their own).
                    self.shape_next = Some((shape, generic));
                    self.inline_method(s.pos, h, body, rcvr, &hargs)
                }
                None => {
                    self.b.ins().jump(generic, &[]);
                    return;
                }
            },
            Target::Empty => unreachable!("empty entries are never cached"),
        };
        self.jump_with(done, v);
    }

    /// A performed entry: the receiver's shape is known (`shape`), so its
    /// target in the entry's chain is known too, with no further guard.
    #[allow(clippy::too_many_arguments, reason = "the send's state, passed on")]
    fn perform_entry(
        &mut self,
        s: &'static SendNode,
        entry: &'static PerformEntry,
        shape: *const Shape,
        rcvr: ir::Value,
        performed: &[Arg],
        done: ir::Block,
        generic: ir::Block,
    ) {
        let Some(t) = entry
            .chain
            .entries()
            .into_iter()
            .find(|e| std::ptr::eq(e.shape, shape))
            .map(|e| e.target)
        else {
            self.b.ins().jump(generic, &[]);
            return;
        };
        if !self.inlinable_target(s, t, shape, performed)
            || matches!(t, Target::Method(m) if m.reflective.is_some())
        {
            self.b.ins().jump(generic, &[]);
            return;
        }
        // Performing in enforced execution would be an enforced send; but a
        // plain send runs only in unenforced execution (the runtime's
        // invariant, see `tier::run_body`), so the fast path needs no test.
        self.depends_on.push(entry.selector);
        self.emit_target(s, entry.selector, t, shape, rcvr, performed, done, generic);
    }

    /// A trivial method's work, inline; None for other methods (and for
    /// `=` on texts without a plain send `s` to fall back on).
    pub(crate) fn trivial(
        &mut self,
        s: Option<&'static SendNode>,
        m: &'static MethodData,
        shape: *const Shape,
        rcvr: ir::Value,
        args: &[Arg],
        generic: ir::Block,
    ) -> Option<ir::Value> {
        let t = m.trivial?;
        let word = |a: Option<&Arg>, me: &mut Self| a.map(|a| me.realize(a));
        Some(match t {
            Trivial::Constant(c) => self.som_const(c),
            Trivial::ReturnSelf => rcvr,
            Trivial::Identity => {
                let arg = word(args.first(), self)?;
                if let (Some(x), Some(y)) = (self.const_value(rcvr), self.const_value(arg)) {
                    let answer = if x == y {
                        self.consts.true_
                    } else {
                        self.consts.false_
                    };
                    return Some(self.som_const(answer));
                }
                let same = self.b.ins().icmp(IntCC::Equal, rcvr, arg);
                self.boolean(same)
            }
            Trivial::TextEquals => {
                let s = s?;
                let arg = word(args.first(), self)?;
                self.text_equals(rcvr, arg, |me, v| me.generic_send(s, v))
            }
            Trivial::ClassOf => {
                // SAFETY: shapes are interned and never freed.
                let class = unsafe { (*shape).class };
                self.som_const(class)
            }
            Trivial::Getter(i) => {
                let class_side = self.is_class_side(shape);
                let fast = self.b.create_block();
                self.branch_if_shape_fields(shape, rcvr, i, fields_kind(class_side), fast, generic);
                self.b.seal_block(fast);
                self.b.switch_to_block(fast);
                self.load(rcvr, field_offset(i, class_side))
            }
            Trivial::Setter(i) => {
                let arg = word(args.first(), self)?;
                let class_side = self.is_class_side(shape);
                let fast = self.b.create_block();
                self.branch_if_shape_fields(shape, rcvr, i, fields_kind(class_side), fast, generic);
                self.b.seal_block(fast);
                self.b.switch_to_block(fast);
                self.store(arg, rcvr, field_offset(i, class_side));
                rcvr
            }
            Trivial::ArrayWith | Trivial::Forward { .. } => return None,
        })
    }

    /// The body a handler runs at the meta level (its ordinary body), if it
    /// may be inlined here.
    pub(crate) fn inlinable_handler_body(
        &self,
        h: &'static MethodData,
    ) -> Option<&'static AstBody> {
        self.inlinable_method(h)
    }

    /// The body of `m` if it may be inlined here.
    fn inlinable_method(&self, m: &'static MethodData) -> Option<&'static AstBody> {
        let MethodKind::Ast(body) = &m.kind else {
            return None;
        };
        self.inlinable_body(m, body, false)
    }

    /// `body` (of `m`; an enforced twin when `enforced`) if it may be
    /// inlined here.
    pub(crate) fn inlinable_body(
        &self,
        m: &'static MethodData,
        body: &'static AstBody,
        enforced: bool,
    ) -> Option<&'static AstBody> {
        if m.is_block || body.needs_context || self.scopes.len() > MAX_INLINE_DEPTH {
            return None;
        }
        let already = self
            .scopes
            .iter()
            .filter(|s| std::ptr::eq(s.method, m))
            .count();
        if already > 1 {
            return None;
        }
        let mut size = 0;
        let mut frameless = true;
        body.body.for_each_unit_node(&mut |n| {
            size += 1;
            if matches!(
                n,
                Node::Block(_)
                    | Node::NonLocalReturn(_)
                    | Node::OuterRead(_)
                    | Node::OuterWrite(..)
            ) {
                frameless = false;
            }
            if !enforced
                && matches!(
                    n,
                    Node::EnforcedSend(_)
                        | Node::EnforcedFieldRead(_)
                        | Node::EnforcedFieldWrite(_)
                        | Node::EnforcedGlobalRead(_)
                )
            {
                frameless = false;
            }
        });
        let cap = self.site_budget.unwrap_or(usize::MAX);
        (frameless && size + INLINE_OVERHEAD <= self.budget.min(cap)).then_some(body)
    }

    /// Tests (after the shape guard, so `obj` is a heap object unless the
    /// shape is the small integers') that `obj` is a plain object with more
    /// than `i` fields; answers the condition. `ptr` is a scratch block the
    /// test continues in.
    /// The kind byte of `v`, continuing in the current block; to `not` when
    /// `v` is not a heap object.
    fn kind_of_ptr_or(&mut self, v: ir::Value, not: ir::Block) -> ir::Value {
        let ptr = self.b.create_block();
        let low = self.b.ins().band_imm_s(v, 7);
        self.b.ins().brif(low, not, &[], ptr, &[]);
        self.b.seal_block(ptr);
        self.b.switch_to_block(ptr);
        let meta = self.load(v, layout::HEADER_META);
        self.b.ins().band_imm_s(meta, 0xff)
    }

    /// Whether the kind byte `kind` is a String's or a Symbol's.
    fn is_text_kind(&mut self, kind: ir::Value) -> ir::Value {
        let is_string = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, kind, layout::KIND_STRING);
        let is_symbol = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, kind, layout::KIND_SYMBOL);
        self.b.ins().bor(is_string, is_symbol)
    }

    /// Whether receivers of `shape` are class objects (their class is a
    /// metaclass), whose fields follow the class data word.
    fn is_class_side(&self, shape: *const Shape) -> bool {
        // SAFETY: shapes are interned and never freed; a class object's
        // shape names its metaclass.
        let class = unsafe { (*shape).class };
        class.is_ptr() && {
            let meta_shape = som_runtime::object::header(class).shape;
            // SAFETY: as above.
            let metaclass_class = unsafe { (*meta_shape).class };
            metaclass_class == self.consts.metaclass
        }
    }

    /// `true` or `false` for a condition.
    pub(crate) fn boolean(&mut self, c: ir::Value) -> ir::Value {
        let t = self.som_const(self.consts.true_);
        let f = self.som_const(self.consts.false_);
        self.b.ins().select(c, t, f)
    }

    /// Inlines the body of `m` as a new activation with receiver `rcvr` and
    /// `args`; answers its result.
    pub(crate) fn inline_method(
        &mut self,
        pos: (u32, u32),
        m: &'static MethodData,
        body: &'static AstBody,
        rcvr: ir::Value,
        args: &[Arg],
    ) -> ir::Value {
        // A polymorphic site's limit is for its own targets, not for the
        // sites inside them.
        let site_budget = self.site_budget.take();
        let mut size = 0;
        let mut reads = vec![0usize; body.num_slots];
        let mut written = vec![false; body.num_slots];
        body.body.for_each_unit_node(&mut |n| {
            size += 1;
            match n {
                Node::LocalRead(i) => reads[i.0] += 1,
                Node::LocalWrite(i, _) => written[i.0] = true,
                _ => {}
            }
        });
        // A loop counter is written by its loop, not by a LocalWrite.
        body.body.for_each_unit_node(&mut |n| {
            if let Node::ToDo(t) = n {
                if let Some(c) = t.counter {
                    written[c.0] = true;
                }
            }
        });
        self.budget = self.budget.saturating_sub(size + INLINE_OVERHEAD);
        self.inlined.push(m);
        self.inlined_bodies.push(body);
        self.enter_activation();
        let vars = self.new_vars(body.num_slots);
        let mut bindings = vec![Binding::Plain; body.num_slots];
        for (i, a) in args.iter().enumerate() {
            let var = vars[i];
            let binding = match a {
                Arg::Const(c) if !written[i] => Binding::Const(*c),
                Arg::Virtual(e) if !written[i] && reads[i] <= 1 => Binding::Virtual(e.clone()),
                Arg::Closure(n, d) if !written[i] => Binding::Closure(n, *d),
                _ => Binding::Plain,
            };
            let v = match (&binding, a) {
                // Never read (reads fold to the binding): any value will
                // do, and one that exists adds no instruction.
                (Binding::Virtual(_) | Binding::Closure(..) | Binding::Const(_), _) => rcvr,
                _ => self.realize(a),
            };
            self.b.def_var(var, v);
            let binding = match binding {
                Binding::Plain if !written[i] => Binding::Word(v),
                b => b,
            };
            bindings[i] = binding;
        }
        // Facts about arguments hold in a body that cannot restart (a
        // restart would re-run code relying on them after a call).
        let given = std::mem::take(&mut self.arg_shapes_next);
        let mut slot_shapes = vec![None; body.num_slots];
        let may_restart = self.may_restart(body, &bindings);
        if !may_restart {
            for (i, shape) in given {
                if i < m.num_args && !written[i] {
                    slot_shapes[i] = Some((shape, self.epoch));
                }
            }
        }
        self.slot_shapes_next = slot_shapes;
        // A body that cannot restart itself needs no block to restart at.
        let restart = may_restart.then(|| {
            let restart = self.b.create_block();
            self.b.ins().jump(restart, &[]);
            self.b.switch_to_block(restart);
            restart
        });
        let nil = self.nil();
        for var in &vars[m.num_args..] {
            self.b.def_var(*var, nil);
        }
        let v = self.run_inlined(m, body, rcvr, vars, bindings, pos, restart, None);
        self.site_budget = site_budget;
        v
    }

    /// Whether a `restart` can reach an activation of `body`: it is raised
    /// by `Block>>restart` and caught by the nearest method activation, so
    /// only a send in the body itself (its blocks included) can raise it
    /// there, directly or through the reflective sends that run a
    /// primitive without an activation of their own (a `perform:` of a
    /// constant selector other than `restart` cannot: the selector is a
    /// literal, or an argument bound to a constant, `bindings`).
    fn may_restart(&self, body: &AstBody, bindings: &[Binding]) -> bool {
        let is_restart = |c: &Value| {
            !(c.is_ptr() && self.syms_is_symbol(*c))
                || self.syms.text(som_runtime::symbols::SymbolId(
                    som_runtime::object::symbol_id_raw(*c),
                )) == "restart"
        };
        // Sends of the body's own unit whose selector argument is an
        // argument bound to a constant (a local index means the body's slot
        // only there, not in its blocks).
        let mut safe: Vec<*const Node> = Vec::new();
        body.body.for_each_unit_node(&mut |n| {
            if let Some(Node::LocalRead(i)) = first_send_arg(n) {
                if let Some(Binding::Const(c)) = bindings.get(i.0) {
                    if !is_restart(c) {
                        safe.push(n as *const Node);
                    }
                }
            }
        });
        let mut may = false;
        body.body.walk(&mut |n| {
            let sel = match n {
                Node::Send(s) | Node::Send0(s) | Node::Send1(s) | Node::BinarySpecial(s) => {
                    Some(s.selector)
                }
                Node::SuperSend(s) => Some(s.selector),
                Node::EnforcedSend(s) => Some(s.selector),
                _ => None,
            };
            let Some(sel) = sel else {
                return;
            };
            let t = self.syms.text(sel);
            may |= t == "restart";
            if t.starts_with("invokeOn:") {
                // Invoking a known method that cannot raise a restart here:
                // a method's activation catches its own (a block's does
                // not), and the Array access primitives raise none (others,
                // `value` or `perform:` among them, may run a block that
                // sends `restart`).
                let rcvr = match n {
                    Node::Send(s) | Node::Send0(s) | Node::Send1(s) | Node::BinarySpecial(s) => {
                        Some(&s.receiver)
                    }
                    _ => None,
                };
                let known = match rcvr {
                    Some(Node::Const(c)) => Some(*c),
                    Some(Node::LocalRead(i)) => match bindings.get(i.0) {
                        Some(Binding::Const(c)) => Some(*c),
                        _ => None,
                    },
                    _ => None,
                };
                let not_restart = known.is_some_and(|c| {
                    if !c.is_ptr()
                        || som_runtime::object::kind_of(c) != som_runtime::object::Kind::Method
                    {
                        return false;
                    }
                    let pm = som_runtime::object::method_data_of(c);
                    match pm.kind {
                        MethodKind::Ast(_) => !pm.is_block,
                        MethodKind::Primitive(_) => self.runtime.tier_array_access(pm).is_some(),
                    }
                });
                may |= !not_restart;
            }
            if t.starts_with("perform:") {
                // Only performing `restart` itself raises it here (any other
                // method's activation catches its own).
                may |= match first_send_arg(n) {
                    Some(Node::Const(c)) => is_restart(c),
                    _ => !safe.contains(&(n as *const Node)),
                };
            }
        });
        may
    }

    /// The rest of an inlined activation: its scope, its body, its unwind
    /// path and its exit (which ends the activation); answers its result.
    #[allow(
        clippy::too_many_arguments,
        reason = "the activation's parts, all needed"
    )]
    fn run_inlined(
        &mut self,
        m: &'static MethodData,
        body: &'static AstBody,
        receiver: ir::Value,
        vars: Vec<cranelift_frontend::Variable>,
        bindings: Vec<Binding>,
        call_pos: (u32, u32),
        restart: Option<ir::Block>,
        outer: Option<(usize, &'static Node)>,
    ) -> ir::Value {
        let frame = self.inlined_frame(body.num_slots);
        let (exit, unwind) = self.exit_and_unwind();
        let shadows = self.shadows_for(body, true);
        let (receiver_shape, resend) = match self.shape_next.take() {
            Some((sh, g)) => (Some((sh, self.epoch)), Some(g)),
            None => (None, None),
        };
        // An inlined block's `self` is its defining activation's, on the
        // stack: its check covers the block (`Lowerer::fields_known`).
        let self_fields = match (outer, resend) {
            // A guarded target checks the receiver's layout once for every
            // field its body touches; a receiver without them takes the
            // send's generic path, as another shape would.
            (None, Some(generic)) => match super::unit::self_fields_used(body, self.compilations) {
                // The guard's shape fixes the layout: nothing to check.
                Some(need)
                    if receiver_shape.is_some_and(|(sh, _)| {
                        super::unit::shape_has_fields(sh, need - 1, self.fields_kind_of(m))
                    }) =>
                {
                    need
                }
                Some(need) => {
                    let go = self.b.create_block();
                    // Through a block of its own: the generic path may take
                    // the values of variables, which the hot branch need
                    // not carry.
                    let miss = self.cold_block();
                    self.check_fields_of(m, receiver, need - 1, go, miss);
                    self.b.seal_block(miss);
                    self.b.switch_to_block(miss);
                    self.b.ins().jump(generic, &[]);
                    self.b.seal_block(go);
                    self.b.switch_to_block(go);
                    need
                }
                None => 0,
            },
            _ => 0,
        };
        self.scopes.push(Scope {
            method: m,
            receiver,
            shadows,
            receiver_shape,
            shape_used: false,
            self_fields,
            self_fields_kind: self.fields_kind_of(m),
            slot_shapes: std::mem::take(&mut self.slot_shapes_next),
            resend,
            slots: Slots::Vars(vars),
            bindings,
            frame,
            exit,
            unwind,
            restart,
            call_pos,
            outer,
        });
        let v = self.lower(&body.body);
        self.jump_with(exit, v);
        self.finish_unwind(false);
        if let Some(r) = restart {
            self.b.seal_block(r);
        }
        self.scopes.pop();
        self.b.seal_block(exit);
        self.enter_value_block(exit)
    }
}

/// The first argument of a send node.
fn first_send_arg(n: &Node) -> Option<&Node> {
    match n {
        Node::Send(s) | Node::Send0(s) | Node::Send1(s) | Node::BinarySpecial(s) => s.args.first(),
        Node::SuperSend(s) => s.args.first(),
        Node::EnforcedSend(s) => s.args.first(),
        _ => None,
    }
}

/// Offset of field `i` in a plain object, or in a class object (after its
/// class data word) when `class_side`.
fn field_offset(i: usize, class_side: bool) -> i32 {
    layout::BODY + ((i + class_side as usize) * 8) as i32
}

/// The kind byte of objects whose fields are accessed: class objects on the
/// class side, plain objects otherwise.
fn fields_kind(class_side: bool) -> i64 {
    if class_side {
        layout::KIND_CLASS
    } else {
        layout::KIND_OBJECT
    }
}

/// The send (its node's address) that argument `a` of a send with special
/// selector `special` and `argc` arguments is, when its guards' miss path
/// may skip the join in front of that send (see
/// [`Lowerer::send_evaluated_with`]): the send is an inline arithmetic or
/// comparison, whose one argument is evaluated last, and `a` an ordinary
/// send, plain or enforced.
pub(crate) fn deferrable_arg(special: Option<SpecialOp>, argc: usize, a: &Node) -> Option<usize> {
    if argc != 1 || !super::special::integer_op(special?) {
        return None;
    }
    match a {
        Node::Send(inner) | Node::Send0(inner) | Node::Send1(inner) if inner.special.is_none() => {
            Some(&**inner as *const SendNode as usize)
        }
        Node::EnforcedSend(inner) if inner.special.is_none() && inner.lookup_class.is_none() => {
            Some(&**inner as *const som_runtime::nodes::EnforcedSendNode as usize)
        }
        _ => None,
    }
}
