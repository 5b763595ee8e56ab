//! Lowering: syntax tree to the runtime's self-optimizing AST.
//!
//! Responsibilities:
//! - **variable resolution**, innermost scope first: block parameters and
//!   locals, enclosing scopes, the method's parameters and locals, then fields
//!   (inherited first); anything else is a global;
//! - **slot layout**: each method or real block gets one slot per parameter and
//!   local, plus the parameters and locals of every block inlined into it; the
//!   locals of an inlined block are reset to nil each time it is entered, as a
//!   fresh activation would have them;
//! - **context decision**: a scope keeps its slots in a heap context only when
//!   a real (closure-creating) block nested in it captures one of its
//!   variables (or a variable further out, which makes it a link of the context
//!   chain), or when it is the method scope of a block that does `^`; every
//!   other scope keeps its slots on the value stack;
//! - **inlining** of `ifTrue:`-style, `whileTrue:`, `and:`/`or:`, `to:do:` and
//!   `timesRepeat:` sends whose block arguments are literal blocks, each with a
//!   fallback that compiles the literal blocks as real closures on first use;
//! - **returns**: `^` at the end of a method body is its value, `^` inside an
//!   inlined block of a method is a local return, `^` inside a real block is a
//!   non-local return.

use std::rc::Rc;

use num_bigint::BigInt;
use som_runtime::method::{AstBody, EnforcedBody, MethodData, MethodKind, SourceLoc, Trivial};
use som_runtime::nodes::{
    AndOrNode, BlockLiteral, DeferredBlock, EnforcedFieldNode, EnforcedGlobalNode,
    EnforcedSendNode, Fallback, FieldIndex, GlobalReadNode, IfElseNode, IfKind, IfNode, LoopNode,
    Node, OuterVar, SendNode, SlotIndex, SpecialOp, SuperSendNode, ToDoKind, ToDoNode,
};
use som_runtime::primitives::normalize_bigint;
use som_runtime::{Value, Vm};

use super::lexer::{Diagnostic, Pos};
use super::parser::{BlockAst, Body, Expr, Lit, MethodAst, Stmt};

/// Most parameters a block may take: SOM has Block1..Block3 (0 to 2).
pub const MAX_BLOCK_PARAMS: usize = 2;

/// What lowering needs to know about the class a method belongs to.
pub struct ClassContext {
    /// Class name, for diagnostics.
    pub class_name: String,
    /// Field names visible to the methods (inherited first).
    pub fields: Vec<String>,
    /// Where super sends start looking (nil when there is no superclass).
    pub super_lookup: Value,
    /// File name for diagnostics and backtraces.
    pub file: String,
}

#[derive(Clone)]
struct Scope {
    names: Vec<(String, usize)>,
    num_slots: usize,
    needs_context: bool,
    is_method: bool,
}

enum Var {
    Local(usize),
    Outer(u32, usize),
    Field(usize),
    Global,
}

struct Lowerer<'a> {
    vm: &'a mut Vm,
    class: Rc<ClassContext>,
    scopes: Vec<Scope>,
    /// `Class>>#selector` of the method being lowered (shared by its sites).
    site: &'static som_runtime::trace::Site,
    /// Lowering the enforced twin: sends, field accesses and global reads
    /// become their domain-dispatched forms.
    enforced: bool,
}

type LResult<T> = Result<T, Diagnostic>;

fn err<T>(pos: Pos, message: impl Into<String>) -> LResult<T> {
    Err(Diagnostic {
        pos,
        message: message.into(),
    })
}

/// Lowers a method definition with a body.
pub fn lower_method(
    vm: &mut Vm,
    class: Rc<ClassContext>,
    m: &MethodAst,
    body: &Body,
) -> LResult<&'static MethodData> {
    let site = som_runtime::trace::Site::leak(
        format!("{}>>#{}", class.class_name, m.selector),
        class.file.clone(),
    );
    let mut l = Lowerer {
        vm,
        class,
        scopes: Vec::new(),
        site,
        enforced: false,
    };
    l.method(m, body)
}

