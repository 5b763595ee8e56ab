//! Enforced operations: the nodes of enforced bodies, each with a chain level
//! keyed on the owner domain.
//!
//! In an enforced body every send, field read, field write and global read is
//! one of these nodes. Each holds a [`DomainChain`]: (domain → handler) pairs
//! guarded by the identity of the domain that owns the receiver (the current
//! domain for globals). An entry for a domain whose class does not customise
//! the handler holds `None`, and the node then performs the standard
//! operation directly: a field access, or the ordinary class-keyed
//! [`DispatchChain`] followed by the callee's enforced body, with no
//! reflective call and no argument array. An entry for a customising domain
//! holds the handler method, called at the meta level.
//!
//! States of a domain chain: uninitialized → cached (up to
//! [`DOMAIN_CACHE_LIMIT`] domains) → generic (a VM-wide cached handler lookup
//! per execution). A domain class gaining or losing a handler invalidates
//! exactly the entries of domains of that class or its subclasses (the chain is
//! registered under the handler's selector). An object changing owner needs no
//! invalidation: the owner is read from the object at every guard, so the
//! next operation on it takes its new owner's entry.

use std::cell::{Cell, UnsafeCell};

use crate::dispatch::{DispatchChain, Target};
use crate::interpreter::{Frame, Unwind};
use crate::method::MethodData;
use crate::nodes::{FieldIndex, GlobalReadNode, Node, SpecialOp};
use crate::omop::Handler;
use crate::symbols::SymbolId;
use crate::value::Value;
use crate::vm::{Dependent, Vm, VmResult};

/// Domains one site caches before going generic; six, like every chain.
pub const DOMAIN_CACHE_LIMIT: usize = 6;

type DomainEntry = (Value, Option<&'static MethodData>);

/// The domain-keyed level of an enforced operation.
pub struct DomainChain {
    handler: Handler,
    entries: UnsafeCell<[DomainEntry; DOMAIN_CACHE_LIMIT]>,
    len: Cell<u8>,
    generic: Cell<bool>,
    registered: Cell<bool>,
    site: &'static crate::trace::Site,
    pos: (u32, u32),
}

impl DomainChain {
    /// An empty chain for `handler` at a site.
    pub fn new(
        handler: Handler,
        site: &'static crate::trace::Site,
        pos: (u32, u32),
    ) -> DomainChain {
        DomainChain {
            handler,
            entries: UnsafeCell::new([(Value::ZERO, None); DOMAIN_CACHE_LIMIT]),
            len: Cell::new(0),
            generic: Cell::new(false),
            registered: Cell::new(false),
            site,
            pos,
        }
    }

    /// The customised handler for the domain `key`, or None for the standard
    /// operation.
    #[inline(always)]
    pub fn lookup(&self, vm: &mut Vm, key: Value) -> Option<&'static MethodData> {
        // SAFETY: the array is written only by `specialize`/`invalidate`,
        // never while a reference from here is alive (entries are copied).
        let entries = unsafe { &*self.entries.get() };
        for e in &entries[..self.len.get() as usize] {
            if e.0 == key {
                if vm.verify_caches {
                    crate::verify::domain(vm, (self.site, self.pos), self.handler, key, e.1);
                }
                return e.1;
            }
        }
        self.specialize(vm, key)
    }

    /// Whether the first entry is `key` with the standard operation: the
    /// monomorphic case, checked inline by the field and global nodes. Never
    /// true under `--verify-caches`, so that every hit goes through
    /// [`DomainChain::lookup`], which verifies it.
    #[inline(always)]
    pub fn first_is_standard(&self, vm: &Vm, key: Value) -> bool {
        // SAFETY: see `lookup`.
        let first = unsafe { (*self.entries.get())[0] };
        self.len.get() > 0 && first.0 == key && first.1.is_none() && !vm.verify_caches
    }

    #[cold]
    #[inline(never)]
    fn specialize(&self, vm: &mut Vm, key: Value) -> Option<&'static MethodData> {
        if self.generic.get() {
            return vm.domain_handler(key, self.handler);
        }
        let h = vm.domain_handler_uncached(key, self.handler);
        if !self.registered.replace(true) {
            let sel = vm.handler_selector(self.handler);
            vm.register_dependent(sel, Dependent::Domain(self));
            vm.record_site(crate::trace::Recorded::Domain(self));
        }
        let n = self.len.get() as usize;
        if n >= DOMAIN_CACHE_LIMIT {
            self.generic.set(true);
            self.len.set(0);
            crate::trace::domain_event(vm, self, key, h.is_some(), true);
            return h;
        }
        if key.is_ptr() {
            vm.make_immortal(key);
        }
        // SAFETY: see `lookup`.
        unsafe { (*self.entries.get())[n] = (key, h) };
        self.len.set(n as u8 + 1);
        crate::trace::domain_event(vm, self, key, h.is_some(), false);
        h
    }

    /// Drops the entries whose domain `stale` selects; answers how many.
    pub fn invalidate(&self, mut stale: impl FnMut(Value) -> bool) -> usize {
        // SAFETY: invalidation runs between evaluations of the site.
        let entries = unsafe { &mut *self.entries.get() };
        let n = self.len.get() as usize;
        let mut kept = 0;
        for i in 0..n {
            if !stale(entries[i].0) {
                entries[kept] = entries[i];
                kept += 1;
            }
        }
        self.len.set(kept as u8);
        n - kept
    }

    /// The handler this chain dispatches.
    pub fn handler(&self) -> Handler {
        self.handler
    }

    /// The owning site and position, for traces.
    pub fn site(&self) -> (&'static crate::trace::Site, (u32, u32)) {
        (self.site, self.pos)
    }

    /// Number of cached domains.
    pub fn chain_len(&self) -> usize {
        self.len.get() as usize
    }

    /// Whether the chain went generic.
    pub fn is_generic(&self) -> bool {
        self.generic.get()
    }

    /// A copy of the entries: (domain key, customised handler).
    pub fn entries(&self) -> Vec<(Value, Option<&'static MethodData>)> {
        // SAFETY: see `lookup`.
        let entries = unsafe { &*self.entries.get() };
        entries[..self.chain_len()].to_vec()
    }

    /// The state's name, as traces print it.
    pub fn state_name(&self) -> &'static str {
        if self.is_generic() {
            "generic"
        } else {
            match self.chain_len() {
                0 => "uninitialized",
                1 => "monomorphic",
                _ => "polymorphic",
            }
        }
    }
}

