//! Lowering of the special selectors of a send (the part of
//! `runtime/src/nodes/send.rs` that computes `SpecialOp`s in place):
//! small-integer arithmetic, division and comparisons (overflow checked,
//! continuing in the generic send, which makes big integers), Double
//! arithmetic and comparisons with a small-integer or Double argument, and
//! `at:`/`at:put:` on plain Arrays with bounds checks.
//!
//! Doubles stay out of the heap where that is known to be safe: at a site
//! that has seen Doubles, the operands and the result of `+ - *` and the
//! comparisons are [`Lazy`] values (an f64, with a word of 0 meaning "not
//! boxed"), and so are locals assigned from such sites (each gets an f64
//! shadow variable). A value is boxed (bumped inline from the heap's
//! cursor) only where a word is needed: a generic send, a store into an
//! object, a frame written back for the runtime, a use as a plain value.
//! Mandelbrot's inner loop allocates nothing. Each applies only while the class keeps
//! the core library's method (checked when compiling, and guarded by the
//! unit's `valid` word, which a change to that method clears).

use cranelift_codegen::ir::{self, condcodes::FloatCC, condcodes::IntCC, types::F64, types::I64};
use cranelift_codegen::ir::{BlockArg, InstBuilder, MemFlagsData};

use som_runtime::nodes::{Node, SendNode, SpecialOp};
use som_runtime::symbols::SymbolId;
use som_runtime::tier::layout;
use som_runtime::value::Value;

use super::entry::Entry;
use super::unit::{Lazy, Lowerer};

