//! The SOM parser: tokens to a syntax tree ([`ClassAst`]).
//!
//! Recursive descent over SOM's grammar (the ANTLR grammar `SOM.g4` in the
//! `specification` folder of SOM-st/SOM, not part of this repository). Every
//! error names the offending token and its position; nothing here panics on
//! malformed input.

use std::rc::Rc;

use super::lexer::{tokenize, Diagnostic, Pos, Tok, Token};

/// A literal value.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    /// Integer digits, optionally negated.
    Integer(String, bool),
    /// A double.
    Double(f64),
    /// A string.
    Str(String),
    /// A symbol.
    Symbol(String),
    /// A literal array.
    Array(Vec<Lit>),
}

/// An expression.
#[derive(Clone, Debug)]
pub enum Expr {
    /// A variable reference (also `self`, `super`, `nil`, `true`, `false`).
    Var(String, Pos),
    /// `name := value`
    Assign(String, Pos, Box<Expr>),
    /// A literal.
    Lit(Lit, Pos),
    /// A block literal.
    Block(Rc<BlockAst>),
    /// A message send.
    Send {
        /// Receiver.
        recv: Box<Expr>,
        /// Selector.
        sel: String,
        /// Arguments.
        args: Vec<Expr>,
        /// Position of the selector.
        pos: Pos,
    },
}

impl Expr {
    /// Whether this is a literal block with `n` parameters.
    pub fn as_block(&self, n: usize) -> Option<&Rc<BlockAst>> {
        match self {
            Expr::Block(b) if b.params.len() == n => Some(b),
            _ => None,
        }
    }
}

/// A statement.
#[derive(Clone, Debug)]
pub enum Stmt {
    /// An expression statement.
    Expr(Expr),
    /// `^ expr`
    Return(Expr, Pos),
}

/// Locals and statements of a method or block.
#[derive(Clone, Debug, Default)]
pub struct Body {
    /// Declared locals.
    pub locals: Vec<(String, Pos)>,
    /// Statements.
    pub stmts: Vec<Stmt>,
}

/// A block literal.
#[derive(Clone, Debug)]
pub struct BlockAst {
    /// Parameters.
    pub params: Vec<(String, Pos)>,
    /// Body.
    pub body: Body,
    /// Position of `[`.
    pub pos: Pos,
}

/// A method body.
#[derive(Clone, Debug)]
pub enum MethodBody {
    /// `= primitive`
    Primitive,
    /// `= ( ... )`
    Code(Body),
}

/// A method definition.
#[derive(Clone, Debug)]
pub struct MethodAst {
    /// Selector.
    pub selector: String,
    /// Parameters.
    pub params: Vec<(String, Pos)>,
    /// Body.
    pub body: MethodBody,
    /// Declared `= unenforced ...`: always runs at the meta level.
    pub unenforced: bool,
    /// Position of the pattern.
    pub pos: Pos,
}

/// A class definition.
#[derive(Clone, Debug)]
pub struct ClassAst {
    /// Class name.
    pub name: String,
    /// Position of the name.
    pub pos: Pos,
    /// Superclass name (`None` = Object; `Some("nil")` = no superclass).
    pub superclass: Option<(String, Pos)>,
    /// Instance fields.
    pub instance_fields: Vec<(String, Pos)>,
    /// Instance methods.
    pub instance_methods: Vec<MethodAst>,
    /// Class-side fields.
    pub class_fields: Vec<(String, Pos)>,
    /// Class methods.
    pub class_methods: Vec<MethodAst>,
}

