//! Message sends and super sends.
//!
//! A send evaluates its receiver and arguments straight onto the value stack
//! (they become the callee's first slots), then finds the target in its
//! [`DispatchChain`]. The fast path is the guard loop of the chain; everything
//! else (lookup, DNU handler search, growing the chain, going generic) is in the
//! `#[cold]` `specialize` beside it.

use std::cell::Cell;

use crate::dispatch::{CacheEntry, DispatchChain, Target};
use crate::interpreter::{invoke, Frame, Unwind};
use crate::nodes::Node;
use crate::object::Shape;
use crate::symbols::SymbolId;
use crate::value::Value;
use crate::vm::{Vm, VmResult};

/// A send of `selector` to the value of `receiver`.
pub struct SendNode {
    /// The selector.
    pub selector: SymbolId,
    /// The receiver expression.
    pub receiver: Node,
    /// The argument expressions.
    pub args: Box<[Node]>,
    /// The site's inline cache.
    pub chain: DispatchChain,
    /// Source line and column of the selector, for traces.
    pub pos: (u32, u32),
}

impl SendNode {
    /// A send with an empty chain.
    pub fn new(selector: SymbolId, receiver: Node, args: Vec<Node>, pos: (u32, u32)) -> SendNode {
        SendNode {
            selector,
            receiver,
            args: args.into_boxed_slice(),
            chain: DispatchChain::default(),
            pos,
        }
    }

    /// Evaluates the send.
    #[inline]
    pub fn eval(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        let base = vm.sp();
        let rcvr = self.receiver.eval(vm, f)?;
        vm.push(rcvr)?;
        for a in self.args.iter() {
            let v = a.eval(vm, f)?;
            vm.push(v)?;
        }
        let shape = vm.shape_of(rcvr);
        let target = match self.chain.lookup(shape) {
            Some(t) => t,
            None => self.specialize(vm, shape)?,
        };
        let r = call_target(vm, target, self.selector, base, self.args.len());
        vm.set_sp(base);
        r
    }

    #[cold]
    #[inline(never)]
    fn specialize(&self, vm: &mut Vm, shape: *const Shape) -> Result<Target, Unwind> {
        // SAFETY: shapes are interned and never freed while their class lives.
        let class = unsafe { (*shape).class };
        let target = vm.resolve_target(class, self.selector)?;
        if !self.chain.is_generic() {
            self.chain.add(CacheEntry { shape, target });
        }
        Ok(target)
    }
}

/// Calls a dispatch target with receiver and arguments at `base`.
#[inline(always)]
pub fn call_target(
    vm: &mut Vm,
    target: Target,
    selector: SymbolId,
    base: usize,
    argc: usize,
) -> VmResult {
    match target {
        Target::Method(m) => invoke(vm, m, base),
        Target::Dnu(handler) => call_dnu(vm, handler, selector, base, argc),
    }
}

/// Calls a `doesNotUnderstand:arguments:` handler: the arguments on the stack
/// become an Array, built only now that the handler really runs.
#[inline(never)]
pub fn call_dnu(
    vm: &mut Vm,
    handler: &'static crate::method::MethodData,
    selector: SymbolId,
    base: usize,
    argc: usize,
) -> VmResult {
    let args = vm.new_array(argc);
    for i in 0..argc {
        crate::object::slots(args)[i] = vm.stack_at(base + 1 + i);
    }
    vm.set_sp(base + 1);
    let sym = vm.symbol_value(selector);
    vm.push(sym)?;
    vm.push(args)?;
    invoke(vm, handler, base)
}

/// A send to `super`: lookup starts in the superclass of the method's holder,
/// fixed at compile time, so the site has exactly one target.
pub struct SuperSendNode {
    /// The selector.
    pub selector: SymbolId,
    /// The class where lookup starts (nil when the holder has no superclass).
    pub lookup_class: Value,
    /// The argument expressions.
    pub args: Box<[Node]>,
    /// The target, once resolved.
    pub cached: Cell<Option<Target>>,
}

impl SuperSendNode {
    /// Evaluates the super send.
    pub fn eval(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        let base = vm.sp();
        vm.push(f.receiver)?;
        for a in self.args.iter() {
            let v = a.eval(vm, f)?;
            vm.push(v)?;
        }
        let target = match self.cached.get() {
            Some(t) => t,
            None => {
                let t = vm.resolve_super_target(self.lookup_class, f.receiver, self.selector)?;
                self.cached.set(Some(t));
                t
            }
        };
        let r = call_target(vm, target, self.selector, base, self.args.len());
        vm.set_sp(base);
        r
    }
}
