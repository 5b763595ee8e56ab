//! The lowering of one compilation unit: a method or block body with the
//! methods it inlines, as one Cranelift function
//! `(vm, frame) -> (status, value)` (see `som_runtime::tier::BodyFn`).
//!
//! Invariants:
//! - every node lowers to one `i64` SOM value in the current block; code after
//!   a jump (a `^`) continues in a fresh, unreachable block;
//! - each activation in the unit (the unit's own, and every inlined method) is
//!   a [`Scope`]: its locals are Cranelift variables (or, for a body whose
//!   slots live in a heap context, memory); before any call that may read or
//!   write them (the interpreter evaluating a node, a control-flow fallback),
//!   they are written to the activation's frame and read back afterwards;
//! - an inlined activation has no frame until a cold path needs one: then
//!   its runtime `Frame` is built in a stack slot,
//!   so the runtime sees it as if it had been activated;
//! - a call's non-zero status goes to the unwind block of the innermost
//!   scope, which handles it as that activation would (backtrace line,
//!   non-local return to it, restart) and passes the rest outwards; the
//!   unit's own unwind block returns the status to the runtime's activation.

use cranelift_codegen::ir::{
    self, condcodes::IntCC, types::F64, types::I64, BlockArg, InstBuilder, MemFlagsData,
    StackSlotData, StackSlotKind,
};
use cranelift_frontend::{FunctionBuilder, Variable};

use som_runtime::nodes::Node;
use som_runtime::symbols::SymbolId;
use som_runtime::tier::Unwind;
use som_runtime::tier::{layout, TierConstants, UnitState};
use som_runtime::tier::{AstBody, MethodData};

use super::entry::{Entry, EntrySigs};

/// Most AST nodes the inlined methods of one unit may add (counted over the
/// inlined bodies, plus [`INLINE_OVERHEAD`] per method): keeps a unit to a
/// few hundred CLIF instructions, about a millisecond of compile time
/// (`cranelift-notes`: 2-3 µs per instruction; measured here about 20
/// instructions per node, cold paths included).
pub const INLINE_BUDGET: usize = 120;

/// Most fields of an object `new` allocates inline (bumped from the heap's
/// region of its size); bigger ones are the primitive's.
pub const INLINE_NEW_MAX_FIELDS: usize = 16;

/// What inlining a method costs beyond its nodes, in nodes: its activation
/// count, its unwind path and the frame it may need.
pub const INLINE_OVERHEAD: usize = 8;

/// Different target methods from which a send site is polymorphic enough
/// that its targets are inlined only when small: each inlined target is a
/// copy of its body, and a site that reaches many methods through one
/// receiver (a constraint solver's `satisfy:` over four constraint kinds)
/// would otherwise grow its unit by each, and its compile time with it.
pub const POLYMORPHIC_TARGETS: usize = 2;

/// The nodes a target of such a site may have to be inlined.
pub const POLYMORPHIC_INLINE_BUDGET: usize = 40;

/// Deepest nesting of inlined methods.
pub const MAX_INLINE_DEPTH: usize = 6;

/// Where an activation's slots live.
#[derive(Clone)]
pub(crate) enum Slots {
    /// In Cranelift variables; the frame's memory is written on demand.
    Vars(Vec<Variable>),
    /// In memory at this address (the slots of a heap context), read and
    /// written directly.
    Memory(ir::Value),
}