/// Deepest expression nesting the parser accepts: every message send,
/// assignment, `^`, block, parenthesis and literal array is one level, so a
/// chain of sends (`1 + 1 + 1 ...`, `x foo foo foo ...`, `a , b , c ...`)
/// is as deep as it is long, exactly as the syntax tree it becomes.
///
/// The parser itself loops over a chain, but everything after it walks the
/// tree recursively: dropping it, lowering it (also at run time, for
/// `compile:` and an enforced method's first enforced activation) and
/// evaluating it within one activation, where nothing else checks the native
/// stack. Deeper input is therefore a `file:line:col` diagnostic, never an
/// aborted process. Why 1,000: real code is far shallower (measured: at most
/// 124 levels, in SOM-st/SOM's `Examples/Benchmarks/PageRank.som`; at most 45
/// elsewhere in SOM-st/SOM and this repository), and evaluating a tree of
/// 1,000 levels takes about 100 KB of native stack (dev profile), well within
/// the reserve the VM's native-stack guard keeps
/// (`som_runtime::vm::NATIVE_STACK_RESERVE`), so it also works at the end of
/// the deepest recursion. Parsing and lowering need more (about 1 KB and
/// 1.5 KB per level): they check the native stack per level themselves and
/// report "stack overflow" near its end.
pub const MAX_NESTING: usize = 1000;

struct Parser {
    toks: Vec<Token>,
    i: usize,
    depth: usize,
    /// Native stack address below which the parser's recursion reports a
    /// diagnostic instead of going deeper (0: unchecked).
    stack_floor: usize,
}

type PResult<T> = Result<T, Diagnostic>;

/// An expression with the depth of its tree, in [`MAX_NESTING`] levels.
type Nested = (Expr, usize);

/// The diagnostic for input nested deeper than [`MAX_NESTING`] at `pos`.
fn too_deep(pos: Pos) -> Diagnostic {
    Diagnostic {
        pos,
        message: format!(
            "expression nested deeper than {MAX_NESTING} levels (each send, block and parenthesis is one)"
        ),
    }
}

/// `depth`, when it is within [`MAX_NESTING`]; `pos` is where the node of
/// that depth starts.
fn within_limit(depth: usize, pos: Pos) -> PResult<usize> {
    if depth > MAX_NESTING {
        return Err(too_deep(pos));
    }
    Ok(depth)
}

/// `(e, depth)` when `depth` is within [`MAX_NESTING`].
fn nested(e: Expr, depth: usize, pos: Pos) -> PResult<Nested> {
    Ok((e, within_limit(depth, pos)?))
}

/// A send node one level deeper than its deepest part.
fn send(recv: Nested, sel: String, args: Vec<Nested>, pos: Pos) -> PResult<Nested> {
    let depth = 1 + args.iter().map(|a| a.1).fold(recv.1, usize::max);
    let e = Expr::Send {
        recv: Box::new(recv.0),
        sel,
        args: args.into_iter().map(|a| a.0).collect(),
        pos,
    };
    nested(e, depth, pos)
}

/// Parses a whole class file.
pub fn parse_class(src: &str) -> PResult<ClassAst> {
    parse_all(src, 0, Parser::class_def)
}

/// Parses one method definition (`pattern = ( body )`).
pub fn parse_method(src: &str) -> PResult<MethodAst> {
    parse_all(src, 0, Parser::method)
}

/// [`parse_class`], reporting "stack overflow" rather than recursing below
/// the native stack address `stack_floor` (the VM parses at any depth of a
/// running program: lazy class loading, `compile:`).
pub fn parse_class_guarded(src: &str, stack_floor: usize) -> PResult<ClassAst> {
    parse_all(src, stack_floor, Parser::class_def)
}

/// [`parse_method`] with the guard of [`parse_class_guarded`].
pub fn parse_method_guarded(src: &str, stack_floor: usize) -> PResult<MethodAst> {
    parse_all(src, stack_floor, Parser::method)
}

