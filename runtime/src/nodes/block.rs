//! Block literals, closures and non-local return.
//!
//! A closure records the block's code, the context of the defining activation
//! (for captured variables), the home method's `self`, and the home method's
//! context, which identifies the activation a `^` inside the block returns from.
//! A home context is flagged dead when its method returns; a `^` that finds its
//! home dead sends `escapedBlock:` instead of unwinding.

use std::cell::OnceCell;

use crate::interpreter::{Frame, Unwind};
use crate::method::MethodData;
use crate::object;
use crate::value::Value;
use crate::vm::{Vm, VmResult};

/// A block literal evaluated to a closure.
pub struct BlockLiteral {
    /// The block's code (its arity decides Block1/Block2/Block3).
    pub method: &'static MethodData,
}

impl BlockLiteral {
    /// Creates a closure in frame `f`.
    #[inline]
    pub fn make_closure(&self, vm: &mut Vm, f: &Frame) -> Value {
        vm.new_block(self.method, f.ctx.get(), f.receiver, f.home())
    }

    /// Executes `^value` inside a block activation `f`.
    #[cold]
    pub fn non_local_return(vm: &mut Vm, f: &Frame, value: Value) -> VmResult {
        let home = f.home();
        if home.is_ptr() && object::context_alive(home) {
            vm.unwind_home = home;
            vm.unwind_value = value;
            return Err(Unwind::NON_LOCAL);
        }
        let sel = vm.well_known.escaped_block;
        let r = vm.send(f.receiver, sel, &[f.closure])?;
        vm.unwind_value = r;
        Err(Unwind::ESCAPED)
    }
}

/// Builds the code of a block on first use: how the fallback of an inlined
/// control-flow node gets a real closure without compiling every inlined block
/// twice up front.
pub type BlockCompiler = Box<dyn Fn(&mut Vm) -> Result<&'static MethodData, String>>;

/// A block that is compiled only when first needed.
pub struct DeferredBlock {
    compiled: OnceCell<&'static MethodData>,
    compile: BlockCompiler,
}

impl DeferredBlock {
    /// A block compiled by `compile` on first use.
    pub fn new(compile: BlockCompiler) -> DeferredBlock {
        DeferredBlock {
            compiled: OnceCell::new(),
            compile,
        }
    }

    /// The block's code, compiling it now if needed.
    pub fn method(&self, vm: &mut Vm) -> Result<&'static MethodData, Unwind> {
        if let Some(m) = self.compiled.get() {
            return Ok(m);
        }
        let m = (self.compile)(vm).map_err(Unwind::error)?;
        Ok(self.compiled.get_or_init(|| m))
    }
}