/// What the lowering knows of an argument slot of an inlined activation
/// that its body never writes.
#[derive(Clone)]
pub(crate) enum Binding {
    /// Nothing beyond its variable.
    Plain,
    /// A constant (the selector of a `doesNotUnderstand:` handler, a
    /// literal passed in): reads fold to it.
    Const(som_runtime::value::Value),
    /// An Array that was never allocated (a DNU handler's arguments, an
    /// inlined `Array with:`), read once: its elements. A use that needs
    /// the object allocates it there, once per execution.
    Virtual(Vec<ir::Value>),
    /// A block literal of scope `def` that was never made a closure: a
    /// `value` send to it runs the block's body inline; any other use makes
    /// the closure there.
    Closure(&'static Node, usize),
    /// An argument (never written: SOM arguments are read-only) passed as
    /// a word: reads are that value itself, not a variable, so a fact about
    /// the value (its shape, its fields) holds for every read.
    Word(ir::Value),
}

/// How a scope's frame is reached.
#[derive(Clone, Copy)]
pub(crate) enum FrameRef {
    /// The activation's own frame (the function's parameter) and the
    /// address of its slots when the entry read it anyway (a loop entered
    /// by OSR reads its locals there); otherwise a slow path reads it from
    /// the frame where it needs it.
    Real {
        frame: ir::Value,
        slots: Option<ir::Value>,
    },
    /// An inlined activation: its frame and slots are built in these stack
    /// slots by cold paths.
    Inlined {
        frame: ir::StackSlot,
        slots: ir::StackSlot,
    },
}

/// One activation inside the unit.
pub(crate) struct Scope {
    pub method: &'static MethodData,
    pub receiver: ir::Value,
    pub slots: Slots,
    /// Per slot; `Plain` for every slot of the unit's own activation.
    pub bindings: Vec<Binding>,
    pub frame: FrameRef,
    /// Receives the activation's result.
    pub exit: ir::Block,
    /// Receives the status of an unwind leaving a call in this activation.
    pub unwind: ir::Block,
    /// Re-runs an inlined method's body (`restart`).
    pub restart: Option<ir::Block>,
    /// Position of the send that inlined this activation, in its parent.
    pub call_pos: (u32, u32),
    /// For an inlined block: the scope that defines it (where its outer
    /// variables live) and its literal (to make the closure a cold path's
    /// frame needs).
    pub outer: Option<(usize, &'static Node)>,
    /// Per slot of `Slots::Vars`: the f64 variable of a slot that holds
    /// Doubles computed inline. While the slot's word variable is 0, the
    /// slot's value is that unboxed Double (boxed at its first use as a
    /// word); see [`Lazy`].
    pub shadows: Vec<Option<Variable>>,
    /// The receiver's shape when a guard established it, with the value of
    /// [`Lowerer::epoch`] then: the fact holds while the epoch is unchanged
    /// (no call emitted since, no loop entered: a shape changes only in a
    /// call, by an owner change).
    pub receiver_shape: Option<(*const som_runtime::object::Shape, u64)>,
    /// Whether code of this activation relied on `receiver_shape`.
    pub shape_used: bool,
    /// Fields `receiver` is known to have, of the layout of `self` (plain
    /// or class object), by a check that dominates the activation's code:
    /// an object's layout never changes, so the fact holds throughout.
    pub self_fields: usize,
    /// The kind byte `self_fields` was checked for (plain or class object).
    pub self_fields_kind: i64,
    /// Per slot: the shape of an argument the activation never writes,
    /// when a guard in front of it fixed it, with the epoch then (as
    /// `receiver_shape`; only in activations that cannot restart).
    pub slot_shapes: Vec<Option<(*const som_runtime::object::Shape, u64)>>,
    /// For an inlined guarded target: the send's generic path, which a
    /// `restart` takes when the receiver's shape is no longer the one the
    /// body relied on (restart re-enters the body after a call).
    pub resend: Option<ir::Block>,
}

/// A value as the lowering holds it between nodes: a SOM word, or, where
/// Doubles are computed inline, possibly an unboxed Double. With `dbl` set,
/// a `word` of 0 at run time means the value is the Double `dbl`, not
/// allocated yet (no SOM word is 0); with `exact` also set, `dbl` is the
/// value of the Double `word` itself (a literal).
#[derive(Clone, Copy)]
pub(crate) struct Lazy {
    pub word: ir::Value,
    pub dbl: Option<ir::Value>,
    pub exact: bool,
}

impl Lazy {
    /// An ordinary word.
    pub fn word(word: ir::Value) -> Lazy {
        Lazy {
            word,
            dbl: None,
            exact: false,
        }
    }
}

/// The state of one compilation.
pub(crate) struct Lowerer<'a> {
    pub b: FunctionBuilder<'a>,
    /// The VM's address: compiled code is this VM's own (it embeds the
    /// address of its `TierVm` block too), so the entry points' first
    /// argument is a constant, made where it is used ([`Lowerer::vm`]).
    pub vm_addr: i64,
    pub consts: TierConstants,
    pub unit: &'static UnitState,
    pub tier_vm: i64,
    pub scopes: Vec<Scope>,
    pub depends_on: Vec<SymbolId>,
    pub budget: usize,
    /// While the targets of a site with [`POLYMORPHIC_TARGETS`] or more
    /// different methods are lowered: the most nodes one may have to be
    /// inlined ([`POLYMORPHIC_INLINE_BUDGET`]).
    pub site_budget: Option<usize>,
    pub sigs: EntrySigs,
    /// Methods inlined, for traces.
    pub inlined: Vec<&'static MethodData>,
    /// Addresses embedded, for listings.
    pub embedded: super::listing::Constants,
    /// The send sites lowered (node addresses), for `--dispatch-stats`.
    pub sites: Vec<usize>,
    /// The unit is a loop entered by OSR: its own `^` returns from the
    /// interpreted method around it.
    pub osr: bool,
    /// How often the unit's body (or loop) was compiled, this time included.
    pub compilations: u32,
    /// The current domain (its key) the unit is specialized on: tested once
    /// on entry (another one declines, see [`entry_domain`]), then a
    /// constant, because the current domain only changes for the dynamic
    /// extent of a call (`Vm::with_execution` restores it on every path).
    pub entry_domain: Option<som_runtime::value::Value>,
    /// The owner (its key) of the unit's receiver the unit is specialized
    /// on: tested once on entry (another one declines, see
    /// [`receiver_owner`]); it then holds while the unit is valid, since
    /// every owner change invalidates such units (`Vm::set_owner`).
    pub self_owner: Option<som_runtime::value::Value>,
    /// The unit's receiver, as passed on entry.
    pub unit_receiver: Option<ir::Value>,
    /// The unit's frame and the arguments it took in registers (none for a
    /// loop entered by OSR or a body whose slots are a heap context): what
    /// [`Lowerer::spill_register_args`] writes back.
    pub register_args: Option<(ir::Value, Vec<ir::Value>)>,
    /// Set when the code takes the shape of a constant object that can
    /// change owner as fixed (see [`Lowerer::fixed_const_shape`]).
    pub owner_facts: bool,
    /// The Symbols of selectors (for a DNU handler's selector argument).
    pub syms: &'a som_runtime::symbols::SymbolTable,
    /// `doesNotUnderstand:arguments:`, which every inlined DNU entry
    /// depends on.
    pub dnu_selector: SymbolId,
    /// Address of the VM's enforcement flag (a byte).
    pub enforced_flag: i64,
    /// Address of the VM's current-domain key (a word).
    pub current_domain: i64,
    /// Address of the key of the domain that owns new objects (a word).
    pub alloc_domain: i64,
    /// The selector of each OMOP handler.
    pub handler_selectors: Vec<(som_runtime::tier::Handler, SymbolId)>,
    /// The enforcement flag where the code being lowered runs (compiled
    /// code knows it: plain bodies run unenforced, enforced twins enforced,
    /// inlined handlers at the meta level, see `tier::run_body`).
    pub flag: bool,
    /// The flag as it is in the VM while the unit runs (its body's), except
    /// during a call made where [`Lowerer::flag`] differs: the call is
    /// bracketed by stores of the flag and of this value back.
    pub base_flag: bool,
    /// The VM, read only, through its `tier_*` API (lookups for folded
    /// reflective operations).
    pub runtime: &'a som_runtime::tier::Vm,
    /// The heap's bump regions for plain objects, by size (see
    /// [`INLINE_NEW_MAX_FIELDS`]).
    pub object_bumps: Vec<(usize, som_runtime::tier::BumpRefs)>,
    /// Nonzero while a slow path (a frame materialized for a guard miss or
    /// a call) is lowered: objects it allocates come from the runtime, not
    /// from an inline bump, because code size there costs compile time
    /// and buys no speed.
    pub slow_path: u32,
    /// Counts calls emitted and loops entered, in lowering order: facts
    /// about values hold only within one epoch.
    pub epoch: u64,
    /// `--jit=eager`: direct calls ask the runtime whether the callee's
    /// code is current.
    pub eager: bool,
    /// The bodies inlined, for eager mode's recompilation check
    /// (`som_runtime::tier::unit_current`).
    pub inlined_bodies: Vec<&'static AstBody>,
    /// Every test of the unit's `valid` word, for [`super::validity`].
    pub validity_checks: Vec<super::validity::Check>,
    /// The block a test of `valid` last led into: while code is added to
    /// it with no call, `valid` is known set there (see
    /// [`Lowerer::valid_known`]).
    pub valid_block: Option<ir::Block>,
    /// A jump from the valid block into a block only it enters (see
    /// [`Lowerer::jump_only_into`]).
    pub valid_carry: Option<(ir::Block, ir::Block)>,
    /// Globals whose values the code embeds (registered with the unit, so
    /// that a write to one invalidates it).
    pub folded_globals: Vec<&'static som_runtime::nodes::GlobalCell>,
    /// The deepest inlined activation so far (1 for a method inlined into
    /// the unit's own activation).
    pub max_inline_depth: usize,
    /// Set just before inlining a guarded target: the receiver's shape and
    /// the send's generic path, for the next inlined activation's scope.
    pub shape_next: Option<(*const som_runtime::object::Shape, ir::Block)>,
    /// Set just before inlining an OMOP handler: arguments whose shape the
    /// guard in front of it fixed (the reified receiver), by argument
    /// index, for the next inlined activation's scope.
    pub arg_shapes_next: Vec<(usize, *const som_runtime::object::Shape)>,
    /// The slot facts of the next inlined activation's scope (from
    /// `arg_shapes_next`, once its body is known).
    pub slot_shapes_next: Vec<Option<(*const som_runtime::object::Shape, u64)>>,
    /// Set by a send lowering its argument, that argument's send node (its
    /// address): it may leave its miss path open (see
    /// `Lowerer::send_evaluated_with`).
    pub defer_join: Option<usize>,
    /// A miss path left open: the send node (its address), the cold block
    /// (not filled) and the value the send computed there.
    pub deferred: Option<(usize, ir::Block, ir::Value)>,
}

/// Flags of loads and stores of VM data: aligned, and never trapping.
pub(crate) fn mem() -> MemFlagsData {
    MemFlagsData::trusted()
}

impl<'a> Lowerer<'a> {
    // ----- values and blocks ---------------------------------------------------

