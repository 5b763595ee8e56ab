//! Helpers for the unit tests of the passes over CLIF: a function to build
//! by hand (one `i64` argument, one `i64` result) and Cranelift's verifier,
//! so a pass is tested on the shapes it must handle and checked to leave a
//! well-formed function behind.

use cranelift_codegen::ir::{self, types::I64, AbiParam, UserFuncName};

/// An empty function `(i64) -> i64` with the host's calling convention.
pub(crate) fn one_arg_function() -> ir::Function {
    let mut sig = ir::Signature::new(cranelift_codegen::isa::CallConv::SystemV);
    sig.params.push(AbiParam::new(I64));
    sig.returns.push(AbiParam::new(I64));
    ir::Function::with_name_signature(UserFuncName::default(), sig)
}

/// The host's front-end configuration, which `FunctionBuilder::finalize`
/// needs.
pub(crate) fn frontend() -> cranelift_codegen::isa::TargetFrontendConfig {
    let flags = cranelift_codegen::settings::Flags::new(cranelift_codegen::settings::builder());
    cranelift_native::builder()
        .expect("a host ISA")
        .finish(flags)
        .expect("host flags")
        .frontend_config()
}

/// Panics with Cranelift's verifier errors and the function when `func` is
/// not well formed.
pub(crate) fn verified(func: &ir::Function) {
    let flags = cranelift_codegen::settings::Flags::new(cranelift_codegen::settings::builder());
    if let Err(e) = cranelift_codegen::verify_function(func, &flags) {
        panic!("{e}\n{}", func.display());
    }
}