/// A send in an enforced body (also super sends, with `lookup_class`).
pub struct EnforcedSendNode {
    /// The selector.
    pub selector: SymbolId,
    /// The receiver expression (`self` for super sends).
    pub receiver: Node,
    /// The argument expressions.
    pub args: Box<[Node]>,
    /// For super sends, the class lookup starts in.
    pub lookup_class: Option<Value>,
    /// Arithmetic, Array access and block evaluation computed in place when
    /// the receiver's owner handles sends in the standard way (see
    /// `send::enforced_special`).
    pub special: Option<SpecialOp>,
    /// `requestExecutionOf:with:on:lookup:` keyed on the receiver's owner.
    pub domains: DomainChain,
    /// The class-keyed chain of the standard operation.
    pub chain: DispatchChain,
    /// `requestExecutionOfPrimitive:with:on:` keyed on the receiver's owner,
    /// used when the target is a primitive.
    pub prims: DomainChain,
    /// Whether the special case computed a Double (so the compiled tier
    /// emits its Double path here).
    pub saw_double: Cell<bool>,
    /// Whether an `at:`/`at:put:` site computed the standard access on a
    /// plain Array before consulting any domain (so the compiled tier emits
    /// that case here, beside the guards of the reified accesses).
    pub saw_plain_access: Cell<bool>,
    /// Cached target of a super send (a method, never a DNU handler).
    pub super_target: Cell<Option<Target>>,
    /// Set when compiled guards on this site failed too often: recompiled
    /// code sends generically here (as `SendNode::unstable`).
    pub unstable: Cell<bool>,
    /// Whether the super send is registered as a dependent of its selector.
    super_registered: Cell<bool>,
    /// The method containing the site, for traces.
    pub site: &'static crate::trace::Site,
    /// Source position of the selector.
    pub pos: (u32, u32),
}

impl EnforcedSendNode {
    /// A new enforced send.
    pub fn new(
        selector: SymbolId,
        receiver: Node,
        args: Vec<Node>,
        lookup_class: Option<Value>,
        special: Option<SpecialOp>,
        site: &'static crate::trace::Site,
        pos: (u32, u32),
    ) -> EnforcedSendNode {
        EnforcedSendNode {
            selector,
            receiver,
            args: args.into_boxed_slice(),
            lookup_class,
            special,
            domains: DomainChain::new(Handler::Execution, site, pos),
            chain: DispatchChain::default(),
            prims: DomainChain::new(Handler::Primitive, site, pos),
            saw_double: Cell::new(false),
            saw_plain_access: Cell::new(false),
            super_target: Cell::new(None),
            unstable: Cell::new(false),
            super_registered: Cell::new(false),
            site,
            pos,
        }
    }