    /// The selector of OMOP handler `h`.
    pub fn handler_selector(&self, h: som_runtime::tier::Handler) -> SymbolId {
        self.handler_selectors
            .iter()
            .find(|(x, _)| *x == h)
            .map(|(_, s)| *s)
            .expect("every handler has a selector")
    }

    pub fn iconst(&mut self, v: i64) -> ir::Value {
        self.b.ins().iconst(I64, v)
    }

    /// An embedded address of some kind (a shape, a node, a cell...).
    /// The VM, as the entry points take it: a constant at each use rather
    /// than the unit's parameter, so that no register holds it across the
    /// unit (slow paths would otherwise keep it in a callee-saved register
    /// a hot loop could use).
    pub fn vm(&mut self) -> ir::Value {
        self.addr("vm", self.vm_addr)
    }

    pub fn addr(&mut self, kind: &'static str, v: i64) -> ir::Value {
        self.embedded.note(v as u64, kind);
        self.iconst(v)
    }

    /// A source position packed for an entry point.
    pub fn pos(&mut self, pos: (u32, u32)) -> ir::Value {
        let p = som_runtime::tier::entry::pack_pos(pos) as i64;
        self.addr("pos", p)
    }

    pub fn som_const(&mut self, v: som_runtime::value::Value) -> ir::Value {
        if v.is_ptr() {
            return self.addr("object", v.bits() as i64);
        }
        self.iconst(v.bits() as i64)
    }

    /// The SOM value `v` is, when the lowering made it a constant.
    pub fn const_value(&self, v: ir::Value) -> Option<som_runtime::value::Value> {
        let dfg = &self.b.func.dfg;
        let inst = dfg.value_def(dfg.resolve_aliases(v)).inst()?;
        match dfg.insts[inst] {
            ir::InstructionData::UnaryImm {
                opcode: ir::Opcode::Iconst,
                imm,
            } => Some(som_runtime::value::Value::from_bits(imm.bits() as u64)),
            _ => None,
        }
    }

    /// The shape of `v` when it is a constant whose shape cannot change:
    /// a SmallInteger, or an object no owner change applies to (classes,
    /// Strings, Symbols, Doubles...). Plain objects, Arrays and blocks can
    /// change owner, which swaps their shape: theirs is taken as fixed while
    /// the unit is valid, the unit then relying on owners
    /// ([`Lowerer::owner_facts`]: every owner change invalidates it), unless
    /// it was recompiled too often for that.
    pub fn fixed_const_shape(&mut self, v: ir::Value) -> Option<*const som_runtime::object::Shape> {
        use som_runtime::object::{header, kind_of, Kind};
        let c = self.const_value(v)?;
        if c.is_small() {
            return Some(self.consts.int_shape);
        }
        if !c.is_ptr() {
            return None;
        }
        if matches!(kind_of(c), Kind::Object | Kind::Array | Kind::Block) {
            if self.compilations > som_runtime::tier::UNSTABLE_AFTER_COMPILATIONS {
                return None;
            }
            self.owner_facts = true;
        }
        Some(header(c).shape)
    }

    /// The value of a global `cell` compiled code may embed: bound, and not
    /// changed since code folded it before (`GlobalCell::unstable`). The
    /// caller registers the cell in [`Lowerer::folded_globals`] and tests
    /// the unit's validity before using the constant (a write that changes
    /// the global invalidates the unit, possibly while it runs).
    pub fn foldable_global(
        &self,
        cell: &'static som_runtime::nodes::GlobalCell,
    ) -> Option<som_runtime::value::Value> {
        let v = cell.value.get();
        (v != som_runtime::value::Value::ZERO && !cell.unstable.get()).then_some(v)
    }

    pub fn nil(&mut self) -> ir::Value {
        let nil = self.consts.nil;
        self.som_const(nil)
    }

    /// A new block taking one SOM value.
    pub fn value_block(&mut self) -> ir::Block {
        let blk = self.b.create_block();
        self.b.append_block_param(blk, I64);
        blk
    }

    /// A new cold block.
    pub fn cold_block(&mut self) -> ir::Block {
        let blk = self.b.create_block();
        self.b.set_cold_block(blk);
        blk
    }

    pub fn jump_with(&mut self, blk: ir::Block, v: ir::Value) {
        self.b.ins().jump(blk, &[BlockArg::Value(v)]);
    }

    /// Jumps with `v` to the value block `blk`, whose every predecessor is
    /// now known, and continues there: answers its parameter.
    pub fn join(&mut self, blk: ir::Block, v: ir::Value) -> ir::Value {
        self.jump_with(blk, v);
        self.b.seal_block(blk);
        self.enter_value_block(blk)
    }

    /// Continues in `blk`, answering its parameter.
    pub fn enter_value_block(&mut self, blk: ir::Block) -> ir::Value {
        self.b.switch_to_block(blk);
        self.b.block_params(blk)[0]
    }

    /// After a jump: code lowered from here on is unreachable; it goes in a
    /// fresh block and the value it needs is a dummy.
    pub fn dead_end(&mut self) -> ir::Value {
        let blk = self.b.create_block();
        self.b.switch_to_block(blk);
        self.b.seal_block(blk);
        self.iconst(0)
    }

    pub fn load(&mut self, base: ir::Value, offset: i32) -> ir::Value {
        self.b.ins().load(I64, mem(), base, offset)
    }

    pub fn store(&mut self, v: ir::Value, base: ir::Value, offset: i32) {
        self.b.ins().store(mem(), v, base, offset);
    }