impl Lowerer<'_> {
    fn site_name(&self) -> &'static som_runtime::trace::Site {
        self.site
    }

    fn loc(&self, pos: Pos) -> SourceLoc {
        SourceLoc {
            file: self.class.file.clone(),
            line: pos.line,
            col: pos.col,
            site: self.site.method,
        }
    }

    fn scope(&mut self) -> &mut Scope {
        self.scopes.last_mut().expect("a scope")
    }

    fn declare(&mut self, names: &[(String, Pos)], what: &str) -> LResult<Vec<usize>> {
        let mut slots = Vec::new();
        for (i, (n, pos)) in names.iter().enumerate() {
            if matches!(n.as_str(), "self" | "super" | "nil" | "true" | "false") {
                return err(*pos, format!("'{n}' is reserved and cannot name a {what}"));
            }
            if names[..i].iter().any(|(m, _)| m == n) {
                return err(*pos, format!("{what} '{n}' is declared twice"));
            }
            let s = self.scope();
            let slot = s.num_slots;
            s.num_slots += 1;
            s.names.push((n.clone(), slot));
            slots.push(slot);
        }
        Ok(slots)
    }

    /// Opens the scope of a method (`is_method`) or real block.
    fn push_scope(&mut self, is_method: bool) {
        self.scopes.push(Scope {
            names: Vec::new(),
            num_slots: 0,
            needs_context: false,
            is_method,
        });
    }

    /// Lowers a method body in the current mode; answers it with its scope.
    fn method_body(&mut self, m: &MethodAst, body: &Body) -> LResult<(Node, Scope)> {
        self.push_scope(true);
        self.declare(&m.params, "parameter")?;
        self.declare(&body.locals, "local")?;
        let mut nodes = Vec::new();
        let n = body.stmts.len();
        let mut returned = false;
        for (i, s) in body.stmts.iter().enumerate() {
            match s {
                Stmt::Expr(e) => nodes.push(self.expr(e)?),
                Stmt::Return(e, _) => {
                    let v = self.expr(e)?;
                    if i + 1 == n {
                        returned = true;
                        nodes.push(v);
                    } else {
                        nodes.push(Node::Return(Box::new(v)));
                    }
                }
            }
        }
        if !returned {
            nodes.push(Node::SelfRef);
        }
        let scope = self.scopes.pop().expect("method scope");
        Ok((sequence(nodes), scope))
    }

    fn method(&mut self, m: &MethodAst, body: &Body) -> LResult<&'static MethodData> {
        let (body_node, scope) = self.method_body(m, body)?;
        let sig = self.vm.intern(&m.selector);
        let mut trivial = trivial_form(&body_node, m.params.len(), scope.num_slots);
        if m.selector == "doesNotUnderstand:arguments:" && !scope.needs_context {
            trivial = trivial.or_else(|| self.forward_form(&body_node, scope.num_slots));
        }
        let enforced = {
            let (mast, bast) = (Rc::new(m.clone()), Rc::new(body.clone()));
            let (class, site) = (self.class.clone(), self.site);
            EnforcedBody::new(Box::new(move |vm: &mut Vm| {
                let mut l = Lowerer {
                    vm,
                    class: class.clone(),
                    scopes: Vec::new(),
                    site,
                    enforced: true,
                };
                let (body, scope) = l
                    .method_body(&mast, &bast)
                    .map_err(|d| d.render(&class.file))?;
                Ok(AstBody {
                    body,
                    num_slots: scope.num_slots,
                    needs_context: scope.needs_context,
                    tier: Default::default(),
                })
            }))
        };
        Ok(MethodData {
            signature: sig,
            num_args: m.params.len(),
            kind: MethodKind::Ast(AstBody {
                body: body_node,
                num_slots: scope.num_slots,
                needs_context: scope.needs_context,
                tier: Default::default(),
            }),
            holder: std::cell::Cell::new(Value::ZERO),
            object: std::cell::Cell::new(Value::ZERO),
            source: self.loc(m.pos),
            is_block: false,
            trivial,
            reflective: None,
            unenforced: m.unenforced,
            transparent: false,
            enforced,
        }
        .leak())
    }

    /// Lowers a block literal as a real block (its own activation).
    fn block_method(&mut self, b: &BlockAst) -> LResult<&'static MethodData> {
        if b.params.len() > MAX_BLOCK_PARAMS {
            return err(
                b.pos,
                format!(
                    "a block takes at most {MAX_BLOCK_PARAMS} parameters, this one declares {}",
                    b.params.len()
                ),
            );
        }
        let snapshot = self.scopes.clone();
        let was = std::mem::replace(&mut self.enforced, false);
        let lowered = self.block_body(b);
        self.enforced = was;
        let (body, scope) = lowered?;
        let enforced = {
            let block = Rc::new(b.clone());
            let (class, site) = (self.class.clone(), self.site);
            EnforcedBody::new(Box::new(move |vm: &mut Vm| {
                let mut l = Lowerer {
                    vm,
                    class: class.clone(),
                    scopes: snapshot.clone(),
                    site,
                    enforced: true,
                };
                let (body, scope) = l.block_body(&block).map_err(|d| d.render(&class.file))?;
                Ok(AstBody {
                    body,
                    num_slots: scope.num_slots,
                    needs_context: scope.needs_context,
                    tier: Default::default(),
                })
            }))
        };
        let sig = match b.params.len() {
            0 => "value",
            1 => "value:",
            _ => "value:with:",
        };
        let sig = self.vm.intern(sig);
        Ok(MethodData {
            signature: sig,
            num_args: b.params.len(),
            kind: MethodKind::Ast(AstBody {
                body,
                num_slots: scope.num_slots,
                needs_context: scope.needs_context,
                tier: Default::default(),
            }),
            holder: std::cell::Cell::new(Value::ZERO),
            object: std::cell::Cell::new(Value::ZERO),
            source: self.loc(b.pos),
            is_block: true,
            trivial: None,
            reflective: None,
            unenforced: false,
            transparent: false,
            enforced,
        }
        .leak())
    }

    /// Lowers a block's body in its own scope, in the current mode.
    fn block_body(&mut self, b: &BlockAst) -> LResult<(Node, Scope)> {
        self.push_scope(false);
        let r = self
            .declare(&b.params, "block parameter")
            .and_then(|_| self.declare(&b.body.locals, "local"))
            .and_then(|_| self.statements(&b.body.stmts));
        let scope = self.scopes.pop().expect("block scope");
        Ok((r?, scope))
    }

    /// Statements of a block body (real or inlined): the value of the last
    /// one, or nil when empty.
    fn statements(&mut self, stmts: &[Stmt]) -> LResult<Node> {
        if stmts.is_empty() {
            return Ok(Node::Const(self.vm.nil));
        }
        let mut nodes = Vec::new();
        for s in stmts {
            nodes.push(match s {
                Stmt::Expr(e) => self.expr(e)?,
                Stmt::Return(e, _) => {
                    let v = self.expr(e)?;
                    if self.scopes.last().expect("scope").is_method {
                        Node::Return(Box::new(v))
                    } else {
                        // The home method's context identifies the activation
                        // this `^` returns from.
                        self.scopes[0].needs_context = true;
                        Node::NonLocalReturn(Box::new(v))
                    }
                }
            });
        }
        Ok(sequence(nodes))
    }

    /// Lowers the body of a literal block into the current scope. `params`
    /// receive slots the construct writes; locals are reset on entry.
    fn inline_block(&mut self, b: &BlockAst) -> LResult<(Node, Vec<usize>)> {
        let mark = self.scope().names.len();
        let params = self.declare(&b.params, "block parameter");
        let params = match params {
            Ok(p) => p,
            Err(e) => {
                self.scope().names.truncate(mark);
                return Err(e);
            }
        };
        let locals = match self.declare(&b.body.locals, "local") {
            Ok(l) => l,
            Err(e) => {
                self.scope().names.truncate(mark);
                return Err(e);
            }
        };
        let body = self.statements(&b.body.stmts);
        self.scope().names.truncate(mark);
        let body = body?;
        if locals.is_empty() {
            return Ok((body, params));
        }
        let nil = self.vm.nil;
        let mut nodes: Vec<Node> = locals
            .iter()
            .map(|s| Node::LocalWrite(SlotIndex(*s), Box::new(Node::Const(nil))))
            .collect();
        nodes.push(body);
        Ok((sequence(nodes), params))
    }

    /// A block compiled on first use, seeing the variables visible now.
    fn deferred(&mut self, b: &Rc<BlockAst>) -> DeferredBlock {
        let snapshot: Vec<Scope> = self.scopes.clone();
        let class = self.class.clone();
        let block = b.clone();
        let site = self.site;
        DeferredBlock::new(Box::new(move |vm: &mut Vm| {
            let mut l = Lowerer {
                vm,
                class: class.clone(),
                scopes: snapshot.clone(),
                site,
                enforced: false,
            };
            l.block_method(&block).map_err(|d| d.render(&class.file))
        }))
    }

    fn resolve(&mut self, name: &str) -> Var {
        let n = self.scopes.len();
        for k in 0..n {
            let scope = &self.scopes[n - 1 - k];
            if let Some((_, slot)) = scope.names.iter().rev().find(|(m, _)| m == name) {
                let slot = *slot;
                if k == 0 {
                    return Var::Local(slot);
                }
                // The defining scope and every scope between it and the
                // current block are links of the context chain.
                for s in &mut self.scopes[n - 1 - k..n - 1] {
                    s.needs_context = true;
                }
                return Var::Outer(k as u32, slot);
            }
        }
        if let Some(i) = self.class.fields.iter().rposition(|f| f == name) {
            return Var::Field(i);
        }
        Var::Global
    }

    fn expr(&mut self, e: &Expr) -> LResult<Node> {
        // Lowering recurses once per level of the tree (at most
        // `MAX_NESTING`), and it runs at any depth of a running program
        // (class loading, `compile:`, an enforced twin): near the end of the
        // native stack it reports instead of faulting.
        if self.vm.check_native_stack().is_err() {
            return Err(self.out_of_stack(e));
        }
        match e {
            Expr::Var(name, pos) => Ok(self.variable(name, *pos)),
            Expr::Assign(name, pos, value) => {
                if matches!(name.as_str(), "self" | "super" | "nil" | "true" | "false") {
                    return err(*pos, format!("cannot assign to '{name}'"));
                }
                let v = Box::new(self.expr(value)?);
                match self.resolve(name) {
                    Var::Local(s) => Ok(Node::LocalWrite(SlotIndex(s), v)),
                    Var::Outer(d, s) => Ok(Node::OuterWrite(
                        OuterVar {
                            depth: d,
                            slot: SlotIndex(s),
                        },
                        v,
                    )),
                    Var::Field(i) if self.enforced => Ok(Node::EnforcedFieldWrite(Box::new(
                        EnforcedFieldNode::new(FieldIndex(i), Some(*v), self.site, (pos.line, pos.col)),
                    ))),
                    Var::Field(i) => Ok(Node::FieldWrite(FieldIndex(i), (pos.line, pos.col), v)),
                    Var::Global => err(
                        *pos,
                        format!(
                            "cannot assign to '{name}': it is not a local, argument or field of {} (globals are set with 'system global:put:')",
                            self.class.class_name
                        ),
                    ),
                }
            }
            Expr::Lit(lit, pos) => self.literal(lit, *pos),
            Expr::Block(b) => {
                let m = self.block_method(b)?;
                Ok(Node::Block(Box::new(BlockLiteral { method: m })))
            }
            Expr::Send {
                recv,
                sel,
                args,
                pos,
            } => self.send(recv, sel, args, *pos),
        }
    }

    #[cold]
    fn out_of_stack(&mut self, e: &Expr) -> Diagnostic {
        // The check left its error pending; this one replaces it.
        let _ = som_runtime::interpreter::take_error();
        let pos = match e {
            Expr::Var(_, p) | Expr::Assign(_, p, _) | Expr::Lit(_, p) => *p,
            Expr::Block(b) => b.pos,
            Expr::Send { pos, .. } => *pos,
        };
        Diagnostic {
            pos,
            message: "stack overflow (no native stack left to compile this nesting)".into(),
        }
    }

    fn variable(&mut self, name: &str, pos: Pos) -> Node {
        match name {
            "self" | "super" => Node::SelfRef,
            "nil" => Node::Const(self.vm.nil),
            "true" => Node::Const(self.vm.true_),
            "false" => Node::Const(self.vm.false_),
            _ => match self.resolve(name) {
                Var::Local(s) => Node::LocalRead(SlotIndex(s)),
                Var::Outer(d, s) => Node::OuterRead(OuterVar {
                    depth: d,
                    slot: SlotIndex(s),
                }),
                Var::Field(i) if self.enforced => Node::EnforcedFieldRead(Box::new(
                    EnforcedFieldNode::new(FieldIndex(i), None, self.site, (pos.line, pos.col)),
                )),
                Var::Field(i) => Node::FieldRead(FieldIndex(i), (pos.line, pos.col)),
                Var::Global if self.enforced => {
                    let id = self.vm.intern(name);
                    Node::EnforcedGlobalRead(Box::new(EnforcedGlobalNode::new(
                        id,
                        self.site,
                        (pos.line, pos.col),
                    )))
                }
                Var::Global => {
                    let id = self.vm.intern(name);
                    Node::GlobalRead(Box::new(GlobalReadNode::new(id, (pos.line, pos.col))))
                }
            },
        }
    }

    fn literal_value(&mut self, lit: &Lit, pos: Pos) -> LResult<Value> {
        Ok(match lit {
            Lit::Integer(digits, neg) => {
                let mut b: BigInt = match digits.parse() {
                    Ok(b) => b,
                    Err(_) => return err(pos, format!("malformed integer literal {digits}")),
                };
                if *neg {
                    b = -b;
                }
                let v = normalize_bigint(self.vm, b);
                self.vm.make_immortal(v)
            }
            Lit::Double(d) => {
                let v = self.vm.new_double(*d);
                self.vm.make_immortal(v)
            }
            Lit::Str(s) => match self.vm.new_string(s) {
                Ok(v) => self.vm.make_immortal(v),
                Err(_) => {
                    let e = som_runtime::interpreter::take_error();
                    return err(pos, e.message);
                }
            },
            Lit::Symbol(s) => {
                let id = self.vm.intern(s);
                self.vm.symbol_value(id)
            }
            Lit::Array(items) => {
                let mut values = Vec::with_capacity(items.len());
                for it in items {
                    // Elements are immortal, so holding them outside the heap
                    // while more literals are allocated is safe.
                    values.push(self.literal_value(it, pos)?);
                }
                let a = self.vm.new_array_from(&values);
                self.vm.make_immortal(a)
            }
        })
    }

    fn literal(&mut self, lit: &Lit, pos: Pos) -> LResult<Node> {
        let v = self.literal_value(lit, pos)?;
        Ok(match lit {
            Lit::Array(_) => Node::LiteralArray(v),
            _ => Node::Const(v),
        })
    }

    fn send(&mut self, recv: &Expr, sel: &str, args: &[Expr], pos: Pos) -> LResult<Node> {
        if let Expr::Var(name, _) = recv {
            if name == "super" {
                let args = args
                    .iter()
                    .map(|a| self.expr(a))
                    .collect::<LResult<Vec<_>>>()?;
                let selector = self.vm.intern(sel);
                if self.enforced {
                    return Ok(Node::EnforcedSend(Box::new(EnforcedSendNode::new(
                        selector,
                        Node::SelfRef,
                        args,
                        Some(self.class.super_lookup),
                        None,
                        self.site,
                        (pos.line, pos.col),
                    ))));
                }
                return Ok(Node::SuperSend(Box::new(SuperSendNode::new(
                    selector,
                    self.class.super_lookup,
                    args,
                    self.site,
                    (pos.line, pos.col),
                ))));
            }
        }
        if let Some(n) = self.try_inline(recv, sel, args, pos)? {
            return Ok(n);
        }
        let receiver = self.expr(recv)?;
        let args = args
            .iter()
            .map(|a| self.expr(a))
            .collect::<LResult<Vec<_>>>()?;
        let selector = self.vm.intern(sel);
        let special = SpecialOp::for_selector(sel);
        if self.enforced {
            return Ok(Node::EnforcedSend(Box::new(EnforcedSendNode::new(
                selector,
                receiver,
                args,
                None,
                special,
                self.site,
                (pos.line, pos.col),
            ))));
        }
        let send = Box::new(SendNode::new(
            selector,
            special,
            receiver,
            args,
            (pos.line, pos.col),
            self.site_name(),
        ));
        Ok(match (send.args.len(), special) {
            (1, Some(op)) if op != SpecialOp::AtPut => Node::BinarySpecial(send),
            (0, _) => Node::Send0(send),
            (1, _) => Node::Send1(send),
            _ => Node::Send(send),
        })
    }

    fn fallback(&mut self, sel: &str, pos: Pos, blocks: &[&Rc<BlockAst>]) -> Fallback {
        let selector = self.vm.intern(sel);
        let deferred = blocks.iter().map(|b| self.deferred(b)).collect();
        Fallback::new(selector, deferred, (pos.line, pos.col))
    }

    fn try_inline(
        &mut self,
        recv: &Expr,
        sel: &str,
        args: &[Expr],
        pos: Pos,
    ) -> LResult<Option<Node>> {
        match sel {
            "ifTrue:" | "ifFalse:" => {
                let Some(b) = args[0].as_block(0) else {
                    return Ok(None);
                };
                let cond = self.expr(recv)?;
                let (body, _) = self.inline_block(b)?;
                let fallback = self.fallback(sel, pos, &[b]);
                let kind = if sel == "ifTrue:" {
                    IfKind::True
                } else {
                    IfKind::False
                };
                Ok(Some(Node::If(Box::new(IfNode {
                    cond,
                    body,
                    kind,
                    fallback,
                }))))
            }
            "ifTrue:ifFalse:" | "ifFalse:ifTrue:" => {
                let (Some(b1), Some(b2)) = (args[0].as_block(0), args[1].as_block(0)) else {
                    return Ok(None);
                };
                let cond = self.expr(recv)?;
                let (n1, _) = self.inline_block(b1)?;
                let (n2, _) = self.inline_block(b2)?;
                let fallback = self.fallback(sel, pos, &[b1, b2]);
                let (then_branch, else_branch) = if sel == "ifTrue:ifFalse:" {
                    (n1, n2)
                } else {
                    (n2, n1)
                };
                Ok(Some(Node::IfElse(Box::new(IfElseNode {
                    cond,
                    then_branch,
                    else_branch,
                    fallback,
                }))))
            }
            "whileTrue:" | "whileFalse:" | "whileTrue" | "whileFalse" => {
                let Some(c) = recv.as_block(0) else {
                    return Ok(None);
                };
                let body_block = match args.first() {
                    Some(a) => match a.as_block(0) {
                        Some(b) => Some(b),
                        None => return Ok(None),
                    },
                    None => None,
                };
                let (cond, _) = self.inline_block(c)?;
                let body = match body_block {
                    Some(b) => Some(self.inline_block(b)?.0),
                    None => None,
                };
                Ok(Some(Node::Loop(Box::new(LoopNode {
                    cond,
                    body,
                    while_true: sel.starts_with("whileTrue"),
                    pos: (pos.line, pos.col),
                    osr: Default::default(),
                }))))
            }
            "and:" | "or:" | "&&" | "||" => {
                let Some(b) = args[0].as_block(0) else {
                    return Ok(None);
                };
                let left = self.expr(recv)?;
                let (right, _) = self.inline_block(b)?;
                let fallback = self.fallback(sel, pos, &[b]);
                Ok(Some(Node::AndOr(Box::new(AndOrNode {
                    left,
                    right,
                    is_and: sel == "and:" || sel == "&&",
                    fallback,
                }))))
            }
            "to:do:" | "downTo:do:" | "to:by:do:" | "timesRepeat:" => {
                let block_arg = args.len() - 1;
                let want = if sel == "timesRepeat:" { 0 } else { 1 };
                let Some(b) = args[block_arg].as_block(want) else {
                    return Ok(None);
                };
                let from = self.expr(recv)?;
                let to = if sel == "timesRepeat:" {
                    None
                } else {
                    Some(self.expr(&args[0])?)
                };
                let step = if sel == "to:by:do:" {
                    Some(self.expr(&args[1])?)
                } else {
                    None
                };
                let (body, params) = self.inline_block(b)?;
                let fallback = self.fallback(sel, pos, &[b]);
                let kind = match sel {
                    "downTo:do:" => ToDoKind::Down,
                    "timesRepeat:" => ToDoKind::Times,
                    _ => ToDoKind::Up,
                };
                Ok(Some(Node::ToDo(Box::new(ToDoNode {
                    from,
                    to,
                    step,
                    counter: params.first().map(|s| SlotIndex(*s)),
                    body,
                    kind,
                    fallback,
                    osr: Default::default(),
                }))))
            }
            _ => Ok(None),
        }
    }
}

