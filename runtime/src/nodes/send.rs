//! Message sends and super sends.
//!
//! A send evaluates its receiver and arguments straight onto the value stack
//! (they become the callee's first slots), then finds the target in its
//! [`DispatchChain`]. The fast path is the guard loop of the chain; everything
//! else (lookup, DNU handler search, growing the chain, going generic) is in the
//! `#[cold]` `specialize` beside it.
//!
//! Two specializations skip work a send would otherwise do:
//! - a binary arithmetic or comparison selector ([`SpecialOp`]) with two small
//!   integers (or a Double receiver) computes the result in place, as long as
//!   the VM reports the Integer (Double) methods unchanged since bootstrap;
//!   any other operands take the ordinary chain;
//! - a target that is a trivial method (an accessor, a constant, `^self`) runs
//!   without an activation.

use std::cell::Cell;

use crate::dispatch::{CacheEntry, DispatchChain, Target};
use crate::interpreter::{invoke, Frame, Unwind};
use crate::method::{MethodData, Trivial};
use crate::nodes::Node;
use crate::object::{self, Kind, Shape};
use crate::symbols::SymbolId;
use crate::value::Value;
use crate::vm::{Dependent, Vm, VmResult};

/// Binary selectors whose small-integer and Double cases a send computes in
/// place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecialOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (integers only: truncating)
    Div,
    /// `%` (integers only: floored)
    Mod,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `=`
    Eq,
    /// `~=` and `<>`
    Ne,
    /// `&` (integers only)
    BitAnd,
    /// `Array>>at:` on an Array of the core library.
    At,
    /// `Array>>at:put:` on an Array of the core library.
    AtPut,
    /// `value`, `value:`, `value:with:` on a block of matching arity.
    Value,
    /// `&&` with a Boolean receiver and argument.
    And,
    /// `||` with a Boolean receiver and argument.
    Or,
}

impl SpecialOp {
    /// The special operation of a selector, if any.
    pub fn for_selector(sel: &str) -> Option<SpecialOp> {
        Some(match sel {
            "+" => SpecialOp::Add,
            "-" => SpecialOp::Sub,
            "*" => SpecialOp::Mul,
            "/" => SpecialOp::Div,
            "%" => SpecialOp::Mod,
            "<" => SpecialOp::Lt,
            ">" => SpecialOp::Gt,
            "<=" => SpecialOp::Le,
            ">=" => SpecialOp::Ge,
            "=" => SpecialOp::Eq,
            "~=" | "<>" => SpecialOp::Ne,
            "&" => SpecialOp::BitAnd,
            "at:" => SpecialOp::At,
            "at:put:" => SpecialOp::AtPut,
            "value" | "value:" | "value:with:" => SpecialOp::Value,
            "&&" => SpecialOp::And,
            "||" => SpecialOp::Or,
            _ => return None,
        })
    }

    /// The result for two small integers, or None when the general method
    /// must decide (overflow, division by zero).
    #[inline(always)]
    fn small(self, vm: &Vm, a: i64, b: i64) -> Option<Value> {
        Some(match self {
            SpecialOp::Add => return a.checked_add(b).and_then(Value::try_small),
            SpecialOp::Sub => return a.checked_sub(b).and_then(Value::try_small),
            SpecialOp::Mul => return a.checked_mul(b).and_then(Value::try_small),
            SpecialOp::Div => {
                if b == 0 {
                    return None;
                }
                return Value::try_small(a / b);
            }
            SpecialOp::Mod => {
                if b == 0 {
                    return None;
                }
                return Value::try_small(num_integer::Integer::mod_floor(&a, &b));
            }
            SpecialOp::BitAnd => Value::small(a & b),
            SpecialOp::Lt => vm.boolean(a < b),
            SpecialOp::Gt => vm.boolean(a > b),
            SpecialOp::Le => vm.boolean(a <= b),
            SpecialOp::Ge => vm.boolean(a >= b),
            SpecialOp::Eq => vm.boolean(a == b),
            SpecialOp::Ne => vm.boolean(a != b),
            SpecialOp::At
            | SpecialOp::AtPut
            | SpecialOp::Value
            | SpecialOp::And
            | SpecialOp::Or => return None,
        })
    }