    /// Whether `v` is a small integer (1) or not (0).
    pub fn is_small(&mut self, v: ir::Value) -> ir::Value {
        self.b.ins().band_imm_s(v, layout::SMALL_TAG)
    }

    /// Branches to `fast` when `obj` is a heap object of kind `kind_byte`
    /// (plain object or class object) with more than `i` fields, else to
    /// `slow`: without a known shape (which would fix the layout), the
    /// access checks the object itself.
    pub fn branch_if_fields(
        &mut self,
        obj: ir::Value,
        i: usize,
        kind_byte: i64,
        fast: ir::Block,
        slow: ir::Block,
    ) {
        if self.fields_known(obj, i, kind_byte) {
            self.b.ins().jump(fast, &[]);
            return;
        }
        self.branch_on_layout(obj, i, kind_byte, fast, slow);
    }

    /// [`Lowerer::branch_if_fields`] for `obj` whose shape a dominating
    /// guard found to be `shape`: a shape fixes the layout
    /// (`som_runtime::object`), so no test is left when it has them.
    pub fn branch_if_shape_fields(
        &mut self,
        shape: *const som_runtime::object::Shape,
        obj: ir::Value,
        i: usize,
        kind_byte: i64,
        fast: ir::Block,
        slow: ir::Block,
    ) {
        if shape_has_fields(shape, i, kind_byte) {
            self.b.ins().jump(fast, &[]);
        } else {
            self.branch_if_fields(obj, i, kind_byte, fast, slow);
        }
    }

    /// The test of [`Lowerer::branch_if_fields`]: the object's own kind
    /// byte and length.
    fn branch_on_layout(
        &mut self,
        obj: ir::Value,
        i: usize,
        kind_byte: i64,
        fast: ir::Block,
        slow: ir::Block,
    ) {
        let ptr = self.b.create_block();
        let low = self.b.ins().band_imm_s(obj, 7);
        self.b.ins().brif(low, slow, &[], ptr, &[]);
        self.b.seal_block(ptr);
        self.b.switch_to_block(ptr);
        let meta = self.load(obj, layout::HEADER_META);
        let kind = self.b.ins().band_imm_s(meta, 0xff);
        let is_kind = self.b.ins().icmp_imm_s(IntCC::Equal, kind, kind_byte);
        let len = self.b.ins().ushr_imm_s(meta, layout::META_LEN_SHIFT);
        let has = self
            .b
            .ins()
            .icmp_imm_s(IntCC::UnsignedGreaterThan, len, i as i64);
        let both = self.b.ins().band(is_kind, has);
        self.b.ins().brif(both, fast, &[], slow, &[]);
    }

    /// Whether a check that dominates the code being added proved that
    /// `obj` is an object of kind `kind_byte` with more than `i` fields: an
    /// activation around it (every scope on the stack encloses this code)
    /// has `obj` as its receiver and checked its fields on entry. An
    /// object's layout never changes.
    pub fn fields_known(&self, obj: ir::Value, i: usize, kind_byte: i64) -> bool {
        // A guard's shape fact fixes the layout for good, even where the
        // fact itself no longer holds (an owner change keeps the layout).
        self.scopes.iter().any(|sc| {
            sc.receiver == obj
                && ((sc.self_fields > i && sc.self_fields_kind == kind_byte)
                    || sc
                        .receiver_shape
                        .is_some_and(|(sh, _)| shape_has_fields(sh, i, kind_byte)))
        })
    }

    /// Branches to `miss` unless `unit.valid`: the guard in front of every
    /// speculative path.
    pub fn guard_valid(&mut self, miss: ir::Block) {
        if self.valid_known() {
            // Tested just before, with no call since: it still holds.
            return;
        }
        let ok = self.b.create_block();
        self.branch_on_valid(ok, miss);
        self.b.seal_block(ok);
        self.b.switch_to_block(ok);
        self.valid_block = Some(ok);
    }

    /// Whether `valid` is known set where code is being added: the current
    /// block is the one a test led into and holds no call (`valid` only
    /// changes in calls). The data-flow pass (`validity.rs`) finds more
    /// after lowering; this lets the lowering use what a test proved (a
    /// folded global's value without a re-read path) while it builds.
    pub fn valid_known(&self) -> bool {
        let Some(b) = self.valid_block else {
            return false;
        };
        let no_call = |blk: ir::Block| {
            !self.b.func.layout.block_insts(blk).any(|i| {
                matches!(
                    self.b.func.dfg.insts[i].opcode(),
                    ir::Opcode::Call | ir::Opcode::CallIndirect
                )
            })
        };
        let cur = self.b.current_block();
        if cur == Some(b) {
            return no_call(b);
        }
        // Or one jump further, into a block entered only by that jump.
        matches!(self.valid_carry, Some((from, to)) if from == b && cur == Some(to))
            && no_call(b)
            && cur.is_some_and(no_call)
    }

    /// Ends the current block with a jump to `to`, a new block that no
    /// other branch enters (the caller seals it): what is known about
    /// `valid` here is known there.
    pub fn jump_only_into(&mut self, to: ir::Block) {
        if self.valid_known() {
            if let Some(from) = self.b.current_block() {
                self.valid_carry = Some((from, to));
                if Some(from) != self.valid_block {
                    // Carried from the block before: chain it.
                    self.valid_block = Some(from);
                }
            }
        }
        self.b.ins().jump(to, &[]);
    }

    /// Ends the current block with the test of `valid`: to `ok` (a new
    /// block, reached only from here) when set, else to `miss`.
    pub fn branch_on_valid(&mut self, ok: ir::Block, miss: ir::Block) {
        let addr = self.addr("unit", self.unit as *const UnitState as i64);
        let valid = self.load(addr, som_runtime::tier::UNIT_VALID_OFFSET);
        let check = self.b.ins().brif(valid, ok, &[], miss, &[]);
        let load = self.b.func.dfg.value_def(valid).unwrap_inst();
        self.validity_checks
            .push(super::validity::Check { load, check });
    }

    // ----- scopes and locals ---------------------------------------------------

    pub fn scope(&self) -> &Scope {
        self.scopes.last().expect("a scope")
    }

    pub fn receiver(&self) -> ir::Value {
        self.scope().receiver
    }

    pub fn read_local(&mut self, i: usize) -> ir::Value {
        let top = self.scopes.len() - 1;
        self.read_local_in(top, i)
    }