impl Lowerer<'_> {
    /// `node` if it is a binary send whose Double case is computed inline
    /// (a special arithmetic or comparison selector at a site that has seen
    /// Doubles; in enforced code too, where the interpreter computes it
    /// before any domain is asked), with its selector: its operands and (for
    /// arithmetic) its result may stay unboxed.
    pub(crate) fn double_site<'n>(&self, node: &'n Node) -> Option<(DoubleSite<'n>, SpecialOp)> {
        let (site, op, saw, argc) = match node {
            Node::Send(s) | Node::Send1(s) | Node::BinarySpecial(s) => (
                DoubleSite::Plain(s),
                s.special?,
                s.saw_double.get(),
                s.args.len(),
            ),
            Node::EnforcedSend(s) if s.lookup_class.is_none() => (
                DoubleSite::Enforced(s),
                s.special?,
                s.saw_double.get(),
                s.args.len(),
            ),
            _ => return None,
        };
        (self.consts.double_intact && saw && argc == 1 && integer_op(op) && op != SpecialOp::BitAnd)
            .then_some((site, op))
    }

    /// Whether `v` is a Double (of the standard domain, so its value cannot
    /// change under the compiled code).
    pub(crate) fn is_double(&self, v: Value) -> bool {
        v.is_ptr()
            && std::ptr::eq(
                som_runtime::object::header(v).shape,
                self.consts.double_shape,
            )
    }

    /// A send of a [`Lowerer::double_site`]: its Double case on unboxed
    /// operands answers an unboxed result (a [`Lazy`] with word 0); every
    /// other case is the ordinary send, on boxed operands.
    pub(crate) fn lower_double_send(&mut self, site: DoubleSite<'static>, op: SpecialOp) -> Lazy {
        let (receiver, arg, selector) = match site {
            DoubleSite::Plain(s) => {
                self.sites.push(s as *const SendNode as usize);
                (&s.receiver, &s.args[0], s.selector)
            }
            DoubleSite::Enforced(s) => (&s.receiver, &s.args[0], s.selector),
        };
        let a = self.lower_lazy(receiver);
        let b = self.lower_lazy(arg);
        let done = self.b.create_block();
        self.b.append_block_param(done, I64);
        self.b.append_block_param(done, F64);
        let not = self.b.create_block();
        // The inline case is the core library's method taken on trust.
        self.depends_on.push(selector);
        self.guard_valid(not);
        let fa = self.lazy_number(a, false, not);
        let fb = self.lazy_number(b, true, not);
        match compare(op) {
            Some(cc) => {
                let c = self.b.ins().fcmp(cc, fa, fb);
                let v = self.boolean(c);
                self.b
                    .ins()
                    .jump(done, &[BlockArg::Value(v), BlockArg::Value(fa)]);
            }
            None => {
                let r = match op {
                    SpecialOp::Add => self.b.ins().fadd(fa, fb),
                    SpecialOp::Sub => self.b.ins().fsub(fa, fb),
                    _ => self.b.ins().fmul(fa, fb),
                };
                let zero = self.iconst(0);
                self.b
                    .ins()
                    .jump(done, &[BlockArg::Value(zero), BlockArg::Value(r)]);
            }
        }
        self.b.seal_block(not);
        self.b.switch_to_block(not);
        let wa = self.force(a);
        let wb = self.force(b);
        let rest = vec![super::send::Arg::Word(wb)];
        let v = match site {
            DoubleSite::Plain(s) => self.send_evaluated(s, wa, rest, false),
            DoubleSite::Enforced(s) => self.enforced_send_evaluated(s, wa, rest, false),
        };
        let unused = self.b.ins().f64const(0.0);
        self.b
            .ins()
            .jump(done, &[BlockArg::Value(v), BlockArg::Value(unused)]);
        self.b.seal_block(done);
        self.b.switch_to_block(done);
        let p = self.b.block_params(done).to_vec();
        Lazy {
            word: p[0],
            dbl: arithmetic(op).then_some(p[1]),
            exact: false,
        }
    }

    /// The f64 of `l` when it is a Double (or, with `small`, a small
    /// integer); else to `not`.
    fn lazy_number(&mut self, l: Lazy, small: bool, not: ir::Block) -> ir::Value {
        match l.dbl {
            Some(d) if l.exact => d,
            Some(d) => {
                let have = self.b.create_block();
                self.b.append_block_param(have, F64);
                let boxed = self.b.create_block();
                self.b
                    .ins()
                    .brif(l.word, boxed, &[], have, &[BlockArg::Value(d)]);
                self.b.seal_block(boxed);
                self.b.switch_to_block(boxed);
                let f = self.number_of(l.word, small, not);
                self.b.ins().jump(have, &[BlockArg::Value(f)]);
                self.b.seal_block(have);
                self.b.switch_to_block(have);
                self.b.block_params(have)[0]
            }
            None => self.number_of(l.word, small, not),
        }
    }

    /// The f64 of the word `v` when it is a Double (or, with `small`, a
    /// small integer); else to `not`.
    fn number_of(&mut self, v: ir::Value, small: bool, not: ir::Block) -> ir::Value {
        if !small {
            return self.double_of(v, not);
        }
        let have = self.b.create_block();
        self.b.append_block_param(have, F64);
        let b_small = self.b.create_block();
        let b_other = self.b.create_block();
        let tag = self.is_small(v);
        self.b.ins().brif(tag, b_small, &[], b_other, &[]);
        self.b.seal_block(b_small);
        self.b.seal_block(b_other);
        self.b.switch_to_block(b_small);
        let i = self.b.ins().sshr_imm_s(v, 1);
        let f = self.b.ins().fcvt_from_sint(F64, i);
        self.b.ins().jump(have, &[BlockArg::Value(f)]);
        self.b.switch_to_block(b_other);
        let f = self.double_of(v, not);
        self.b.ins().jump(have, &[BlockArg::Value(f)]);
        self.b.seal_block(have);
        self.b.switch_to_block(have);
        self.b.block_params(have)[0]
    }

    /// The inline cases of a special selector: jumps to `done` when they
    /// apply, else continues in the current block. Answers whether there
    /// are any.
    pub(crate) fn special(
        &mut self,
        op: SpecialOp,
        values: &[ir::Value],
        done: ir::Block,
        selector: SymbolId,
        saw_double: bool,
    ) -> bool {
        let binary = values.len() == 2;
        let doubles = self.consts.double_intact
            && saw_double
            && binary
            && op != SpecialOp::BitAnd
            && integer_op(op);
        let integers = self.consts.integer_intact
            && binary
            && (integer_op(op) || matches!(op, SpecialOp::Div | SpecialOp::Mod));
        let arrays = self.consts.array_intact
            && matches!(
                (op, values.len()),
                (SpecialOp::At, 2) | (SpecialOp::AtPut, 3)
            );
        let booleans =
            self.consts.boolean_intact && binary && matches!(op, SpecialOp::And | SpecialOp::Or);
        if !(doubles || integers || arrays || booleans) {
            return false;
        }
        // The inline case is a lookup result taken on trust (the core
        // library's method): it holds only while the unit is valid.
        self.depends_on.push(selector);
        let cont = self.b.create_block();
        self.guard_valid(cont);
        if arrays {
            let put = (op == SpecialOp::AtPut).then(|| values[2]);
            self.array_access(&values[..2], put, done);
        }
        if integers {
            self.small_integer_op(op, values[0], values[1], done);
        }
        if doubles {
            self.double_op(op, values[0], values[1], done);
        }
        if booleans {
            self.boolean_op(op, values[0], values[1], done);
        }
        self.b.ins().jump(cont, &[]);
        self.b.seal_block(cont);
        self.b.switch_to_block(cont);
        true
    }

    /// `&&` / `||` of two Booleans, as the interpreter's special case: a
    /// non-Boolean argument (which the method would send `value`) or
    /// receiver continues in the current block.
    fn boolean_op(&mut self, op: SpecialOp, a: ir::Value, b: ir::Value, done: ir::Block) {
        let t = self.som_const(self.consts.true_);
        let f = self.som_const(self.consts.false_);
        let b_true = self.b.ins().icmp(IntCC::Equal, b, t);
        let b_false = self.b.ins().icmp(IntCC::Equal, b, f);
        let b_bool = self.b.ins().bor(b_true, b_false);
        let arg_ok = self.b.create_block();
        let not = self.b.create_block();
        self.b.ins().brif(b_bool, arg_ok, &[], not, &[]);
        self.b.seal_block(arg_ok);
        self.b.switch_to_block(arg_ok);
        // The receiver that answers the argument, and the one that answers
        // itself.
        let (pass, fixed) = if op == SpecialOp::And { (t, f) } else { (f, t) };
        let a_pass = self.b.ins().icmp(IntCC::Equal, a, pass);
        let is_fixed = self.b.create_block();
        self.b
            .ins()
            .brif(a_pass, done, &[BlockArg::Value(b)], is_fixed, &[]);
        self.b.seal_block(is_fixed);
        self.b.switch_to_block(is_fixed);
        let a_fixed = self.b.ins().icmp(IntCC::Equal, a, fixed);
        self.b
            .ins()
            .brif(a_fixed, done, &[BlockArg::Value(fixed)], not, &[]);
        self.b.seal_block(not);
        self.b.switch_to_block(not);
    }

    fn small_integer_op(&mut self, op: SpecialOp, a: ir::Value, b: ir::Value, done: ir::Block) {
        let (ca, cb) = (self.const_value(a), self.const_value(b));
        if ca.is_some_and(|v| !v.is_small()) || cb.is_some_and(|v| !v.is_small()) {
            // A constant that is no SmallInteger: the fast path never runs.
            return;
        }
        if let (Some(x), Some(y)) = (ca, cb) {
            // Two constant SmallIntegers compare at compile time (tagging
            // preserves order, as below).
            let answer = match op {
                SpecialOp::Lt => Some((x.bits() as i64) < y.bits() as i64),
                SpecialOp::Gt => Some(x.bits() as i64 > y.bits() as i64),
                SpecialOp::Le => Some(x.bits() as i64 <= y.bits() as i64),
                SpecialOp::Ge => Some(x.bits() as i64 >= y.bits() as i64),
                SpecialOp::Eq => Some(x == y),
                SpecialOp::Ne => Some(x != y),
                _ => None,
            };
            if let Some(answer) = answer {
                let v = if answer {
                    self.consts.true_
                } else {
                    self.consts.false_
                };
                let v = self.som_const(v);
                self.jump_with(done, v);
                // What follows (the other cases) is never reached.
                self.dead_end();
                return;
            }
        }
        // A constant operand is known small: only the other one is tested.
        let tag = match (ca, cb) {
            (_, Some(_)) => self.is_small(a),
            (Some(_), None) => self.is_small(b),
            (None, None) => {
                let both = self.b.ins().band(a, b);
                self.is_small(both)
            }
        };
        let fast = self.b.create_block();
        let not = self.b.create_block();
        self.b.ins().brif(tag, fast, &[], not, &[]);
        self.b.seal_block(fast);
        self.b.switch_to_block(fast);
        let compare = |cc| Some(cc);
        let cc = match op {
            SpecialOp::Lt => compare(IntCC::SignedLessThan),
            SpecialOp::Gt => compare(IntCC::SignedGreaterThan),
            SpecialOp::Le => compare(IntCC::SignedLessThanOrEqual),
            SpecialOp::Ge => compare(IntCC::SignedGreaterThanOrEqual),
            SpecialOp::Eq => compare(IntCC::Equal),
            SpecialOp::Ne => compare(IntCC::NotEqual),
            _ => None,
        };
        if let Some(cc) = cc {
            // Tagging preserves order: compare the tagged words.
            let c = self.b.ins().icmp(cc, a, b);
            let v = self.boolean(c);
            self.jump_with(done, v);
        } else if op == SpecialOp::BitAnd {
            let v = self.b.ins().band(a, b);
            self.jump_with(done, v);
        } else if matches!(op, SpecialOp::Div | SpecialOp::Mod) {
            self.small_integer_division(op, a, b, not, done);
        } else {
            // (2x+1) + (2y+1) - 1 = 2(x+y)+1; overflow of the tagged word is
            // exactly overflow of the 63-bit range.
            let b1 = match cb {
                Some(k) => self.iconst(k.bits() as i64 - 1),
                None => self.b.ins().iadd_imm_s(b, -1),
            };
            let (v, of) = match op {
                SpecialOp::Add => self.b.ins().sadd_overflow(a, b1),
                SpecialOp::Sub => self.b.ins().ssub_overflow(a, b1),
                _ => {
                    let x = self.b.ins().sshr_imm_s(a, 1);
                    let (p, of) = self.b.ins().smul_overflow(x, b1);
                    let p = self.b.ins().bor_imm_s(p, 1);
                    (p, of)
                }
            };
            let ok = self.b.create_block();
            self.b.ins().brif(of, not, &[], ok, &[]);
            self.b.seal_block(ok);
            self.b.switch_to_block(ok);
            self.jump_with(done, v);
        }
        self.b.seal_block(not);
        self.b.switch_to_block(not);
    }

    /// `/` (truncating) or `%` (floored) on two small integers. A zero
    /// divisor, and the one quotient outside the small range (the smallest
    /// small integer divided by -1), go to `not`: the division itself is
    /// then never executed with operands that would make it trap.
    fn small_integer_division(
        &mut self,
        op: SpecialOp,
        a: ir::Value,
        b: ir::Value,
        not: ir::Block,
        done: ir::Block,
    ) {
        let x = self.b.ins().sshr_imm_s(a, 1);
        let y = self.b.ins().sshr_imm_s(b, 1);
        let nonzero = self.b.create_block();
        self.b.ins().brif(y, nonzero, &[], not, &[]);
        self.b.seal_block(nonzero);
        self.b.switch_to_block(nonzero);
        if op == SpecialOp::Div {
            let q = self.b.ins().sdiv(x, y);
            let t = self.b.ins().ishl_imm_s(q, 1);
            let back = self.b.ins().sshr_imm_s(t, 1);
            let fits = self.b.ins().icmp(IntCC::Equal, back, q);
            let ok = self.b.create_block();
            self.b.ins().brif(fits, ok, &[], not, &[]);
            self.b.seal_block(ok);
            self.b.switch_to_block(ok);
            let v = self.b.ins().bor_imm_s(t, 1);
            self.jump_with(done, v);
        } else {
            // Floored: a non-zero remainder whose sign differs from the
            // divisor's moves by one divisor.
            let r = self.b.ins().srem(x, y);
            let signs = self.b.ins().bxor(r, y);
            let differ = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, signs, 0);
            let nz = self.b.ins().icmp_imm_s(IntCC::NotEqual, r, 0);
            let adjust = self.b.ins().band(differ, nz);
            let moved = self.b.ins().iadd(r, y);
            let m = self.b.ins().select(adjust, moved, r);
            let t = self.b.ins().ishl_imm_s(m, 1);
            let v = self.b.ins().bor_imm_s(t, 1);
            self.jump_with(done, v);
        }
    }

    /// `at:` (`value` None) or `at:put:` on a plain Array with a small
    /// in-range index.
    fn array_access(&mut self, values: &[ir::Value], value: Option<ir::Value>, done: ir::Block) {
        self.array_access_of(values, value, done, ArrayOwner::Standard)
    }

    /// [`Lowerer::array_access`] on an Array of the standard domain, or on
    /// any Array (the primitive's own check: how an Array adopted by a
    /// domain is accessed once its domain let it), see [`ArrayOwner`].
    pub(crate) fn array_access_of(
        &mut self,
        values: &[ir::Value],
        value: Option<ir::Value>,
        done: ir::Block,
        owner: ArrayOwner,
    ) {
        let (arr, index) = (values[0], values[1]);
        // Alone (any owner), what the checks reject is the primitive's
        // error path: cold.
        let not = if owner == ArrayOwner::Standard {
            self.b.create_block()
        } else {
            self.cold_block()
        };
        if owner == ArrayOwner::Any {
            let ptr = self.b.create_block();
            let low = self.b.ins().band_imm_s(arr, 7);
            self.b.ins().brif(low, not, &[], ptr, &[]);
            self.b.seal_block(ptr);
            self.b.switch_to_block(ptr);
            let meta = self.load(arr, layout::HEADER_META);
            let kind = self.b.ins().band_imm_s(meta, 0xff);
            let is = self
                .b
                .ins()
                .icmp_imm_s(IntCC::Equal, kind, layout::KIND_ARRAY);
            let array = self.b.create_block();
            self.b.ins().brif(is, array, &[], not, &[]);
            self.b.seal_block(array);
            self.b.switch_to_block(array);
        } else if owner == ArrayOwner::Standard {
            self.shape_is(arr, self.consts.array_shape, not);
        }
        let small = self.is_small(index);
        let checked = self.b.create_block();
        self.b.ins().brif(small, checked, &[], not, &[]);
        self.b.seal_block(checked);
        self.b.switch_to_block(checked);
        let meta = self.load(arr, layout::HEADER_META);
        let len = self.b.ins().ushr_imm_s(meta, layout::META_LEN_SHIFT);
        let i = self.b.ins().sshr_imm_s(index, 1);
        let i0 = self.b.ins().iadd_imm_s(i, -1);
        // Unsigned: an index below 1 wraps to a huge offset.
        let inside = self.b.ins().icmp(IntCC::UnsignedLessThan, i0, len);
        let fast = self.b.create_block();
        self.b.ins().brif(inside, fast, &[], not, &[]);
        self.b.seal_block(fast);
        self.b.switch_to_block(fast);
        let off = self.b.ins().ishl_imm_s(i0, 3);
        let addr = self.b.ins().iadd(arr, off);
        match value {
            None => {
                let v = self.load(addr, layout::BODY);
                self.jump_with(done, v);
            }
            Some(v) => {
                self.store(v, addr, layout::BODY);
                self.b.ins().jump(done, &[BlockArg::Value(v)]);
            }
        }
        self.b.seal_block(not);
        self.b.switch_to_block(not);
    }

    /// `op` on a Double receiver and a small-integer or Double argument;
    /// continues in the current block otherwise.
    fn double_op(&mut self, op: SpecialOp, a: ir::Value, b: ir::Value, done: ir::Block) {
        let not = self.b.create_block();
        let fa = self.double_of(a, not);
        let have = self.b.create_block();
        self.b.append_block_param(have, F64);
        let b_small = self.b.create_block();
        let b_other = self.b.create_block();
        let tag = self.is_small(b);
        self.b.ins().brif(tag, b_small, &[], b_other, &[]);
        self.b.seal_block(b_small);
        self.b.seal_block(b_other);
        self.b.switch_to_block(b_small);
        let bi = self.b.ins().sshr_imm_s(b, 1);
        let fb = self.b.ins().fcvt_from_sint(F64, bi);
        self.b.ins().jump(have, &[BlockArg::Value(fb)]);
        self.b.switch_to_block(b_other);
        let fb = self.double_of(b, not);
        self.b.ins().jump(have, &[BlockArg::Value(fb)]);
        self.b.seal_block(have);
        self.b.switch_to_block(have);
        let fb = self.b.block_params(have)[0];
        let v = match compare(op) {
            Some(cc) => {
                let c = self.b.ins().fcmp(cc, fa, fb);
                self.boolean(c)
            }
            None => {
                let r = match op {
                    SpecialOp::Add => self.b.ins().fadd(fa, fb),
                    SpecialOp::Sub => self.b.ins().fsub(fa, fb),
                    _ => self.b.ins().fmul(fa, fb),
                };
                self.box_double(r)
            }
        };
        self.jump_with(done, v);
        self.b.seal_block(not);
        self.b.switch_to_block(not);
    }

    /// The f64 of `v` if it is a Double; else to `not`.
    fn double_of(&mut self, v: ir::Value, not: ir::Block) -> ir::Value {
        self.shape_is(v, self.consts.double_shape, not);
        self.b
            .ins()
            .load(F64, MemFlagsData::trusted(), v, layout::BODY)
    }

    /// Continues when `v` is a heap object of `shape`; else to `not`.
    fn shape_is(&mut self, v: ir::Value, shape: *const som_runtime::object::Shape, not: ir::Block) {
        let ptr = self.b.create_block();
        let is = self.b.create_block();
        let low = self.b.ins().band_imm_s(v, 7);
        self.b.ins().brif(low, not, &[], ptr, &[]);
        self.b.seal_block(ptr);
        self.b.switch_to_block(ptr);
        let actual = self.load(v, layout::HEADER_SHAPE);
        let same = self.b.ins().icmp_imm_s(IntCC::Equal, actual, shape as i64);
        self.embedded.note(shape as u64, "shape");
        self.b.ins().brif(same, is, &[], not, &[]);
        self.b.seal_block(is);
        self.b.switch_to_block(is);
    }

    /// A new Double holding `f`: bumped inline from the heap's cursor when no
    /// collection is due and the bump region has room, as the heap itself
    /// would; otherwise (cold, or on a slow path) allocated by the runtime.
    pub(crate) fn box_double(&mut self, f: ir::Value) -> ir::Value {
        let boxed = self.value_block();
        let slow = self.cold_block();
        let bump = self.consts.double_bump.filter(|_| !self.on_slow_path());
        if let Some(bump) = bump {
            let size =
                som_runtime::object::object_size(som_runtime::object::Kind::Double, 1) as i64;
            let shape = self.consts.double_shape;
            let meta = self.consts.double_meta;
            let cur = self.bump_allocate(bump, size, shape, meta, slow);
            self.b
                .ins()
                .store(MemFlagsData::trusted(), f, cur, layout::BODY);
            self.jump_with(boxed, cur);
        } else {
            self.b.ins().jump(slow, &[]);
        }
        self.b.seal_block(slow);
        self.b.switch_to_block(slow);
        let bits = self.b.ins().bitcast(I64, MemFlagsData::new(), f);
        let vm = self.vm();
        let v = self.call(Entry::NewDouble, &[vm, bits])[0];
        self.join(boxed, v)
    }
}