    /// The result for a Double receiver and a numeric argument.
    #[inline(always)]
    fn double(self, vm: &mut Vm, a: f64, b: f64) -> Option<Value> {
        Some(match self {
            SpecialOp::Add => vm.new_double(a + b),
            SpecialOp::Sub => vm.new_double(a - b),
            SpecialOp::Mul => vm.new_double(a * b),
            SpecialOp::Lt => vm.boolean(a < b),
            SpecialOp::Gt => vm.boolean(a > b),
            SpecialOp::Le => vm.boolean(a <= b),
            SpecialOp::Ge => vm.boolean(a >= b),
            SpecialOp::Eq => vm.boolean(a == b),
            SpecialOp::Ne => vm.boolean(a != b),
            SpecialOp::Div
            | SpecialOp::Mod
            | SpecialOp::BitAnd
            | SpecialOp::At
            | SpecialOp::AtPut
            | SpecialOp::Value
            | SpecialOp::And
            | SpecialOp::Or => return None,
        })
    }
}

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
    /// The method containing the site, `Class>>#selector`, for traces.
    pub site: &'static crate::trace::Site,
    /// The in-place arithmetic this binary send may do.
    pub special: Option<SpecialOp>,
    /// The nested chain used when the target is a `perform:` primitive.
    pub perform: crate::nodes::PerformCache,
    /// The cache used when the target is another reflective primitive.
    pub reflect: crate::nodes::ReflectCache,
    /// Set by the compiled tier when the guards it compiled at this site
    /// kept failing: later recompilations may compile the site generically.
    pub unstable: Cell<bool>,
    /// Set when the interpreter computed this site's special operation on a
    /// Double: the compiled tier emits its Double case only then.
    pub saw_double: Cell<bool>,
}

impl SendNode {
    /// A send with an empty chain.
    pub fn new(
        selector: SymbolId,
        special: Option<SpecialOp>,
        receiver: Node,
        args: Vec<Node>,
        pos: (u32, u32),
        site: &'static crate::trace::Site,
    ) -> SendNode {
        SendNode {
            selector,
            receiver,
            args: args.into_boxed_slice(),
            chain: DispatchChain::default(),
            pos,
            site,
            special,
            perform: {
                let p = crate::nodes::PerformCache::default();
                p.set_site(site, pos);
                p
            },
            reflect: {
                let r = crate::nodes::ReflectCache::default();
                r.set_site(site, pos);
                r
            },
            unstable: Cell::new(false),
            saw_double: Cell::new(false),
        }
    }

    /// Evaluates the send, whatever its arity (the `Node::Send` variant).
    #[inline(never)]
    pub fn eval(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        let r = self.eval_body(vm, f);
        crate::interpreter::sent(self.pos, r, vm)
    }

    #[inline(always)]
    fn eval_body(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        match self.args.len() {
            0 => self.eval_unary_body(vm, f),
            1 => self.eval_binary_body(vm, f),
            _ => {
                let base = vm.sp();
                let rcvr = self.receiver.eval(vm, f)?;
                self.eval_nary(vm, f, base, rcvr)
            }
        }
    }

    /// A send without arguments (the `Node::Send0` variant).
    #[inline(never)]
    pub fn eval_unary(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        let r = self.eval_unary_body(vm, f);
        crate::interpreter::sent(self.pos, r, vm)
    }

    #[inline(always)]
    fn eval_unary_body(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        let rcvr = self.receiver.eval(vm, f)?;
        if self.special == Some(SpecialOp::Value) && is_block_of_arity(vm, rcvr, 0) {
            let base = vm.sp();
            return call_block_directly(vm, base, &[rcvr]);
        }
        self.dispatch(vm, rcvr, Value::ZERO, 0)
    }

    /// A send with one argument and no special operation (`Node::Send1`).
    #[inline(never)]
    pub fn eval_binary(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        let r = self.eval_binary_body(vm, f);
        crate::interpreter::sent(self.pos, r, vm)
    }