    /// Reads slot `i` of scope `idx`.
    pub fn read_local_in(&mut self, idx: usize, i: usize) -> ir::Value {
        match self.scopes[idx].bindings.get(i).cloned() {
            Some(Binding::Const(v)) => return self.som_const(v),
            Some(Binding::Virtual(elems)) => return self.new_array(&elems),
            Some(Binding::Closure(node, def)) => return self.make_closure(node, def),
            Some(Binding::Word(v)) => return v,
            _ => {}
        }
        if let Some(l) = self.read_lazy_in(idx, i) {
            // Boxed once: later reads take the word.
            let v = self.force(l);
            let Slots::Vars(vars) = &self.scopes[idx].slots else {
                unreachable!("only variables have shadows")
            };
            let var = vars[i];
            self.b.def_var(var, v);
            return v;
        }
        match &self.scopes[idx].slots {
            Slots::Vars(vars) => {
                let var = vars[i];
                self.b.use_var(var)
            }
            Slots::Memory(base) => {
                let base = *base;
                self.load(base, (i * 8) as i32)
            }
        }
    }

    pub fn write_local(&mut self, i: usize, v: ir::Value) {
        let top = self.scopes.len() - 1;
        self.write_local_in(top, i, v)
    }

    /// Slot `i` of scope `idx` as a [`Lazy`] value, if it has a shadow.
    pub fn read_lazy_in(&mut self, idx: usize, i: usize) -> Option<Lazy> {
        let sc = &self.scopes[idx];
        let shadow = (*sc.shadows.get(i)?)?;
        let Slots::Vars(vars) = &sc.slots else {
            return None;
        };
        let var = vars[i];
        Some(Lazy {
            word: self.b.use_var(var),
            dbl: Some(self.b.use_var(shadow)),
            exact: false,
        })
    }

    /// Writes a [`Lazy`] value to slot `i` of scope `idx`, which has a
    /// shadow.
    pub fn write_lazy_in(&mut self, idx: usize, i: usize, l: Lazy) {
        let sc = &self.scopes[idx];
        let (Some(Some(shadow)), Slots::Vars(vars)) = (sc.shadows.get(i), &sc.slots) else {
            unreachable!("a slot with a shadow")
        };
        let (shadow, var) = (*shadow, vars[i]);
        match l.dbl {
            Some(d) if !l.exact => {
                self.b.def_var(var, l.word);
                self.b.def_var(shadow, d);
            }
            _ => self.b.def_var(var, l.word),
        }
    }

    /// Whether slot `i` of the current scope has a shadow.
    pub fn has_shadow(&self, i: usize) -> bool {
        matches!(self.scope().shadows.get(i), Some(Some(_)))
    }

    /// The SOM word of `l`: an unboxed Double is allocated now.
    pub fn force(&mut self, l: Lazy) -> ir::Value {
        let Some(d) = l.dbl else {
            return l.word;
        };
        if l.exact {
            return l.word;
        }
        let done = self.value_block();
        let unboxed = self.b.create_block();
        self.b
            .ins()
            .brif(l.word, done, &[BlockArg::Value(l.word)], unboxed, &[]);
        self.b.seal_block(unboxed);
        self.b.switch_to_block(unboxed);
        let v = self.box_double(d);
        self.join(done, v)
    }

    /// Shadows for the slots of `body` (held in `vars`) that some write
    /// assigns an inline Double computation: each an f64 variable, 0.0 at
    /// first (its word variable is never 0 until such a write).
    pub fn shadows_for(&mut self, body: &AstBody, vars: bool) -> Vec<Option<Variable>> {
        let mut want = vec![false; body.num_slots];
        if vars {
            body.body.for_each_unit_node(&mut |n| {
                if let Node::LocalWrite(i, v) = n {
                    if self
                        .double_site(v)
                        .is_some_and(|(_, op)| super::special::arithmetic(op))
                    {
                        want[i.0] = true;
                    }
                }
            });
        }
        want.into_iter()
            .map(|w| {
                w.then(|| {
                    let var = self.b.declare_var(F64);
                    let zero = self.b.ins().f64const(0.0);
                    self.b.def_var(var, zero);
                    var
                })
            })
            .collect()
    }

    /// Writes slot `i` of scope `idx`.
    pub fn write_local_in(&mut self, idx: usize, i: usize, v: ir::Value) {
        match &self.scopes[idx].slots {
            Slots::Vars(vars) => {
                let var = vars[i];
                self.b.def_var(var, v)
            }
            Slots::Memory(base) => {
                let base = *base;
                self.store(v, base, (i * 8) as i32)
            }
        }
    }

    /// Writes the current scope's variables to its frame and answers the
    /// frame's address (building it first for an inlined activation).
    pub fn materialize(&mut self) -> ir::Value {
        let top = self.scopes.len() - 1;
        self.materialize_at(top)
    }

    /// The word in slot `i` (variable `var`) of scope `idx`, boxing an
    /// unboxed Double.
    fn slot_word(&mut self, idx: usize, i: usize, var: Variable) -> ir::Value {
        match self.read_lazy_in(idx, i) {
            Some(l) => {
                let v = self.force(l);
                self.b.def_var(var, v);
                v
            }
            None => self.b.use_var(var),
        }
    }

    /// A real closure of the block literal `node` of scope `def` (a block
    /// whose inlining did not cover a use).
    pub fn make_closure(&mut self, node: &'static Node, def: usize) -> ir::Value {
        let frame = self.materialize_at(def);
        let n = self.addr("node", node as *const Node as i64);
        let vm = self.vm();
        // Making a closure only allocates: it cannot fail.
        self.call(Entry::EvalNode, &[vm, frame, n])[1]
    }

    /// [`Lowerer::materialize`] for scope `idx`.
    pub fn materialize_at(&mut self, idx: usize) -> ir::Value {
        self.slow_path += 1;
        let f = self.materialize_slots(idx);
        self.slow_path -= 1;
        f
    }