impl Lowerer<'_> {
    /// Whether the code being emitted only runs after something went off
    /// the fast path (a frame materialized). Not every block marked cold
    /// is one: a Double case lowered behind the SmallInteger case is in a
    /// cold block and is Mandelbrot's hot path.
    pub(crate) fn on_slow_path(&self) -> bool {
        self.slow_path > 0
    }

    /// Allocates `size` bytes from the bump region `bump` as the heap
    /// itself would (when no collection is due and the region has room;
    /// otherwise to `slow`), with the header (`shape`, `meta`) written;
    /// answers the new object, whose body the caller fills.
    pub(crate) fn bump_allocate(
        &mut self,
        bump: som_runtime::tier::BumpRefs,
        size: i64,
        shape: *const som_runtime::object::Shape,
        meta: u64,
        slow: ir::Block,
    ) -> ir::Value {
        let stress_at = self.addr("vm", bump.stress as i64);
        let stress = self.b.ins().uload8(I64, super::unit::mem(), stress_at, 0);
        let no_stress = self.b.create_block();
        self.b.ins().brif(stress, slow, &[], no_stress, &[]);
        self.b.seal_block(no_stress);
        self.b.switch_to_block(no_stress);
        let bsg_at = self.addr("vm", bump.bytes_since_gc as i64);
        let budget_at = self.addr("vm", bump.budget as i64);
        let bsg = self.load(bsg_at, 0);
        let budget = self.load(budget_at, 0);
        let due = self
            .b
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, bsg, budget);
        let not_due = self.b.create_block();
        self.b.ins().brif(due, slow, &[], not_due, &[]);
        self.b.seal_block(not_due);
        self.b.switch_to_block(not_due);
        let cursor_at = self.addr("heap", bump.cursor as i64);
        let limit_at = self.addr("heap", bump.limit as i64);
        let cur = self.load(cursor_at, 0);
        let limit = self.load(limit_at, 0);
        let next = self.b.ins().iadd_imm_s(cur, size);
        let over = self.b.ins().icmp(IntCC::UnsignedGreaterThan, next, limit);
        let room = self.b.create_block();
        self.b.ins().brif(over, slow, &[], room, &[]);
        self.b.seal_block(room);
        self.b.switch_to_block(room);
        self.store(next, cursor_at, 0);
        let bsg2 = self.b.ins().iadd_imm_s(bsg, size);
        self.store(bsg2, bsg_at, 0);
        let alloc_at = self.addr("vm", bump.allocated as i64);
        let allocated = self.load(alloc_at, 0);
        let allocated = self.b.ins().iadd_imm_s(allocated, size);
        self.store(allocated, alloc_at, 0);
        let shape = self.addr("shape", shape as i64);
        let meta = self.iconst(meta as i64);
        self.store(shape, cur, layout::HEADER_SHAPE);
        self.store(meta, cur, layout::HEADER_META);
        cur
    }
}