    #[inline(always)]
    fn eval_binary_body(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        let rcvr = self.receiver.eval(vm, f)?;
        let arg = self.args[0].eval(vm, f)?;
        if let Some(op) = self.special {
            return self.special_or_dispatch(vm, op, rcvr, arg);
        }
        self.dispatch(vm, rcvr, arg, 1)
    }

    /// A send with one argument and a special operation
    /// (`Node::BinarySpecial`).
    #[inline(never)]
    pub fn eval_binary_special(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        let r = self.eval_binary_special_body(vm, f);
        crate::interpreter::sent(self.pos, r, vm)
    }

    #[inline(always)]
    fn eval_binary_special_body(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        let rcvr = self.receiver.eval(vm, f)?;
        let arg = self.args[0].eval(vm, f)?;
        let op = self.special.expect("a special operation");
        self.special_or_dispatch(vm, op, rcvr, arg)
    }

    #[inline(always)]
    fn special_or_dispatch(&self, vm: &mut Vm, op: SpecialOp, rcvr: Value, arg: Value) -> VmResult {
        match op {
            SpecialOp::At => {
                if let Some(v) = array_at(vm, rcvr, arg) {
                    return Ok(v);
                }
            }
            SpecialOp::Value => {
                if is_block_of_arity(vm, rcvr, 1) {
                    let base = vm.sp();
                    return call_block_directly(vm, base, &[rcvr, arg]);
                }
            }
            _ => {
                if let Some(v) = special_op(vm, op, rcvr, arg) {
                    if !rcvr.is_small() {
                        self.saw_double.set(true);
                    }
                    return Ok(v);
                }
            }
        }
        self.dispatch(vm, rcvr, arg, 1)
    }

    /// Invokes `m`, a target of this site's chain for the receiver in
    /// `values[0]` (the compiled tier's guard chose it), with the evaluated
    /// receiver and arguments: the send without its lookup.
    pub fn invoke_values(&self, vm: &mut Vm, m: &'static MethodData, values: &[Value]) -> VmResult {
        let r = Self::invoke_values_body(vm, m, values);
        crate::interpreter::sent(self.pos, r, vm)
    }

    fn invoke_values_body(vm: &mut Vm, m: &'static MethodData, values: &[Value]) -> VmResult {
        let base = vm.sp();
        for v in values {
            vm.push(*v)?;
        }
        let r = invoke(vm, m, base);
        vm.set_sp(base);
        r
    }

    /// Looks the target up in the chain and calls it with `rcvr` and, for
    /// `argc == 1`, `arg`. Trivial targets run without touching the stack.
    #[inline(always)]
    fn dispatch(&self, vm: &mut Vm, rcvr: Value, arg: Value, argc: usize) -> VmResult {
        let shape = vm.shape_of(rcvr);
        let target = match self.chain.lookup(shape) {
            Some(t) => t,
            None => self.specialize(vm, shape)?,
        };
        let base = vm.sp();
        match target {
            Target::Method(m) => {
                if let Some(t) = m.trivial {
                    if let Some(v) = trivial_on(vm, t, rcvr, arg) {
                        return Ok(v);
                    }
                    if t == Trivial::ArrayWith && rcvr == vm.classes.array {
                        return Ok(vm.new_array_from(&[arg]));
                    }
                }
                vm.push(rcvr)?;
                if argc == 1 {
                    vm.push(arg)?;
                }
                let r = match m.reflective {
                    None => invoke(vm, m, base),
                    Some(kind) => self.reflective(vm, kind, base, argc),
                };
                vm.set_sp(base);
                r
            }
            _ => {
                vm.push(rcvr)?;
                if argc == 1 {
                    vm.push(arg)?;
                }
                let r = call_target(vm, target, self.selector, base, argc);
                vm.set_sp(base);
                r
            }
        }
    }

    #[inline(always)]
    fn eval_nary(&self, vm: &mut Vm, f: &Frame, base: usize, rcvr: Value) -> VmResult {
        vm.push(rcvr)?;
        for a in self.args.iter() {
            let v = a.eval(vm, f)?;
            vm.push(v)?;
        }
        self.dispatch_nary(vm, base, rcvr)
    }

