//! Class primitives: instantiation and structural reflection.

use super::class_arg;
use crate::error::ErrorClass;
use crate::interpreter::{Args, Unwind};
use crate::object;
use crate::value::Value;
use crate::vm::{Vm, VmResult};

fn class_name(vm: &mut Vm, a: Args) -> VmResult {
    let c = class_arg(vm, "Class>>#name", a.rcvr(vm))?;
    Ok(vm.symbol_value(vm.class_data(c).name))
}

fn class_new(vm: &mut Vm, a: Args) -> VmResult {
    let c = class_arg(vm, "Class>>#new", a.rcvr(vm))?;
    let data = vm.class_data(c);
    if data.is_metaclass || c == vm.classes.class || c == vm.classes.metaclass {
        return Err(Unwind::error_as(
            ErrorClass::ArgumentError,
            format!(
                "Class>>#new: cannot instantiate {} (classes are defined by class files)",
                vm.class_name(c)
            ),
        ));
    }
    Ok(vm.new_instance(c))
}

fn class_superclass(vm: &mut Vm, a: Args) -> VmResult {
    let c = class_arg(vm, "Class>>#superclass", a.rcvr(vm))?;
    Ok(vm.class_data(c).superclass.get())
}

fn class_fields(vm: &mut Vm, a: Args) -> VmResult {
    let c = class_arg(vm, "Class>>#fields", a.rcvr(vm))?;
    let names = vm.class_data(c).instance_fields.borrow().clone();
    let arr = vm.new_array(names.len());
    for (i, n) in names.iter().enumerate() {
        object::slots(arr)[i] = vm.symbol_value(*n);
    }
    Ok(arr)
}

fn class_methods(vm: &mut Vm, a: Args) -> VmResult {
    let c = class_arg(vm, "Class>>#methods", a.rcvr(vm))?;
    let objs: Vec<Value> = vm
        .class_data(c)
        .methods
        .borrow()
        .values()
        .map(|m| m.object.get())
        .collect();
    // The method objects are permanent, so holding them in a Vec across the
    // allocation is safe.
    Ok(vm.new_array_from(&objs))
}

/// A change to a class in enforced execution goes through the *current*
/// domain's `requestExecutionOfPrimitive:with:on:`, not the receiver owner's:
/// a class belongs to the standard domain and is shared by all domains (its
/// methods decide how everyone's instances behave), so, as for
/// `global:put:`, the domain running the code decides. None when the
/// primitive runs now (not enforced, or the current domain does not
/// customise the handler); otherwise what the handler answered.
fn class_change_request(vm: &mut Vm, a: Args, selector: &str) -> Option<VmResult> {
    if !vm.tier_state.enforced {
        return None;
    }
    let key = vm.tier_state.current;
    let h = vm.domain_handler(key, crate::omop::Handler::Primitive)?;
    let rcvr = a.rcvr(vm);
    let sel = vm.intern(selector);
    let class = vm.class_of(rcvr);
    let prim = vm.lookup(class, sel)?.object.get();
    let args = vm.new_array_from_stack(a.base + 1, a.argc);
    Some(vm.call_handler(h, key, &[prim, args, rcvr]))
}

/// `Class>>compile: source`: defines (or replaces) a method from SOM source;
/// answers the new Method. A syntax error is an `ArgumentError` (the source
/// is a bad argument) whose message is the `file:line:col:` diagnostic.
fn class_compile(vm: &mut Vm, a: Args) -> VmResult {
    let c = class_arg(vm, "Class>>#compile:", a.rcvr(vm))?;
    if let Some(r) = class_change_request(vm, a, "compile:") {
        return r;
    }
    let source = super::text_arg(vm, "Class>>#compile:", a.arg(vm, 0))?.to_string();
    let fe = vm.frontend.clone().expect("front end installed");
    let t0 = std::time::Instant::now();
    let def = fe.compile_method(vm, c, &source);
    vm.compile_time += t0.elapsed();
    match def {
        Ok(def) => {
            let m = vm.install_method(c, def);
            Ok(m.object.get())
        }
        Err(msg) => Err(Unwind::error_as(ErrorClass::ArgumentError, msg)),
    }
}

/// `Class>>removeMethod: selector`: removes a method of this class; answers
/// it, or nil when the class had none of that name.
fn class_remove_method(vm: &mut Vm, a: Args) -> VmResult {
    let c = class_arg(vm, "Class>>#removeMethod:", a.rcvr(vm))?;
    if let Some(r) = class_change_request(vm, a, "removeMethod:") {
        return r;
    }
    let sel = super::symbol_arg(vm, "Class>>#removeMethod:", a.arg(vm, 0))?;
    Ok(match vm.remove_method(c, sel) {
        Some(m) => m.object.get(),
        None => vm.nil,
    })
}

pub(super) fn install(vm: &mut Vm) {
    vm.register_primitive("Class", "compile:", class_compile);
    vm.register_primitive("Class", "removeMethod:", class_remove_method);
    vm.register_primitive("Class", "name", class_name);
    vm.register_primitive("Class", "new", class_new);
    vm.register_primitive("Class", "superclass", class_superclass);
    vm.register_primitive("Class", "fields", class_fields);
    vm.register_primitive("Class", "methods", class_methods);
}