/// A send whose Double case the lowering computes on unboxed operands.
#[derive(Clone, Copy)]
pub(crate) enum DoubleSite<'n> {
    /// An ordinary send.
    Plain(&'n SendNode),
    /// A send in enforced code.
    Enforced(&'n som_runtime::nodes::EnforcedSendNode),
}

/// The Double comparison of a comparison selector.
fn compare(op: SpecialOp) -> Option<FloatCC> {
    Some(match op {
        SpecialOp::Lt => FloatCC::LessThan,
        SpecialOp::Gt => FloatCC::GreaterThan,
        SpecialOp::Le => FloatCC::LessThanOrEqual,
        SpecialOp::Ge => FloatCC::GreaterThanOrEqual,
        SpecialOp::Eq => FloatCC::Equal,
        SpecialOp::Ne => FloatCC::NotEqual,
        _ => return None,
    })
}

/// The selectors whose inline Double case answers a Double.
pub(crate) fn arithmetic(op: SpecialOp) -> bool {
    matches!(op, SpecialOp::Add | SpecialOp::Sub | SpecialOp::Mul)
}

/// The arithmetic and comparison selectors computed inline on small
/// integers (and, but `&`, on Doubles).
pub(crate) fn integer_op(op: SpecialOp) -> bool {
    matches!(
        op,
        SpecialOp::Add
            | SpecialOp::Sub
            | SpecialOp::Mul
            | SpecialOp::Lt
            | SpecialOp::Gt
            | SpecialOp::Le
            | SpecialOp::Ge
            | SpecialOp::Eq
            | SpecialOp::Ne
            | SpecialOp::BitAnd
    )
}

/// Which Arrays an inline `at:`/`at:put:` accepts (others take the path the
/// caller continues with).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArrayOwner {
    /// Arrays of the standard domain (their shape is the one tested).
    Standard,
    /// Any Array, whatever its owner (its kind byte is tested).
    Any,
    /// A value a guard already fixed to a shape of Array's: nothing is
    /// tested but the index.
    AnyKnownArray,
}