/// Parses `src` with `rule`, which must consume all of it.
fn parse_all<T>(src: &str, stack_floor: usize, rule: fn(&mut Parser) -> PResult<T>) -> PResult<T> {
    let mut p = Parser {
        toks: tokenize(src)?,
        i: 0,
        depth: 0,
        stack_floor,
    };
    let r = rule(&mut p)?;
    p.expect_eof()?;
    Ok(r)
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.i.min(self.toks.len() - 1)].tok
    }

    fn peek_at(&self, k: usize) -> &Tok {
        &self.toks[(self.i + k).min(self.toks.len() - 1)].tok
    }

    fn pos(&self) -> Pos {
        self.toks[self.i.min(self.toks.len() - 1)].pos
    }

    fn advance(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn error<T>(&self, what: &str) -> PResult<T> {
        Err(Diagnostic {
            pos: self.pos(),
            message: format!("expected {what} but found {}", self.peek()),
        })
    }

    fn expect(&mut self, t: Tok, what: &str) -> PResult<()> {
        if *self.peek() == t {
            self.advance();
            Ok(())
        } else {
            self.error(what)
        }
    }

    fn expect_eof(&mut self) -> PResult<()> {
        if *self.peek() == Tok::Eof {
            Ok(())
        } else {
            self.error("end of file")
        }
    }

    /// Counts one level of the parser's own recursion (parentheses, blocks,
    /// literal arrays, assignments): it is bounded before the tree below is
    /// known.
    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(too_deep(self.pos()));
        }
        let here = &self.depth as *const usize as usize;
        if here < self.stack_floor {
            return Err(Diagnostic {
                pos: self.pos(),
                message: "stack overflow (no native stack left to parse this nesting)".into(),
            });
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn identifier(&mut self, what: &str) -> PResult<(String, Pos)> {
        let pos = self.pos();
        match self.peek().clone() {
            Tok::Ident(s) => {
                self.advance();
                Ok((s, pos))
            }
            _ => self.error(what),
        }
    }

    fn class_def(&mut self) -> PResult<ClassAst> {
        let (name, pos) = self.identifier("a class name")?;
        if *self.peek() != Tok::Operator("=".into()) {
            return self.error("'=' after the class name");
        }
        self.advance();
        let superclass = match self.peek().clone() {
            Tok::Ident(s) => {
                let p = self.pos();
                self.advance();
                Some((s, p))
            }
            _ => None,
        };
        self.expect(Tok::LParen, "'(' to start the class body")?;
        let instance_fields = self.fields()?;
        let mut instance_methods = Vec::new();
        while !matches!(self.peek(), Tok::Separator | Tok::RParen | Tok::Eof) {
            instance_methods.push(self.method()?);
        }
        let mut class_fields = Vec::new();
        let mut class_methods = Vec::new();
        if *self.peek() == Tok::Separator {
            self.advance();
            class_fields = self.fields()?;
            while !matches!(self.peek(), Tok::RParen | Tok::Eof) {
                class_methods.push(self.method()?);
            }
        }
        self.expect(Tok::RParen, "')' to end the class body")?;
        Ok(ClassAst {
            name,
            pos,
            superclass,
            instance_fields,
            instance_methods,
            class_fields,
            class_methods,
        })
    }

    fn is_bar(&self) -> bool {
        *self.peek() == Tok::Operator("|".into())
    }

    fn fields(&mut self) -> PResult<Vec<(String, Pos)>> {
        self.name_list("a field name", "'|' to end the field list")
    }

    /// An optional `| name name ... |` list (fields or locals); `||` is an
    /// empty one.
    fn name_list(&mut self, what: &str, end: &str) -> PResult<Vec<(String, Pos)>> {
        let mut out = Vec::new();
        if self.is_bar() {
            self.advance();
            while let Tok::Ident(_) = self.peek() {
                out.push(self.identifier(what)?);
            }
            if !self.is_bar() {
                return self.error(end);
            }
            self.advance();
        } else if *self.peek() == Tok::Operator("||".into()) {
            self.advance();
        }
        Ok(out)
    }

    fn method(&mut self) -> PResult<MethodAst> {
        let pos = self.pos();
        let (selector, params) = match self.peek().clone() {
            Tok::Ident(s) => {
                self.advance();
                (s, Vec::new())
            }
            Tok::Operator(op) => {
                self.advance();
                let p = self.identifier("an argument name after the binary selector")?;
                (op, vec![p])
            }
            Tok::Keyword(_) => {
                let mut sel = String::new();
                let mut params = Vec::new();
                while let Tok::Keyword(k) = self.peek().clone() {
                    self.advance();
                    sel.push_str(&k);
                    params.push(self.identifier("an argument name after the keyword")?);
                }
                (sel, params)
            }
            _ => return self.error("a method definition"),
        };
        if *self.peek() != Tok::Operator("=".into()) {
            return self.error("'=' after the method pattern");
        }
        self.advance();
        // `unenforced` cannot start a body, so the modifier is unambiguous.
        let unenforced = matches!(self.peek(), Tok::Ident(s) if s == "unenforced");
        if unenforced {
            self.advance();
        }
        let body = match self.peek().clone() {
            Tok::Ident(s) if s == "primitive" => {
                self.advance();
                MethodBody::Primitive
            }
            Tok::LParen => {
                self.advance();
                let (b, _) = self.body()?;
                self.expect(Tok::RParen, "')' to end the method body")?;
                MethodBody::Code(b)
            }
            _ => return self.error("'primitive' or '(' to start the method body"),
        };
        Ok(MethodAst {
            unenforced,
            selector,
            params,
            body,
            pos,
        })
    }

    /// A body and the depth of its deepest statement.
    fn body(&mut self) -> PResult<(Body, usize)> {
        let locals = self.name_list("a local name", "'|' to end the local variable list")?;
        let mut stmts = Vec::new();
        let mut depth = 0;
        loop {
            match self.peek() {
                Tok::RParen | Tok::RBracket | Tok::Eof => break,
                Tok::Period => {
                    self.advance();
                    continue;
                }
                Tok::Caret => {
                    let pos = self.pos();
                    self.advance();
                    let (e, d) = self.expression()?;
                    depth = depth.max(within_limit(d + 1, pos)?);
                    stmts.push(Stmt::Return(e, pos));
                    if *self.peek() == Tok::Period {
                        self.advance();
                    }
                    if !matches!(self.peek(), Tok::RParen | Tok::RBracket | Tok::Eof) {
                        return self.error("the end of the body after a return statement");
                    }
                    break;
                }
                _ => {
                    let (e, d) = self.expression()?;
                    depth = depth.max(d);
                    stmts.push(Stmt::Expr(e));
                    match self.peek() {
                        Tok::Period => {
                            self.advance();
                        }
                        Tok::RParen | Tok::RBracket | Tok::Eof => break,
                        _ => return self.error("'.' or the end of the body"),
                    }
                }
            }
        }
        Ok((Body { locals, stmts }, depth))
    }

    fn expression(&mut self) -> PResult<Nested> {
        if let (Tok::Ident(name), Tok::Assign) = (self.peek().clone(), self.peek_at(1).clone()) {
            let pos = self.pos();
            self.advance();
            self.advance();
            self.enter()?;
            let value = self.expression();
            self.leave();
            let (value, d) = value?;
            return nested(Expr::Assign(name, pos, Box::new(value)), d + 1, pos);
        }
        let recv = self.primary()?;
        self.messages(recv)
    }

    /// The unary sends following `recv`.
    fn unary_messages(&mut self, mut recv: Nested) -> PResult<Nested> {
        while let Tok::Ident(sel) = self.peek().clone() {
            let pos = self.pos();
            self.advance();
            recv = send(recv, sel, vec![], pos)?;
        }
        Ok(recv)
    }

    fn messages(&mut self, recv: Nested) -> PResult<Nested> {
        let mut recv = self.unary_messages(recv)?;
        while let Tok::Operator(_) = self.peek() {
            recv = self.binary_message(recv)?;
        }
        if let Tok::Keyword(_) = self.peek() {
            let pos = self.pos();
            let mut sel = String::new();
            let mut args = Vec::new();
            while let Tok::Keyword(k) = self.peek().clone() {
                self.advance();
                sel.push_str(&k);
                let arg = self.primary()?;
                let mut arg = self.unary_messages(arg)?;
                while let Tok::Operator(_) = self.peek() {
                    arg = self.binary_message(arg)?;
                }
                args.push(arg);
            }
            recv = send(recv, sel, args, pos)?;
        }
        Ok(recv)
    }

    fn binary_message(&mut self, recv: Nested) -> PResult<Nested> {
        let pos = self.pos();
        let Tok::Operator(op) = self.advance() else {
            return self.error("a binary operator");
        };
        let arg = self.primary()?;
        let arg = self.unary_messages(arg)?;
        send(recv, op, vec![arg], pos)
    }

    fn primary(&mut self) -> PResult<Nested> {
        let pos = self.pos();
        match self.peek().clone() {
            Tok::Ident(name) => {
                self.advance();
                Ok((Expr::Var(name, pos), 1))
            }
            Tok::LParen => {
                self.advance();
                self.enter()?;
                let e = self.expression();
                self.leave();
                let (e, d) = e?;
                self.expect(Tok::RParen, "')' to close the parenthesis")?;
                // The parenthesis leaves no node, but it is a level of the
                // parser's recursion: counted, so that one limit covers both.
                nested(e, d + 1, pos)
            }
            Tok::LBracket => {
                self.advance();
                self.enter()?;
                let b = self.block(pos);
                self.leave();
                let (b, d) = b?;
                nested(Expr::Block(Rc::new(b)), d + 1, pos)
            }
            Tok::Operator(op) if op == "-" => {
                if let Tok::Integer(_) | Tok::Double(_) = self.peek_at(1) {
                    self.advance();
                    let lit = self.literal_number(true)?;
                    Ok((Expr::Lit(lit, pos), 1))
                } else {
                    self.error("an expression")
                }
            }
            Tok::Integer(_) | Tok::Double(_) => {
                let lit = self.literal_number(false)?;
                Ok((Expr::Lit(lit, pos), 1))
            }
            Tok::Str(s) => {
                self.advance();
                Ok((Expr::Lit(Lit::Str(s), pos), 1))
            }
            Tok::Symbol(s) => {
                self.advance();
                Ok((Expr::Lit(Lit::Symbol(s), pos), 1))
            }
            Tok::ArrayStart => {
                self.advance();
                let (a, d) = self.literal_array()?;
                Ok((Expr::Lit(a, pos), d))
            }
            _ => self.error("an expression"),
        }
    }

    fn literal_number(&mut self, negative: bool) -> PResult<Lit> {
        match self.advance() {
            Tok::Integer(s) => Ok(Lit::Integer(s, negative)),
            Tok::Double(d) => Ok(Lit::Double(if negative { -d } else { d })),
            _ => self.error("a number"),
        }
    }

    /// A literal array (after its `#(` or nested `(`) and its depth.
    fn literal_array(&mut self) -> PResult<(Lit, usize)> {
        self.enter()?;
        let mut items = Vec::new();
        let mut depth = 1;
        loop {
            match self.peek().clone() {
                Tok::RParen => {
                    self.advance();
                    break;
                }
                Tok::Integer(_) | Tok::Double(_) => items.push(self.literal_number(false)?),
                Tok::Operator(op)
                    if op == "-" && matches!(self.peek_at(1), Tok::Integer(_) | Tok::Double(_)) =>
                {
                    self.advance();
                    items.push(self.literal_number(true)?);
                }
                Tok::Str(s) => {
                    self.advance();
                    items.push(Lit::Str(s));
                }
                Tok::Symbol(s) => {
                    self.advance();
                    items.push(Lit::Symbol(s));
                }
                Tok::ArrayStart | Tok::LParen => {
                    self.advance();
                    let (a, d) = self.literal_array()?;
                    depth = depth.max(d + 1);
                    items.push(a);
                }
                _ => {
                    self.leave();
                    return self.error("a literal or ')' in the literal array");
                }
            }
        }
        self.leave();
        Ok((Lit::Array(items), depth))
    }

    /// A block (after its `[`) and the depth of its deepest statement.
    fn block(&mut self, pos: Pos) -> PResult<(BlockAst, usize)> {
        let mut params = Vec::new();
        if *self.peek() == Tok::Colon {
            while *self.peek() == Tok::Colon {
                self.advance();
                params.push(self.identifier("a block parameter name after ':'")?);
            }
            if self.is_bar() {
                self.advance();
            } else if *self.peek() == Tok::Operator("||".into()) {
                // `[:x || tmp | ...]` is not SOM; but `[:x || ]`-like input is
                // a common typo: report it precisely.
                return self.error("'|' after the block parameters");
            } else {
                return self.error("'|' after the block parameters");
            }
        }
        let (body, depth) = self.body()?;
        self.expect(Tok::RBracket, "']' to close the block")?;
        Ok((BlockAst { params, body, pos }, depth))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_class_with_both_sides() {
        let c = parse_class(
            "Foo = Bar ( | a b | x = ( ^a ) + y = ( ^y ) at: i put: v = primitive ---- | c | new = ( ^super new ) )",
        )
        .unwrap();
        assert_eq!(c.name, "Foo");
        assert_eq!(c.superclass.as_ref().unwrap().0, "Bar");
        assert_eq!(c.instance_fields.len(), 2);
        assert_eq!(c.instance_methods.len(), 3);
        assert_eq!(c.instance_methods[2].selector, "at:put:");
        assert_eq!(c.class_fields.len(), 1);
        assert_eq!(c.class_methods.len(), 1);
    }

    #[test]
    fn precedence_unary_binary_keyword() {
        let m = parse_method("f = ( ^a b + c d e: f g + h )").unwrap();
        let MethodBody::Code(b) = m.body else {
            panic!()
        };
        let Stmt::Return(Expr::Send { sel, args, .. }, _) = &b.stmts[0] else {
            panic!()
        };
        assert_eq!(sel, "e:");
        assert_eq!(args.len(), 1);
    }

    #[test]
    fn errors_name_token_and_position() {
        let e = parse_class("Foo = ( bar = ( ^ ) )").unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, col: 19 });
        assert!(
            e.message.contains("expected an expression"),
            "{}",
            e.message
        );
    }

    #[test]
    fn negative_literals() {
        let m = parse_method("f = ( ^#(-1 -2.5 #a 'b' #(3)) )").unwrap();
        let MethodBody::Code(b) = m.body else {
            panic!()
        };
        let Stmt::Return(Expr::Lit(Lit::Array(items), _), _) = &b.stmts[0] else {
            panic!()
        };
        assert_eq!(items[0], Lit::Integer("1".into(), true));
        assert_eq!(items[1], Lit::Double(-2.5));
        assert_eq!(items.len(), 5);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let src = format!("f = ( ^{}1{} )", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse_method(&src).is_err());
        let ok = format!("f = ( ^{}1{} )", "(".repeat(200), ")".repeat(200));
        assert!(parse_method(&ok).is_ok());
    }

    #[test]
    fn send_chains_count_one_level_per_send() {
        // `^`, `1` and n sends: n + 2 levels.
        let chain = |n: usize| format!("f = ( ^ 1{} )", " + 1".repeat(n));
        assert!(parse_method(&chain(MAX_NESTING - 2)).is_ok());
        let e = parse_method(&chain(MAX_NESTING - 1)).unwrap_err();
        assert!(e.message.contains("nested deeper"), "{}", e.message);
        let e = parse_method(&format!("f = ( ^ self{} )", " x".repeat(100_000))).unwrap_err();
        assert!(e.message.contains("nested deeper"), "{}", e.message);
    }
}