impl Lowerer<'_> {
    /// Recognises a forwarding DNU handler:
    /// `^R perform: S withArguments: arguments` (see `Trivial::Forward`).
    fn forward_form(&mut self, body: &Node, num_slots: usize) -> Option<Trivial> {
        if num_slots != 2 {
            return None;
        }
        let send = body.as_send()?;
        if self.vm.symbols.text(send.selector) != "perform:withArguments:" {
            return None;
        }
        let field = match &send.receiver {
            Node::SelfRef => None,
            Node::FieldRead(FieldIndex(i), _) => Some(*i),
            _ => return None,
        };
        let selector = match &send.args[0] {
            Node::LocalRead(SlotIndex(0)) => None,
            Node::Const(v)
                if v.is_ptr()
                    && som_runtime::object::kind_of(*v) == som_runtime::object::Kind::Symbol =>
            {
                Some(self.vm.symbol_id(*v))
            }
            _ => return None,
        };
        match &send.args[1] {
            Node::LocalRead(SlotIndex(1)) => Some(Trivial::Forward { field, selector }),
            _ => None,
        }
    }
}

/// Recognises methods a send can run without an activation: accessors,
/// constants and `^self`.
fn trivial_form(body: &Node, num_args: usize, num_slots: usize) -> Option<Trivial> {
    if num_slots != num_args {
        return None;
    }
    match (body, num_args) {
        (Node::FieldRead(FieldIndex(i), _), 0) => Some(Trivial::Getter(*i)),
        (Node::Const(v), 0) => Some(Trivial::Constant(*v)),
        (Node::SelfRef, 0) => Some(Trivial::ReturnSelf),
        (Node::Sequence(ns), 1) => match &ns[..] {
            [Node::FieldWrite(FieldIndex(i), _, v), Node::SelfRef]
                if matches!(**v, Node::LocalRead(SlotIndex(0))) =>
            {
                Some(Trivial::Setter(*i))
            }
            _ => None,
        },
        _ => None,
    }
}

fn sequence(mut nodes: Vec<Node>) -> Node {
    if nodes.len() == 1 {
        nodes.pop().expect("one node")
    } else {
        Node::Sequence(nodes.into_boxed_slice())
    }
}