    /// The send of two or more arguments, with receiver and arguments on the
    /// stack at `base`.
    #[inline(always)]
    fn dispatch_nary(&self, vm: &mut Vm, base: usize, rcvr: Value) -> VmResult {
        match self.special {
            Some(SpecialOp::AtPut) => {
                let (i, v) = (vm.stack_at(base + 1), vm.stack_at(base + 2));
                if array_at_put(vm, rcvr, i, v) {
                    vm.set_sp(base);
                    return Ok(v);
                }
            }
            Some(SpecialOp::Value) if is_block_of_arity(vm, rcvr, 2) => {
                let r = crate::interpreter::invoke_block(vm, rcvr, base);
                vm.set_sp(base);
                return r;
            }
            _ => {}
        }
        let shape = vm.shape_of(rcvr);
        let target = match self.chain.lookup(shape) {
            Some(t) => t,
            None => self.specialize(vm, shape)?,
        };
        let r = match target {
            Target::Method(m) if m.reflective.is_some() => {
                let kind = m.reflective.expect("reflective kind");
                self.reflective(vm, kind, base, self.args.len())
            }
            _ => call_target(vm, target, self.selector, base, self.args.len()),
        };
        vm.set_sp(base);
        r
    }

    /// The send with receiver and arguments already evaluated (`values[0]`
    /// the receiver): what the compiled tier calls for a site it did not
    /// inline. The same specializations, chains and nested caches as
    /// [`SendNode::eval`], so the site learns the same way in both tiers.
    pub fn send_values(&self, vm: &mut Vm, values: &[Value]) -> VmResult {
        let r = self.send_values_body(vm, values);
        crate::interpreter::sent(self.pos, r, vm)
    }

    fn send_values_body(&self, vm: &mut Vm, values: &[Value]) -> VmResult {
        let rcvr = values[0];
        match values.len() {
            1 => {
                if self.special == Some(SpecialOp::Value) && is_block_of_arity(vm, rcvr, 0) {
                    let base = vm.sp();
                    return call_block_directly(vm, base, &[rcvr]);
                }
                self.dispatch(vm, rcvr, Value::ZERO, 0)
            }
            2 => match self.special {
                Some(op) => self.special_or_dispatch(vm, op, rcvr, values[1]),
                None => self.dispatch(vm, rcvr, values[1], 1),
            },
            _ => {
                let base = vm.sp();
                for v in values {
                    vm.push(*v)?;
                }
                self.dispatch_nary(vm, base, rcvr)
            }
        }
    }

    /// Runs a reflective primitive through this site's nested cache (out of
    /// line, so ordinary sends stay small).
    #[inline(never)]
    fn reflective(
        &self,
        vm: &mut Vm,
        kind: crate::nodes::Reflective,
        base: usize,
        argc: usize,
    ) -> VmResult {
        match kind {
            crate::nodes::Reflective::Perform(p) => self.perform.perform(vm, p, base, argc),
            other => self.reflect.run(vm, other, base),
        }
    }

    #[cold]
    #[inline(never)]
    fn specialize(&self, vm: &mut Vm, shape: *const Shape) -> Result<Target, Unwind> {
        // Once per site: an invalidated chain is empty again, but already
        // recorded.
        if !self.chain.is_generic() && !self.chain.is_registered() {
            vm.register_site(self);
        }
        specialize_chain(vm, &self.chain, self.selector, shape, self.site, self.pos)
    }
}

