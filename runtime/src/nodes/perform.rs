//! Nested dispatch chains for the `perform:` family.
//!
//! A send site whose target turns out to be a `perform:` primitive gets a
//! first-level chain keyed on the performed selector (and, for the
//! `inSuperclass:` forms, the lookup class). Each entry owns an ordinary
//! class-keyed [`DispatchChain`] for that selector. A site that always performs
//! `#inc:` on a Calculator therefore ends with two cached entries and does no
//! lookup and builds no argument array on its fast path: the arguments already
//! on the value stack are moved one slot down over the selector.
//!
//! States of the first level: uninitialized → cached (up to
//! [`PERFORM_CACHE_LIMIT`] selectors) → generic (a lookup per call, still
//! without an argument array for the `with:` forms).

use std::cell::Cell;

use crate::dispatch::{CacheEntry, DispatchChain, Target};
use crate::interpreter::Unwind;
use crate::symbols::SymbolId;
use crate::value::Value;
use crate::vm::{Dependent, Vm, VmResult};

/// Selectors (with lookup class) one perform site caches before it goes
/// generic; six, like every other chain.
pub const PERFORM_CACHE_LIMIT: usize = 6;

/// Which `perform:` primitive a method is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerformKind {
    /// Arguments come from an Array (`withArguments:`), not from the stack.
    pub with_array: bool,
    /// The last argument is the class where lookup starts (`inSuperclass:`).
    pub in_superclass: bool,
}

/// One first-level entry: a selector (and lookup class) with its own chain.
pub struct PerformEntry {
    /// The performed selector.
    pub selector: SymbolId,
    /// The selector object the site passed (matched by identity).
    pub selector_value: Value,
    /// The class lookup starts in, or ZERO for the receiver's class.
    pub lookup_class: Value,
    /// Number of arguments the selector takes.
    pub arity: usize,
    /// The class-keyed chain of this selector.
    pub chain: Box<DispatchChain>,
}

/// The perform chain of one send site.
#[derive(Default)]
pub struct PerformCache {
    entries: [Cell<Option<&'static PerformEntry>>; PERFORM_CACHE_LIMIT],
    len: Cell<u8>,
    generic: Cell<bool>,
    /// The owning send site (`Class>>#selector`, line:col), for traces.
    site: Cell<Option<(&'static crate::trace::Site, (u32, u32))>>,
}

impl PerformCache {
    /// A cache that never caches: each perform looks its target up. Used by
    /// the perform primitives themselves, which have no send site.
    pub fn uncached() -> PerformCache {
        let c = PerformCache::default();
        c.generic.set(true);
        c
    }

    /// Names the send site owning this cache, for traces.
    pub fn set_site(&self, site: &'static crate::trace::Site, pos: (u32, u32)) {
        self.site.set(Some((site, pos)));
    }

    /// The cached entries, in guard order (for statistics and the JIT).
    pub fn entries(&self) -> Vec<&'static PerformEntry> {
        self.entries[..self.len.get() as usize]
            .iter()
            .filter_map(Cell::get)
            .collect()
    }

    /// Whether the site went generic.
    pub fn is_generic(&self) -> bool {
        self.generic.get()
    }

    #[inline(always)]
    fn find(&self, selector_value: Value, lookup_class: Value) -> Option<&'static PerformEntry> {
        for e in &self.entries[..self.len.get() as usize] {
            if let Some(e) = e.get() {
                if e.selector_value == selector_value && e.lookup_class == lookup_class {
                    return Some(e);
                }
            }
        }
        None
    }

