//! `som --verify-caches`: every cache hit re-checked against a full lookup.
//!
//! Invariant checked: whatever a cache answers on a hit is exactly what the
//! uncached computation answers for the same receiver and key at that moment.
//! With [`Vm::verify_caches`] set, each hit path (send and DNU targets, super
//! sends, the selector level of perform sites, reflective field, global and
//! `respondsTo:` caches, domain chains, global reads' cells, and the VM-wide
//! lookup and handler caches) calls one of the functions here, which recompute the answer
//! without any cache and stop the VM at the first disagreement: a VM bug,
//! reported with the cache's site (file, line:col) and kind, through a panic,
//! so the launcher exits with status 70 as for every internal error.
//!
//! Send chains, the hottest caches, pay nothing when the flag is off: under
//! verification their entries are stored so that the guard loop never
//! matches them (see [`crate::dispatch`]), and the check happens on the cold
//! path. The other caches test the flag on their hit paths; everything in
//! this module is cold.

use crate::dispatch::Target;
use crate::method::MethodData;
use crate::nodes::Reflective;
use crate::omop::Handler;
use crate::symbols::SymbolId;
use crate::trace::Site;
use crate::value::Value;
use crate::vm::Vm;

/// Stops the VM: a cache of `kind` at `site`/`pos` answered `cached` where a
/// full lookup answers `full`.
#[cold]
#[inline(never)]
fn disagree(
    site: &Site,
    pos: (u32, u32),
    kind: &str,
    what: String,
    cached: String,
    full: String,
) -> ! {
    let place = if std::ptr::eq(site, Site::NONE) {
        "a cache without a site".to_string()
    } else {
        format!("{} in {site}", site.at(pos))
    };
    panic!(
        "cache verification failed at {place} ({kind} cache, {what}): \
         the cache answered {cached}, a full lookup answers {full}"
    )
}

fn describe_method(vm: &Vm, m: &MethodData) -> String {
    let holder = m.holder.get();
    let class = if holder.is_ptr() {
        vm.class_name(holder).to_string()
    } else {
        "?".to_string()
    };
    format!("{class}>>#{}", vm.symbols.text(m.signature))
}

fn describe_target(vm: &Vm, t: Option<Target>) -> String {
    match t {
        Some(Target::Method(m)) => describe_method(vm, m),
        Some(Target::Dnu(h)) => format!("the handler {}", describe_method(vm, h)),
        Some(Target::Empty) => "an empty entry".to_string(),
        None => "an error (no method and no handler)".to_string(),
    }
}

fn same_target(a: Target, b: Option<Target>) -> bool {
    match (a, b) {
        (Target::Method(x), Some(Target::Method(y))) | (Target::Dnu(x), Some(Target::Dnu(y))) => {
            std::ptr::eq(x, y)
        }
        _ => false,
    }
}

/// The target of `selector` for instances of `class`, without any cache.
fn full_target(vm: &Vm, class: Value, selector: SymbolId) -> Option<Target> {
    match vm.lookup_uncached(class, selector) {
        Some(m) => Some(Target::Method(m)),
        None => vm
            .lookup_uncached(class, vm.well_known.dnu)
            .map(Target::Dnu),
    }
}

/// Checks a send chain's hit (`kind` `send`, or `perform` for the chain of a
/// performed selector) for a receiver of `class`.
#[cold]
#[inline(never)]
pub fn send(
    vm: &Vm,
    (site, pos): (&Site, (u32, u32)),
    kind: &str,
    selector: SymbolId,
    class: Value,
    cached: Target,
) {
    let full = full_target(vm, class, selector);
    let what = || {
        format!(
            "#{} to a {}",
            vm.symbols.text(selector),
            vm.class_name(class)
        )
    };
    check_target(vm, (site, pos), kind, what, cached, full);
}

/// Reports a disagreement between a cached send target and the target a
/// full lookup finds; a cached DNU handler is reported as the `dnu` kind.
fn check_target(
    vm: &Vm,
    (site, pos): (&Site, (u32, u32)),
    kind: &str,
    what: impl FnOnce() -> String,
    cached: Target,
    full: Option<Target>,
) {
    if same_target(cached, full) {
        return;
    }
    let kind = if matches!(cached, Target::Dnu(_)) {
        "dnu"
    } else {
        kind
    };
    disagree(
        site,
        pos,
        kind,
        what(),
        describe_target(vm, Some(cached)),
        describe_target(vm, full),
    );
}

/// Checks a super send's cached target: lookup from `lookup_class`, the
/// receiver's handler when that fails.
#[cold]
#[inline(never)]
pub fn super_send(
    vm: &Vm,
    (site, pos): (&Site, (u32, u32)),
    lookup_class: Value,
    selector: SymbolId,
    rcvr: Value,
    cached: Target,
) {
    let found = if lookup_class.is_ptr() && lookup_class != vm.nil {
        vm.lookup_uncached(lookup_class, selector)
    } else {
        None
    };
    let class = vm.class_of(rcvr);
    let full = match found {
        Some(m) => Some(Target::Method(m)),
        None => vm
            .lookup_uncached(class, vm.well_known.dnu)
            .map(Target::Dnu),
    };
    let what = || {
        format!(
            "super #{} to a {}",
            vm.symbols.text(selector),
            vm.class_name(class)
        )
    };
    check_target(vm, (site, pos), "super send", what, cached, full);
}

