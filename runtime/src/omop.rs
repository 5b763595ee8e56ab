//! The ownership-based metaobject protocol (OMOP): execution state, owners and
//! intercession handlers.
//!
//! Invariants:
//! - every object has exactly one owner, kept in its shape (the pair
//!   class × owner); the **standard domain** is the key `Value::ZERO` in
//!   shapes, so objects the program creates before any domain exists, small
//!   integers, Doubles, Strings, Symbols, literals and classes are owned by it;
//! - as in the paper's SOM, any object may own objects (`Mirror setDomainOf:
//!   obj to: anObject`, or a domain's `domainForNewObjects`): an owner's
//!   handlers are the methods of its class with the handler selectors, so an
//!   owner that implements none of them (any non-`Domain`, or a `Domain` that
//!   customises nothing) makes every operation run as in the standard domain.
//!   Every owner key other than `Value::ZERO`, immediates included, is a
//!   non-standard owner;
//! - [`OmopState::enforced`] is true exactly while an *enforced* body runs:
//!   unenforced bodies (the only ones ordinary programs ever run) contain no
//!   OMOP check at all, and enforced bodies are compiled only on first
//!   enforced activation ([`crate::method::EnforcedBody`]);
//! - a handler method runs unenforced (at the meta level), so handlers never
//!   recurse into handlers;
//! - a handler is *customised* when lookup of its selector in the domain's
//!   class finds another method than the one class `Domain` was loaded with;
//!   only customised handlers are ever called. The standard domain is an
//!   instance of `Domain` itself and therefore never customised;
//! - every domain object that becomes a cache key or an owner is made
//!   immortal, so a key compared by identity can never be a recycled address.

use std::collections::HashMap;

use crate::dispatch::Target;
use crate::interpreter::{invoke, Args, Unwind};
use crate::method::{MethodData, MethodKind};
use crate::object;
use crate::symbols::SymbolId;
use crate::value::Value;
use crate::vm::{Vm, VmResult};

/// The intercession handlers of class `Domain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Handler {
    /// `requestExecutionOf:with:on:lookup:` (selector, args, receiver, lookup class).
    Execution,
    /// `requestExecutionOfPrimitive:with:on:` (primitive, args, receiver).
    Primitive,
    /// `readField:of:` (1-based index, object).
    ReadField,
    /// `write:toField:of:` (value, 1-based index, object).
    WriteField,
    /// `readGlobal:for:` (name, receiver); dispatched on the current domain.
    ReadGlobal,
    /// `write:toGlobal:for:` (value, name, receiver); dispatched on the current
    /// domain. Our addition: SOM's OMOP had no global writes.
    WriteGlobal,
    /// `requestOwnerChangeOf:to:` (object, new owner), sent to the current
    /// owner whenever an object changes owner. Our addition: without it, any
    /// code could take an object away from an actor.
    OwnerChange,
    /// `requestEntryFrom:` (current domain), sent to a domain that code is
    /// about to execute in (`Mirror evaluate:in:` and friends) from another
    /// domain. Our addition, for the same reason.
    Entry,
}

impl Handler {
    /// All handlers, in a fixed order (the index into per-handler tables).
    pub const ALL: [Handler; 8] = [
        Handler::Execution,
        Handler::Primitive,
        Handler::ReadField,
        Handler::WriteField,
        Handler::ReadGlobal,
        Handler::WriteGlobal,
        Handler::OwnerChange,
        Handler::Entry,
    ];