    #[cold]
    #[inline(never)]
    fn add(
        &self,
        vm: &mut Vm,
        selector: SymbolId,
        selector_value: Value,
        lookup_class: Value,
    ) -> Option<&'static PerformEntry> {
        if self.generic.get() {
            return None;
        }
        let n = self.len.get() as usize;
        if n >= PERFORM_CACHE_LIMIT {
            self.generic.set(true);
            self.len.set(0);
            if let Some((site, pos)) = self.site.get() {
                crate::trace::perform_event(vm, site, pos, selector, 0, true);
            }
            return None;
        }
        // Entries live as long as the AST (forever), like the chains in it.
        let arity = crate::primitives::selector_arity(vm.symbols.text(selector));
        let e: &'static PerformEntry = Box::leak(Box::new(PerformEntry {
            selector,
            selector_value,
            lookup_class,
            arity,
            chain: Box::new(DispatchChain::default()),
        }));
        e.chain.mark_registered();
        let (site, pos) = self
            .site
            .get()
            .unwrap_or((crate::trace::Site::NONE, (0, 0)));
        vm.register_dependent(
            selector,
            Dependent::Chain(&*e.chain, lookup_class, site, pos),
        );
        let dnu = vm.well_known.dnu;
        vm.register_dependent(dnu, Dependent::Chain(&*e.chain, lookup_class, site, pos));
        self.entries[n].set(Some(e));
        self.len.set(n as u8 + 1);
        if let Some((site, pos)) = self.site.get() {
            crate::trace::perform_event(vm, site, pos, selector, n + 1, false);
        }
        Some(e)
    }

    /// The owning site and position (unknown for caches without one).
    fn site(&self) -> (&'static crate::trace::Site, (u32, u32)) {
        self.site
            .get()
            .unwrap_or((crate::trace::Site::NONE, (0, 0)))
    }

    /// `--verify-caches`: checks a hit of a performed selector's chain.
    #[cold]
    #[inline(never)]
    fn verify(&self, vm: &Vm, rcvr: Value, selector: SymbolId, lookup_class: Value, t: Target) {
        if lookup_class.is_ptr() {
            crate::verify::super_send(vm, self.site(), lookup_class, selector, rcvr, t);
        } else {
            let class = vm.class_of(rcvr);
            crate::verify::send(vm, self.site(), "perform", selector, class, t);
        }
    }

    /// Performs with receiver, selector and arguments at `vm.stack[base..]`
    /// laid out as the primitive `kind` receives them (`argc` counts the
    /// primitive's arguments, selector included).
    #[inline(always)]
    pub fn perform(&self, vm: &mut Vm, kind: PerformKind, base: usize, argc: usize) -> VmResult {
        let prim = if kind.with_array {
            "Object>>#perform:withArguments:"
        } else {
            "Object>>#perform:"
        };
        let rcvr = vm.stack_at(base);
        let sel_value = vm.stack_at(base + 1);
        let lookup_class = if kind.in_superclass {
            let c = vm.stack_at(base + argc);
            crate::primitives::class_arg(vm, prim, c)?
        } else {
            Value::ZERO
        };
        let nargs = lay_out_arguments(vm, kind, prim, base, argc)?;
        let (selector, entry) = match self.find(sel_value, lookup_class) {
            Some(e) => {
                if vm.verify_caches {
                    crate::verify::perform_selector(vm, self.site(), sel_value, e.selector);
                }
                (e.selector, Some(e))
            }
            None => {
                let is_symbol = crate::interpreter::is_kind(sel_value, crate::object::Kind::Symbol);
                let selector = if is_symbol {
                    vm.symbol_id(sel_value)
                } else {
                    crate::primitives::symbol_arg(vm, prim, sel_value)?
                };
                // Only symbols are identity-stable keys; a String selector is
                // looked up on each perform.
                let e = if is_symbol {
                    self.add(vm, selector, sel_value, lookup_class)
                } else {
                    None
                };
                (selector, e)
            }
        };
        let want = match entry {
            Some(e) => e.arity,
            None => crate::primitives::selector_arity(vm.symbols.text(selector)),
        };
        if want != nargs {
            return Err(Unwind::error_as(
                crate::error::ErrorClass::ArgumentError,
                format!(
                    "{prim}: #{} takes {want} argument(s), given {nargs}",
                    vm.symbols.text(selector)
                ),
            ));
        }
        if vm.tier_state.enforced {
            // Base-level code performing a selector sends it, enforced.
            return vm.send_enforced_at(selector, lookup_class, base, nargs);
        }
        let shape = vm.shape_of(rcvr);
        let target = match entry {
            Some(e) => match e.chain.lookup(shape) {
                Some(t) => t,
                None => {
                    if vm.verify_caches {
                        // Verified entries never match in the guard loop:
                        // this is their hit.
                        if let Some(t) = e.chain.lookup_verifying(shape) {
                            self.verify(vm, rcvr, selector, lookup_class, t);
                            return crate::nodes::send_call_target(vm, t, selector, base, nargs);
                        }
                    }
                    let t = resolve(vm, rcvr, selector, lookup_class)?;
                    if !e.chain.is_generic() {
                        let grew = e
                            .chain
                            .add(CacheEntry { shape, target: t }, vm.verify_caches);
                        if let Some((site, pos)) = self.site.get() {
                            // SAFETY: shapes are interned and never freed.
                            let class = unsafe { (*shape).class };
                            crate::trace::chain_event(
                                vm,
                                site,
                                pos,
                                if matches!(t, Target::Dnu(_)) {
                                    "dnu"
                                } else {
                                    "send"
                                },
                                selector,
                                class,
                                &e.chain,
                                if grew { "cached" } else { "generic" },
                            );
                        }
                    }
                    t
                }
            },
            None => resolve(vm, rcvr, selector, lookup_class)?,
        };
        crate::nodes::send_call_target(vm, target, selector, base, nargs)
    }
}

