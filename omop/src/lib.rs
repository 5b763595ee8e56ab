//! metasom's ownership-based metaobject protocol: the `Mirror` primitives
//! that read and change owners and move execution between domains.
//!
//! The mechanics every operation needs (the owner in each object's shape, the
//! enforced bodies, the domain-keyed chains, handler lookup and invalidation)
//! live in the runtime (`som_runtime::omop`, `som_runtime::nodes`), because
//! the interpreter's nodes use them. This crate adds the meta-level interface
//! that SOM code calls, and [`install`] registers it with a VM. The SOM side
//! (`Domain`, `Mirror`, `ActorDomain`, promises and the actor scheduler) is in
//! `smalltalk-src/omop`.
//!
//! Invariant: every transition of the current domain or enforcement made here
//! is undone on every exit path (normal return, non-local return, exception
//! unwind, error), via `Vm::with_execution`.

use som_runtime::error::ErrorClass;
use som_runtime::interpreter::{is_kind, Args};
use som_runtime::object::Kind;
use som_runtime::{Unwind, Value, Vm, VmResult};

/// Errors of the OMOP's Rust side that are not SOM-level errors.
#[derive(Debug, thiserror::Error)]
pub enum OmopError {
    /// A primitive was given something that is not a domain.
    #[error("{0}: argument must be a Domain, not an instance of {1}")]
    NotADomain(&'static str, String),
}

fn domain_arg(vm: &mut Vm, prim: &'static str, d: Value) -> Result<Value, Unwind> {
    let class = vm.omop.domain_class;
    if class.is_ptr() && d.is_ptr() && vm.inherits_from(vm.class_of(d), class) {
        Ok(d)
    } else {
        Err(Unwind::error_as(
            ErrorClass::ArgumentError,
            OmopError::NotADomain(prim, vm.class_name_of(d)).to_string(),
        ))
    }
}

fn block_arg(vm: &Vm, prim: &str, b: Value) -> Result<Value, Unwind> {
    if is_kind(b, Kind::Block) {
        Ok(b)
    } else {
        Err(Unwind::error_as(
            ErrorClass::ArgumentError,
            format!(
                "{prim}: argument must be a Block, not an instance of {}",
                vm.class_name_of(b)
            ),
        ))
    }
}

/// `Mirror domainOf: obj`: the owner of `obj`.
fn mirror_domain_of(vm: &mut Vm, a: Args) -> VmResult {
    let key = vm.owner_key(a.arg(vm, 0));
    vm.domain_object(key)
}

/// `Mirror setDomainOf: obj to: owner`: changes the owner (asking the old
/// owner's `requestOwnerChangeOf:to:`); answers `obj`. As in the paper's
/// SOM, the owner may be any object: one that implements no handler makes
/// every operation on `obj` run as in the standard domain.
fn mirror_set_domain_of(vm: &mut Vm, a: Args) -> VmResult {
    let obj = a.arg(vm, 0);
    let owner = a.arg(vm, 1);
    vm.set_owner(obj, owner)
}

/// `Mirror evaluate: block in: domain`: runs the block with `domain` as the
/// current domain, keeping the enforcement.
fn mirror_evaluate_in(vm: &mut Vm, a: Args) -> VmResult {
    let b = block_arg(vm, "Mirror>>#evaluate:in:", a.arg(vm, 0))?;
    let d = domain_arg(vm, "Mirror>>#evaluate:in:", a.arg(vm, 1))?;
    vm.request_entry(d)?;
    let enforced = vm.executes_enforced();
    vm.with_execution(d, enforced, |vm| vm.call_block(b, &[]))
}

/// `Mirror evaluate: block enforcedIn: domain`: runs the block enforced, with
/// `domain` as the current domain.
fn mirror_evaluate_enforced_in(vm: &mut Vm, a: Args) -> VmResult {
    let b = block_arg(vm, "Mirror>>#evaluate:enforcedIn:", a.arg(vm, 0))?;
    let d = domain_arg(vm, "Mirror>>#evaluate:enforcedIn:", a.arg(vm, 1))?;
    vm.request_entry(d)?;
    vm.with_execution(d, true, |vm| vm.call_block(b, &[]))
}

/// `Mirror currentDomain`.
fn mirror_current_domain(vm: &mut Vm, _a: Args) -> VmResult {
    let key = vm.current_domain_key();
    vm.domain_object(key)
}

/// `Mirror executesEnforced`.
fn mirror_executes_enforced(vm: &mut Vm, _a: Args) -> VmResult {
    Ok(vm.boolean(vm.executes_enforced()))
}

/// `Mirror executesUnenforced`.
fn mirror_executes_unenforced(vm: &mut Vm, _a: Args) -> VmResult {
    Ok(vm.boolean(!vm.executes_enforced()))
}

/// `Mirror isStandardDomain: d`: whether `d` is the standard domain.
fn mirror_is_standard_domain(vm: &mut Vm, a: Args) -> VmResult {
    let d = a.arg(vm, 0);
    Ok(vm.boolean(!vm.domain_key(d).is_ptr()))
}

/// Registers the `Mirror` primitives with `vm`; call before loading classes.
/// All of them are transparent: they are the meta level's own interface and
/// are never reified (ownership changes and domain entry consult the
/// domains involved instead).
pub fn install(vm: &mut Vm) {
    let prims: [(&str, som_runtime::method::PrimFn); 8] = [
        ("domainOf:", mirror_domain_of),
        ("setDomainOf:to:", mirror_set_domain_of),
        ("evaluate:in:", mirror_evaluate_in),
        ("evaluate:enforcedIn:", mirror_evaluate_enforced_in),
        ("currentDomain", mirror_current_domain),
        ("executesEnforced", mirror_executes_enforced),
        ("executesUnenforced", mirror_executes_unenforced),
        ("isStandardDomain:", mirror_is_standard_domain),
    ];
    for (sel, f) in prims {
        vm.register_primitive("Mirror class", sel, f);
        vm.register_transparent("Mirror class", sel);
    }
}