    fn materialize_slots(&mut self, idx: usize) -> ir::Value {
        let sc = &self.scopes[idx];
        let (frame, receiver, method, outer) = (sc.frame, sc.receiver, sc.method, sc.outer);
        let vars = match &sc.slots {
            Slots::Vars(v) => v.clone(),
            Slots::Memory(_) => Vec::new(),
        };
        match frame {
            FrameRef::Real { frame, slots } => {
                let slots = slots.unwrap_or_else(|| self.load(frame, layout::FRAME_SLOTS));
                for (i, var) in vars.iter().enumerate() {
                    let v = self.slot_word(idx, i, *var);
                    self.store(v, slots, (i * 8) as i32);
                }
                frame
            }
            FrameRef::Inlined { frame, slots } => {
                let bindings = self.scopes[idx].bindings.clone();
                let mut values = Vec::new();
                for (i, var) in vars.iter().enumerate() {
                    let v = match bindings.get(i) {
                        Some(Binding::Virtual(elems)) => self.new_array(elems),
                        Some(Binding::Closure(node, def)) => self.make_closure(node, *def),
                        Some(Binding::Word(v)) => *v,
                        _ => self.slot_word(idx, i, *var),
                    };
                    values.push(v);
                }
                // An inlined block's frame needs its closure: the
                // interpreter reaches outer variables and the home through it.
                let closure = match outer {
                    Some((def, node)) => self.make_closure(node, def),
                    None => self.iconst(0),
                };
                let slots_addr = self.b.ins().stack_addr(I64, slots, 0);
                for (i, v) in values.into_iter().enumerate() {
                    self.store(v, slots_addr, (i * 8) as i32);
                }
                let f = self.b.ins().stack_addr(I64, frame, 0);
                let zero = self.iconst(0);
                let m = self.addr("method", method as *const MethodData as i64);
                self.store(receiver, f, layout::FRAME_RECEIVER);
                self.store(slots_addr, f, layout::FRAME_SLOTS);
                self.store(zero, f, layout::FRAME_CTX);
                self.store(closure, f, layout::FRAME_CLOSURE);
                self.store(m, f, layout::FRAME_METHOD);
                self.store(zero, f, layout::FRAME_PARENT);
                f
            }
        }
    }

    /// The frame an unwind passing an inlined activation sees: its method
    /// and receiver, for backtraces and `printStackTrace`, but no slots (no
    /// code runs in it), so the cold path stays small.
    fn unwinding_frame(&mut self) -> ir::Value {
        let sc = self.scopes.last().expect("a scope");
        let (frame, receiver, method) = (sc.frame, sc.receiver, sc.method);
        let FrameRef::Inlined { frame, .. } = frame else {
            return self.materialize();
        };
        let f = self.b.ins().stack_addr(I64, frame, 0);
        let zero = self.iconst(0);
        let m = self.addr("method", method as *const MethodData as i64);
        self.store(receiver, f, layout::FRAME_RECEIVER);
        self.store(zero, f, layout::FRAME_SLOTS);
        self.store(zero, f, layout::FRAME_CTX);
        self.store(zero, f, layout::FRAME_CLOSURE);
        self.store(m, f, layout::FRAME_METHOD);
        self.store(zero, f, layout::FRAME_PARENT);
        f
    }

    /// Reads the current scope's variables back from its frame after a call
    /// that may have written them.
    pub fn reload(&mut self) {
        let sc = self.scopes.last().expect("a scope");
        let Slots::Vars(vars) = sc.slots.clone() else {
            return;
        };
        let base = match sc.frame {
            FrameRef::Real { frame, slots } => {
                slots.unwrap_or_else(|| self.load(frame, layout::FRAME_SLOTS))
            }
            FrameRef::Inlined { slots, .. } => self.b.ins().stack_addr(I64, slots, 0),
        };
        let bindings = self.scopes.last().expect("a scope").bindings.clone();
        for (i, var) in vars.iter().enumerate() {
            if let Some(Binding::Virtual(_) | Binding::Closure(..) | Binding::Word(_)) =
                bindings.get(i)
            {
                continue;
            }
            let v = self.load(base, (i * 8) as i32);
            self.b.def_var(*var, v);
        }
    }