/// Looks up `selector` for the class of `shape` and caches the target in
/// `chain` (registering the chain for invalidation on first use, tracing the
/// transition); shared by plain and enforced sends.
#[cold]
#[inline(never)]
pub(crate) fn specialize_chain(
    vm: &mut Vm,
    chain: &DispatchChain,
    selector: SymbolId,
    shape: *const Shape,
    site: &'static crate::trace::Site,
    pos: (u32, u32),
) -> Result<Target, Unwind> {
    // SAFETY: shapes are interned and never freed while their class lives.
    let class = unsafe { (*shape).class };
    if vm.verify_caches {
        // Verified entries never match in the guard loop: this is their hit.
        if let Some(t) = chain.lookup_verifying(shape) {
            crate::verify::send(vm, (site, pos), "send", selector, class, t);
            return Ok(t);
        }
    }
    let target = vm.resolve_target(class, selector)?;
    if !chain.is_generic() {
        if chain.mark_registered() {
            vm.register_dependent(selector, Dependent::Chain(chain, Value::ZERO, site, pos));
            // A DNU entry also depends on the lookup of the handler; it is
            // cheaper to register every chain than to track which ones ever
            // held a DNU entry.
            let dnu = vm.well_known.dnu;
            vm.register_dependent(dnu, Dependent::Chain(chain, Value::ZERO, site, pos));
        }
        let grew = chain.add(CacheEntry { shape, target }, vm.verify_caches);
        crate::trace::chain_event(
            vm,
            site,
            pos,
            match target {
                Target::Dnu(_) => "dnu",
                Target::Method(m) if m.is_primitive() => "primitive",
                _ => "send",
            },
            selector,
            class,
            chain,
            if grew { "cached" } else { "generic" },
        );
    }
    Ok(target)
}

/// The in-place form of a special operation for an enforced send whose
/// receiver's owner handles sends in the standard way, with receiver and
/// arguments at `base`; None when the operands need the full send. Integers,
/// Doubles, Booleans and plain Arrays (the only Arrays `array_at` accepts)
/// belong to the standard domain, which customises nothing, and block
/// evaluation is transparent, so these are exactly what the enforced send
/// would compute.
#[inline(always)]
pub(crate) fn enforced_special(
    vm: &mut Vm,
    op: SpecialOp,
    base: usize,
    argc: usize,
) -> Option<VmResult> {
    let rcvr = vm.stack_at(base);
    match (op, argc) {
        (SpecialOp::Value, n) if is_block_of_arity(vm, rcvr, n) => {
            Some(crate::interpreter::invoke_block(vm, rcvr, base))
        }
        (SpecialOp::AtPut, 2) => {
            let (i, v) = (vm.stack_at(base + 1), vm.stack_at(base + 2));
            array_at_put(vm, rcvr, i, v).then_some(Ok(v))
        }
        (SpecialOp::At, 1) => array_at(vm, rcvr, vm.stack_at(base + 1)).map(Ok),
        (SpecialOp::Value | SpecialOp::At | SpecialOp::AtPut, _) => None,
        (_, 1) => {
            let arg = vm.stack_at(base + 1);
            special_op(vm, op, rcvr, arg).map(Ok)
        }
        _ => None,
    }
}

/// The in-place result of a binary special operation whose operands are
/// owned by the standard domain whatever else holds (small integers,
/// Doubles, Booleans, plain Arrays): an enforced send computes it before
/// even looking at domain chains, since the standard domain customises no
/// handler. Block evaluation is left to the full path (a block's owner may
/// customise sends).
#[inline(always)]
pub(crate) fn enforced_binary(
    vm: &mut Vm,
    op: SpecialOp,
    rcvr: Value,
    arg: Value,
) -> Option<Value> {
    match op {
        SpecialOp::Value | SpecialOp::AtPut => None,
        SpecialOp::At => array_at(vm, rcvr, arg),
        _ => special_op(vm, op, rcvr, arg),
    }
}

/// Runs a trivial method for an enforced send to a receiver of the standard
/// domain (whose field handlers are the standard ones), with receiver and
/// arguments at `base`.
#[inline(always)]
pub(crate) fn enforced_trivial(vm: &mut Vm, t: Trivial, base: usize) -> Option<Value> {
    if matches!(t, Trivial::Forward { .. }) {
        return None;
    }
    run_trivial(vm, t, base)
}

#[inline(always)]
fn special_op(vm: &mut Vm, op: SpecialOp, rcvr: Value, arg: Value) -> Option<Value> {
    if matches!(op, SpecialOp::And | SpecialOp::Or) {
        return boolean_op(vm, op, rcvr, arg);
    }
    if rcvr.is_small() {
        if arg.is_small() && vm.integer_intact {
            return op.small(vm, rcvr.as_small(), arg.as_small());
        }
        return None;
    }
    if vm.double_intact && object::kind_of(rcvr) == Kind::Double {
        let a = object::double_of(rcvr);
        let b = if arg.is_small() {
            arg.as_small() as f64
        } else if arg.is_ptr() && object::kind_of(arg) == Kind::Double {
            object::double_of(arg)
        } else {
            return None;
        };
        return op.double(vm, a, b);
    }
    None
}

