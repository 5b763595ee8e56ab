//! Block primitives: evaluation with an arity check, and `restart`.

use crate::interpreter::{invoke_block, is_kind, Args, Unwind};
use crate::object::{self, Kind};
use crate::vm::{Vm, VmResult};

fn block_value_n(vm: &mut Vm, a: Args) -> VmResult {
    let b = a.rcvr(vm);
    if !is_kind(b, Kind::Block) {
        return Err(super::wrong_receiver(vm, "Block>>#value", "a Block", b));
    }
    // SAFETY: block bodies point to immortal MethodData.
    let m = unsafe { &*object::block_body(b).method };
    if m.num_args != a.argc {
        return Err(Unwind::error_as(
            crate::error::ErrorClass::ArgumentError,
            format!(
                "a block with {} argument(s) evaluated with {}",
                m.num_args, a.argc
            ),
        ));
    }
    invoke_block(vm, b, a.base)
}

fn block_restart(_vm: &mut Vm, _a: Args) -> VmResult {
    Err(Unwind::RESTART)
}

pub(super) fn install(vm: &mut Vm) {
    vm.register_primitive("Block", "value", block_value_n);
    vm.register_primitive("Block", "restart", block_restart);
    vm.register_primitive("Block1", "value", block_value_n);
    vm.register_primitive("Block2", "value:", block_value_n);
    vm.register_primitive("Block3", "value:with:", block_value_n);
}