    /// Allocates an Array holding `elems` (a virtual Array escaping).
    pub fn new_array(&mut self, elems: &[ir::Value]) -> ir::Value {
        let slot = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (elems.len().max(1) * 8) as u32,
            3,
        ));
        for (i, v) in elems.iter().enumerate() {
            self.b.ins().stack_store(I64, *v, slot, (i * 8) as i32);
        }
        let argv = self.b.ins().stack_addr(I64, slot, 0);
        let n = self.iconst(elems.len() as i64);
        let vm = self.vm();
        self.call(Entry::NewArray, &[vm, argv, n])[0]
    }

    /// The constant a node evaluates to, if the lowering knows it.
    pub fn const_of(&self, node: &Node) -> Option<som_runtime::value::Value> {
        match node {
            Node::Const(v) => Some(*v),
            Node::LocalRead(i) => match self.scope().bindings.get(i.0) {
                Some(Binding::Const(v)) => Some(*v),
                _ => None,
            },
            _ => None,
        }
    }

    /// The block literal (and its defining scope) a node reads, if it is an
    /// argument bound to one.
    pub fn closure_of(&self, node: &Node) -> Option<(&'static Node, usize)> {
        match node {
            Node::LocalRead(i) => match self.scope().bindings.get(i.0) {
                Some(Binding::Closure(n, d)) => Some((n, *d)),
                _ => None,
            },
            _ => None,
        }
    }

    /// The elements of a virtual Array a node reads, if it is one.
    pub fn virtual_of(&self, node: &Node) -> Option<Vec<ir::Value>> {
        match node {
            Node::LocalRead(i) => match self.scope().bindings.get(i.0) {
                Some(Binding::Virtual(e)) => Some(e.clone()),
                _ => None,
            },
            _ => None,
        }
    }

    // ----- calls into the runtime ------------------------------------------------

    /// The shape of the current activation's receiver, if a guard
    /// established it: in this epoch, or before a call or loop since, then
    /// relying on owners (see [`Lowerer::fact_survives`]).
    pub fn known_receiver_shape(&mut self) -> Option<*const som_runtime::object::Shape> {
        let (shape, e) = self.scopes.last().expect("a scope").receiver_shape?;
        if !self.fact_survives(e) {
            return None;
        }
        self.scopes.last_mut().expect("a scope").shape_used = true;
        Some(shape)
    }

    /// The shape of argument slot `i` of the current activation, if a
    /// guard established it (as [`Lowerer::known_receiver_shape`]).
    pub fn known_slot_shape(&mut self, i: usize) -> Option<*const som_runtime::object::Shape> {
        let (shape, e) = (*self.scope().slot_shapes.get(i)?)?;
        self.fact_survives(e).then_some(shape)
    }

    /// Whether a shape fact of epoch `e` holds where code is being added. A
    /// value's class never changes; its owner, the rest of its shape, only
    /// in a call (`Vm::set_owner`). So a fact from before a call holds while
    /// the unit is valid if the unit relies on owners (every owner change
    /// invalidates it, [`Lowerer::owner_facts`]); every code that uses a
    /// fact tests `valid` first ([`Lowerer::guard_valid`], after the call).
    /// Not in a unit recompiled too often, which owner changes may be
    /// invalidating.
    fn fact_survives(&mut self, e: u64) -> bool {
        if e == self.epoch {
            return true;
        }
        if self.compilations > som_runtime::tier::UNSTABLE_AFTER_COMPILATIONS {
            return false;
        }
        self.owner_facts = true;
        true
    }

    /// Calls entry point `e`; answers its results. From an inlined
    /// activation, the activation budget the runtime sees during the call
    /// is lowered by the activations inlined around it (see
    /// [`Lowerer::inline_depth`]).
    pub fn call(&mut self, e: Entry, args: &[ir::Value]) -> Vec<ir::Value> {
        let depth = if e.activates() {
            self.inline_depth()
        } else {
            0
        };
        if depth == 0 {
            return self.call_unadjusted(e, args);
        }
        let tvm = self.addr("vm", self.tier_vm);
        let left = self.load(tvm, layout::VM_ACTIVATIONS_LEFT);
        let less = self.b.ins().iadd_imm_s(left, -(depth as i64));
        self.store(less, tvm, layout::VM_ACTIVATIONS_LEFT);
        let r = self.call_unadjusted(e, args);
        // Every activation the call made has ended, unwinding or not.
        let tvm = self.addr("vm", self.tier_vm);
        self.store(left, tvm, layout::VM_ACTIVATIONS_LEFT);
        r
    }

    /// Calls entry point `e` with the activation budget as it is.
    pub fn call_unadjusted(&mut self, e: Entry, args: &[ir::Value]) -> Vec<ir::Value> {
        // Anything may change in a call, a shape included.
        self.epoch += 1;
        let sig = self.sigs.get(&mut self.b, e);
        let addr = self.iconst(e.address() as i64);
        self.flag_for_call();
        let inst = self.b.ins().call_indirect(sig, addr, args);
        let r = self.b.inst_results(inst).to_vec();
        self.flag_after_call();
        r
    }

    /// Before a call: the VM's enforcement flag is made the one of the code
    /// making it, when that differs from the unit's.
    pub fn flag_for_call(&mut self) {
        if self.flag != self.base_flag {
            let addr = self.addr("vm", self.enforced_flag);
            let v = self.iconst(self.flag as i64);
            self.b.ins().istore8(mem(), v, addr, 0);
        }
    }

    /// After a call: the flag is the unit's again (every path out of the
    /// call, unwinding ones included, passes here first).
    pub fn flag_after_call(&mut self) {
        if self.flag != self.base_flag {
            let addr = self.addr("vm", self.enforced_flag);
            let v = self.iconst(self.base_flag as i64);
            self.b.ins().istore8(mem(), v, addr, 0);
        }
    }

    /// How many inlined activations the current one is nested in (0 in
    /// the unit's own): each is an activation the interpreter would have
    /// counted, which compiled code counts only on entry.
    pub fn inline_depth(&self) -> usize {
        self.scopes.len() - 1
    }

    /// Calls an entry point answering (status, value); a non-zero status
    /// unwinds. Answers the value.
    pub fn call_fallible(&mut self, e: Entry, args: &[ir::Value]) -> ir::Value {
        let r = self.call(e, args);
        self.check_status(r[0]);
        r[1]
    }

    /// Calls an entry point that takes the current frame (VM, frame, rest):
    /// the scope's variables are written to the frame before and read back
    /// after.
    pub fn call_with_frame(&mut self, e: Entry, rest: &[ir::Value]) -> ir::Value {
        let frame = self.materialize();
        let mut args = vec![self.vm(), frame];
        args.extend_from_slice(rest);
        let r = self.call(e, &args);
        self.reload();
        self.check_status(r[0]);
        r[1]
    }

    /// Goes on when `status` is 0; otherwise to the innermost unwind block.
    pub fn check_status(&mut self, status: ir::Value) {
        let ok = self.b.create_block();
        let unwind = self.scope().unwind;
        self.b
            .ins()
            .brif(status, unwind, &[BlockArg::Value(status)], ok, &[]);
        self.b.seal_block(ok);
        self.b.switch_to_block(ok);
    }

    /// Evaluates `node` in the interpreter, in the current activation.
    pub fn interpret(&mut self, node: &'static Node) -> ir::Value {
        let n = self.addr("node", node as *const Node as i64);
        self.call_with_frame(Entry::EvalNode, &[n])
    }

    // ----- activations -----------------------------------------------------------

    /// Fills the unwind block of the innermost scope (once every jump to it
    /// has been emitted) and seals it.
    pub fn finish_unwind(&mut self, outermost: bool) {
        let sc = self.scopes.last().expect("a scope");
        let (unwind, exit, restart, call_pos) = (sc.unwind, sc.exit, sc.restart, sc.call_pos);
        self.b.switch_to_block(unwind);
        self.b.seal_block(unwind);
        let status = self.b.block_params(unwind)[0];
        if outermost {
            self.spill_register_args();
            let zero = self.iconst(0);
            self.b.ins().return_(&[status, zero]);
            return;
        }
        let frame = self.unwinding_frame();
        let pos = self.pos(call_pos);
        let vm = self.vm();
        let r = self.call(Entry::UnwindInlined, &[vm, frame, status, pos]);
        let (st, value) = (r[0], r[1]);
        let handled = self.cold_block();
        let not_handled = self.cold_block();
        self.b.ins().brif(st, not_handled, &[], handled, &[]);
        self.b.seal_block(handled);
        self.b.seal_block(not_handled);
        self.b.switch_to_block(handled);
        self.jump_with(exit, value);
        self.b.switch_to_block(not_handled);
        if let Some(restart) = restart {
            let again = self.cold_block();
            let leave = self.cold_block();
            let is_restart =
                self.b
                    .ins()
                    .icmp_imm_s(IntCC::Equal, st, Unwind::RESTART.code() as i64);
            self.b.ins().brif(is_restart, again, &[], leave, &[]);
            self.b.seal_block(again);
            self.b.seal_block(leave);
            self.b.switch_to_block(again);
            // The body runs again only while the unit is valid (so the
            // restarted body needs no validity test of its own, see
            // `validity`); otherwise the interpreter re-runs it.
            let stale = self.cold_block();
            let valid_again = self.cold_block();
            self.branch_on_valid(valid_again, stale);
            self.b.seal_block(stale);
            self.b.seal_block(valid_again);
            self.b.switch_to_block(stale);
            // A full frame: the body re-runs with the activation's
            // arguments.
            let full = self.materialize();
            let r = self.call(Entry::RestartInlined, &[vm, full, pos]);
            let (rst, rvalue) = (r[0], r[1]);
            let rerun = self.cold_block();
            let failed = self.cold_block();
            self.b.ins().brif(rst, failed, &[], rerun, &[]);
            self.b.seal_block(rerun);
            self.b.seal_block(failed);
            self.b.switch_to_block(rerun);
            self.jump_with(exit, rvalue);
            self.b.switch_to_block(failed);
            let parent_unwind = self.scopes[self.scopes.len() - 2].unwind;
            self.b.ins().jump(parent_unwind, &[BlockArg::Value(rst)]);
            self.b.switch_to_block(valid_again);
            let sc = self.scope();
            match (sc.shape_used, sc.receiver_shape, sc.resend) {
                (true, Some((shape, _)), Some(resend)) => {
                    // The body relied on the receiver's shape, which the
                    // call that restarts it may have changed: unchanged, the
                    // body runs again; changed, the send is made anew.
                    let rcvr = sc.receiver;
                    let same = self.b.create_block();
                    let changed = self.cold_block();
                    let ptr = self.cold_block();
                    let low = self.b.ins().band_imm_s(rcvr, 7);
                    self.b.ins().brif(low, changed, &[], ptr, &[]);
                    self.b.seal_block(ptr);
                    self.b.switch_to_block(ptr);
                    let actual = self.load(rcvr, layout::HEADER_SHAPE);
                    let is = self.b.ins().icmp_imm_s(IntCC::Equal, actual, shape as i64);
                    self.b.ins().brif(is, same, &[], changed, &[]);
                    self.b.seal_block(same);
                    self.b.seal_block(changed);
                    self.b.switch_to_block(same);
                    self.b.ins().jump(restart, &[]);
                    self.b.switch_to_block(changed);
                    self.b.ins().jump(resend, &[]);
                }
                _ => {
                    self.b.ins().jump(restart, &[]);
                }
            }
            self.b.switch_to_block(leave);
        }
        let parent_unwind = self.scopes[self.scopes.len() - 2].unwind;
        self.b.ins().jump(parent_unwind, &[BlockArg::Value(st)]);
    }

    /// The exit block (taking the activation's result) and the cold unwind
    /// block (taking a status) of a new activation.
    pub fn exit_and_unwind(&mut self) -> (ir::Block, ir::Block) {
        let exit = self.value_block();
        let unwind = self.cold_block();
        self.b.append_block_param(unwind, I64);
        (exit, unwind)
    }

    /// Notes the start of an inlined activation (called before its scope
    /// is pushed): the unit's entry checks that the activation budget
    /// covers the deepest one (see `som_runtime::tier::STATUS_NO_BUDGET`),
    /// so inlined activations cost nothing where they run.
    pub fn enter_activation(&mut self) {
        self.max_inline_depth = self.max_inline_depth.max(self.scopes.len());
    }

    /// Declares `n` fresh variables.
    pub fn new_vars(&mut self, n: usize) -> Vec<Variable> {
        (0..n).map(|_| self.b.declare_var(I64)).collect()
    }

    /// Stack slots for the frame and `n` slots of an inlined activation.
    pub fn inlined_frame(&mut self, n: usize) -> FrameRef {
        let frame = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            layout::FRAME_SIZE,
            3,
        ));
        let slots = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (n.max(1) * 8) as u32,
            3,
        ));
        FrameRef::Inlined { frame, slots }
    }
}

