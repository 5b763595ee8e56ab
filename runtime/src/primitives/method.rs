//! Method and Primitive primitives: reflection on invokables.

use super::{wrong_arg, wrong_receiver};
use crate::interpreter::{invoke, is_kind, Args, Unwind};
use crate::method::MethodData;
use crate::object::{self, Kind};
use crate::value::Value;
use crate::vm::{Vm, VmResult};

fn rcvr_method(vm: &Vm, prim: &str, v: Value) -> Result<&'static MethodData, Unwind> {
    if is_kind(v, Kind::Method) {
        Ok(object::method_data_of(v))
    } else {
        Err(wrong_receiver(vm, prim, "a Method", v))
    }
}

fn method_signature(vm: &mut Vm, a: Args) -> VmResult {
    let m = rcvr_method(vm, "Method>>#signature", a.rcvr(vm))?;
    Ok(vm.symbol_value(m.signature))
}

fn method_holder(vm: &mut Vm, a: Args) -> VmResult {
    let m = rcvr_method(vm, "Method>>#holder", a.rcvr(vm))?;
    Ok(m.holder.get())
}

fn method_invoke_on_with(vm: &mut Vm, a: Args) -> VmResult {
    // Invoking a primitive (a perform, or this one) recurses without a SOM
    // activation: the native-stack backstop (see `perform_as`).
    vm.check_native_stack()?;
    let m = rcvr_method(vm, "Method>>#invokeOn:with:", a.rcvr(vm))?;
    let rcvr = a.arg(vm, 0);
    let args = a.arg(vm, 1);
    let values: &[Value] = if is_kind(args, Kind::Array) {
        object::slots(args)
    } else if args == vm.nil {
        &[]
    } else {
        return Err(wrong_arg(vm, "Method>>#invokeOn:with:", "an Array", args));
    };
    if values.len() != m.num_args {
        return Err(Unwind::error_as(
            crate::error::ErrorClass::ArgumentError,
            format!(
                "Method>>#invokeOn:with:: {} takes {} argument(s), given {}",
                vm.symbols.text(m.signature),
                m.num_args,
                values.len()
            ),
        ));
    }
    let base = vm.sp();
    vm.push(rcvr)?;
    for i in 0..values.len() {
        vm.push(object::slots(args)[i])?;
    }
    // Base-level code invoking a method keeps its enforcement.
    let r = if vm.tier_state.enforced {
        let n = m.num_args;
        vm.call_enforced(m, base, n, &mut |vm, key| {
            vm.domain_handler(key, crate::omop::Handler::Primitive)
        })
    } else {
        invoke(vm, m, base)
    };
    vm.set_sp(base);
    r
}

pub(super) fn install(vm: &mut Vm) {
    for class in ["Method", "Primitive"] {
        vm.register_primitive(class, "signature", method_signature);
        vm.register_primitive(class, "holder", method_holder);
        vm.register_primitive(class, "invokeOn:with:", method_invoke_on_with);
    }
}