/// `&&` / `||` on two Booleans (a non-Boolean argument would be sent
/// `value`, so it takes the full send).
#[inline(always)]
fn boolean_op(vm: &Vm, op: SpecialOp, rcvr: Value, arg: Value) -> Option<Value> {
    let (t, f) = (vm.true_, vm.false_);
    if !vm.boolean_intact || (arg != t && arg != f) {
        return None;
    }
    match (op, rcvr == t, rcvr == f) {
        (SpecialOp::And, true, _) | (SpecialOp::Or, _, true) => Some(arg),
        (SpecialOp::And, _, true) => Some(f),
        (SpecialOp::Or, true, _) => Some(t),
        _ => None,
    }
}

/// Whether `v` is a block taking `n` arguments, with the core library's
/// evaluation primitives in place.
#[inline(always)]
fn is_block_of_arity(vm: &Vm, v: Value, n: usize) -> bool {
    vm.block_intact && v.is_ptr() && object::kind_of(v) == Kind::Block && {
        // SAFETY: block bodies point to immortal MethodData.
        let m = unsafe { &*object::block_body(v).method };
        m.num_args == n
    }
}

/// Evaluates a block whose receiver and arguments are `values`.
#[inline(always)]
fn call_block_directly(vm: &mut Vm, base: usize, values: &[Value]) -> VmResult {
    for v in values {
        vm.push(*v)?;
    }
    let r = crate::interpreter::invoke_block(vm, values[0], base);
    vm.set_sp(base);
    r
}

/// `at:` on a plain Array with an in-range small-integer index.
#[inline(always)]
fn array_at(vm: &Vm, arr: Value, index: Value) -> Option<Value> {
    if vm.array_intact && arr.is_ptr() && std::ptr::eq(object::header(arr).shape, vm.array_shape) {
        let i = index.small_int()?;
        let s = object::slots(arr);
        if i >= 1 && (i as usize) <= s.len() {
            return Some(s[i as usize - 1]);
        }
    }
    None
}

/// `at:put:` on a plain Array with an in-range small-integer index.
#[inline(always)]
fn array_at_put(vm: &Vm, arr: Value, index: Value, v: Value) -> bool {
    if vm.array_intact && arr.is_ptr() && std::ptr::eq(object::header(arr).shape, vm.array_shape) {
        if let Some(i) = index.small_int() {
            let s = object::slots(arr);
            if i >= 1 && (i as usize) <= s.len() {
                s[i as usize - 1] = v;
                return true;
            }
        }
    }
    false
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
        Target::Method(m) => {
            if let Some(t) = m.trivial {
                if let Some(v) = run_trivial(vm, t, base) {
                    return Ok(v);
                }
            }
            invoke(vm, m, base)
        }
        Target::Dnu(handler) => call_dnu(vm, handler, selector, base, argc),
        Target::Empty => unreachable!("empty cache entries are never matched"),
    }
}

/// Runs a trivial method without an activation; None when the receiver does
/// not have the field (the full method then reports the error).
#[inline(always)]
fn run_trivial(vm: &mut Vm, t: Trivial, base: usize) -> Option<Value> {
    let rcvr = vm.stack_at(base);
    let arg = if matches!(
        t,
        Trivial::Setter(_) | Trivial::Identity | Trivial::TextEquals
    ) {
        vm.stack_at(base + 1)
    } else {
        Value::ZERO
    };
    trivial_on(vm, t, rcvr, arg)
}