    /// The handler's selector.
    pub fn selector(self) -> &'static str {
        match self {
            Handler::Execution => "requestExecutionOf:with:on:lookup:",
            Handler::Primitive => "requestExecutionOfPrimitive:with:on:",
            Handler::ReadField => "readField:of:",
            Handler::WriteField => "write:toField:of:",
            Handler::ReadGlobal => "readGlobal:for:",
            Handler::WriteGlobal => "write:toGlobal:for:",
            Handler::OwnerChange => "requestOwnerChangeOf:to:",
            Handler::Entry => "requestEntryFrom:",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The OMOP state of the VM.
#[derive(Default)]
pub struct OmopState {
    /// The standard domain object, once somebody asked for it.
    pub standard: Value,
    /// Class `Domain`, once loaded.
    pub domain_class: Value,
    /// Index of `Domain`'s `domainForNewObjects` field.
    dfno_field: usize,
    /// The handler methods class `Domain` was loaded with.
    originals: [Option<&'static MethodData>; Handler::ALL.len()],
    /// Handler selectors, interned.
    selectors: [SymbolId; Handler::ALL.len()],
    /// Handler lookups of code without a chain (primitives).
    generic: HashMap<(u64, Handler), Option<&'static MethodData>>,
}

/// Saved execution state, restored when a transition ends.
#[derive(Clone, Copy)]
pub struct Execution {
    enforced: bool,
    current: Value,
    alloc: Value,
}

impl Vm {
    /// Whether the running body is an enforced one (the flag lives in the
    /// VM state compiled code reads, [`crate::tier::TierVm`]).
    #[inline(always)]
    pub fn executes_enforced(&self) -> bool {
        self.tier_state.enforced
    }

    /// The key of the current (executing) domain; ZERO is the standard
    /// domain.
    #[inline(always)]
    pub fn current_domain_key(&self) -> Value {
        self.tier_state.current
    }

    /// The owner key of `v`: ZERO for the standard domain, else the domain.
    #[inline(always)]
    pub fn owner_key(&self, v: Value) -> Value {
        if v.is_small() {
            Value::ZERO
        } else {
            // SAFETY: shapes of live objects are interned and never freed.
            unsafe { (*object::header(v).shape).domain }
        }
    }

    /// The key under which `owner` is stored in shapes: ZERO for the
    /// standard domain, any other object (nil included) itself.
    pub fn owner_key_of(&self, owner: Value) -> Value {
        if owner == self.omop.standard {
            Value::ZERO
        } else {
            owner
        }
    }

    /// The key of `domain` as the current domain, where nil (a domain not
    /// yet chosen) also stands for the standard domain.
    pub fn domain_key(&self, domain: Value) -> Value {
        if domain == self.omop.standard || domain == self.nil {
            Value::ZERO
        } else {
            domain
        }
    }

    /// The standard domain object, created (as `Domain new`) on first use.
    pub fn standard_domain(&mut self) -> VmResult {
        if self.omop.standard.is_ptr() {
            return Ok(self.omop.standard);
        }
        let name = self.intern("Domain");
        let class = match self.try_load_class(name)? {
            Some(c) => c,
            None => {
                return Err(Unwind::error(
                    "the OMOP needs class Domain: put smalltalk-src/omop on the classpath",
                ))
            }
        };
        // The standard domain owns itself, whoever asks for it first.
        let saved = self.tier_state.alloc;
        self.tier_state.alloc = Value::ZERO;
        let d = self.new_instance(class);
        self.tier_state.alloc = saved;
        self.omop.standard = self.make_immortal(d);
        let sel = self.intern("initialize");
        self.unenforced(|vm| vm.send(d, sel, &[]))?;
        Ok(d)
    }

    /// The domain object (the owner) of a key.
    pub fn domain_object(&mut self, key: Value) -> VmResult {
        if key != Value::ZERO {
            Ok(key)
        } else {
            self.standard_domain()
        }
    }

    /// Records class `Domain`'s handlers as the standard ones; called when a
    /// class named `Domain` is defined.
    pub(crate) fn note_domain_class(&mut self, class: Value) {
        self.omop.domain_class = class;
        for h in Handler::ALL {
            let sel = self.intern(h.selector());
            self.omop.selectors[h.index()] = sel;
            self.omop.originals[h.index()] =
                self.class_data(class).methods.borrow().get(&sel).copied();
        }
        let dfno = self.intern("domainForNewObjects");
        self.omop.dfno_field = self
            .class_data(class)
            .instance_fields
            .borrow()
            .iter()
            .position(|f| *f == dfno)
            .unwrap_or(0);
        self.omop.generic.clear();
    }

    /// The selector of handler `h`.
    pub fn handler_selector(&mut self, h: Handler) -> SymbolId {
        if self.omop.domain_class.is_ptr() {
            self.omop.selectors[h.index()]
        } else {
            self.intern(h.selector())
        }
    }

    /// The customised handler `h` of the domain with key `key`, or None when
    /// the domain handles the operation in the standard way.
    pub fn domain_handler_uncached(
        &mut self,
        key: Value,
        h: Handler,
    ) -> Option<&'static MethodData> {
        if key == Value::ZERO || !self.omop.domain_class.is_ptr() {
            return None;
        }
        let class = self.class_of(key);
        let sel = self.omop.selectors[h.index()];
        let m = self.lookup(class, sel)?;
        match self.omop.originals[h.index()] {
            Some(orig) if std::ptr::eq(orig, m) => None,
            _ => Some(m),
        }
    }

    /// As [`Vm::domain_handler_uncached`], through a VM-wide cache (for
    /// primitives, which have no site of their own).
    pub fn domain_handler(&mut self, key: Value, h: Handler) -> Option<&'static MethodData> {
        if key == Value::ZERO {
            return None;
        }
        // Keyed on the domain's class, which alone decides the handler: a
        // domain object may be collected and its address reused by a domain
        // of another class, while classes are permanent.
        let class = self.class_of(key);
        if let Some(&r) = self.omop.generic.get(&(class.bits(), h)) {
            if self.verify_caches {
                crate::verify::handler(self, h, key, r);
            }
            return r;
        }
        let r = self.domain_handler_uncached(key, h);
        self.omop.generic.insert((class.bits(), h), r);
        r
    }

    /// Forgets the VM-wide handler cache (a method table changed).
    pub(crate) fn flush_handler_cache(&mut self) {
        self.omop.generic.clear();
    }

    /// Saves the execution state.
    pub fn save_execution(&self) -> Execution {
        Execution {
            enforced: self.tier_state.enforced,
            current: self.tier_state.current,
            alloc: self.tier_state.alloc,
        }
    }

    /// Restores a saved execution state.
    pub fn restore_execution(&mut self, e: Execution) {
        self.tier_state.enforced = e.enforced;
        self.tier_state.current = e.current;
        self.tier_state.alloc = e.alloc;
    }

    /// Makes `domain` the current domain (and its `domainForNewObjects` the
    /// owner of new objects) with the given enforcement.
    pub fn set_execution(&mut self, domain: Value, enforced: bool) {
        let key = self.domain_key(domain);
        if key.is_ptr() {
            self.make_immortal(key);
        }
        self.tier_state.current = key;
        self.tier_state.alloc = if key.is_ptr() && self.is_domain(key) {
            // As in the paper, new objects belong to whatever object the
            // domain's `domainForNewObjects` names; nil (before `initialize`)
            // means the domain itself.
            let d = object::slots(key)
                .get(self.omop.dfno_field)
                .copied()
                .filter(|d| *d != self.nil)
                .unwrap_or(key);
            let d = self.owner_key_of(d);
            if d.is_ptr() {
                self.make_immortal(d);
            }
            d
        } else {
            Value::ZERO
        };
        self.tier_state.enforced = enforced;
    }

    /// Whether `v` is an instance of class `Domain` (or of a subclass).
    pub fn is_domain(&self, v: Value) -> bool {
        let class = self.omop.domain_class;
        class.is_ptr()
            && v.is_ptr()
            && object::kind_of(v) == crate::object::Kind::Object
            && self.inherits_from(self.class_of(v), class)
    }

    /// Runs `f` with the current domain and enforcement set, restoring both on
    /// every path.
    pub fn with_execution(
        &mut self,
        domain: Value,
        enforced: bool,
        f: impl FnOnce(&mut Vm) -> VmResult,
    ) -> VmResult {
        let saved = self.save_execution();
        self.set_execution(domain, enforced);
        let r = f(self);
        self.restore_execution(saved);
        r
    }

    /// Runs `f` in a saved execution state, restoring the present one after.
    pub fn with_saved_execution(
        &mut self,
        e: Execution,
        f: impl FnOnce(&mut Vm) -> VmResult,
    ) -> VmResult {
        let saved = self.save_execution();
        self.restore_execution(e);
        let r = f(self);
        self.restore_execution(saved);
        r
    }

    /// Runs `f` at the meta level (unenforced, same current domain).
    #[inline]
    pub fn unenforced(&mut self, f: impl FnOnce(&mut Vm) -> VmResult) -> VmResult {
        let was = self.tier_state.enforced;
        self.tier_state.enforced = false;
        let r = f(self);
        self.tier_state.enforced = was;
        r
    }

    /// Calls handler `h` of the domain with key `key` at the meta level.
    pub fn call_handler(
        &mut self,
        handler: &'static MethodData,
        key: Value,
        args: &[Value],
    ) -> VmResult {
        let domain = self.domain_object(key)?;
        self.unenforced(|vm| vm.invoke_with(handler, domain, args))
    }

    /// The owner of objects allocated now, or ZERO for the standard domain.
    #[inline(always)]
    pub fn alloc_domain(&self) -> Value {
        self.tier_state.alloc
    }

    /// Changes the owner of `obj` to `owner` (any object), asking the
    /// current owner's `requestOwnerChangeOf:to:` first. Immediates, Strings,
    /// Symbols, Doubles and classes stay in the standard domain (an error).
    pub fn set_owner(&mut self, obj: Value, owner: Value) -> VmResult {
        use crate::object::Kind;
        let ownable = obj.is_ptr()
            && matches!(
                object::kind_of(obj),
                Kind::Object | Kind::Array | Kind::Block
            );
        if !ownable {
            return Err(Unwind::error_as(
                crate::error::ErrorClass::ArgumentError,
                format!(
                    "Mirror>>#setDomainOf:to: an instance of {} always belongs to the standard domain",
                    self.class_name_of(obj)
                ),
            ));
        }
        let old = self.owner_key(obj);
        let new = self.owner_key_of(owner);
        if old == new {
            return Ok(obj);
        }
        if let Some(h) = self.domain_handler(old, Handler::OwnerChange) {
            let d = self.domain_object(new)?;
            self.call_handler(h, old, &[obj, d])?;
        }
        if new.is_ptr() {
            self.make_immortal(new);
        }
        // The same class and layout: only the owner changes.
        let old_shape =
            object::shape_ref(object::header(obj).shape).expect("a heap object has a shape");
        let shape = self.shape_owned_by(old_shape, new);
        object::header(obj).shape = shape;
        if !self.owner_dependents.is_empty() {
            self.owners_changed();
        }
        crate::trace::domain_owner_event(self, obj, new);
        Ok(obj)
    }

    /// Asks `domain` whether code may start executing in it, when it is not
    /// the current domain.
    pub fn request_entry(&mut self, domain: Value) -> Result<(), Unwind> {
        let key = self.domain_key(domain);
        if key == self.tier_state.current {
            return Ok(());
        }
        if let Some(h) = self.domain_handler(key, Handler::Entry) {
            let cur = self.tier_state.current;
            let cur = self.domain_object(cur)?;
            self.call_handler(h, key, &[cur])?;
        }
        Ok(())
    }

    // ----- enforced execution ------------------------------------------------

    /// Invokes `m` at base level in enforced execution, receiver and arguments
    /// at `base`: AST methods run their enforced body (unenforced ones their
    /// only body, at the meta level); primitives are reified through the
    /// receiver owner's `requestExecutionOfPrimitive:with:on:` when that is
    /// customised (`prim_handler` answers it, from a site's chain or the VM).
    pub fn call_enforced(
        &mut self,
        m: &'static MethodData,
        base: usize,
        argc: usize,
        prim_handler: &mut dyn FnMut(&mut Vm, Value) -> Option<&'static MethodData>,
    ) -> VmResult {
        match &m.kind {
            MethodKind::Primitive(p) => {
                if m.unenforced || m.transparent {
                    return p(self, Args { base, argc });
                }
                let rcvr = self.stack_at(base);
                let key = self.owner_key(rcvr);
                match prim_handler(self, key) {
                    None => p(self, Args { base, argc }),
                    Some(h) => {
                        let args = self.new_array_from_stack(base + 1, argc);
                        let prim = m.object.get();
                        self.call_handler(h, key, &[prim, args, rcvr])
                    }
                }
            }
            MethodKind::Ast(_) => {
                if m.unenforced {
                    return self.unenforced(|vm| invoke(vm, m, base));
                }
                crate::interpreter::invoke_enforced_body(self, m, base)
            }
        }
    }

    /// Calls a dispatch target in enforced execution (DNU targets get their
    /// argument array now).
    pub fn call_target_enforced(
        &mut self,
        target: Target,
        selector: SymbolId,
        base: usize,
        argc: usize,
        prim_handler: &mut dyn FnMut(&mut Vm, Value) -> Option<&'static MethodData>,
    ) -> VmResult {
        match target {
            Target::Method(m) => self.call_enforced(m, base, argc, prim_handler),
            Target::Dnu(h) => {
                let args = self.new_array_from_stack(base + 1, argc);
                self.set_sp(base + 1);
                let sym = self.symbol_value(selector);
                self.push(sym)?;
                self.push(args)?;
                self.call_enforced(h, base, 2, prim_handler)
            }
            Target::Empty => unreachable!("empty cache entries are never matched"),
        }
    }

    /// A generic enforced send (no site): the receiver owner's
    /// `requestExecutionOf:with:on:lookup:` when customised, else the method
    /// run enforced. `lookup_class` is ZERO for ordinary sends.
    pub fn send_enforced_at(
        &mut self,
        selector: SymbolId,
        lookup_class: Value,
        base: usize,
        argc: usize,
    ) -> VmResult {
        let rcvr = self.stack_at(base);
        let key = self.owner_key(rcvr);
        if let Some(h) = self.domain_handler(key, Handler::Execution) {
            let args = self.new_array_from_stack(base + 1, argc);
            let sym = self.symbol_value(selector);
            let cls = if lookup_class.is_ptr() {
                lookup_class
            } else {
                self.class_of(rcvr)
            };
            return self.call_handler(h, key, &[sym, args, rcvr, cls]);
        }
        self.perform_enforced_at(selector, lookup_class, base, argc)
    }

    /// Runs the method `selector` names at base level in enforced execution,
    /// without asking the owner (`performEnforced:` and the standard
    /// `requestExecutionOf:`).
    pub fn perform_enforced_at(
        &mut self,
        selector: SymbolId,
        lookup_class: Value,
        base: usize,
        argc: usize,
    ) -> VmResult {
        let rcvr = self.stack_at(base);
        let target = if lookup_class.is_ptr() {
            self.resolve_super_target(lookup_class, rcvr, selector)?
        } else {
            let class = self.class_of(rcvr);
            self.resolve_target(class, selector)?
        };
        let was = self.tier_state.enforced;
        self.tier_state.enforced = true;
        let r = self.call_target_enforced(target, selector, base, argc, &mut |vm, key| {
            vm.domain_handler(key, Handler::Primitive)
        });
        self.tier_state.enforced = was;
        r
    }
}