    /// Evaluates the send.
    #[inline(never)]
    pub fn eval(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        let r = self.eval_body(vm, f);
        crate::interpreter::sent(self.pos, r, vm)
    }

    #[inline(always)]
    fn eval_body(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        let base = vm.sp();
        let rcvr = self.receiver.eval(vm, f)?;
        if let (Some(op), [arg]) = (self.special, &self.args[..]) {
            let arg = arg.eval(vm, f)?;
            if let Some(v) = self.binary(vm, op, rcvr, arg) {
                return Ok(v);
            }
            vm.push(rcvr)?;
            vm.push(arg)?;
        } else {
            vm.push(rcvr)?;
            for a in self.args.iter() {
                let v = a.eval(vm, f)?;
                vm.push(v)?;
            }
        }
        self.dispatch(vm, rcvr, base)
    }

    /// The special case computed in place, noting Doubles.
    #[inline(always)]
    fn binary(&self, vm: &mut Vm, op: SpecialOp, rcvr: Value, arg: Value) -> Option<Value> {
        let v = crate::nodes::send::enforced_binary(vm, op, rcvr, arg)?;
        if op == SpecialOp::At {
            self.saw_plain_access.set(true);
        } else if !rcvr.is_small() {
            self.saw_double.set(true);
        }
        Some(v)
    }

    /// The send with its receiver and arguments evaluated (`values`): what
    /// the compiled tier calls when its inline cases do not apply.
    pub fn send_values(&self, vm: &mut Vm, values: &[Value]) -> VmResult {
        let r = self.send_values_body(vm, values);
        crate::interpreter::sent(self.pos, r, vm)
    }

    fn send_values_body(&self, vm: &mut Vm, values: &[Value]) -> VmResult {
        let base = vm.sp();
        if let (Some(op), [rcvr, arg]) = (self.special, values) {
            if let Some(v) = self.binary(vm, op, *rcvr, *arg) {
                return Ok(v);
            }
        }
        for v in values {
            vm.push(*v)?;
        }
        self.dispatch(vm, values[0], base)
    }

    /// Primitive `m` run on `values` (receiver, then arguments) as the
    /// standard operation: what [`EnforcedSendNode::invoke_values`] does
    /// when the receiver's owner does not reify primitives, without
    /// looking that up (the compiled tier knows it from the receiver's
    /// guarded shape). Any other method is invoked as by `invoke_values`.
    pub fn invoke_primitive_values(
        &self,
        vm: &mut Vm,
        m: &'static MethodData,
        values: &[Value],
    ) -> VmResult {
        let crate::method::MethodKind::Primitive(p) = &m.kind else {
            return self.invoke_values(vm, m, values);
        };
        let base = vm.sp();
        let r = (|| {
            for v in values {
                vm.push(*v)?;
            }
            p(
                vm,
                crate::interpreter::Args {
                    base,
                    argc: values.len() - 1,
                },
            )
        })();
        vm.set_sp(base);
        crate::interpreter::sent(self.pos, r, vm)
    }

    /// Runs `m`, this site's target for the receiver in `values[0]` (whose
    /// owner handles sends in the standard way: the compiled tier's guard
    /// decided both), as the standard operation runs it, without the
    /// lookups.
    pub fn invoke_values(&self, vm: &mut Vm, m: &'static MethodData, values: &[Value]) -> VmResult {
        let r = self.invoke_values_body(vm, m, values);
        crate::interpreter::sent(self.pos, r, vm)
    }

    fn invoke_values_body(
        &self,
        vm: &mut Vm,
        m: &'static MethodData,
        values: &[Value],
    ) -> VmResult {
        let base = vm.sp();
        for v in values {
            vm.push(*v)?;
        }
        let argc = values.len() - 1;
        let r = match (m.enforced.get(), m.unenforced) {
            (Some(body), false) => crate::interpreter::activate_enforced_twin(vm, m, body, base),
            _ => {
                let prims = &self.prims;
                vm.call_target_enforced(
                    Target::Method(m),
                    self.selector,
                    base,
                    argc,
                    &mut |vm, key| prims.lookup(vm, key),
                )
            }
        };
        vm.set_sp(base);
        r
    }

