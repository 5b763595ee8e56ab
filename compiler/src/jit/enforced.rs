//! Lowering of enforced operations (the tier's side of
//! `runtime/src/nodes/enforced.rs`): the sends, field accesses and global
//! reads of enforced bodies, each with a chain level keyed on the owner
//! domain.
//!
//! A domain chain folds into the guard that already decides the class
//! chain: a receiver's shape fixes its class *and* its owner domain, so for
//! every class-chain entry the owner's domain-chain entry is known when
//! compiling. Entries whose domain handles the operation in the standard
//! way become the plain operation (the callee's enforced twin inlined, a
//! trivial method's work, a field load or store); a domain that customises
//! the handler, a domain the chain has not seen, a primitive target or a
//! super send take the generic path (`rt_enforced_send`,
//! `rt_enforced_field`, the interpreter), which runs both chains as the
//! interpreter does and lets them keep learning. Field access of `self`
//! compares the owner key read from the receiver's shape; a global read
//! compares the current domain, read from the VM.
//!
//! A folded domain entry is a lookup result taken on trust: the unit
//! depends on the handler's selector, so a domain class gaining or losing
//! that handler invalidates it, as it invalidates the chain entry. An owner
//! change swaps the object's shape, which every guard reads afresh.

use cranelift_codegen::ir::{self, condcodes::IntCC, InstBuilder};

use som_runtime::dispatch::Target;
use som_runtime::nodes::{DomainChain, EnforcedFieldNode, EnforcedGlobalNode, EnforcedSendNode};
use som_runtime::nodes::{Node, SpecialOp};
use som_runtime::object::Shape;
use som_runtime::tier::{layout, AstBody, MethodData, Trivial, UnitState};
use som_runtime::value::Value;

use super::entry::Entry;
use super::send::Arg;
use super::unit::Lowerer;