/// The current domain an enforced body is specialized on: the one key that
/// the domain chains of its global reads (the operations keyed on the
/// current domain) have seen, if they all saw the same one and no more.
/// A unit that declined too often is recompiled without it.
pub(crate) fn entry_domain(body: &AstBody, compilations: u32) -> Option<som_runtime::value::Value> {
    single_key(body, compilations, &|n| match n {
        Node::EnforcedGlobalRead(g) => Some(&g.domains),
        _ => None,
    })
}

/// The owner key of `self` an enforced body is specialized on: the one key
/// the domain chains of its field accesses (all on `self`) have seen, if
/// they all saw the same one and no more.
pub(crate) fn receiver_owner(
    body: &AstBody,
    compilations: u32,
) -> Option<som_runtime::value::Value> {
    single_key(body, compilations, &|n| match n {
        Node::EnforcedFieldRead(f) | Node::EnforcedFieldWrite(f) => Some(&f.domains),
        _ => None,
    })
}

/// Whether every object of `shape` is of kind `kind_byte` (plain or class
/// object) with more than `i` fields.
pub(crate) fn shape_has_fields(
    shape: *const som_runtime::object::Shape,
    i: usize,
    kind_byte: i64,
) -> bool {
    // SAFETY: shapes are interned and never freed.
    let s = unsafe { &*shape };
    s.kind as u8 as i64 == kind_byte && (s.fields as usize) > i
}

/// How many fields of `self` the fields `body` (and its block literals,
/// whose `self` is the same) reads and writes need: the receiver's layout
/// is checked once for them on entry. None when the body touches no field,
/// or the unit was recompiled too often (its accesses check each time:
/// it may be run on receivers of another layout).
pub(crate) fn self_fields_used(body: &AstBody, compilations: u32) -> Option<usize> {
    if compilations > som_runtime::tier::UNSTABLE_AFTER_COMPILATIONS {
        return None;
    }
    let mut need = 0;
    // A block's plain body has the same field accesses as its enforced twin.
    body.body.walk(&mut |n| {
        let i = match n {
            Node::FieldRead(i, _) | Node::FieldWrite(i, _, _) => i.0,
            Node::EnforcedFieldRead(f) | Node::EnforcedFieldWrite(f) => f.index.0,
            _ => return,
        };
        need = need.max(i + 1);
    });
    (need > 0).then_some(need)
}

/// The one domain key every chain `chain_of` finds in `body` (and its block
/// literals) has seen, chains never run aside; None when they saw several,
/// one went generic, or the unit was recompiled too often.
fn single_key(
    body: &AstBody,
    compilations: u32,
    chain_of: &dyn Fn(&Node) -> Option<&som_runtime::nodes::DomainChain>,
) -> Option<som_runtime::value::Value> {
    if compilations > som_runtime::tier::UNSTABLE_AFTER_COMPILATIONS {
        return None;
    }
    let mut key = None;
    let mut single = true;
    for_each_node_with_blocks(body, &mut |n| {
        let Some(chain) = chain_of(n) else {
            return;
        };
        let entries = chain.entries();
        if entries.is_empty() && !chain.is_generic() {
            // Never run yet: its generic path does not care.
            return;
        }
        if chain.is_generic() || entries.len() != 1 {
            single = false;
            return;
        }
        let k = entries[0].0;
        if key.is_some_and(|seen| seen != k) {
            single = false;
        }
        key = Some(k);
    });
    key.filter(|_| single)
}

/// Calls `f` on every node of an enforced `body` and of the block literals
/// in it (whose enforced bodies the unit may inline), recursively.
fn for_each_node_with_blocks(body: &AstBody, f: &mut dyn FnMut(&Node)) {
    let mut blocks: Vec<&'static AstBody> = Vec::new();
    body.body.for_each_unit_node(&mut |n| {
        if let Node::Block(bl) = n {
            if let Some(b) = bl.method.enforced.get() {
                blocks.push(b);
            }
        }
        f(n);
    });
    for b in blocks {
        for_each_node_with_blocks(b, f);
    }
}