impl PerformCache {
    /// The target of performing `selector` (given as the Symbol
    /// `selector_value`) on `rcvr`, through this site's chains, growing them
    /// as [`PerformCache::perform`] does. For a forwarding DNU handler, whose
    /// `perform:withArguments:` site does not run: the forwarded sends still
    /// build the chains the compiled tier inlines.
    pub fn target_for(
        &self,
        vm: &mut Vm,
        selector: SymbolId,
        selector_value: Value,
        rcvr: Value,
    ) -> Result<Target, Unwind> {
        let entry = match self.find(selector_value, Value::ZERO) {
            Some(e) => Some(e),
            None => self.add(vm, selector, selector_value, Value::ZERO),
        };
        let Some(e) = entry else {
            return resolve(vm, rcvr, selector, Value::ZERO);
        };
        let shape = vm.shape_of(rcvr);
        if let Some(t) = e.chain.lookup(shape) {
            return Ok(t);
        }
        let t = resolve(vm, rcvr, selector, Value::ZERO)?;
        if !vm.verify_caches && !e.chain.is_generic() {
            e.chain.add(CacheEntry { shape, target: t }, false);
        }
        Ok(t)
    }
}

fn resolve(
    vm: &mut Vm,
    rcvr: Value,
    selector: SymbolId,
    lookup_class: Value,
) -> Result<Target, Unwind> {
    if lookup_class.is_ptr() {
        vm.resolve_super_target(lookup_class, rcvr, selector)
    } else {
        let class = vm.class_of(rcvr);
        vm.resolve_target(class, selector)
    }
}

/// Moves the performed arguments (from the stack or from the argument Array)
/// over the selector, so that `[rcvr, args...]` starts at `base`; answers their
/// number.
#[inline(always)]
pub(crate) fn lay_out_arguments(
    vm: &mut Vm,
    kind: PerformKind,
    prim: &str,
    base: usize,
    argc: usize,
) -> Result<usize, Unwind> {
    // Lay out [rcvr, args...] over [rcvr, selector, ...].
    let nargs = if kind.with_array {
        let arr = vm.stack_at(base + 2);
        let is_array = arr.is_ptr()
            && crate::object::header(arr).meta as u8 == crate::object::Kind::Array as u8;
        let n = if is_array {
            crate::object::header(arr).len()
        } else if arr == vm.nil {
            0
        } else {
            return Err(crate::primitives::wrong_arg(vm, prim, "an Array", arr));
        };
        vm.reserve_stack(base + 1 + n)?;
        for i in 0..n {
            // SAFETY: `arr` is an Array of `n` initialised elements.
            let v = unsafe { *crate::object::body_ptr::<Value>(arr).add(i) };
            vm.set_stack_at(base + 1 + i, v);
        }
        vm.set_sp(base + 1 + n);
        n
    } else {
        let n = argc - 1 - kind.in_superclass as usize;
        for i in 0..n {
            let v = vm.stack_at(base + 2 + i);
            vm.set_stack_at(base + 1 + i, v);
        }
        vm.set_sp(base + 1 + n);
        n
    };
    Ok(nargs)
}