impl Lowerer<'_> {
    /// The domain keys `chain` maps to the standard operation; empty when
    /// the chain went generic (its lookups are the runtime's then).
    fn standard_keys(&self, chain: &DomainChain) -> Vec<Value> {
        if chain.is_generic() {
            return Vec::new();
        }
        chain
            .entries()
            .into_iter()
            .filter(|(_, h)| h.is_none())
            .map(|(k, _)| k)
            .collect()
    }

    /// The entries of `chain` whose domain customises the handler, with the
    /// handler's body when it can be inlined: (domain key, handler, body).
    /// A handler of the standard domain (key ZERO) is called: its domain
    /// object may not exist yet.
    fn inlinable_handlers(
        &self,
        chain: &DomainChain,
        argc: usize,
    ) -> Vec<(Value, &'static MethodData, &'static AstBody)> {
        if chain.is_generic() {
            return Vec::new();
        }
        chain
            .entries()
            .into_iter()
            .filter_map(|(k, h)| {
                let h = h?;
                if k == Value::ZERO || h.num_args != argc || h.reflective.is_some() {
                    return None;
                }
                let body = self.inlinable_handler_body(h)?;
                Some((k, h, body))
            })
            .collect()
    }

    /// Runs handler `h` of the domain with key `key` (its receiver) inline,
    /// at the meta level: execution is unenforced while its body runs, as
    /// `Vm::call_handler` makes it.
    fn inline_handler(
        &mut self,
        pos: (u32, u32),
        key: Value,
        h: &'static MethodData,
        body: &'static AstBody,
        args: &[Arg],
    ) -> ir::Value {
        // At the meta level (the flag is the lowering's, see
        // `Lowerer::flag`).
        let saved = std::mem::replace(&mut self.flag, false);
        let domain = self.som_const(key);
        let v = self.inline_method(pos, h, body, domain, args);
        self.flag = saved;
        v
    }

    /// The execution handler `(key, handler, body)` of send `s`, inline:
    /// `requestExecutionOf:with:on:lookup:` with the selector, the
    /// arguments (an Array made only if the handler lets it escape), the
    /// receiver and the lookup class.
    fn inline_execution_handler(
        &mut self,
        s: &'static EnforcedSendNode,
        (k, h, body): (Value, &'static MethodData, &'static AstBody),
        words: &[ir::Value],
        rcvr: ir::Value,
        class: Value,
        shape: Option<*const Shape>,
    ) -> ir::Value {
        let sel = self.syms.object(s.selector);
        // The handler's `obj` is the receiver, whose shape the guard in
        // front of it fixed.
        self.arg_shapes_next = shape.map(|sh| (2, sh)).into_iter().collect();
        let hargs = [
            Arg::Const(sel),
            Arg::Virtual(words.to_vec()),
            Arg::Word(rcvr),
            Arg::Const(class),
        ];
        self.inline_handler(s.pos, k, h, body, &hargs)
    }

    /// Records that the unit folded entries of `chain`.
    fn depend_on_domains(&mut self, chain: &DomainChain) {
        let sel = self.handler_selector(chain.handler());
        self.depends_on.push(sel);
    }

    /// Branches to `yes` when `key` is one of `keys`, else to `no`.
    fn branch_if_key(&mut self, key: ir::Value, keys: &[Value], yes: ir::Block, no: ir::Block) {
        let mut any = None;
        for k in keys {
            if k.is_ptr() {
                self.embedded.note(k.bits(), "object");
            }
            let is = self.b.ins().icmp_imm_s(IntCC::Equal, key, k.bits() as i64);
            any = Some(match any {
                None => is,
                Some(a) => self.b.ins().bor(a, is),
            });
        }
        match any {
            Some(c) => {
                self.b.ins().brif(c, yes, &[], no, &[]);
            }
            None => {
                self.b.ins().jump(no, &[]);
            }
        }
    }

    /// [`Lowerer::branch_if_key`] on a key computed at run time, or, for a
    /// key a guard already fixed (None: `keys` holds exactly the ones it
    /// matches), a plain jump.
    fn branch_on_key(
        &mut self,
        key: Option<ir::Value>,
        keys: &[Value],
        yes: ir::Block,
        no: ir::Block,
    ) {
        match key {
            Some(key) => self.branch_if_key(key, keys, yes, no),
            None if keys.is_empty() => {
                self.b.ins().jump(no, &[]);
            }
            None => {
                // Every caller's `yes` is a new block entered only from
                // here (its `no` may be a shared slow path).
                self.jump_only_into(yes);
            }
        }
    }

    /// The enforced send's generic path (`rt_enforced_send`) with its
    /// evaluated receiver and arguments.
    fn enforced_generic(
        &mut self,
        s: &'static EnforcedSendNode,
        values: &[ir::Value],
    ) -> ir::Value {
        let argv = self.spill_values(values);
        let vm = self.vm();
        let n = self.addr("node", s as *const EnforcedSendNode as i64);
        let argc = self.iconst((values.len() - 1) as i64);
        self.call_fallible(Entry::EnforcedSend, &[vm, n, argv, argc])
    }

    /// `rt_enforced_send_miss` (the guards of the site's targets failed)
    /// with the evaluated receiver and arguments.
    fn enforced_missed(&mut self, s: &'static EnforcedSendNode, values: &[ir::Value]) -> ir::Value {
        let argv = self.spill_values(values);
        let vm = self.vm();
        let n = self.addr("node", s as *const EnforcedSendNode as i64);
        let argc = self.iconst((values.len() - 1) as i64);
        let unit = self.addr("unit", self.unit as *const UnitState as i64);
        self.call_fallible(Entry::EnforcedSendMiss, &[vm, n, argv, argc, unit])
    }

    /// `rt_enforced_invoke`: target `m` of `s` run as the standard operation
    /// runs it, with the evaluated receiver and arguments.
    fn enforced_invoke(
        &mut self,
        s: &'static EnforcedSendNode,
        m: &'static MethodData,
        values: &[ir::Value],
    ) -> ir::Value {
        // The runtime would activate the method's enforced twin (an AST
        // method not declared `unenforced`): its compiled code is called
        // directly, in the enforced execution this code runs in.
        let twin = match (m.enforced.get(), m.unenforced, self.flag) {
            (Some(t), false, true) if self.direct_body_ok(t) => Some(t),
            _ => None,
        };
        let Some(twin) = twin else {
            return self.enforced_invoke_generic(s, m, values);
        };
        let generic = self.cold_block();
        let merge = self.direct_call(m, twin, values, s.pos, generic);
        self.b.seal_block(generic);
        self.b.switch_to_block(generic);
        let v = self.enforced_invoke_generic(s, m, values);
        self.join(merge, v)
    }

    /// `rt_enforced_primitive`: primitive `m` run at once, its receiver's
    /// owner (fixed by a guard) being one that does not reify it.
    fn enforced_primitive(
        &mut self,
        s: &'static EnforcedSendNode,
        m: &'static MethodData,
        values: &[ir::Value],
    ) -> ir::Value {
        self.invocation(Entry::EnforcedPrimitive, s, m, values)
    }

    /// `rt_enforced_invoke` itself.
    fn enforced_invoke_generic(
        &mut self,
        s: &'static EnforcedSendNode,
        m: &'static MethodData,
        values: &[ir::Value],
    ) -> ir::Value {
        self.invocation(Entry::EnforcedInvoke, s, m, values)
    }

    /// Entry point `e` called as `(vm, node, method, argv, argc)`.
    fn invocation(
        &mut self,
        e: Entry,
        s: &'static EnforcedSendNode,
        m: &'static MethodData,
        values: &[ir::Value],
    ) -> ir::Value {
        let argv = self.spill_values(values);
        let vm = self.vm();
        let n = self.addr("node", s as *const EnforcedSendNode as i64);
        let method = self.addr("method", m as *const MethodData as i64);
        let argc = self.iconst((values.len() - 1) as i64);
        self.call_fallible(e, &[vm, n, method, argv, argc])
    }

    pub(crate) fn lower_enforced_send(
        &mut self,
        node: &'static Node,
        s: &'static EnforcedSendNode,
    ) -> ir::Value {
        let defer = self.take_defer_request(s as *const EnforcedSendNode as usize);
        if let Some(lc) = s.lookup_class {
            return self.lower_enforced_super(node, s, lc);
        }
        if s.special == Some(SpecialOp::Value) {
            if let Some(v) = self.enforced_block_value(s) {
                return v;
            }
        }
        // A field of self as the receiver of an ordinary send, read ahead
        // of the send's test of `valid` (as plain code reads it), when
        // nothing the arguments do can write it: the send's generic path
        // reads it again, through its domain, since a path failing that
        // test may find self owned by another one. Not for a special
        // selector, whose inline cases come first: there the extra generic
        // read on every slow path costs more than it saves (Bounce's `x >
        // xLimit`: 2 % more instructions enforced).
        // Nor where a target the site saw is a primitive: its fast path is a
        // call, which gains nothing from the read ahead (Json's `input
        // length`: 1 % more instructions enforced).
        let pure = |l: &Self, a: &Node| l.const_of(a).is_some() || matches!(a, Node::LocalRead(_));
        let ast_targets = |s: &EnforcedSendNode| {
            s.chain.entries().iter().all(|e| {
                matches!(e.target, Target::Method(m) if matches!(m.kind, som_runtime::method::MethodKind::Ast(_)))
            })
        };
        let ahead = match &s.receiver {
            Node::EnforcedFieldRead(f)
                if s.special.is_none()
                    && s.args.iter().all(|a| pure(self, a))
                    && ast_targets(s) =>
            {
                self.self_field_ahead(f)
            }
            _ => None,
        };
        let reread = ahead.is_some();
        let rcvr = match ahead {
            Some(v) => v,
            None => self.lower(&s.receiver),
        };
        let here = self.scopes.len() - 1;
        let mut args = Vec::new();
        let mut cold_arg = None;
        for a in s.args.iter() {
            if let Some((n, def)) = self.closure_of(a) {
                args.push(Arg::Closure(n, def));
            } else if matches!(a, Node::Block(_)) && self.block_body_inlinable(a, true).is_some() {
                // A block literal the callee's twin may evaluate inline.
                args.push(Arg::Closure(a, here));
            } else if let Some(inner) = super::send::deferrable_arg(s.special, s.args.len(), a) {
                let (v, cold) = self.lower_deferring(a, inner);
                cold_arg = cold;
                args.push(Arg::Word(v));
            } else {
                let v = self.lower(a);
                args.push(Arg::Word(v));
            }
        }
        let how = Evaluated {
            doubles: true,
            defer,
            cold_arg,
            reread,
        };
        self.enforced_send_evaluated_with(s, rcvr, args, how)
    }

    /// Field read `f` of `self` as a plain load, with no test of `valid`
    /// of its own, when the unit's specialization makes it one (self's
    /// owner fixed, a domain reading fields in the standard way, the
    /// field known to be there): for a send that tests `valid` before it
    /// uses the value and reads it again on its generic path.
    fn self_field_ahead(&mut self, f: &'static EnforcedFieldNode) -> Option<ir::Value> {
        if f.value.is_some() {
            return None;
        }
        let rcvr = self.receiver();
        // SAFETY: shapes are interned and never freed.
        let known = self
            .known_receiver_shape()
            .map(|sh| unsafe { (*sh).domain })
            .or_else(|| self.self_owner.filter(|_| self.unit_receiver == Some(rcvr)))?;
        if !self.standard_keys(&f.domains).contains(&known) || !self.knows_field(rcvr, f.index.0) {
            return None;
        }
        self.depend_on_domains(&f.domains);
        let off = self.self_field_offset(f.index.0);
        Some(self.load(rcvr, off))
    }

    /// The rest of [`Lowerer::lower_enforced_send`] once the receiver and
    /// arguments are evaluated; `doubles` says whether its Double case is
    /// emitted here (not when the caller computed it on unboxed operands).
    pub(crate) fn enforced_send_evaluated(
        &mut self,
        s: &'static EnforcedSendNode,
        rcvr: ir::Value,
        args: Vec<Arg>,
        doubles: bool,
    ) -> ir::Value {
        let how = Evaluated {
            doubles,
            defer: false,
            cold_arg: None,
            reread: false,
        };
        self.enforced_send_evaluated_with(s, rcvr, args, how)
    }

    /// [`Lowerer::enforced_send_evaluated`], where a guard miss need not
    /// rejoin the fast code at once (as `Lowerer::send_evaluated_with`)
    /// and the receiver may be a field read ahead.
    fn enforced_send_evaluated_with(
        &mut self,
        s: &'static EnforcedSendNode,
        rcvr: ir::Value,
        args: Vec<Arg>,
        how: Evaluated,
    ) -> ir::Value {
        let Evaluated {
            doubles,
            defer,
            cold_arg,
            reread,
        } = how;
        let words: Option<Vec<ir::Value>> = std::iter::once(Some(rcvr))
            .chain(args.iter().map(|a| match a {
                Arg::Word(v) => Some(*v),
                _ => None,
            }))
            .collect();
        let done = self.value_block();
        if let Some(open) = cold_arg {
            self.fill_deferred(open, done, |l, cold| {
                let r = l.slow_receiver(s, rcvr, reread);
                l.enforced_generic(s, &[r, cold])
            });
        }
        let generic = self.b.create_block();
        let mut fast = false;
        if let (Some(SpecialOp::Value), Some(values)) = (s.special, words.as_deref()) {
            if self.consts.block_intact {
                // As in plain code; the closure's enforced twin runs, as the
                // runtime's enforced `value` runs it.
                self.value_by_direct_call(s.selector, values, s.pos, done, true);
                fast = true;
            }
        }
        // Array access tests its receiver's guards first: a guarded shape
        // (an Array some domain owns) never qualifies for the standard
        // case below, and a standard Array the chain saw computes the same
        // `at:` either way; so a reified access does not pay for the
        // standard case's failing checks on every run.
        let guarded_first = matches!(s.special, Some(SpecialOp::At | SpecialOp::AtPut));
        let (mut guarded, mut complete, mut handled) = (false, false, false);
        if guarded_first {
            (guarded, complete, handled) = self.enforced_targets(s, rcvr, &args, done, generic);
        }
        // A site whose guards cover every receiver it saw, none of them a
        // plain Array it accessed in the standard way, needs no standard
        // case: a plain Array there is a receiver the guards did not expect
        // (counted; the unit is recompiled with the case once it has run).
        let standard_case = !(guarded_first && guarded && complete && !s.saw_plain_access.get());
        match (s.special, words.as_deref()) {
            _ if !standard_case => {}
            (Some(op), Some(values)) if values.len() == 2 && op != SpecialOp::Value => {
                // The interpreter computes these before consulting any
                // domain (`send::enforced_binary`): small integers,
                // Doubles, and `at:` of a plain Array of the standard domain.
                let saw_double = doubles && s.saw_double.get();
                fast |= self.special(op, values, done, s.selector, saw_double);
            }
            (Some(SpecialOp::AtPut), Some(values))
                if values.len() == 3 && self.standard_keys(&s.domains).contains(&Value::ZERO) =>
            {
                // After the domain level (`send::enforced_special`): only a
                // plain Array, whose shape says the standard domain owns it.
                self.depend_on_domains(&s.domains);
                fast |= self.special(SpecialOp::AtPut, values, done, s.selector, false);
            }
            _ => {}
        }
        if !guarded_first {
            (guarded, complete, handled) = self.enforced_targets(s, rcvr, &args, done, generic);
        }
        fast |= guarded;
        if fast {
            self.b.set_cold_block(generic);
        }
        self.b.ins().jump(generic, &[]);
        self.b.seal_block(generic);
        self.b.switch_to_block(generic);
        let r = self.slow_receiver(s, rcvr, reread);
        let mut values = vec![r];
        for a in &args {
            let v = self.realize(a);
            values.push(v);
        }
        // As for plain sends: only a receiver the guards did not expect is
        // a guard failure, counted towards recompiling the unit (not one of
        // a shape the chain saw whose target the unit does not compile,
        // which would only recompile to the same code).
        let v = if guarded && complete {
            self.enforced_missed(s, &values)
        } else {
            if !fast && s.special.is_none() && self.never_run(&s.chain, &s.unstable) {
                self.count_site_ran();
            }
            self.enforced_generic(s, &values)
        };
        // Not past an inlined handler: its miss path is already the whole
        // reified operation, the work its result feeds at the meta level
        // included, as a plain send's deferred miss path is (the handler's
        // body is where the plain twin's consumer is).
        if defer && guarded && !handled {
            return self.defer_miss(s as *const EnforcedSendNode as usize, done, v);
        }
        self.join(done, v)
    }

    /// The receiver of `s` on a slow path: `rcvr`, or, when it was a field
    /// read ahead of the test of `valid` (`reread`), the field read again
    /// as the interpreter reads it (the path may have failed that test).
    fn slow_receiver(
        &mut self,
        s: &'static EnforcedSendNode,
        rcvr: ir::Value,
        reread: bool,
    ) -> ir::Value {
        match &s.receiver {
            Node::EnforcedFieldRead(f) if reread => {
                // Through the runtime, whether the path failed the test or
                // a guard after it: one slow path for both, as in plain
                // code, where the receiver is read before both. (Keeping the
                // value read ahead where the unit is still valid, behind a
                // test of `valid` of the path's own, cost more than the
                // runtime read it saves: Richards 2 % more instructions
                // enforced.)
                let vm = self.vm();
                let n = self.addr("node", &**f as *const EnforcedFieldNode as i64);
                let self_ = self.receiver();
                let zero = self.iconst(0);
                self.call_fallible(Entry::EnforcedField, &[vm, n, self_, zero, zero])
            }
            _ => rcvr,
        }
    }

    /// A super send in enforced code: the method it resolved does not depend
    /// on the receiver, whose owner (self's) decides between that method
    /// (its enforced twin inlined, or invoked) and the owner's execution
    /// handler (inlined, given `lookup` as the class). A send not resolved
    /// yet is the interpreter's.
    fn lower_enforced_super(
        &mut self,
        node: &'static Node,
        s: &'static EnforcedSendNode,
        lookup: Value,
    ) -> ir::Value {
        let Some(Target::Method(m)) = s.super_target.get() else {
            return self.lower_in_interpreter(node);
        };
        if s.special.is_some() {
            // Computed in place before any domain is asked: the
            // interpreter's, rare for a super send.
            return self.lower_in_interpreter(node);
        }
        let rcvr = self.lower(&s.receiver);
        let mut words = Vec::new();
        for a in s.args.iter() {
            let v = self.lower(a);
            words.push(v);
        }
        let args: Vec<Arg> = words.iter().map(|v| Arg::Word(*v)).collect();
        let done = self.value_block();
        let generic = self.cold_block();
        let mut standard = self.standard_keys(&s.domains);
        let mut handlers = self.inlinable_handlers(&s.domains, 4);
        let known_shape = self.known_receiver_shape();
        // SAFETY: shapes are interned and never freed.
        let known = known_shape.map(|sh| unsafe { (*sh).domain });
        if let Some(k) = known {
            standard.retain(|x| *x == k);
            handlers.retain(|(x, ..)| *x == k);
        }
        let twin = match (m.enforced.get(), m.unenforced) {
            (Some(t), false) if m.num_args == args.len() => self.inlinable_body(m, t, true),
            _ => None,
        };
        let standard_ok = !standard.is_empty()
            && m.num_args == args.len()
            && standard
                .iter()
                .all(|k| twin.is_some() || self.invocable(s, Target::Method(m), *k, args.len()));
        if standard_ok || !handlers.is_empty() {
            self.depends_on.push(s.selector);
            self.depends_on.push(self.dnu_selector);
            self.depend_on_domains(&s.domains);
            self.depend_on_domains(&s.prims);
            self.guard_valid(generic);
            let key = match known {
                Some(_) => None,
                None => Some(self.owner_key(rcvr)),
            };
            for (k, h, body) in handlers {
                let hit = self.b.create_block();
                let next = self.b.create_block();
                self.branch_on_key(key, &[k], hit, next);
                self.b.seal_block(hit);
                self.b.seal_block(next);
                self.b.switch_to_block(hit);
                let v = self.inline_execution_handler(s, (k, h, body), &words, rcvr, lookup, None);
                self.jump_with(done, v);
                self.b.switch_to_block(next);
            }
            if standard_ok {
                let go = self.b.create_block();
                self.branch_on_key(key, &standard, go, generic);
                self.b.seal_block(go);
                self.b.switch_to_block(go);
                let v = match twin {
                    Some(body) => self.inline_method(s.pos, m, body, rcvr, &args),
                    None => {
                        let mut values = vec![rcvr];
                        values.extend_from_slice(&words);
                        self.enforced_invoke(s, m, &values)
                    }
                };
                self.jump_with(done, v);
            } else {
                self.b.ins().jump(generic, &[]);
            }
        } else {
            self.b.ins().jump(generic, &[]);
        }
        self.b.seal_block(generic);
        self.b.switch_to_block(generic);
        let mut values = vec![rcvr];
        values.extend_from_slice(&words);
        let v = self.enforced_generic(s, &values);
        self.join(done, v)
    }

    /// `value`, `value:`, `value:with:` sent in enforced code to a block
    /// literal (or an argument bound to one) whose enforced twin can be
    /// inlined: the twin, inline, while the block would be owned by a
    /// domain that handles sends in the standard way (a new closure belongs
    /// to the current allocation domain); otherwise the closure is made and
    /// the send is the enforced send's. None when the send is not one.
    fn enforced_block_value(&mut self, s: &'static EnforcedSendNode) -> Option<ir::Value> {
        if !self.consts.block_intact || s.domains.is_generic() {
            return None;
        }
        let here = self.scopes.len() - 1;
        let (node, def) = match &s.receiver {
            n @ Node::Block(_) => (n, here),
            n => self.closure_of(n)?,
        };
        let Node::Block(bl) = node else {
            return None;
        };
        if bl.method.num_args != s.args.len() {
            return None;
        }
        let body = self.block_body_inlinable(node, true)?;
        let standard = self.standard_keys(&s.domains);
        if standard.is_empty() {
            return None;
        }
        let mut args = Vec::new();
        for a in s.args.iter() {
            let v = self.lower(a);
            args.push(v);
        }
        // The inline case relies on Block's `value` primitives and on the
        // domain chain's entries.
        self.depends_on.push(s.selector);
        self.depend_on_domains(&s.domains);
        let done = self.value_block();
        let generic = self.cold_block();
        self.guard_valid(generic);
        let alloc_at = self.addr("vm", self.alloc_domain);
        let alloc = self.load(alloc_at, 0);
        let go = self.b.create_block();
        self.branch_if_key(alloc, &standard, go, generic);
        self.b.seal_block(go);
        self.b.switch_to_block(go);
        let v = self.inline_block(s.pos, node, bl, body, def, &args);
        self.jump_with(done, v);
        self.b.seal_block(generic);
        self.b.switch_to_block(generic);
        let closure = self.make_closure(node, def);
        let mut values = vec![closure];
        values.extend_from_slice(&args);
        let v = self.enforced_generic(s, &values);
        self.jump_with(done, v);
        self.b.seal_block(done);
        Some(self.enter_value_block(done))
    }

    /// One guard per class-chain entry whose owner domain handles sends in
    /// the standard way, each to its target inlined; falls through when
    /// none matches. Answers whether it emitted any.
    fn enforced_targets(
        &mut self,
        s: &'static EnforcedSendNode,
        rcvr: ir::Value,
        args: &[Arg],
        done: ir::Block,
        generic: ir::Block,
    ) -> (bool, bool, bool) {
        if s.chain.is_generic() {
            return (false, false, false);
        }
        if s.unstable.get() && self.compilations > som_runtime::tier::UNSTABLE_AFTER_COMPILATIONS {
            // Its receivers kept changing: a call, not guards that fail.
            return (false, false, false);
        }
        let standard = self.standard_keys(&s.domains);
        // Handlers get the arguments in an Array: plain words only.
        let words: Option<Vec<ir::Value>> = args
            .iter()
            .map(|a| match a {
                Arg::Word(v) => Some(*v),
                _ => None,
            })
            .collect();
        let (handlers, prim_handlers) = match &words {
            Some(_) => (
                self.inlinable_handlers(&s.domains, 4),
                self.inlinable_handlers(&s.prims, 3),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let words = words.unwrap_or_default();
        let all = s.chain.entries();
        let seen = all.len();
        let entries: Vec<_> = all
            .into_iter()
            .filter(|e| {
                // SAFETY: shapes are interned and never freed.
                let key = unsafe { (*e.shape).domain };
                (standard.contains(&key)
                    && (self.enforced_target(e.target, key, args).is_some()
                        || self.invocable(s, e.target, key, args.len())
                        || (reified_primitive(e.target, args.len()).is_some()
                            && prim_handlers.iter().any(|(k, ..)| *k == key))))
                    || handlers.iter().any(|(k, ..)| *k == key)
            })
            .collect();
        if entries.is_empty() {
            return (false, false, false);
        }
        // Every shape the chain saw is guarded: a receiver matching none is
        // one it did not expect (a guard failure, counted).
        let complete = entries.len() == seen;
        self.depends_on.push(s.selector);
        self.depends_on.push(self.dnu_selector);
        self.depend_on_domains(&s.domains);
        self.depend_on_domains(&s.prims);
        let known = if matches!(s.receiver, Node::SelfRef) {
            self.known_receiver_shape()
        } else {
            None
        };
        let entries: Vec<_> = match known {
            // A guard of this activation fixed self's shape: its entry needs
            // no guard of its own.
            Some(k) => entries
                .into_iter()
                .filter(|e| std::ptr::eq(e.shape, k))
                .collect(),
            None => entries,
        };
        if entries.is_empty() {
            return (false, false, false);
        }
        self.guard_valid(generic);
        let mut handled = false;
        let shape = match known {
            Some(_) => None,
            None => Some(self.shape_of(rcvr)),
        };
        for e in entries {
            self.embedded.note(e.shape as u64, "shape");
            let hit = self.b.create_block();
            let next = self.b.create_block();
            match shape {
                Some(shape) => {
                    let is = self.b.ins().icmp_imm_s(IntCC::Equal, shape, e.shape as i64);
                    self.b.ins().brif(is, hit, &[], next, &[]);
                }
                None => {
                    self.b.ins().jump(hit, &[]);
                }
            }
            self.b.seal_block(hit);
            self.b.seal_block(next);
            self.b.switch_to_block(hit);
            // SAFETY: shapes are interned and never freed.
            let (key, class) = unsafe { ((*e.shape).domain, (*e.shape).class) };
            match handlers.iter().find(|(k, ..)| *k == key) {
                Some(&(k, h, body)) => {
                    handled = true;
                    let v = self.inline_execution_handler(
                        s,
                        (k, h, body),
                        &words,
                        rcvr,
                        class,
                        Some(e.shape),
                    );
                    self.jump_with(done, v);
                }
                None => match (
                    reified_primitive(e.target, args.len()),
                    prim_handlers.iter().find(|(k, ..)| *k == key),
                ) {
                    (Some(m), Some(&(k, h, body)))
                        if self.enforced_target(e.target, key, args).is_none() =>
                    {
                        // `requestExecutionOfPrimitive:with:on:` with the
                        // primitive, the arguments and the receiver.
                        let hargs = [
                            Arg::Const(m.object.get()),
                            Arg::Virtual(words.clone()),
                            Arg::Word(rcvr),
                        ];
                        self.depend_on_domains(&s.prims);
                        // The handler's `obj` is the receiver, whose shape
                        // the guard in front of it fixed.
                        self.arg_shapes_next = vec![(2, e.shape)];
                        handled = true;
                        let v = self.inline_handler(s.pos, k, h, body, &hargs);
                        self.jump_with(done, v);
                    }
                    _ => self.emit_enforced_target(s, e.target, e.shape, rcvr, args, done, generic),
                },
            }
            self.b.switch_to_block(next);
        }
        (true, complete, handled)
    }

    /// How a target of an enforced send to a receiver owned by the domain
    /// with key `key` (handling sends in the standard way) is inlined: as a
    /// trivial method (`Ok`) or as its enforced twin (`Err`); None when it
    /// takes the generic path.
    fn enforced_target(
        &self,
        t: Target,
        key: Value,
        args: &[Arg],
    ) -> Option<Result<Trivial, &'static som_runtime::tier::AstBody>> {
        let Target::Method(m) = t else {
            return None;
        };
        if m.num_args != args.len() || m.reflective.is_some() {
            return None;
        }
        if let (Some(tr), true) = (m.trivial, key == Value::ZERO) {
            // As `send::enforced_trivial`: only for the standard domain,
            // whose field handlers are the standard ones.
            if matches!(
                tr,
                Trivial::Constant(_)
                    | Trivial::ReturnSelf
                    | Trivial::Getter(_)
                    | Trivial::Setter(_)
                    | Trivial::Identity
                    | Trivial::ClassOf
                    | Trivial::TextEquals
            ) {
                return Some(Ok(tr));
            }
        }
        if m.unenforced {
            return None;
        }
        let body = m.enforced.get()?;
        self.inlinable_body(m, body, true).map(Err)
    }

    #[allow(clippy::too_many_arguments, reason = "the send's state, passed on")]
    fn emit_enforced_target(
        &mut self,
        s: &'static EnforcedSendNode,
        t: Target,
        shape: *const Shape,
        rcvr: ir::Value,
        args: &[Arg],
        done: ir::Block,
        generic: ir::Block,
    ) {
        // SAFETY: shapes are interned and never freed.
        let key = unsafe { (*shape).domain };
        let Target::Method(m) = t else {
            unreachable!("filtered by enforced_target")
        };
        let v = match self.enforced_target(t, key, args) {
            Some(Ok(Trivial::TextEquals)) => {
                // The primitive's fallback runs as the standard operation
                // (the receiver, a text, belongs to the standard domain).
                let arg = self.realize(&args[0]);
                self.text_equals(rcvr, arg, |me, v| me.enforced_invoke_generic(s, m, v))
            }
            Some(Ok(_)) => self
                .trivial(None, m, shape, rcvr, args, generic)
                .expect("a trivial method of the enforced kinds"),
            Some(Err(body)) => {
                self.shape_next = Some((shape, generic));
                self.inline_method(s.pos, m, body, rcvr, args)
            }
            None if key == Value::ZERO && self.runtime.tier_text_access(m).is_some() => {
                // `length` / `charAt:` of a text, inline as in plain code; the
                // primitive, run as the standard operation, where the
                // checks reject.
                let char_at = self.runtime.tier_text_access(m) == Some(true);
                self.text_access_or(char_at, rcvr, args, |me| {
                    let mut values = vec![rcvr];
                    for a in args {
                        let v = me.realize(a);
                        values.push(v);
                    }
                    me.enforced_invoke_generic(s, m, &values)
                })
            }
            // As in plain code: the receiver's owner, the standard domain,
            // does not reify the primitive.
            None if key == Value::ZERO && self.is_array_length(m) => {
                self.array_length(rcvr, generic)
            }
            None if key == Value::ZERO
                && (self.runtime.tier_is_class_new(m) || self.runtime.tier_is_array_new(m)) =>
            {
                // Allocation as in plain code: the standard domain never
                // reifies a primitive, and the inline path checks that the
                // current domain allocates in the standard one.
                let mut values = vec![rcvr];
                for a in args {
                    let v = self.realize(a);
                    values.push(v);
                }
                let slow = |me: &mut Self| me.enforced_primitive(s, m, &values);
                let v = if self.runtime.tier_is_class_new(m) {
                    self.try_inline_new(s.selector, shape, slow)
                } else {
                    let n = values.get(1).and_then(|v| self.const_value(*v));
                    self.try_inline_array_new(shape, n, slow)
                };
                match v {
                    Some(v) => v,
                    None => self.enforced_primitive(s, m, &values),
                }
            }
            None if self.invocable(s, t, key, args.len()) => {
                let mut values = vec![rcvr];
                for a in args {
                    let v = self.realize(a);
                    values.push(v);
                }
                if m.is_primitive() {
                    // The guard fixed the owner, which does not reify it.
                    self.enforced_primitive(s, m, &values)
                } else {
                    self.enforced_invoke(s, m, &values)
                }
            }
            None => {
                self.b.ins().jump(generic, &[]);
                return;
            }
        };
        self.jump_with(done, v);
    }

    /// Whether target `t` of `s`, for a receiver owned by the domain with
    /// key `key` (which handles sends in the standard way), is run by
    /// `rt_enforced_invoke` when not inlined: any method, but a primitive
    /// whose execution the owner may reify only once the site's primitive
    /// chain knows the owner does not.
    fn invocable(&self, s: &EnforcedSendNode, t: Target, key: Value, argc: usize) -> bool {
        let Target::Method(m) = t else {
            return false;
        };
        if m.num_args != argc {
            return false;
        }
        if !m.is_primitive() || m.unenforced || m.transparent {
            return true;
        }
        // The standard domain never reifies a primitive (`Vm::domain_handler`
        // has no handler for it), whatever its class defines.
        key == Value::ZERO || self.standard_keys(&s.prims).contains(&key)
    }

    /// The key of `v`'s owner domain: ZERO for small integers (as
    /// `Vm::owner_key`), else its shape's.
    pub(crate) fn owner_key(&mut self, v: ir::Value) -> ir::Value {
        let small = self.b.create_block();
        let ptr = self.b.create_block();
        let done = self.value_block();
        let tag = self.is_small(v);
        self.b.ins().brif(tag, small, &[], ptr, &[]);
        self.b.seal_block(small);
        self.b.seal_block(ptr);
        self.b.switch_to_block(small);
        let zero = self.iconst(0);
        self.jump_with(done, zero);
        self.b.switch_to_block(ptr);
        let shape = self.load(v, layout::HEADER_SHAPE);
        let key = self.load(shape, layout::SHAPE_DOMAIN);
        self.join(done, key)
    }

    /// [`Lowerer::owner_key`] of a value known not to be a SmallInteger.
    fn heap_owner_key(&mut self, v: ir::Value) -> ir::Value {
        let shape = self.load(v, layout::HEADER_SHAPE);
        self.load(shape, layout::SHAPE_DOMAIN)
    }

    /// Whether `self` of the current activation may be a SmallInteger: its
    /// method is defined in Integer or in one of Integer's superclasses.
    fn self_may_be_small(&self) -> bool {
        let holder = self.scope().method.holder.get();
        // SAFETY: shapes are interned and never freed.
        let int_class = unsafe { (*self.consts.int_shape).class };
        !holder.is_ptr() || self.runtime.inherits_from(int_class, holder)
    }

    /// A field read (`write` false) or write of `self` in an enforced body.
    pub(crate) fn lower_enforced_field(
        &mut self,
        f: &'static EnforcedFieldNode,
        write: bool,
    ) -> ir::Value {
        let value = if write {
            let n = f.value.as_ref().expect("a field write");
            Some(self.lower(n))
        } else {
            None
        };
        let rcvr = self.receiver();
        let done = self.value_block();
        let slow = self.cold_block();
        let mut standard = self.standard_keys(&f.domains);
        let argc = if write { 3 } else { 2 };
        let mut handlers = self.inlinable_handlers(&f.domains, argc);
        let known_shape = self.known_receiver_shape();
        // SAFETY: shapes are interned and never freed.
        let known = known_shape.map(|sh| unsafe { (*sh).domain }).or_else(|| {
            // The unit's own receiver, whose owner it is specialized on
            // (tested on entry; while the unit is valid it has not changed).
            self.self_owner.filter(|_| self.unit_receiver == Some(rcvr))
        });
        if let Some(k) = known {
            // A guard of this activation fixed self's shape, so its owner.
            standard.retain(|x| *x == k);
            handlers.retain(|(x, ..)| *x == k);
        }
        if !standard.is_empty() || !handlers.is_empty() {
            self.depend_on_domains(&f.domains);
            self.guard_valid(slow);
            let key = match known {
                Some(_) => None,
                None if !self.self_may_be_small() => Some(self.heap_owner_key(rcvr)),
                None => Some(self.owner_key(rcvr)),
            };
            let pos = f.domains.site().1;
            let index = Value::small(f.index.0 as i64 + 1);
            for (k, h, body) in handlers {
                let hit = self.b.create_block();
                let next = self.b.create_block();
                self.branch_on_key(key, &[k], hit, next);
                self.b.seal_block(hit);
                self.b.seal_block(next);
                self.b.switch_to_block(hit);
                let mut args = Vec::new();
                if let Some(v) = value {
                    args.push(Arg::Word(v));
                }
                args.push(Arg::Const(index));
                args.push(Arg::Word(rcvr));
                // The handler's `obj` is self, whose shape a guard fixed.
                self.arg_shapes_next = known_shape
                    .map(|sh| (args.len() - 1, sh))
                    .into_iter()
                    .collect();
                let r = self.inline_handler(pos, k, h, body, &args);
                // A write answers the value written, whatever the handler
                // answers.
                self.jump_with(done, value.unwrap_or(r));
                self.b.switch_to_block(next);
            }
            let check = self.b.create_block();
            self.branch_on_key(key, &standard, check, slow);
            self.b.seal_block(check);
            self.b.switch_to_block(check);
            let fast = self.b.create_block();
            self.check_field(rcvr, f.index.0, fast, slow);
            self.b.seal_block(fast);
            self.b.switch_to_block(fast);
            let off = self.self_field_offset(f.index.0);
            let v = match value {
                Some(v) => {
                    self.store(v, rcvr, off);
                    v
                }
                None => self.load(rcvr, off),
            };
            self.jump_with(done, v);
        } else {
            self.b.ins().jump(slow, &[]);
        }
        self.b.seal_block(slow);
        self.b.switch_to_block(slow);
        let vm = self.vm();
        let n = self.addr("node", f as *const EnforcedFieldNode as i64);
        let w = self.iconst(write as i64);
        let val = match value {
            Some(v) => v,
            None => self.iconst(0),
        };
        let r = self.call_fallible(Entry::EnforcedField, &[vm, n, rcvr, w, val]);
        // A write answers the value written (as on the fast path): the
        // join then has one value, and no parameter.
        self.join(done, value.unwrap_or(r))
    }

    /// A global read in an enforced body: while the current domain reads
    /// globals in the standard way, what a plain read is (the folded value
    /// of a global that has not changed, else the cell's).
    pub(crate) fn lower_enforced_global(
        &mut self,
        node: &'static Node,
        g: &'static EnforcedGlobalNode,
    ) -> ir::Value {
        let standard = self.standard_keys(&g.domains);
        let handlers = self.inlinable_handlers(&g.domains, 2);
        let cell = g.global.cell.get();
        if (standard.is_empty() || cell.is_none()) && handlers.is_empty() {
            let never_ran = g.domains.entries().is_empty() && !g.domains.is_generic();
            if never_ran || cell.is_none() {
                // Left to the interpreter only because it had not run: once
                // it runs, the unit is recompiled to read it inline.
                self.count_site_ran();
            }
            return self.interpret(node);
        }
        let done = self.value_block();
        let slow = self.cold_block();
        self.depend_on_domains(&g.domains);
        self.guard_valid(slow);
        // In a unit specialized on its entry domain the key is a constant:
        // the branches on it fold.
        let known = self.entry_domain;
        let key = match known {
            Some(_) => None,
            None => {
                let cur = self.addr("vm", self.current_domain);
                Some(self.load(cur, 0))
            }
        };
        let pos = g.domains.site().1;
        let name = self.syms.object(g.global.name);
        for (k, h, body) in handlers {
            if known.is_some_and(|kd| kd != k) {
                continue;
            }
            let hit = self.b.create_block();
            let next = self.b.create_block();
            self.branch_on_key(key, &[k], hit, next);
            self.b.seal_block(hit);
            self.b.seal_block(next);
            self.b.switch_to_block(hit);
            let rcvr = self.receiver();
            let r = self.inline_handler(pos, k, h, body, &[Arg::Const(name), Arg::Word(rcvr)]);
            self.jump_with(done, r);
            self.b.switch_to_block(next);
        }
        let Some(cell) = cell else {
            self.b.ins().jump(slow, &[]);
            self.b.seal_block(slow);
            self.b.switch_to_block(slow);
            let r = self.interpret(node);
            self.jump_with(done, r);
            self.b.seal_block(done);
            return self.enter_value_block(done);
        };
        let read = self.b.create_block();
        let standard: Vec<Value> = standard
            .into_iter()
            .filter(|k| known.is_none_or(|kd| kd == *k))
            .collect();
        self.branch_on_key(key, &standard, read, slow);
        self.b.seal_block(read);
        self.b.switch_to_block(read);
        if let Some(k) = self.foldable_global(cell) {
            // As a plain global read folds it: the unit was tested valid
            // above, with no call on the way here (a handler's hit goes to
            // `done`), and a write that changes the global invalidates it.
            self.folded_globals.push(cell);
            let c = self.som_const(k);
            self.jump_with(done, c);
        } else {
            let addr = self.addr("cell", std::ptr::from_ref(&cell.value) as i64);
            let v = self.load(addr, 0);
            let bound = self.b.create_block();
            self.b.ins().brif(v, bound, &[], slow, &[]);
            self.b.seal_block(bound);
            self.b.switch_to_block(bound);
            self.jump_with(done, v);
        }
        self.b.seal_block(slow);
        self.b.switch_to_block(slow);
        let r = self.interpret(node);
        self.join(done, r)
    }
}

/// The primitive an enforced send of `argc` arguments reaches through
/// target `t` whose execution the receiver's owner may reify
/// (`requestExecutionOfPrimitive:with:on:`): not one declared `unenforced`
/// and not a transparent one (which runs other code instead).
fn reified_primitive(t: Target, argc: usize) -> Option<&'static MethodData> {
    match t {
        Target::Method(m)
            if m.is_primitive() && !m.unenforced && !m.transparent && m.num_args == argc =>
        {
            Some(m)
        }
        _ => None,
    }
}

/// How [`Lowerer::enforced_send_evaluated_with`] finishes a send.
struct Evaluated {
    /// Its Double case is emitted here (not when the caller computed it on
    /// unboxed operands).
    doubles: bool,
    /// A guard miss leaves its path open for the send this one is the
    /// argument of (`Lowerer::defer_miss`).
    defer: bool,
    /// The open miss path of its argument, and the value there.
    cold_arg: Option<(ir::Block, ir::Value)>,
    /// The receiver is a field of self read ahead of the test of `valid`.
    reread: bool,
}