    /// The domain-keyed and class-keyed dispatch of the send whose receiver
    /// and arguments are on the stack from `base`; pops them.
    #[inline(always)]
    fn dispatch(&self, vm: &mut Vm, rcvr: Value, base: usize) -> VmResult {
        let argc = self.args.len();
        let key = vm.owner_key(rcvr);
        let r = match self.domains.lookup(vm, key) {
            Some(h) => {
                self.learn_shape(vm, rcvr);
                self.reify(vm, h, key, rcvr, base, argc)
            }
            None => {
                if let Some(op) = self.special {
                    if let Some(r) = crate::nodes::send::enforced_special(vm, op, base, argc) {
                        if matches!(op, SpecialOp::At | SpecialOp::AtPut) {
                            self.saw_plain_access.set(true);
                        }
                        vm.set_sp(base);
                        return r;
                    }
                }
                let target = self.target(vm, rcvr)?;
                if let Target::Method(m) = target {
                    if let (Some(t), true) = (m.trivial, key == Value::ZERO) {
                        if let Some(v) = crate::nodes::send::enforced_trivial(vm, t, base) {
                            vm.set_sp(base);
                            return Ok(v);
                        }
                    }
                    // Enforced execution calling an ordinary method whose
                    // twin exists: straight into the activation.
                    if let (Some(body), false) = (m.enforced.get(), m.unenforced) {
                        let r = crate::interpreter::activate_enforced_twin(vm, m, body, base);
                        vm.set_sp(base);
                        return r;
                    }
                }
                let prims = &self.prims;
                vm.call_target_enforced(target, self.selector, base, argc, &mut |vm, key| {
                    prims.lookup(vm, key)
                })
            }
        };
        vm.set_sp(base);
        r
    }

    #[inline(always)]
    fn target(&self, vm: &mut Vm, rcvr: Value) -> Result<Target, Unwind> {
        if let Some(lc) = self.lookup_class {
            if let Some(t) = self.super_target.get() {
                if vm.verify_caches {
                    let site = (self.site, self.pos);
                    crate::verify::super_send(vm, site, lc, self.selector, rcvr, t);
                }
                return Ok(t);
            }
            return self.resolve_super(vm, lc, rcvr);
        }
        let shape = vm.shape_of(rcvr);
        match self.chain.lookup(shape) {
            Some(t) => Ok(t),
            None => self.specialize(vm, shape),
        }
    }

    /// Records the receiver's shape in the class chain even though the
    /// owner's handler takes the send: the compiled tier guards on that
    /// shape, which fixes the class the handler is given (and so the method
    /// its `performEnforced:...inSuperclass:` finds).
    #[inline(always)]
    fn learn_shape(&self, vm: &mut Vm, rcvr: Value) {
        if self.lookup_class.is_some() || self.chain.is_generic() {
            return;
        }
        let shape = vm.shape_of(rcvr);
        if self.chain.lookup(shape).is_none() {
            // Only the cache entry matters here; a failing lookup is
            // reported by the handler's own send, if it makes one.
            let _ = self.specialize(vm, shape);
        }
    }

    /// Resolves a super send. Only a method found from the lookup class is
    /// cached: a DNU handler depends on the receiver's class, so that case
    /// is resolved again at each execution (as `SuperSendNode` does).
    #[cold]
    #[inline(never)]
    fn resolve_super(&self, vm: &mut Vm, lc: Value, rcvr: Value) -> Result<Target, Unwind> {
        let t = vm.resolve_super_target(lc, rcvr, self.selector)?;
        if let Target::Method(_) = t {
            self.super_target.set(Some(t));
            if !self.super_registered.replace(true) {
                vm.register_dependent(self.selector, Dependent::EnforcedSuper(self));
            }
        }
        Ok(t)
    }

    #[cold]
    #[inline(never)]
    fn specialize(
        &self,
        vm: &mut Vm,
        shape: *const crate::object::Shape,
    ) -> Result<Target, Unwind> {
        if !self.chain.is_generic() && !self.chain.is_registered() {
            vm.record_site(crate::trace::Recorded::Enforced(self));
        }
        crate::nodes::send::specialize_chain(
            vm,
            &self.chain,
            self.selector,
            shape,
            self.site,
            self.pos,
        )
    }

    /// Calls the owner's customised `requestExecutionOf:with:on:lookup:`.
    #[cold]
    #[inline(never)]
    fn reify(
        &self,
        vm: &mut Vm,
        h: &'static MethodData,
        key: Value,
        rcvr: Value,
        base: usize,
        argc: usize,
    ) -> VmResult {
        let args = vm.new_array_from_stack(base + 1, argc);
        let sym = vm.symbol_value(self.selector);
        let cls = match self.lookup_class {
            Some(c) => c,
            None => vm.class_of(rcvr),
        };
        vm.call_handler(h, key, &[sym, args, rcvr, cls])
    }
}