/// Runs a trivial method on `rcvr` (and `arg` for setters and `==`).
#[inline(always)]
fn trivial_on(vm: &Vm, t: Trivial, rcvr: Value, arg: Value) -> Option<Value> {
    match t {
        Trivial::Constant(v) => Some(v),
        Trivial::ReturnSelf => Some(rcvr),
        Trivial::Identity => Some(vm.boolean(rcvr == arg)),
        Trivial::ClassOf => Some(vm.class_of(rcvr)),
        Trivial::Forward { .. } | Trivial::ArrayWith => None,
        Trivial::TextEquals => {
            if rcvr == arg {
                return Some(vm.true_);
            }
            let is_text =
                |v: Value| v.is_ptr() && matches!(object::kind_of(v), Kind::String | Kind::Symbol);
            if is_text(rcvr) && is_text(arg) {
                Some(vm.boolean(object::str_bytes(rcvr) == object::str_bytes(arg)))
            } else {
                None
            }
        }
        Trivial::Getter(i) => field_slots(rcvr).and_then(|s| s.get(i).copied()),
        Trivial::Setter(i) => {
            let slot = field_slots(rcvr).and_then(|s| s.get_mut(i))?;
            *slot = arg;
            Some(rcvr)
        }
    }
}

#[inline(always)]
fn field_slots<'a>(v: Value) -> Option<&'a mut [Value]> {
    if v.is_ptr() && matches!(object::kind_of(v), Kind::Object | Kind::Class) {
        Some(object::slots(v))
    } else {
        None
    }
}

/// Calls a `doesNotUnderstand:arguments:` handler: the arguments on the stack
/// become an Array, built only now that the handler really runs. A handler
/// that merely forwards (see [`Trivial::Forward`]) is not run at all: the
/// forwarded message is sent with the arguments where they already are.
#[inline(never)]
pub fn call_dnu(
    vm: &mut Vm,
    handler: &'static MethodData,
    selector: SymbolId,
    base: usize,
    argc: usize,
) -> VmResult {
    if let Some(Trivial::Forward {
        field,
        selector: to,
    }) = handler.trivial
    {
        // The handler is not run, but it still counts as the activation it
        // stands for: a forward that reaches itself again must end in the
        // same "stack overflow" as running the handler would.
        vm.enter_activation()?;
        let r = forward(vm, handler, field, to.unwrap_or(selector), base, argc);
        vm.leave_activation();
        if let Some(r) = r {
            return r;
        }
    }
    let args = vm.new_array_from_stack(base + 1, argc);
    vm.set_sp(base + 1);
    let sym = vm.symbol_value(selector);
    vm.push(sym)?;
    vm.push(args)?;
    invoke(vm, handler, base)
}

/// Sends `selector` to the forwarding target of the receiver at `base`, with
/// the arguments at `base + 1..`, as the handler's
/// `perform:withArguments:` would; None when that equivalence does not hold
/// (the target's `perform:withArguments:` is not the core primitive, or the
/// selector takes another number of arguments).
#[inline(always)]
fn forward(
    vm: &mut Vm,
    handler: &'static MethodData,
    field: Option<usize>,
    selector: SymbolId,
    base: usize,
    argc: usize,
) -> Option<VmResult> {
    let rcvr = vm.stack_at(base);
    let target = match field {
        None => rcvr,
        Some(i) => *field_slots(rcvr)?.get(i)?,
    };
    let class = vm.class_of(target);
    let pwa = vm.well_known.perform_with_arguments;
    let performer = vm.lookup(class, pwa)?;
    let plain = crate::nodes::PerformKind {
        with_array: true,
        in_superclass: false,
    };
    if performer.reflective != Some(crate::nodes::Reflective::Perform(plain)) {
        return None;
    }
    if vm.selector_arity(selector) != argc {
        return None;
    }
    vm.set_stack_at(base, target);
    // The handler's own `perform:withArguments:` site keeps the chains of
    // the forwarded sends, as if it ran.
    let t = match forward_site(handler) {
        Some(site) if !vm.verify_caches => {
            let sel_value = vm.symbol_value(selector);
            site.perform.target_for(vm, selector, sel_value, target)
        }
        _ => vm.resolve_target(class, selector),
    };
    let t = match t {
        Ok(t) => t,
        Err(e) => return Some(Err(e)),
    };
    Some(call_target(vm, t, selector, base, argc))
}