/// Checks a perform site's selector level: the selector object it matched
/// stands for the cached selector.
#[cold]
#[inline(never)]
pub fn perform_selector(
    vm: &Vm,
    (site, pos): (&Site, (u32, u32)),
    selector_value: Value,
    cached: SymbolId,
) {
    let is_symbol = crate::interpreter::is_kind(selector_value, crate::object::Kind::Symbol);
    if !is_symbol || vm.symbol_id(selector_value) != cached {
        let full = if is_symbol {
            format!("#{}", vm.symbols.text(vm.symbol_id(selector_value)))
        } else {
            "a non-Symbol".to_string()
        };
        disagree(
            site,
            pos,
            "perform",
            "the performed selector".to_string(),
            format!("#{}", vm.symbols.text(cached)),
            full,
        );
    }
}

/// Checks a reflective field hit (`instVarAt:`, `instVarAt:put:`,
/// `instVarNamed:`): the cached slot is the one the primitive computes.
#[cold]
#[inline(never)]
pub fn field(
    vm: &mut Vm,
    (site, pos): (&'static Site, (u32, u32)),
    kind: Reflective,
    rcvr: Value,
    key: Value,
    cached: usize,
) {
    let full = crate::nodes::field_of(vm, kind, rcvr, key);
    if full.as_ref().ok() != Some(&cached) {
        let full = match full {
            Ok(i) => format!("field {}", i + 1),
            Err(_) => "an error (no such field)".to_string(),
        };
        disagree(
            site,
            pos,
            "field",
            format!("{kind:?} on a {}", vm.class_name_of(rcvr)),
            format!("field {}", cached + 1),
            full,
        );
    }
}

/// Checks a `system global:` / `global:put:` hit: the cached cell is the
/// binding of the name.
#[cold]
#[inline(never)]
pub fn global(
    vm: &mut Vm,
    (site, pos): (&'static Site, (u32, u32)),
    key: Value,
    cached: &'static crate::nodes::GlobalCell,
) {
    let name = vm.symbol_id(key);
    let full = vm.global_cell(name);
    if !std::ptr::eq(full, cached) {
        disagree(
            site,
            pos,
            "global",
            format!("global #{}", vm.symbols.text(name)),
            format!("the cell of #{}", vm.symbols.text(cached.name)),
            format!("the cell of #{}", vm.symbols.text(full.name)),
        );
    }
}

/// Checks a global read's cached cell: it is the binding of the name.
#[cold]
#[inline(never)]
pub fn global_read(vm: &mut Vm, name: SymbolId, cached: &'static crate::nodes::GlobalCell) {
    let full = vm.global_cell(name);
    if !std::ptr::eq(full, cached) {
        disagree(
            Site::NONE,
            (0, 0),
            "global read",
            format!("global #{}", vm.symbols.text(name)),
            format!("the cell of #{}", vm.symbols.text(cached.name)),
            format!("the cell of #{}", vm.symbols.text(full.name)),
        );
    }
}

/// Checks a `respondsTo:` hit.
#[cold]
#[inline(never)]
pub fn responds_to(
    vm: &Vm,
    (site, pos): (&'static Site, (u32, u32)),
    rcvr: Value,
    selector: SymbolId,
    cached: bool,
) {
    let class = vm.class_of(rcvr);
    let full = vm.lookup_uncached(class, selector).is_some();
    if full != cached {
        disagree(
            site,
            pos,
            "respondsTo",
            format!(
                "#{} for a {}",
                vm.symbols.text(selector),
                vm.class_name(class)
            ),
            cached.to_string(),
            full.to_string(),
        );
    }
}

/// Checks a domain chain's hit: the handler cached for the domain `key`.
#[cold]
#[inline(never)]
pub fn domain(
    vm: &mut Vm,
    (site, pos): (&'static Site, (u32, u32)),
    handler: Handler,
    key: Value,
    cached: Option<&'static MethodData>,
) {
    let full = vm.domain_handler_uncached(key, handler);
    if full.map(|m| m as *const MethodData) != cached.map(|m| m as *const MethodData) {
        let show = |m: Option<&'static MethodData>| match m {
            Some(m) => describe_method(vm, m),
            None => "the standard operation".to_string(),
        };
        disagree(
            site,
            pos,
            "domain",
            format!("{} for {}", handler.selector(), domain_name(vm, key)),
            show(cached),
            show(full),
        );
    }
}

fn domain_name(vm: &Vm, key: Value) -> String {
    if key.is_ptr() {
        format!("a {}", vm.class_name_of(key))
    } else {
        "the standard domain".to_string()
    }
}

/// Checks a hit of the VM-wide lookup cache (used by generic sites and
/// primitives, which have no site of their own).
#[cold]
#[inline(never)]
pub fn lookup(vm: &Vm, class: Value, selector: SymbolId, cached: Option<&'static MethodData>) {
    let full = vm.lookup_uncached(class, selector);
    if full.map(|m| m as *const MethodData) != cached.map(|m| m as *const MethodData) {
        let show = |m: Option<&'static MethodData>| match m {
            Some(m) => describe_method(vm, m),
            None => "no method".to_string(),
        };
        disagree(
            Site::NONE,
            (0, 0),
            "VM lookup",
            format!("#{} in {}", vm.symbols.text(selector), vm.class_name(class)),
            show(cached),
            show(full),
        );
    }
}

/// Checks a hit of the VM-wide domain handler cache.
#[cold]
#[inline(never)]
pub fn handler(vm: &mut Vm, handler: Handler, key: Value, cached: Option<&'static MethodData>) {
    domain(vm, (Site::NONE, (0, 0)), handler, key, cached);
}