/// A field read or write of `self` in an enforced body.
pub struct EnforcedFieldNode {
    /// The field.
    pub index: FieldIndex,
    /// For writes, the value expression.
    pub value: Option<Node>,
    /// `readField:of:` or `write:toField:of:` keyed on self's owner.
    pub domains: DomainChain,
}

impl EnforcedFieldNode {
    /// A read (`value` None) or write of field `index`.
    pub fn new(
        index: FieldIndex,
        value: Option<Node>,
        site: &'static crate::trace::Site,
        pos: (u32, u32),
    ) -> EnforcedFieldNode {
        let h = if value.is_some() {
            Handler::WriteField
        } else {
            Handler::ReadField
        };
        EnforcedFieldNode {
            index,
            value,
            domains: DomainChain::new(h, site, pos),
        }
    }

    /// The read, when self's owner is the chain's first, standard, entry.
    #[inline(always)]
    pub fn fast_read(&self, vm: &Vm, f: &Frame) -> Option<Value> {
        if self.domains.first_is_standard(vm, vm.owner_key(f.receiver)) {
            crate::object::object_field(f.receiver, self.index.0)
        } else {
            None
        }
    }

    /// Evaluates the read.
    #[inline(never)]
    pub fn read(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        self.read_of(vm, f.receiver)
    }

    /// The read of `receiver`'s field, dispatched on its owner.
    pub fn read_of(&self, vm: &mut Vm, receiver: Value) -> VmResult {
        let key = vm.owner_key(receiver);
        match self.domains.lookup(vm, key) {
            None => match self.index.read(vm, receiver) {
                Ok(v) => Ok(v),
                Err(e) => crate::interpreter::failed_at(self.domains.pos, e, vm),
            },
            Some(h) => {
                let i = Value::small(self.index.0 as i64 + 1);
                vm.call_handler(h, key, &[i, receiver])
            }
        }
    }

    /// Evaluates the write; answers the assigned value.
    #[inline(never)]
    pub fn write(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        let v = self.value.as_ref().expect("a field write").eval(vm, f)?;
        self.write_of(vm, f.receiver, v)
    }

    /// The write of `v` to `receiver`'s field, dispatched on its owner;
    /// answers `v`.
    pub fn write_of(&self, vm: &mut Vm, receiver: Value, v: Value) -> VmResult {
        let key = vm.owner_key(receiver);
        match self.domains.lookup(vm, key) {
            None => {
                if let Err(e) = self.index.write(vm, receiver, v) {
                    return crate::interpreter::failed_at(self.domains.pos, e, vm);
                }
            }
            Some(h) => {
                let i = Value::small(self.index.0 as i64 + 1);
                vm.call_handler(h, key, &[v, i, receiver])?;
            }
        }
        Ok(v)
    }
}

/// A global read in an enforced body, dispatched on the current domain.
pub struct EnforcedGlobalNode {
    /// The standard read.
    pub global: GlobalReadNode,
    /// `readGlobal:for:` keyed on the current domain.
    pub domains: DomainChain,
}

impl EnforcedGlobalNode {
    /// A read of global `name`.
    pub fn new(
        name: SymbolId,
        site: &'static crate::trace::Site,
        pos: (u32, u32),
    ) -> EnforcedGlobalNode {
        EnforcedGlobalNode {
            global: GlobalReadNode::new(name, pos),
            domains: DomainChain::new(Handler::ReadGlobal, site, pos),
        }
    }

    /// The value, when the current domain is the chain's first, standard,
    /// entry and the global is bound.
    #[inline(always)]
    pub fn fast_read(&self, vm: &Vm) -> Option<Value> {
        if self.domains.first_is_standard(vm, vm.tier_state.current) {
            self.global.cached()
        } else {
            None
        }
    }

    /// Evaluates the read.
    #[inline(never)]
    pub fn eval(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        let key = vm.tier_state.current;
        match self.domains.lookup(vm, key) {
            None => match self.global.cached() {
                Some(v) if !vm.verify_caches => Ok(v),
                _ => self.global.eval(vm, f),
            },
            Some(h) => {
                let name = vm.symbol_value(self.global.name);
                vm.call_handler(h, key, &[name, f.receiver])
            }
        }
    }
}