/// The `perform:withArguments:` send of a forwarding DNU handler (see
/// [`Trivial::Forward`]).
pub fn forward_site(handler: &'static MethodData) -> Option<&'static SendNode> {
    let crate::method::MethodKind::Ast(body) = &handler.kind else {
        return None;
    };
    let last = match &body.body {
        Node::Sequence(ns) => ns.last()?,
        n => n,
    };
    match last {
        Node::Return(n) => n.as_send(),
        n => n.as_send(),
    }
    .filter(|s| s.args.len() == 2)
}

/// A send to `super`: lookup starts in the superclass of the method's holder,
/// fixed at compile time, so a site whose lookup finds a method has exactly
/// one target. When it finds none, the target is the receiver's
/// `doesNotUnderstand:arguments:` handler, which depends on the receiver's
/// class: that case is not cached, but resolved at each execution (through
/// the VM's lookup cache), as a rarely taken path.
pub struct SuperSendNode {
    /// The selector.
    pub selector: SymbolId,
    /// The class where lookup starts (nil when the holder has no superclass).
    pub lookup_class: Value,
    /// The argument expressions.
    pub args: Box<[Node]>,
    /// The method lookup found, once resolved (never a DNU target).
    pub cached: Cell<Option<Target>>,
    /// Whether the node is registered as a dependent of its selector (once
    /// for its life, however often it is invalidated).
    pub registered: Cell<bool>,
    /// The method holding the send and the selector's position, for
    /// `--verify-caches`.
    pub site: (&'static crate::trace::Site, (u32, u32)),
}

impl SuperSendNode {
    /// A super send with nothing cached.
    pub fn new(
        selector: SymbolId,
        lookup_class: Value,
        args: Vec<Node>,
        site: &'static crate::trace::Site,
        pos: (u32, u32),
    ) -> SuperSendNode {
        SuperSendNode {
            selector,
            lookup_class,
            args: args.into_boxed_slice(),
            cached: Cell::new(None),
            registered: Cell::new(false),
            site: (site, pos),
        }
    }

    /// Evaluates the super send.
    pub fn eval(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        let r = self.eval_body(vm, f);
        crate::interpreter::sent(self.site.1, r, vm)
    }

    #[inline(always)]
    fn eval_body(&self, vm: &mut Vm, f: &Frame) -> VmResult {
        let base = vm.sp();
        vm.push(f.receiver)?;
        for a in self.args.iter() {
            let v = a.eval(vm, f)?;
            vm.push(v)?;
        }
        let target = match self.cached.get() {
            Some(t) => {
                if vm.verify_caches {
                    self.verify(vm, f.receiver, t);
                }
                t
            }
            None => self.resolve(vm, f.receiver)?,
        };
        let r = call_target(vm, target, self.selector, base, self.args.len());
        vm.set_sp(base);
        r
    }

    /// The super send with its receiver and arguments evaluated
    /// (`values`): the compiled tier's generic path.
    pub fn send_values(&self, vm: &mut Vm, values: &[Value]) -> VmResult {
        let r = self.send_values_body(vm, values);
        crate::interpreter::sent(self.site.1, r, vm)
    }

    fn send_values_body(&self, vm: &mut Vm, values: &[Value]) -> VmResult {
        let base = vm.sp();
        for v in values {
            vm.push(*v)?;
        }
        let target = match self.cached.get() {
            Some(t) => t,
            None => self.resolve(vm, values[0])?,
        };
        let r = call_target(vm, target, self.selector, base, values.len() - 1);
        vm.set_sp(base);
        r
    }

    #[cold]
    #[inline(never)]
    fn resolve(&self, vm: &mut Vm, rcvr: Value) -> Result<Target, Unwind> {
        let t = vm.resolve_super_target(self.lookup_class, rcvr, self.selector)?;
        if let Target::Method(_) = t {
            self.cached.set(Some(t));
            if !self.registered.replace(true) {
                vm.register_dependent(self.selector, Dependent::Super(self));
            }
        }
        Ok(t)
    }

    #[cold]
    #[inline(never)]
    fn verify(&self, vm: &Vm, rcvr: Value, t: Target) {
        crate::verify::super_send(vm, self.site, self.lookup_class, self.selector, rcvr, t);
    }
}
