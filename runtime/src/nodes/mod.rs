//! The self-optimizing AST.
//!
//! The front end lowers SOM source to these nodes with every variable already
//! resolved (frame slot, outer context slot, field index or global), literal
//! blocks of control-flow messages inlined, and every send given its own
//! [`DispatchChain`]. At run time nodes never change variant; what specializes is
//! the state inside them (dispatch chains, cached global cells, cached super
//! targets). That state is plain data with public accessors, so other crates (the
//! JIT, tests, the dispatch statistics) can read what a site has learned.
//!
//! One file per node family: `variables` (locals, outer, fields, globals),
//! `send` (sends and super sends), `control` (inlined control flow and its
//! fallback), `block` (closures and returns).

mod block;
mod control;
mod enforced;
mod perform;
mod reflect;
pub(crate) mod send;
mod variables;

pub use block::BlockLiteral;
pub use block::{BlockCompiler, DeferredBlock};
pub use control::{Fallback, IfElseNode, IfKind, IfNode, LoopNode, ToDoKind, ToDoNode};
pub use enforced::{
    DomainChain, EnforcedFieldNode, EnforcedGlobalNode, EnforcedSendNode, DOMAIN_CACHE_LIMIT,
};
pub(crate) use perform::lay_out_arguments;
pub use perform::{PerformCache, PerformEntry, PerformKind, PERFORM_CACHE_LIMIT};
pub use reflect::{
    field_of, ReflectCache, ReflectEntry, Reflective, Resolved, REFLECT_CACHE_LIMIT,
};
pub use send::{call_dnu, call_target as send_call_target, SendNode, SpecialOp, SuperSendNode};

impl Node {
    /// The send node of any send variant.
    pub fn as_send(&self) -> Option<&SendNode> {
        match self {
            Node::Send(s) | Node::Send0(s) | Node::Send1(s) | Node::BinarySpecial(s) => Some(s),
            _ => None,
        }
    }
}
pub use variables::{FieldIndex, GlobalCell, GlobalReadNode, OuterVar, SlotIndex};

use crate::value::Value;

/// A node of the AST.
pub enum Node {
    /// A literal whose value is a permanent object or an immediate.
    Const(Value),
    /// A literal array; each evaluation answers a fresh copy of the template, so
    /// mutating the result never changes the program text.
    LiteralArray(Value),
    /// `self` (and `super` as a value).
    SelfRef,
    /// Read a slot of the current frame.
    LocalRead(SlotIndex),
    /// Write a slot of the current frame; answers the value.
    LocalWrite(SlotIndex, Box<Node>),
    /// Read a slot of an enclosing scope through the context chain.
    OuterRead(OuterVar),
    /// Write a slot of an enclosing scope; answers the value.
    OuterWrite(OuterVar, Box<Node>),
    /// Read a field of `self`, at (line, column) for the error when `self`
    /// has no such field.
    FieldRead(FieldIndex, (u32, u32)),
    /// Write a field of `self` (position as for reads); answers the value.
    FieldWrite(FieldIndex, (u32, u32), Box<Node>),
    /// Read a global through its cached cell.
    GlobalRead(Box<GlobalReadNode>),
    /// A message send (two or more arguments, or any arity when built by
    /// hand).
    Send(Box<SendNode>),
    /// A unary send.
    Send0(Box<SendNode>),
    /// A send with one argument.
    Send1(Box<SendNode>),
    /// A send with one argument and a [`SpecialOp`] selector: small-integer,
    /// Double, Array, block and Boolean operands take a shorter path.
    BinarySpecial(Box<SendNode>),
    /// A send to `super`.
    SuperSend(Box<SuperSendNode>),
    /// Statements; answers the value of the last one.
    Sequence(Box<[Node]>),
    /// `^expr` inside an inlined block of a method body: returns from the
    /// method (unwinds only the inlined constructs, never an activation).
    Return(Box<Node>),
    /// `^expr` inside a real block: returns from the home method.
    NonLocalReturn(Box<Node>),
    /// A block literal that is not inlined: creates a closure.
    Block(Box<BlockLiteral>),
    /// Inlined `ifTrue:` / `ifFalse:` (and `ifNil:` / `ifNotNil:`).
    If(Box<IfNode>),
    /// Inlined `ifTrue:ifFalse:` / `ifFalse:ifTrue:`.
    IfElse(Box<IfElseNode>),
    /// Inlined `whileTrue:` / `whileFalse:`.
    Loop(Box<LoopNode>),
    /// Inlined `and:` (`is_and`) / `or:` with a literal block argument.
    AndOr(Box<control::AndOrNode>),
    /// Inlined `to:do:`, `to:by:do:`, `downTo:do:`, `timesRepeat:`.
    ToDo(Box<ToDoNode>),
    /// A send (or super send) in an enforced body.
    EnforcedSend(Box<EnforcedSendNode>),
    /// A field read of `self` in an enforced body.
    EnforcedFieldRead(Box<EnforcedFieldNode>),
    /// A field write of `self` in an enforced body; answers the value.
    EnforcedFieldWrite(Box<EnforcedFieldNode>),
    /// A global read in an enforced body.
    EnforcedGlobalRead(Box<EnforcedGlobalNode>),
}

pub use control::AndOrNode;

impl Node {
    /// Calls `f` on each direct child node, for tree walks (statistics, JIT).
    pub fn for_each_child(&self, f: &mut dyn FnMut(&Node)) {
        match self {
            Node::Const(_)
            | Node::LiteralArray(_)
            | Node::SelfRef
            | Node::LocalRead(_)
            | Node::OuterRead(_)
            | Node::FieldRead(..)
            | Node::GlobalRead(_)
            | Node::EnforcedFieldRead(_)
            | Node::EnforcedGlobalRead(_)
            | Node::Block(_) => {}
            Node::EnforcedFieldWrite(n) => {
                if let Some(v) = &n.value {
                    f(v)
                }
            }
            Node::EnforcedSend(s) => {
                f(&s.receiver);
                s.args.iter().for_each(&mut *f);
            }
            Node::LocalWrite(_, v)
            | Node::OuterWrite(_, v)
            | Node::FieldWrite(_, _, v)
            | Node::Return(v)
            | Node::NonLocalReturn(v) => f(v),
            Node::Send(s) | Node::Send0(s) | Node::Send1(s) | Node::BinarySpecial(s) => {
                f(&s.receiver);
                s.args.iter().for_each(&mut *f);
            }
            Node::SuperSend(s) => s.args.iter().for_each(&mut *f),
            Node::Sequence(ns) => ns.iter().for_each(&mut *f),
            Node::If(n) => {
                f(&n.cond);
                f(&n.body);
            }
            Node::IfElse(n) => {
                f(&n.cond);
                f(&n.then_branch);
                f(&n.else_branch);
            }
            Node::Loop(n) => {
                f(&n.cond);
                if let Some(b) = &n.body {
                    f(b)
                }
            }
            Node::AndOr(n) => {
                f(&n.left);
                f(&n.right);
            }
            Node::ToDo(n) => {
                f(&n.from);
                if let Some(t) = &n.to {
                    f(t)
                }
                if let Some(s) = &n.step {
                    f(s)
                }
                f(&n.body);
            }
        }
    }

    /// Calls `f` on this node and every node below it, including the bodies of
    /// block literals.
    pub fn walk(&self, f: &mut dyn FnMut(&Node)) {
        f(self);
        if let Node::Block(b) = self {
            if let crate::method::MethodKind::Ast(body) = &b.method.kind {
                body.body.walk(f);
            }
        }
        self.for_each_child(&mut |c| c.walk(f));
    }
}
