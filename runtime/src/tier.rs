//! The runtime's side of the compiled tier: the whole interface compiled code
//! and the tier's compiler see (the part called TierAbi in the architecture).
//!
//! - [`Tier`] is the hook through which the runtime asks for a body to be
//!   compiled, as [`crate::hooks::Frontend`] is for source. The runtime never
//!   depends on the compiler crate.
//! - [`TierCell`] sits in every [`AstBody`]: the entry of its compiled code
//!   (if any), the invocation countdown and the recompilation count.
//! - [`TierVm`] is the one `#[repr(C)]` block of VM state compiled code reads
//!   and writes directly (activation budget, native stack limit); [`layout`]
//!   collects the object-layout constants it embeds.
//! - The `rt_*` functions are the `extern "C"` entry points compiled code
//!   calls; they are the only way it reaches the runtime.
//!
//! Invariants:
//! - a compiled body is a drop-in replacement for evaluating the body in the
//!   interpreter: it runs inside the activation the interpreter built (its
//!   [`Frame`], value-stack slots and heap context), answers the same
//!   [`VmResult`] as a [`TierRet`], and leaves every unwind it does not
//!   handle to that activation, so backtraces, non-local returns, exceptions
//!   and `restart` behave as in the interpreter;
//! - compiled code speculates only behind guards that re-read live state (a
//!   shape word, a tag bit, a global cell) or its unit's `valid` word, which
//!   [`Vm::invalidate_lookups`] clears for every unit that inlined a lookup of
//!   the changed selector; the word is re-read after every call compiled code
//!   makes, the only places metaobjects can change (the VM is single-threaded);
//! - collection happens only inside calls into the runtime; references held
//!   by compiled frames live in registers or native stack slots, which the
//!   collector scans conservatively (it never moves objects).

use std::cell::Cell;

use crate::interpreter::Frame;
use crate::nodes::{EnforcedFieldNode, EnforcedSendNode, Fallback, LoopNode, Node, SendNode};
use crate::nodes::{SuperSendNode, ToDoNode};
use crate::value::Value;
use crate::vm::VmResult;

// The runtime types the tier's compiler works with, re-exported so that it
// depends on this module, the chains it reads (`nodes`, `dispatch`) and the
// data layer only, never on the VM's internals.
pub use crate::heap::BumpRefs;
pub use crate::interpreter::Unwind;
pub use crate::method::{AstBody, MethodData, MethodKind, Trivial};
pub use crate::omop::Handler;
pub use crate::trace::jit_enabled;
pub use crate::vm::Vm;

/// Invocations of a body before it is compiled with `--jit=on`. Chains must
/// have seen the receivers of the hot path by then, or the compiled code
/// would only call back into the runtime: a thousand calls (as in HotSpot's
/// client compiler) warm the chains of any realistic method.
pub const INVOCATION_THRESHOLD: u32 = 1000;

/// Back edges of an interpreted loop before it is compiled and entered
/// in the middle (on-stack replacement) with `--jit=on`: a loop that long
/// is worth a compilation even in a method called once.
pub const BACKEDGE_THRESHOLD: u32 = 5000;

/// Back edges before OSR with `--jit=eager`: the first iteration runs in the
/// interpreter so that the chains of the loop body have learned something.
pub const EAGER_BACKEDGE_THRESHOLD: u32 = 2;

/// Guard failures a unit takes (sends reaching the generic path of a site
/// whose chain it inlined) before it is invalidated, to be recompiled from
/// what the chains have learned since: the receivers changed.
pub const GUARD_MISS_LIMIT: u32 = 1000;

/// What one guard failure counts towards [`GUARD_MISS_LIMIT`] when the
/// site's chain already holds the receiver's shape (it learned it after the
/// unit was compiled): fifty such failures make the unit recompile.
pub const KNOWN_MISS_WEIGHT: u32 = 20;

/// Compilations of one body after which the sites whose guards failed
/// before are compiled generically (a call, no inlining): their receivers
/// do not settle.
pub const UNSTABLE_AFTER_COMPILATIONS: u32 = 4;

/// Times one body may be recompiled (after invalidation, or in eager mode
/// after one of its chains changed state) before it stays interpreted: a
/// metaobject that keeps changing would otherwise make the tier compile
/// forever.
pub const MAX_RECOMPILES: u32 = 16;

/// When bodies are compiled (`som --jit=off|on|eager`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum JitMode {
    /// Never: everything is interpreted.
    Off,
    /// After [`INVOCATION_THRESHOLD`] invocations.
    #[default]
    On,
    /// At the first invocation, and again whenever a chain the code was
    /// compiled from has changed state, so that tests run specialized code.
    Eager,
}

/// Arguments a compiled body takes in registers (after the VM, the frame and
/// the receiver): the System V ABI passes six integer arguments in
/// registers, and sends rarely have more than three arguments.
pub const REG_ARGS: usize = 3;

/// A compiled body: called with the VM, the activation's frame, and the
/// receiver and first [`REG_ARGS`] arguments (their bits; 0 beyond the
/// method's arity). The frame holds the receiver too, and the slots the
/// arguments past the first [`REG_ARGS`]; the first ones are in the slots
/// when the runtime calls, not necessarily when compiled code calls: the
/// body writes them there itself before it answers anything but a value
/// (a decline or an unwind, after which the runtime reads the frame).
pub type BodyFn = unsafe extern "C" fn(
    vm: *mut Vm,
    frame: *const Frame,
    receiver: u64,
    a0: u64,
    a1: u64,
    a2: u64,
) -> TierRet;

/// A compiled loop, entered from the interpreter in the middle of the loop
/// (on-stack replacement) with the activation's frame. For a counting loop,
/// `i` is the next counter value and `limit`, `step` its bounds (all
/// untagged; the interpreter checked they cannot overflow); a `whileTrue:`
/// loop ignores them and starts at its condition. Answers the loop's value.
pub type OsrFn = unsafe extern "C" fn(
    vm: *mut Vm,
    frame: *const Frame,
    i: i64,
    limit: i64,
    step: i64,
) -> TierRet;

/// The status compiled code answers, before doing anything, when the
/// activation budget cannot cover the activations it inlined (it counts
/// them only once, on entry: see [`TierVm::activations_left`]): the caller
/// runs the body (or goes on with the loop) in the interpreter, which
/// counts each activation and fails exactly where the budget runs out.
pub const STATUS_NO_BUDGET: u64 = 0xff;

/// Why a unit's speculation missed ([`rt::rt_unit_miss`]): on entry, the
/// current domain is not the one the unit is specialized on.
pub const MISS_ENTRY_DOMAIN: u64 = 0;
/// On entry, the unit's receiver has another owner than the one it is
/// specialized on.
pub const MISS_ENTRY_OWNER: u64 = 1;
/// On entry, the unit's receiver lacks a field its body reads or writes (a
/// method run with a receiver of another layout, e.g. through
/// `invokeOn:with:`).
pub const MISS_ENTRY_LAYOUT: u64 = 2;
/// A site that had never run when the unit was compiled (so the unit left
/// it to the runtime) ran: its chain now knows what to compile. Counted
/// once per run, so only a site that keeps running recompiles the unit.
pub const MISS_SITE_RAN: u64 = 3;

/// What compiled code and the entry points answer: status 0 and a value, or
/// the [`Unwind`] code in `status` (or [`STATUS_NO_BUDGET`] from a body's
/// entry). Two words, returned in two registers.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TierRet {
    /// 0, or the unwind code.
    pub status: u64,
    /// The result when `status` is 0.
    pub value: u64,
}

impl TierRet {
    /// Encodes an evaluation result.
    #[inline(always)]
    pub fn from_result(r: VmResult) -> TierRet {
        match r {
            Ok(v) => TierRet {
                status: 0,
                value: v.bits(),
            },
            Err(e) => TierRet {
                status: e.code(),
                value: 0,
            },
        }
    }

    /// Decodes into an evaluation result.
    #[inline(always)]
    pub fn into_result(self) -> VmResult {
        if self.status == 0 {
            Ok(Value::from_bits(self.value))
        } else {
            Err(Unwind::from_code(self.status))
        }
    }
}

/// The tier's state of one AST body (its code is a [`BodyFn`]) or of one
/// loop node (an [`OsrFn`]). Compiled code that calls a body directly reads
/// its code and unit at [`CELL_CODE_OFFSET`] and [`CELL_UNIT_OFFSET`].
#[repr(C)]
pub struct TierCell {
    code: Cell<usize>,
    countdown: Cell<u32>,
    recompiles: Cell<u32>,
    armed: Cell<bool>,
    unit: Cell<Option<&'static UnitState>>,
}

impl Default for TierCell {
    fn default() -> Self {
        // Countdown 1: the first invocation decides, in the VM's mode, when
        // the body is compiled (see `tier_up`).
        TierCell {
            code: Cell::new(0),
            countdown: Cell::new(1),
            recompiles: Cell::new(0),
            armed: Cell::new(false),
            unit: Cell::new(None),
        }
    }
}

impl TierCell {
    /// The compiled code, if the body has valid compiled code.
    #[inline(always)]
    pub fn entry(&self) -> Option<BodyFn> {
        match self.code.get() {
            0 => None,
            // SAFETY: a body's cell only ever holds the address of a BodyFn
            // (`install`), and the code stays mapped while installed.
            a => Some(unsafe { std::mem::transmute::<usize, BodyFn>(a) }),
        }
    }

    /// The compiled loop, if the loop node has valid compiled code.
    #[inline(always)]
    fn osr_entry(&self) -> Option<OsrFn> {
        match self.code.get() {
            0 => None,
            // SAFETY: a loop node's cell only ever holds the address of an
            // OsrFn, mapped while installed.
            a => Some(unsafe { std::mem::transmute::<usize, OsrFn>(a) }),
        }
    }

    fn install(&self, code: usize, unit: &'static UnitState) {
        self.unit.set(Some(unit));
        self.code.set(code);
    }

    /// Counts a back edge of an interpreted loop; true when it is time to
    /// compile the loop and enter it.
    #[inline(always)]
    pub fn count_back_edge(&self) -> bool {
        self.count()
    }

    /// Counts an interpreted invocation; true when it is time to compile.
    #[inline(always)]
    fn count(&self) -> bool {
        let n = self.countdown.get();
        if n > 1 {
            self.countdown.set(n - 1);
            return false;
        }
        n == 1
    }

    /// The unit currently installed, if any.
    pub fn unit(&self) -> Option<&'static UnitState> {
        self.unit.get()
    }

    /// How often the body was compiled.
    pub fn compilations(&self) -> u32 {
        self.recompiles.get()
    }
}

/// The validity record of one compiled unit. Compiled code embeds its
/// address and tests `valid` before taking any speculative path.
#[repr(C)]
pub struct UnitState {
    /// 1 while every lookup the unit inlined still holds; 0 afterwards.
    pub valid: Cell<u64>,
    /// The body the unit was compiled from (for a loop: its enclosing body).
    pub body: &'static AstBody,
    /// Where the unit's code is installed: the body's cell, or the loop
    /// node's.
    pub cell: &'static TierCell,
    /// The method (or block) the body belongs to.
    pub method: &'static MethodData,
    /// State of the chains of the unit's own body when it was compiled
    /// ([`fingerprint`]).
    pub fingerprint: u64,
    /// The bodies the unit inlined (set once compiled), with the
    /// fingerprints of their chains then: eager mode recompiles when one of
    /// them changed too (see [`unit_current`]).
    pub inlined: std::cell::OnceCell<Vec<(&'static AstBody, u64)>>,
    /// Bytes of machine code.
    pub code_bytes: Cell<usize>,
    /// Address of the machine code (0 once freed).
    pub code: Cell<usize>,
    /// Guard failures so far ([`GUARD_MISS_LIMIT`]).
    pub misses: Cell<u32>,
}

/// Offset of [`UnitState::valid`] (0: compiled code loads the word at the
/// embedded address).
pub const UNIT_VALID_OFFSET: i32 = std::mem::offset_of!(UnitState, valid) as i32;

/// Offset of a [`TierCell`]'s code address (0: no valid code).
pub const CELL_CODE_OFFSET: i32 = std::mem::offset_of!(TierCell, code) as i32;

/// Offset of a [`TierCell`]'s unit (null while none is installed); read
/// together with the code, which belongs to it.
pub const CELL_UNIT_OFFSET: i32 = std::mem::offset_of!(TierCell, unit) as i32;

/// What a compilation delivers.
pub struct Compiled<F = BodyFn> {
    /// The machine code's entry.
    pub entry: F,
    /// Its validity record (leaked: compiled code embeds its address).
    pub unit: &'static UnitState,
    /// Selectors whose lookups the code inlined: a change to a method with
    /// one of them invalidates the unit.
    pub depends_on: Vec<crate::symbols::SymbolId>,
    /// Globals whose values the code embeds: a write that changes one
    /// invalidates the unit.
    pub folded_globals: Vec<&'static crate::nodes::GlobalCell>,
    /// The code relies on the owner of its receiver staying what it was on
    /// entry: any owner change invalidates it (see `Vm::set_owner`).
    pub relies_on_owners: bool,
}

/// The compiled tier, as the runtime sees it.
pub trait Tier {
    /// Compiles `body` of `m`; None when the tier declines (the body then
    /// stays interpreted). Errors are VM bugs of the tier, reported by it.
    fn compile(
        &self,
        vm: &mut Vm,
        m: &'static MethodData,
        body: &'static AstBody,
    ) -> Option<Compiled>;

    /// Compiles `node`, a `whileTrue:` or counting loop of `body` (of `m`),
    /// as a unit entered in the middle of the loop ([`OsrFn`]).
    fn compile_loop(
        &self,
        vm: &mut Vm,
        m: &'static MethodData,
        body: &'static AstBody,
        node: HotLoop,
        cell: &'static TierCell,
    ) -> Option<Compiled<OsrFn>>;

    /// Frees the machine code of an invalidated unit that no activation can
    /// return into and no entry cell points to any more.
    fn release(&self, unit: &'static UnitState);

    /// What the tier has done, for `--dispatch-stats`.
    fn report(&self) -> TierReport;
}

/// The tier's account of its work.
#[derive(Clone, Debug, Default)]
pub struct TierReport {
    /// Units compiled so far.
    pub compilations: u64,
    /// Units whose code is still mapped.
    pub live_units: usize,
    /// Bytes of executable memory holding live code.
    pub live_bytes: usize,
    /// Microseconds spent compiling.
    pub compile_micros: u64,
    /// Send sites (addresses of their nodes) in live compiled code.
    pub compiled_sites: std::collections::HashSet<usize>,
}

/// The VM state compiled code accesses directly, at fixed offsets
/// ([`layout`]`::VM_*`): the activation budget and native stack limit, and
/// the OMOP execution state (current and allocation domains, enforcement).
/// The heap's allocation cursors are per size class and stay in the heap;
/// compiled code reaches them through [`BumpRefs`].
#[repr(C)]
pub struct TierVm {
    /// How many more SOM activations may start (see
    /// [`crate::vm::MAX_ACTIVATION_DEPTH`]). Compiled code counts the
    /// activations it inlined without storing them: on entry it checks that
    /// the budget covers the deepest of them (else [`STATUS_NO_BUDGET`]),
    /// and around a call made from an inlined activation it subtracts that
    /// activation's depth, so the callee sees what the interpreter's would.
    pub activations_left: usize,
    /// Lowest native stack address activations may reach.
    pub native_stack_limit: usize,
    /// The key of the current (executing) domain; ZERO is the standard
    /// domain (OMOP).
    pub current: Value,
    /// The key of the domain that owns objects created now: the current
    /// domain's `domainForNewObjects` (ZERO: standard).
    pub alloc: Value,
    /// Whether the running body is an enforced one.
    pub enforced: bool,
    /// The innermost running activation (backtraces, `printStackTrace`):
    /// compiled code that activates a method itself links its frame here.
    pub frame: *const crate::interpreter::Frame,
}

/// Offsets and constants of the object layout that compiled code embeds.
pub mod layout {
    use crate::interpreter::Frame;
    use crate::method::{AstBody, MethodData};
    use crate::object::{Header, Kind, Shape};

    /// Offset of the shape word in an object header.
    pub const HEADER_SHAPE: i32 = std::mem::offset_of!(Header, shape) as i32;
    /// Offset of the meta word (kind in the low byte, length in the high 32 bits).
    pub const HEADER_META: i32 = std::mem::offset_of!(Header, meta) as i32;
    /// Offset of the first body word.
    pub const BODY: i32 = crate::object::HEADER_SIZE as i32;
    /// Offset of the class in a [`Shape`].
    pub const SHAPE_CLASS: i32 = std::mem::offset_of!(Shape, class) as i32;
    /// Offset of a shape's owner-domain key (ZERO for the standard domain).
    pub const SHAPE_DOMAIN: i32 = std::mem::offset_of!(Shape, domain) as i32;
    /// Kind byte of plain objects.
    pub const KIND_OBJECT: i64 = Kind::Object as i64;
    /// Kind byte of Strings.
    pub const KIND_STRING: i64 = Kind::String as i64;
    /// Offset of a String's or Symbol's first byte (after its count word).
    pub const TEXT_BYTES: i32 = BODY + 8;
    /// Kind byte of Symbols.
    pub const KIND_SYMBOL: i64 = Kind::Symbol as i64;
    /// Kind byte of class objects.
    pub const KIND_CLASS: i64 = Kind::Class as i64;
    /// Kind byte of a Block closure.
    pub const KIND_BLOCK: i64 = Kind::Block as i64;
    /// Offset of a closure's method (a `*const MethodData`).
    pub const BLOCK_METHOD: i32 =
        BODY + std::mem::offset_of!(crate::object::BlockBody, method) as i32;
    /// Offset of a closure's defining context (a Context, or
    /// `Value::ZERO` when its definer has none).
    pub const BLOCK_CONTEXT: i32 =
        BODY + std::mem::offset_of!(crate::object::BlockBody, context) as i32;
    /// Offset of a Context's enclosing context.
    pub const CONTEXT_OUTER: i32 = BODY;
    /// Offset of a Context's first slot (after its outer context and its
    /// liveness flag).
    pub const CONTEXT_SLOTS: i32 = BODY + 16;
    /// Offset of a closure's `self`.
    pub const BLOCK_RECEIVER: i32 =
        BODY + std::mem::offset_of!(crate::object::BlockBody, receiver) as i32;
    /// Offset of a method's argument count (a word).
    pub const METHOD_NUM_ARGS: i32 = std::mem::offset_of!(MethodData, num_args) as i32;
    /// Offset of a method's kind tag (a byte; [`METHOD_KIND_AST`] for AST code).
    pub const METHOD_KIND_TAG: i32 = std::mem::offset_of!(MethodData, kind) as i32;
    /// The kind tag of [`crate::method::MethodKind::Ast`].
    pub const METHOD_KIND_AST: i64 = 0;
    /// Offset of an AST method's body ([`AstBody`]).
    pub const METHOD_AST: i32 = (std::mem::offset_of!(MethodData, kind)
        + std::mem::offset_of!(crate::method::KindLayout, payload))
        as i32;
    /// Offset of a method's enforced twin (a `*const AstBody`, null until
    /// the twin is compiled).
    pub const METHOD_ENFORCED_TWIN: i32 = (std::mem::offset_of!(MethodData, enforced)
        + std::mem::offset_of!(crate::method::EnforcedBody, twin))
        as i32;
    /// Offset of an [`AstBody`]'s slot count (a word).
    pub const AST_NUM_SLOTS: i32 = std::mem::offset_of!(AstBody, num_slots) as i32;
    /// Offset of an [`AstBody`]'s `needs_context` flag (a byte).
    pub const AST_NEEDS_CONTEXT: i32 = std::mem::offset_of!(AstBody, needs_context) as i32;
    /// Offset of an [`AstBody`]'s tier cell ([`super::TierCell`]).
    pub const AST_TIER: i32 = std::mem::offset_of!(AstBody, tier) as i32;
    /// Kind byte of Arrays.
    pub const KIND_ARRAY: i64 = Kind::Array as i64;
    /// Shift of the length in the meta word.
    pub const META_LEN_SHIFT: i64 = 32;
    /// Tag bit of small integers.
    pub const SMALL_TAG: i64 = 1;
    /// Offsets in a [`Frame`].
    pub const FRAME_RECEIVER: i32 = std::mem::offset_of!(Frame, receiver) as i32;
    /// See [`FRAME_RECEIVER`].
    pub const FRAME_SLOTS: i32 = std::mem::offset_of!(Frame, slots) as i32;
    /// See [`FRAME_RECEIVER`].
    pub const FRAME_CTX: i32 = std::mem::offset_of!(Frame, ctx) as i32;
    /// See [`FRAME_RECEIVER`].
    pub const FRAME_CLOSURE: i32 = std::mem::offset_of!(Frame, closure) as i32;
    /// See [`FRAME_RECEIVER`].
    pub const FRAME_METHOD: i32 = std::mem::offset_of!(Frame, method) as i32;
    /// See [`FRAME_RECEIVER`].
    pub const FRAME_PARENT: i32 = std::mem::offset_of!(Frame, parent) as i32;
    /// Size of a [`Frame`].
    pub const FRAME_SIZE: u32 = std::mem::size_of::<Frame>() as u32;
    /// Offset of `activations_left` in [`super::TierVm`].
    pub const VM_ACTIVATIONS_LEFT: i32 =
        std::mem::offset_of!(super::TierVm, activations_left) as i32;
    /// Offset of `native_stack_limit` in [`super::TierVm`].
    pub const VM_NATIVE_STACK_LIMIT: i32 =
        std::mem::offset_of!(super::TierVm, native_stack_limit) as i32;
    /// Offset of [`super::TierVm::enforced`] (a byte).
    pub const VM_ENFORCED: i32 = std::mem::offset_of!(super::TierVm, enforced) as i32;
    /// Offset of the innermost activation's frame in the [`super::TierVm`] block.
    pub const VM_FRAME: i32 = std::mem::offset_of!(super::TierVm, frame) as i32;
    /// Offset of a global cell's `folded` flag (a byte).
    pub const GLOBAL_FOLDED: i32 = std::mem::offset_of!(crate::nodes::GlobalCell, folded) as i32;
    /// Offset of [`super::TierVm::current`] (a word).
    pub const VM_CURRENT_DOMAIN: i32 = std::mem::offset_of!(super::TierVm, current) as i32;
    /// Offset of [`super::TierVm::alloc`] (a word).
    pub const VM_ALLOC_DOMAIN: i32 = std::mem::offset_of!(super::TierVm, alloc) as i32;
}

/// A summary of the state of every chain in `body` (outside nested block
/// bodies): it changes whenever one of them gains or loses an entry or goes
/// generic, which is when eager mode recompiles.
pub fn fingerprint(body: &AstBody) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    body.body.for_each_unit_node(&mut |n| {
        let domains = |c: &crate::nodes::DomainChain| (c.chain_len() as u64) << 24;
        let (len, generic) = match n {
            Node::EnforcedSend(s) => (
                s.chain.chain_len() as u64
                    + domains(&s.domains)
                    + ((s.saw_double.get() as u64) << 16),
                s.chain.is_generic() || s.domains.is_generic(),
            ),
            Node::EnforcedFieldRead(f) | Node::EnforcedFieldWrite(f) => {
                (domains(&f.domains), f.domains.is_generic())
            }
            Node::EnforcedGlobalRead(g) => (domains(&g.domains), g.domains.is_generic()),
            Node::SuperSend(s) => (s.cached.get().is_some() as u64, false),
            // Bound once read: compiled code then loads the cell instead of
            // interpreting the read.
            Node::GlobalRead(g) => (g.cell.get().is_some() as u64, false),
            _ => match n.as_send() {
                Some(s) => {
                    let p = s.perform.entries().len() as u64
                        + ((s.reflect.entries().len() as u64) << 8);
                    let d = (s.saw_double.get() as u64) << 16;
                    (
                        s.chain.chain_len() as u64 + (p << 4) + d,
                        s.chain.is_generic(),
                    )
                }
                None => return,
            },
        };
        h = (h ^ (len << 1 | generic as u64)).wrapping_mul(0x100_0000_01b3);
    });
    h
}

impl Node {
    /// Calls `f` on this node and every node below it that runs in the same
    /// activation (the bodies of block literals are other units).
    pub fn for_each_unit_node(&self, f: &mut dyn FnMut(&Node)) {
        f(self);
        self.for_each_child(&mut |c| c.for_each_unit_node(f));
    }
}

// ----- tiering ----------------------------------------------------------------

/// Runs `body` of `m` in the activation `frame`: its compiled code if it has
/// some, else the interpreter (compiling first once the body is hot).
#[inline(always)]
pub(crate) fn run_body(
    vm: &mut Vm,
    m: &'static MethodData,
    body: &'static AstBody,
    frame: &Frame,
) -> VmResult {
    // The invariant compiled code relies on (it folds the enforcement flag
    // to a constant): a method's plain body runs only in unenforced
    // execution, its enforced twin only in enforced execution.
    debug_assert_eq!(
        vm.tier_state.enforced,
        m.enforced.get().is_some_and(|t| std::ptr::eq(t, body)),
        "{} runs with the enforcement flag {}",
        vm.describe_activation(m, None),
        vm.tier_state.enforced
    );
    if let Some(code) = body.tier.entry() {
        if vm.jit_mode == JitMode::Eager && !eager_current(body) {
            return recompile_and_run(vm, m, body, frame);
        }
        return call_compiled(code, body, vm, frame);
    }
    if body.tier.count() {
        return tier_up(vm, m, body, frame);
    }
    crate::interpreter::eval_body(&body.body, vm, frame)
}

/// Runs compiled code (the interpreter's activation of its body if the
/// code declines). While it runs, its return addresses on the native stack
/// keep it mapped (see [`free_retired`]).
#[inline(always)]
fn call_compiled(code: BodyFn, body: &'static AstBody, vm: &mut Vm, frame: &Frame) -> VmResult {
    let r = run_unit(vm, |vm| {
        // SAFETY: `code` was compiled for this body by the tier, which
        // guarantees the BodyFn contract: it reads the frame and the VM
        // only through their documented layouts and entry points. The code
        // is installed in the body's cell now, and once running, its return
        // addresses keep it mapped (`free_retired`).
        unsafe {
            code(
                vm,
                frame,
                frame.receiver.bits(),
                register_arg(frame, 0),
                register_arg(frame, 1),
                register_arg(frame, 2),
            )
        }
    });
    match r {
        Some(r) => r,
        None => crate::interpreter::eval_body(&body.body, vm, frame),
    }
}

/// The bits of argument `i` of `frame`'s activation, passed in a register
/// to its compiled body; 0 past the method's arity.
#[inline(always)]
fn register_arg(frame: &Frame, i: usize) -> u64 {
    if i < frame.method.num_args.min(REG_ARGS) {
        frame.slot(i).bits()
    } else {
        0
    }
}

/// Runs compiled code (`f` calls it). None when the code declined to run
/// ([`STATUS_NO_BUDGET`]): the caller interprets instead.
#[inline(always)]
fn run_unit(vm: &mut Vm, f: impl FnOnce(&mut Vm) -> TierRet) -> Option<VmResult> {
    let r = f(vm);
    if r.status == STATUS_NO_BUDGET {
        return None;
    }
    Some(r.into_result())
}

/// Frees the code of every retired unit (invalidated, out of its entry
/// cell) that no activation can return into.
///
/// Invariant: an activation running compiled code is either the innermost
/// one, which is here only through a call into the runtime, or suspended in
/// a call; either way the return address of that call, an address inside
/// its unit's code, is a word of the native stack between the current
/// stack pointer and its base (callee-saved registers are spilled into that
/// range first). Compiled code that has loaded a callee's entry address
/// holds it in a register or stack slot across any call it makes before
/// using it. So code no stack word points into (from its first byte to one
/// past its last) is run by no activation and entered by nobody. The scan
/// is conservative: a stale word keeps code a little longer, until a later
/// invalidation scans again.
#[cold]
#[inline(never)]
pub fn free_retired(vm: &Vm) {
    let Some(t) = &vm.tier else {
        return;
    };
    let mut retired = vm.retired_units.borrow_mut();
    if retired.is_empty() {
        return;
    }
    let mut ranges: Vec<(usize, usize)> = retired
        .iter()
        .map(|u| (u.code.get(), u.code.get() + u.code_bytes.get()))
        .collect();
    ranges.sort_unstable();
    let mut pinned = vec![false; ranges.len()];
    let base = vm.native_stack_base();
    crate::heap::with_registers_spilled(|sp| {
        let mut at = sp & !7;
        while at + 8 <= base {
            // SAFETY: every aligned word between the current stack pointer
            // (below our own frame's spill area) and the stack's base is
            // mapped stack memory of this thread.
            let w = unsafe { std::ptr::read_volatile(at as *const usize) };
            let i = ranges.partition_point(|r| r.0 <= w);
            if i > 0 && w <= ranges[i - 1].1 {
                pinned[i - 1] = true;
            }
            at += 8;
        }
    });
    retired.retain(|u| {
        let start = u.code.get();
        let i = ranges.partition_point(|r| r.0 < start);
        if pinned[i] {
            return true;
        }
        let bytes = u.code_bytes.get();
        t.release(u);
        if jit_enabled() {
            tracing::trace!(
                target: "metasom::jit",
                unit = u.method.source.site,
                code_bytes = bytes,
                "code freed"
            );
        }
        false
    });
}

fn eager_current(body: &AstBody) -> bool {
    body.tier.unit().is_none_or(unit_current)
}

/// Whether every chain `unit` was compiled from (its body's and those of
/// the bodies it inlined) is in the state it was then.
pub fn unit_current(unit: &UnitState) -> bool {
    unit.fingerprint == fingerprint(unit.body)
        && unit
            .inlined
            .get()
            .is_none_or(|bodies| bodies.iter().all(|(b, f)| fingerprint(b) == *f))
}

#[cold]
#[inline(never)]
fn recompile_and_run(
    vm: &mut Vm,
    m: &'static MethodData,
    body: &'static AstBody,
    frame: &Frame,
) -> VmResult {
    if body.tier.recompiles.get() >= MAX_RECOMPILES {
        // Keeps running the code it has: the chains keep changing.
        let u = body.tier.unit().expect("a unit");
        let entry = body.tier.entry().expect("an entry");
        if !unit_current(u) {
            return call_compiled(entry, body, vm, frame);
        }
    }
    invalidate_unit(vm, &body.tier, "chains changed");
    tier_up(vm, m, body, frame)
}

/// Compiles a hot body and runs it.
#[cold]
#[inline(never)]
fn tier_up(vm: &mut Vm, m: &'static MethodData, body: &'static AstBody, frame: &Frame) -> VmResult {
    body.tier.countdown.set(0);
    let tier = match (&vm.tier, vm.jit_mode) {
        (Some(t), JitMode::On | JitMode::Eager) => t.clone(),
        _ => return crate::interpreter::eval_body(&body.body, vm, frame),
    };
    if vm.jit_mode == JitMode::On && !body.tier.armed.replace(true) {
        // First invocation: start counting towards the threshold.
        body.tier.countdown.set(INVOCATION_THRESHOLD - 1);
        return crate::interpreter::eval_body(&body.body, vm, frame);
    }
    if body.tier.recompiles.get() >= MAX_RECOMPILES {
        return crate::interpreter::eval_body(&body.body, vm, frame);
    }
    body.tier.recompiles.set(body.tier.recompiles.get() + 1);
    let start = std::time::Instant::now();
    let compiled = tier.compile(vm, m, body);
    vm.compile_time += start.elapsed();
    match compiled {
        Some(c) => {
            register_unit(
                vm,
                c.depends_on,
                &c.folded_globals,
                c.relies_on_owners,
                c.unit,
            );
            body.tier.install(c.entry as usize, c.unit);
            call_compiled(c.entry, body, vm, frame)
        }
        None => crate::interpreter::eval_body(&body.body, vm, frame),
    }
}

/// Registers a new unit in the dependency registry under each selector
/// whose lookups it inlined (once per selector).
fn register_unit(
    vm: &mut Vm,
    mut depends_on: Vec<crate::symbols::SymbolId>,
    globals: &[&'static crate::nodes::GlobalCell],
    relies_on_owners: bool,
    unit: &'static UnitState,
) {
    if relies_on_owners {
        vm.owner_dependents.push(unit);
    }
    depends_on.sort_unstable_by_key(|s| s.0);
    depends_on.dedup();
    for sel in depends_on {
        vm.register_dependent(sel, crate::vm::Dependent::Code(unit));
    }
    for (i, cell) in globals.iter().enumerate() {
        if !globals[..i].iter().any(|c| std::ptr::eq(*c, *cell)) {
            vm.register_global_dependent(cell, unit);
        }
    }
}

/// Drops the compiled code of `body` (running activations finish on it,
/// taking their generic paths; it is freed once none can return into it,
/// see [`free_retired`]); the body is compiled again once hot again.
pub fn invalidate_unit(vm: &Vm, cell: &TierCell, reason: &str) {
    if let Some(u) = cell.unit.take() {
        u.valid.set(0);
        cell.code.set(0);
        // The next invocation (back edge) re-arms the countdown in the VM's
        // mode.
        cell.countdown.set(1);
        cell.armed.set(false);
        if jit_enabled() {
            tracing::trace!(
                target: "metasom::jit",
                unit = u.method.source.site,
                reason,
                "invalidated"
            );
        }
        if u.code.get() != 0 {
            vm.retired_units.borrow_mut().push(u);
        }
        free_retired(vm);
    }
}

/// Invalidates the compiled code of a method that was replaced or removed
/// (its plain body and its enforced twin): nothing will call it again.
pub fn retire_method(vm: &Vm, m: &MethodData) {
    if let crate::method::MethodKind::Ast(body) = &m.kind {
        invalidate_unit(vm, &body.tier, "method replaced");
    }
    if let Some(twin) = m.enforced.get() {
        invalidate_unit(vm, &twin.tier, "method replaced");
    }
}

// ----- on-stack replacement -----------------------------------------------------

/// A hot interpreted loop (`node`, with the tier cell `cell`) enters
/// compiled code at its next iteration: answers the loop's result, or None
/// when there is no compiled code for it (the interpreter goes on).
/// `i`, `limit`, `step` as for [`OsrFn`].
#[cold]
#[inline(never)]
pub(crate) fn osr(
    vm: &mut Vm,
    frame: &Frame,
    node: HotLoop,
    cell: &'static TierCell,
    i: i64,
    limit: i64,
    step: i64,
) -> Option<VmResult> {
    if cell.osr_entry().is_none() && !compile_loop(vm, frame, node, cell) {
        return None;
    }
    let code = cell.osr_entry()?;
    cell.unit.get()?;
    // The next run of this loop enters the code at its first back edge.
    cell.countdown.set(1);
    if jit_enabled() {
        tracing::trace!(target: "metasom::jit", unit = frame.method.source.site, i, "OSR entry");
    }
    let r = run_unit(vm, |vm| {
        // SAFETY: `code` was compiled for this loop by the tier (the OsrFn
        // contract); the interpreter is at the loop's next iteration with
        // its variables in `frame`.
        unsafe { code(vm, frame, i, limit, step) }
    })?;
    if jit_enabled() {
        tracing::trace!(
            target: "metasom::jit",
            unit = frame.method.source.site,
            completed = r.is_ok(),
            "OSR exit"
        );
    }
    Some(r)
}

/// A loop the interpreter found hot.
#[derive(Clone, Copy)]
pub enum HotLoop {
    /// An inlined `to:do:` (and its variants).
    ToDo(&'static ToDoNode),
    /// An inlined `whileTrue:` / `whileFalse:`.
    While(&'static LoopNode),
}

impl HotLoop {
    /// Whether `n` is this loop's node.
    pub fn is(self, n: &Node) -> bool {
        match (self, n) {
            (HotLoop::ToDo(a), Node::ToDo(b)) => std::ptr::eq(a, &**b),
            (HotLoop::While(a), Node::Loop(b)) => std::ptr::eq(a, &**b),
            _ => false,
        }
    }
}

/// Compiles a hot loop; answers whether there is code for it now.
fn compile_loop(vm: &mut Vm, frame: &Frame, node: HotLoop, cell: &'static TierCell) -> bool {
    let tier = match (&vm.tier, vm.jit_mode) {
        (Some(t), JitMode::On | JitMode::Eager) => t.clone(),
        _ => {
            // Never again: the mode does not compile.
            cell.countdown.set(0);
            return false;
        }
    };
    if !cell.armed.replace(true) {
        cell.countdown.set(match vm.jit_mode {
            JitMode::Eager => EAGER_BACKEDGE_THRESHOLD,
            _ => BACKEDGE_THRESHOLD,
        });
        return false;
    }
    cell.countdown.set(0);
    if cell.recompiles.get() >= MAX_RECOMPILES {
        return false;
    }
    let m = frame.method;
    // The body running the loop: the method's (or block's) own, or its
    // enforced twin.
    let contains = |b: &AstBody| {
        let mut found = false;
        b.body.for_each_unit_node(&mut |n| found |= node.is(n));
        found
    };
    let body = match &m.kind {
        crate::method::MethodKind::Ast(b) if contains(b) => b,
        _ => match m.enforced.get() {
            Some(b) if contains(b) => b,
            _ => return false,
        },
    };
    cell.recompiles.set(cell.recompiles.get() + 1);
    let start = std::time::Instant::now();
    let compiled = tier.compile_loop(vm, m, body, node, cell);
    vm.compile_time += start.elapsed();
    match compiled {
        Some(c) => {
            register_unit(
                vm,
                c.depends_on,
                &c.folded_globals,
                c.relies_on_owners,
                c.unit,
            );
            cell.install(c.entry as usize, c.unit);
            true
        }
        None => false,
    }
}

impl Vm {
    /// Installs the compiled tier and chooses when it compiles.
    pub fn set_tier(&mut self, tier: Option<std::rc::Rc<dyn Tier>>, mode: JitMode) {
        self.tier = tier;
        self.jit_mode = if self.tier.is_some() {
            mode
        } else {
            JitMode::Off
        };
    }

    /// What the compiled tier has done, if there is one.
    pub fn tier_report(&self) -> Option<TierReport> {
        self.tier.as_ref().map(|t| t.report())
    }

    /// The block of VM state compiled code reads and writes.
    pub fn tier_vm(&mut self) -> *mut TierVm {
        &mut self.tier_state
    }

    /// The method `selector` names for instances of `class` (a full lookup
    /// through the superclass chain, no cache touched): what compiled code
    /// that folds a reflective operation on a known class runs. None when
    /// the class does not understand the selector. Code relying on the
    /// answer depends on the selector, as chains do.
    pub fn tier_lookup(
        &self,
        class: Value,
        selector: crate::symbols::SymbolId,
    ) -> Option<&'static MethodData> {
        self.lookup_uncached(class, selector)
    }

    /// Whether `m` is the core library's
    /// `Object>>performEnforced:withArguments:inSuperclass:` primitive, the
    /// standard execution handler's way to run the method it intercepted.
    pub fn tier_is_perform_enforced(&self, m: &MethodData) -> bool {
        m.is_primitive()
            && m.holder.get() == self.classes.object
            && self.symbols.text(m.signature) == "performEnforced:withArguments:inSuperclass:"
    }

    /// Whether `m` is the core library's `invokeOn:with:` primitive of
    /// Method or Primitive (how a domain's primitive handler proceeds).
    pub fn tier_is_invoke_on_with(&self, m: &MethodData) -> bool {
        let holder = m.holder.get();
        m.is_primitive()
            && (holder == self.classes.primitive || holder == self.classes.method)
            && self.symbols.text(m.signature) == "invokeOn:with:"
    }

    /// For the core library's `Array>>at:` (false) and `Array>>at:put:`
    /// (true) primitives, which one `m` is.
    pub fn tier_array_access(&self, m: &MethodData) -> Option<bool> {
        if !m.is_primitive() || m.holder.get() != self.classes.array {
            return None;
        }
        match self.symbols.text(m.signature) {
            "at:" => Some(false),
            "at:put:" => Some(true),
            _ => None,
        }
    }

    /// Whether `m` is the core library's `Class>>new` primitive.
    pub fn tier_is_class_new(&self, m: &MethodData) -> bool {
        m.is_primitive()
            && m.holder.get() == self.classes.class
            && self.symbols.text(m.signature) == "new"
    }

    /// Whether `m` is the core library's `Array class>>new:` primitive.
    pub fn tier_is_array_new(&self, m: &MethodData) -> bool {
        m.is_primitive()
            && m.holder.get() == self.class_of(self.classes.array)
            && self.symbols.text(m.signature) == "new:"
    }

    /// How `Class>>new` makes an instance of `class` in the standard domain:
    /// its shape, its number of fields and its header's meta word. None for
    /// classes `new` does not instantiate (metaclasses, Class, Metaclass)
    /// and classes without an instance shape yet. The field count changes
    /// only when the class is redefined, which invalidates code depending
    /// on `new`.
    pub fn tier_instance_layout(
        &self,
        class: Value,
    ) -> Option<(*const crate::object::Shape, usize, u64)> {
        if !self.is_class(class) {
            return None;
        }
        let data = self.class_data(class);
        if data.is_metaclass || class == self.classes.class || class == self.classes.metaclass {
            return None;
        }
        let shape = data.shape.get();
        let n = data.instance_fields.borrow().len();
        // Not for a class whose usual instances are not plain (Array...).
        if !crate::object::shape_ref(shape)
            .is_some_and(|s| s.has_layout(crate::object::Kind::Object, n))
        {
            return None;
        }
        let meta = crate::object::Header::meta_word(crate::object::Kind::Object, n);
        Some((shape, n, meta))
    }

    /// The class whose class object has shape `shape` (its metaclass's
    /// shape in the standard domain), if a global names it: what a shape
    /// guard on a `new` send's receiver fixes.
    pub fn tier_class_with_shape(&self, shape: *const crate::object::Shape) -> Option<Value> {
        self.globals.values().map(|c| c.value.get()).find(|v| {
            v.is_ptr() && self.is_class(*v) && std::ptr::eq(crate::object::header(*v).shape, shape)
        })
    }

    /// The heap's bump regions for plain objects of 0 to `max_fields`
    /// fields, by object size (sizes without a region of their own are
    /// left out): compiled code allocates small objects inline from them.
    pub fn tier_object_bumps(&mut self, max_fields: usize) -> Vec<(usize, BumpRefs)> {
        (0..=max_fields)
            .filter_map(|n| {
                let size = crate::object::object_size(crate::object::Kind::Object, n);
                self.heap.bump_refs(size).map(|b| (size, b))
            })
            .collect()
    }

    /// For the core library's `String>>length` (false) and `String>>charAt:`
    /// (true) primitives, which one `m` is.
    pub fn tier_text_access(&self, m: &MethodData) -> Option<bool> {
        if !m.is_primitive() || m.holder.get() != self.classes.string {
            return None;
        }
        match self.symbols.text(m.signature) {
            "length" => Some(false),
            "charAt:" => Some(true),
            _ => None,
        }
    }

    /// The address of the table of one-character ASCII Strings `charAt:`
    /// answers (128 words; an entry is 0 until first made, then immortal).
    pub fn tier_char_strings(&self) -> *const Value {
        self.char_strings.as_ptr()
    }

    /// The selector of an OMOP handler, which code that folded a domain
    /// chain's entry depends on.
    pub fn tier_handler_selector(&mut self, h: crate::omop::Handler) -> crate::symbols::SymbolId {
        self.handler_selector(h)
    }

    /// The constants compiled code compares with (and the heap's bump
    /// state, which is why it takes the VM mutably).
    pub fn tier_constants(&mut self) -> TierConstants {
        TierConstants {
            nil: self.nil,
            true_: self.true_,
            false_: self.false_,
            int_shape: self.int_shape,
            int_header: &*self.int_header,
            array_shape: self.array_shape,
            array_class: self.classes.array,
            metaclass: self.classes.metaclass,
            block_intact: self.block_intact,
            double_shape: self.double_shape,
            double_intact: self.double_intact,
            double_bump: self
                .heap
                .bump_refs(crate::object::object_size(crate::object::Kind::Double, 1)),
            double_meta: crate::object::Header::meta_word(crate::object::Kind::Double, 1),
            integer_intact: self.integer_intact,
            array_intact: self.array_intact,
            boolean_intact: self.boolean_intact,
        }
    }
}

/// VM constants a compilation embeds.
#[derive(Clone, Copy)]
pub struct TierConstants {
    /// nil.
    pub nil: Value,
    /// true.
    pub true_: Value,
    /// false.
    pub false_: Value,
    /// The shape of small integers.
    pub int_shape: *const crate::object::Shape,
    /// A header with `int_shape`, at an address fixed for the VM's life
    /// (the shape of a small integer, read as an object's is).
    pub int_header: *const crate::object::Header,
    /// The shape of plain Arrays.
    pub array_shape: *const crate::object::Shape,
    /// The class Array.
    pub array_class: Value,
    /// The class Metaclass.
    pub metaclass: Value,
    /// Block evaluation (`value`...) is the core library's.
    pub block_intact: bool,
    /// The shape of Doubles.
    pub double_shape: *const crate::object::Shape,
    /// Double's arithmetic and comparisons are the core library's.
    pub double_intact: bool,
    /// Where a Double is allocated inline.
    pub double_bump: Option<crate::heap::BumpRefs>,
    /// The meta word of a new Double.
    pub double_meta: u64,
    /// Integer's arithmetic is the core library's.
    pub integer_intact: bool,
    /// Array's `at:`/`at:put:` are the core library's.
    pub array_intact: bool,
    /// Boolean's `&&` and `||` are the core library's.
    pub boolean_intact: bool,
}

// ----- entry points -----------------------------------------------------------

/// The `extern "C"` functions compiled code calls. Each takes the VM first;
/// none unwinds (a Rust panic inside would abort at the boundary, so they
/// call only code that reports failures as [`Unwind`]s).
pub mod entry {
    use super::*;

    /// A send node the entry points run with evaluated values: the
    /// ordinary, super and enforced sends.
    pub trait SendsValues {
        /// The send with receiver and arguments `values`.
        fn send_values(&self, vm: &mut Vm, values: &[Value]) -> VmResult;
    }

    /// A send node whose target compiled code may choose itself.
    pub trait InvokesValues {
        /// Target `m` of the node run with receiver and arguments `values`.
        fn invoke_values(&self, vm: &mut Vm, m: &'static MethodData, values: &[Value]) -> VmResult;
    }

    impl SendsValues for SendNode {
        fn send_values(&self, vm: &mut Vm, values: &[Value]) -> VmResult {
            SendNode::send_values(self, vm, values)
        }
    }

    impl SendsValues for SuperSendNode {
        fn send_values(&self, vm: &mut Vm, values: &[Value]) -> VmResult {
            SuperSendNode::send_values(self, vm, values)
        }
    }

    impl SendsValues for EnforcedSendNode {
        fn send_values(&self, vm: &mut Vm, values: &[Value]) -> VmResult {
            EnforcedSendNode::send_values(self, vm, values)
        }
    }

    impl InvokesValues for SendNode {
        fn invoke_values(&self, vm: &mut Vm, m: &'static MethodData, values: &[Value]) -> VmResult {
            SendNode::invoke_values(self, vm, m, values)
        }
    }

    impl InvokesValues for EnforcedSendNode {
        fn invoke_values(&self, vm: &mut Vm, m: &'static MethodData, values: &[Value]) -> VmResult {
            EnforcedSendNode::invoke_values(self, vm, m, values)
        }
    }

    /// The body of the send entry points.
    ///
    /// # Safety
    /// `vm` is the running VM, `node` a node of the compiled body and `argv`
    /// points to `argc + 1` values.
    unsafe fn send_with<N: SendsValues>(
        vm: *mut Vm,
        node: *const N,
        argv: *const Value,
        argc: usize,
    ) -> TierRet {
        // SAFETY: per the contract above.
        let (vm, node, values) =
            unsafe { (&mut *vm, &*node, std::slice::from_raw_parts(argv, argc + 1)) };
        TierRet::from_result(node.send_values(vm, values))
    }

    /// The body of the invoke entry points.
    ///
    /// # Safety
    /// As for [`send_with`]; `method` is a leaked method, a target of the
    /// node's chain.
    unsafe fn invoke_with<N: InvokesValues>(
        vm: *mut Vm,
        node: *const N,
        method: *const MethodData,
        argv: *const Value,
        argc: usize,
    ) -> TierRet {
        // SAFETY: per the contract above.
        let (vm, node, m, values) = unsafe { invocation(vm, node, method, argv, argc) };
        TierRet::from_result(node.invoke_values(vm, m, values))
    }

    /// The VM, node, method and values (receiver, then `argc` arguments)
    /// an invocation entry point is given.
    ///
    /// # Safety
    /// As for [`invoke_with`].
    unsafe fn invocation<'a, N: 'a>(
        vm: *mut Vm,
        node: *const N,
        method: *const MethodData,
        argv: *const Value,
        argc: usize,
    ) -> (&'a mut Vm, &'a N, &'static MethodData, &'a [Value]) {
        // SAFETY: per the contract above.
        unsafe {
            (
                &mut *vm,
                &*node,
                &*method,
                std::slice::from_raw_parts(argv, argc + 1),
            )
        }
    }

    /// Packs a source position for an entry point argument.
    pub const fn pack_pos(pos: (u32, u32)) -> u64 {
        ((pos.0 as u64) << 32) | pos.1 as u64
    }

    fn unpack_pos(p: u64) -> (u32, u32) {
        ((p >> 32) as u32, p as u32)
    }

    /// Makes an inlined activation's materialized frame the innermost one for
    /// the duration of a call, so backtraces and `printStackTrace` see it.
    struct Linked {
        saved: *const Frame,
    }

    fn link(vm: &mut Vm, frame: *mut Frame) -> Linked {
        let saved = vm.tier_state.frame;
        if !std::ptr::eq(frame, saved) {
            // SAFETY: compiled code passes a frame it built in its own stack
            // frame (or the activation's), live for the whole call.
            unsafe {
                if (*frame).parent.is_null() {
                    (*frame).parent = saved;
                }
            }
            vm.tier_state.frame = frame;
        }
        Linked { saved }
    }

    fn unlink(vm: &mut Vm, l: Linked) {
        vm.tier_state.frame = l.saved;
    }

    /// A send compiled code did not inline: receiver and arguments at
    /// `argv[0..=argc]`, dispatched through the site's own chains exactly as
    /// the interpreter's send node would.
    ///
    /// # Safety
    /// `vm` is the running VM, `node` a send node of the compiled body and
    /// `argv` points to `argc + 1` values.
    pub unsafe extern "C" fn rt_send(
        vm: *mut Vm,
        node: *const SendNode,
        argv: *const Value,
        argc: usize,
    ) -> TierRet {
        // SAFETY: per the contract above.
        unsafe { send_with(vm, node, argv, argc) }
    }

    /// A send whose target the compiled code chose by a guard on the
    /// receiver's shape (a method of the site's chain it does not inline):
    /// `method` invoked with the evaluated receiver and arguments, without
    /// a lookup.
    ///
    /// # Safety
    /// As for [`rt_send`]; `method` is a target in `node`'s chain, and the
    /// calling unit is valid (no method of the selector changed since).
    pub unsafe extern "C" fn rt_invoke(
        vm: *mut Vm,
        node: *const SendNode,
        method: *const MethodData,
        argv: *const Value,
        argc: usize,
    ) -> TierRet {
        // SAFETY: per the contract above.
        unsafe { invoke_with(vm, node, method, argv, argc) }
    }

    /// A super send with its receiver and arguments evaluated.
    ///
    /// # Safety
    /// `vm` is the running VM, `node` a super send node of the compiled body
    /// and `argv` points to `argc + 1` values.
    pub unsafe extern "C" fn rt_super_send(
        vm: *mut Vm,
        node: *const SuperSendNode,
        argv: *const Value,
        argc: usize,
    ) -> TierRet {
        // SAFETY: per the contract above.
        unsafe { send_with(vm, node, argv, argc) }
    }

    /// An enforced send (OMOP) with its receiver and arguments evaluated:
    /// the owner's domain chain, then the class chain, as the interpreter
    /// runs them.
    ///
    /// # Safety
    /// `vm` is the running VM, `node` an enforced send node of the compiled
    /// body and `argv` points to `argc + 1` values.
    pub unsafe extern "C" fn rt_enforced_send(
        vm: *mut Vm,
        node: *const EnforcedSendNode,
        argv: *const Value,
        argc: usize,
    ) -> TierRet {
        // SAFETY: per the contract above.
        unsafe { send_with(vm, node, argv, argc) }
    }

    /// [`rt_invoke`] for an enforced send: `method`, the site's target for
    /// the receiver (whose owner handles sends in the standard way), run as
    /// the standard operation runs it.
    ///
    /// # Safety
    /// As for [`rt_enforced_send`]; `method` is a target in `node`'s class
    /// chain and the calling unit is valid.
    pub unsafe extern "C" fn rt_enforced_invoke(
        vm: *mut Vm,
        node: *const EnforcedSendNode,
        method: *const MethodData,
        argv: *const Value,
        argc: usize,
    ) -> TierRet {
        // SAFETY: per the contract above.
        unsafe { invoke_with(vm, node, method, argv, argc) }
    }

    /// [`rt_enforced_invoke`] of a primitive whose receiver's owner, known
    /// to the compiled code from the receiver's guarded shape, does not
    /// reify primitives: the primitive runs at once
    /// ([`EnforcedSendNode::invoke_primitive_values`]).
    ///
    /// # Safety
    /// As for [`rt_enforced_invoke`].
    pub unsafe extern "C" fn rt_enforced_primitive(
        vm: *mut Vm,
        node: *const EnforcedSendNode,
        method: *const MethodData,
        argv: *const Value,
        argc: usize,
    ) -> TierRet {
        // SAFETY: per the contract above.
        let (vm, node, m, values) = unsafe { invocation(vm, node, method, argv, argc) };
        TierRet::from_result(node.invoke_primitive_values(vm, m, values))
    }

    /// An enforced field read (`write` 0) or write of `value` on
    /// `receiver`, dispatched on its owner's domain chain.
    ///
    /// # Safety
    /// `vm` is the running VM, `node` an enforced field node of the compiled
    /// body.
    pub unsafe extern "C" fn rt_enforced_field(
        vm: *mut Vm,
        node: *const EnforcedFieldNode,
        receiver: Value,
        write: u64,
        value: Value,
    ) -> TierRet {
        // SAFETY: per the contract above.
        let (vm, node) = unsafe { (&mut *vm, &*node) };
        let r = if write != 0 {
            node.write_of(vm, receiver, value)
        } else {
            node.read_of(vm, receiver)
        };
        TierRet::from_result(r)
    }

    /// The generic path of a send whose last argument is `Array with: x`
    /// that compiled code did not send (it kept the Array virtual): `argv`
    /// holds the receiver, the other `argc - 1` arguments, then the
    /// receiver and argument of `inner`, which is sent first; its result is
    /// the last argument. One call, so the compiled code keeps nothing live
    /// across the inner send.
    ///
    /// # Safety
    /// As for [`rt_send`], with `argv` holding `argc + 2` values; `inner` is
    /// a send node of the compiled body.
    pub unsafe extern "C" fn rt_send_pending(
        vm: *mut Vm,
        node: *const SendNode,
        inner: *const SendNode,
        argv: *const Value,
        argc: usize,
    ) -> TierRet {
        // SAFETY: per the contract above.
        let (vm, node, inner, values) = unsafe {
            (
                &mut *vm,
                &*node,
                &*inner,
                std::slice::from_raw_parts(argv, argc + 2),
            )
        };
        let array = match inner.send_values(vm, &values[argc..]) {
            Ok(a) => a,
            Err(e) => return TierRet::from_result(Err(e)),
        };
        let mut outer = values[..argc].to_vec();
        outer.push(array);
        TierRet::from_result(node.send_values(vm, &outer))
    }

    /// [`rt_send`] for the generic path of a site whose chain (or special
    /// case) `unit` compiled inline: a guard failed. Counts it, and once
    /// the unit has failed [`GUARD_MISS_LIMIT`] times, marks the site
    /// unstable and invalidates the unit.
    ///
    /// # Safety
    /// As for [`rt_send`]; `unit` is the calling code's unit.
    pub unsafe extern "C" fn rt_send_miss(
        vm: *mut Vm,
        node: *const SendNode,
        argv: *const Value,
        argc: usize,
        unit: *const UnitState,
    ) -> TierRet {
        // SAFETY: per the contract above.
        unsafe {
            count_miss(vm, node, argv, unit);
            rt_send(vm, node, argv, argc)
        }
    }

    /// [`rt_enforced_send`] after the guards of an enforced site's compiled
    /// targets failed: counted as [`rt_send_miss`] counts plain misses.
    ///
    /// # Safety
    /// As for [`rt_enforced_send`]; `unit` is the calling unit.
    pub unsafe extern "C" fn rt_enforced_send_miss(
        vm: *mut Vm,
        node: *const EnforcedSendNode,
        argv: *const Value,
        argc: usize,
        unit: *const UnitState,
    ) -> TierRet {
        // SAFETY: per the contract above.
        unsafe {
            count_miss(vm, node, argv, unit);
            rt_enforced_send(vm, node, argv, argc)
        }
    }

    /// A send site whose compiled guards can fail.
    trait GuardedSite {
        fn missed(&self) -> MissedSite<'_>;
    }

    impl GuardedSite for SendNode {
        fn missed(&self) -> MissedSite<'_> {
            MissedSite {
                chain: &self.chain,
                unstable: &self.unstable,
                selector: self.selector,
                site: self.site,
                pos: self.pos,
            }
        }
    }

    impl GuardedSite for EnforcedSendNode {
        fn missed(&self) -> MissedSite<'_> {
            MissedSite {
                chain: &self.chain,
                unstable: &self.unstable,
                selector: self.selector,
                site: self.site,
                pos: self.pos,
            }
        }
    }

    /// Counts a failure of `node`'s guards in `unit` (the receiver is
    /// `argv[0]`).
    ///
    /// # Safety
    /// `vm` is the running VM, `node` a send node of `unit`'s body, `argv`
    /// points to at least the receiver and `unit` is a leaked unit.
    unsafe fn count_miss<N: GuardedSite>(
        vm: *mut Vm,
        node: *const N,
        argv: *const Value,
        unit: *const UnitState,
    ) {
        // SAFETY: per the contract above; units are leaked.
        let (vm, nd, u, rcvr) = unsafe { (&mut *vm, &*node, &*unit, *argv) };
        guard_failed(vm, nd.missed(), u, rcvr);
    }

    /// What a guard failure reports and marks: the site's class chain (what
    /// the guards expected), its `unstable` flag, selector and position.
    struct MissedSite<'a> {
        chain: &'a crate::dispatch::DispatchChain,
        unstable: &'a std::cell::Cell<bool>,
        selector: crate::symbols::SymbolId,
        site: &'static crate::trace::Site,
        pos: (u32, u32),
    }

    #[cold]
    fn guard_failed(vm: &mut Vm, node: MissedSite<'_>, u: &'static UnitState, rcvr: Value) {
        if u.valid.get() == 0 {
            // Invalidated code still running takes its generic paths: no
            // guard failed.
            return;
        }
        // A receiver the site's chain already knows failed a guard: the
        // code is older than what the chain learned since, and recompiling
        // fixes it (a receiver the chain does not know yet may be a one-off).
        let known = {
            let shape = vm.shape_of(rcvr);
            node.chain
                .entries()
                .iter()
                .any(|e| std::ptr::eq(e.shape, shape))
        };
        let n = u.misses.get() + if known { KNOWN_MISS_WEIGHT } else { 1 };
        u.misses.set(n);
        if jit_enabled() {
            let expected: Vec<String> = node
                .chain
                .entries()
                .iter()
                // SAFETY: shapes are interned and never freed.
                .map(|e| vm.class_name(unsafe { (*e.shape).class }).to_string())
                .collect();
            tracing::trace!(
                target: "metasom::jit",
                unit = u.method.source.site,
                site = %node.site.at(node.pos),
                selector = vm.symbols.text(node.selector),
                expected = %expected.join(","),
                seen = %vm.class_name_of(rcvr),
                misses = n,
                "guard failed"
            );
        }
        if n >= GUARD_MISS_LIMIT && u.valid.get() != 0 {
            node.unstable.set(true);
            let current = u.cell.unit().is_some_and(|c| std::ptr::eq(c, u));
            if current {
                invalidate_unit(vm, u.cell, "guard failures");
            } else {
                u.valid.set(0);
            }
        }
    }

    /// Evaluates `node` of the compiled body in the interpreter, in `frame`.
    ///
    /// # Safety
    /// `frame` is the activation's frame or one materialized by compiled
    /// code, with its slots written back; `node` belongs to that frame's body.
    pub unsafe extern "C" fn rt_eval_node(
        vm: *mut Vm,
        frame: *mut Frame,
        node: *const Node,
    ) -> TierRet {
        // SAFETY: per the contract above.
        let (vm, node) = unsafe { (&mut *vm, &*node) };
        let l = link(vm, frame);
        // SAFETY: as above.
        let r = node.eval(vm, unsafe { &*frame });
        unlink(vm, l);
        TierRet::from_result(r)
    }

    /// The real send of an inlined conditional whose receiver `cond` is not
    /// a Boolean.
    ///
    /// # Safety
    /// As for [`rt_eval_node`]; `fallback` belongs to the frame's body.
    pub unsafe extern "C" fn rt_fallback(
        vm: *mut Vm,
        frame: *mut Frame,
        fallback: *const Fallback,
        cond: Value,
    ) -> TierRet {
        // SAFETY: per the contract above.
        let (vm, fb) = unsafe { (&mut *vm, &*fallback) };
        let l = link(vm, frame);
        // SAFETY: as above.
        let r = fb.send(vm, unsafe { &*frame }, cond, &[]);
        unlink(vm, l);
        TierRet::from_result(r)
    }

    /// An inlined `whileTrue:` whose condition answered `c`, not a Boolean.
    ///
    /// # Safety
    /// `node` is a loop node of a compiled body.
    pub unsafe extern "C" fn rt_loop_not_boolean(
        vm: *mut Vm,
        node: *const LoopNode,
        c: Value,
    ) -> TierRet {
        // SAFETY: per the contract above.
        let (vm, node) = unsafe { (&mut *vm, &*node) };
        TierRet::from_result(node.not_boolean_at(vm, c))
    }

    /// Runs an inlined counting loop the compiled fast path does not cover
    /// (limits near the end of the small range, big or Double operands, a
    /// step that is not positive), with operands already evaluated.
    ///
    /// # Safety
    /// As for [`rt_eval_node`]; `node` belongs to the frame's body.
    pub unsafe extern "C" fn rt_to_do(
        vm: *mut Vm,
        frame: *mut Frame,
        node: *const ToDoNode,
        from: Value,
        to: Value,
        step: Value,
    ) -> TierRet {
        // SAFETY: per the contract above.
        let (vm, node) = unsafe { (&mut *vm, &*node) };
        let l = link(vm, frame);
        // SAFETY: as above.
        let r = node.run(vm, unsafe { &*frame }, from, to, step);
        unlink(vm, l);
        TierRet::from_result(r)
    }

    /// A field access whose receiver has no such plain field (a class-side
    /// field, or an error): `value` is ZERO for a read.
    ///
    /// # Safety
    /// `vm` is the running VM.
    pub unsafe extern "C" fn rt_field(
        vm: *mut Vm,
        rcvr: Value,
        index: usize,
        pos: u64,
        value: Value,
    ) -> TierRet {
        // SAFETY: per the contract above.
        let vm = unsafe { &mut *vm };
        let i = crate::nodes::FieldIndex(index);
        let r = if value == Value::ZERO {
            i.read(vm, rcvr)
        } else {
            i.write(vm, rcvr, value).map(|()| value)
        };
        let r = match r {
            Ok(v) => Ok(v),
            Err(e) => crate::interpreter::failed_at(unpack_pos(pos), e, vm),
        };
        TierRet::from_result(r)
    }

    /// A new Array of the `n` values at `argv` (an Array compiled code kept
    /// out of the heap, escaping).
    ///
    /// # Safety
    /// `argv` points to `n` values.
    pub unsafe extern "C" fn rt_new_array(vm: *mut Vm, argv: *const Value, n: usize) -> Value {
        // SAFETY: per the contract above.
        let (vm, values) = unsafe { (&mut *vm, std::slice::from_raw_parts(argv, n)) };
        vm.new_array_from(values)
    }

    /// A new Double (compiled code's allocation when the inline bump fails).
    ///
    /// # Safety
    /// `vm` is the running VM.
    pub unsafe extern "C" fn rt_new_double(vm: *mut Vm, bits: u64) -> Value {
        // SAFETY: per the contract above.
        unsafe { &mut *vm }.new_double(f64::from_bits(bits))
    }

    /// A fresh copy of a literal array.
    ///
    /// # Safety
    /// `template` is a literal array template of a compiled body.
    pub unsafe extern "C" fn rt_literal_array(vm: *mut Vm, template: Value) -> Value {
        // SAFETY: per the contract above.
        unsafe { &mut *vm }.copy_literal_array(template)
    }

    /// `^value` in a loop compiled for on-stack replacement: the method
    /// returns `value`, as the interpreter's `^` (an unwind to the method's
    /// activation).
    ///
    /// # Safety
    /// `vm` is the running VM.
    pub unsafe extern "C" fn rt_return(vm: *mut Vm, value: Value) -> TierRet {
        // SAFETY: per the contract above.
        let vm = unsafe { &mut *vm };
        vm.unwind_value = value;
        TierRet::from_result(Err(Unwind::RETURN))
    }

    /// An unwind leaving a method activation that compiled code made itself
    /// (a direct call of the callee's compiled body, its `frame` in the
    /// caller's stack frame), handled as the interpreter's activation would
    /// ([`crate::interpreter::unwind_through`]: `restart` re-runs the body,
    /// an error gets the callee's backtrace line), then as the send at
    /// `pos` would. Status 0: the call answers the value.
    ///
    /// # Safety
    /// `vm` is the running VM; `frame` the callee's frame, built by compiled
    /// code for an AST method whose slots it holds, live for the call.
    pub unsafe extern "C" fn rt_call_unwound(
        vm: *mut Vm,
        frame: *const Frame,
        status: u64,
        pos: u64,
    ) -> TierRet {
        // SAFETY: per the contract above.
        let (vm, frame) = unsafe { (&mut *vm, &*frame) };
        let crate::method::MethodKind::Ast(plain) = &frame.method.kind else {
            unreachable!("compiled code calls only AST bodies directly")
        };
        // Enforced code calls a method's enforced twin (and runs it in
        // enforced execution, the flag it keeps during the call).
        let body: &'static AstBody = match frame.method.enforced.get() {
            Some(twin) if vm.tier_state.enforced => twin,
            _ => plain,
        };
        let r = if status == STATUS_NO_BUDGET {
            // The callee's code declined to run: interpret its activation.
            let saved = vm.tier_state.frame;
            vm.tier_state.frame = frame;
            let r = crate::interpreter::eval_body(&body.body, vm, frame);
            vm.tier_state.frame = saved;
            r
        } else {
            Err(Unwind::from_code(status))
        };
        let r = match r {
            Ok(v) => Ok(v),
            Err(e) => crate::interpreter::unwind_through(vm, frame, body, None, e),
        };
        TierRet::from_result(crate::interpreter::sent(unpack_pos(pos), r, vm))
    }

    /// `restart` of an activation compiled code inlined, found invalid (a
    /// method changed since it was compiled): the activation's body runs
    /// again in the interpreter, in its materialized `frame` with fresh
    /// locals, as the interpreter's activation would re-run it, and its
    /// unwinds are handled as for [`rt_unwind_inlined`] at `pos`. Status 0:
    /// the activation answers the value.
    ///
    /// # Safety
    /// As for [`rt_eval_node`]; `frame` is the inlined activation's frame.
    pub unsafe extern "C" fn rt_restart_inlined(
        vm: *mut Vm,
        frame: *mut Frame,
        pos: u64,
    ) -> TierRet {
        // SAFETY: per the contract above.
        let vm = unsafe { &mut *vm };
        let l = link(vm, frame);
        // SAFETY: as above.
        let f = unsafe { &*frame };
        // The body that was running: the enforced twin runs only in enforced
        // execution, the plain body only outside it (see `run_body`).
        let body = match (&f.method.kind, vm.tier_state.enforced) {
            (_, true) => f.method.enforced.get(),
            (crate::method::MethodKind::Ast(b), false) => Some(b),
            _ => None,
        };
        let r = match body {
            None => Err(Unwind::error("restart of a body that is gone")),
            Some(body) => loop {
                let nil = vm.nil;
                for i in f.method.num_args..body.num_slots {
                    f.set_slot(i, nil);
                }
                match crate::interpreter::eval_body(&body.body, vm, f) {
                    Ok(v) => break Ok(v),
                    Err(Unwind::RESTART) => continue,
                    Err(e) => match crate::interpreter::unwind_inlined(vm, f, e) {
                        Err(Unwind::RESTART) => continue,
                        r => break r,
                    },
                }
            },
        };
        unlink(vm, l);
        TierRet::from_result(crate::interpreter::sent(unpack_pos(pos), r, vm))
    }

    /// In `--jit=eager` mode, before compiled code calls the body of `cell`
    /// directly: 1 while that body's code is current (compiled from the
    /// chains as they are), 0 when the call must go through the runtime,
    /// which recompiles it first (the contract of eager mode).
    ///
    /// # Safety
    /// `cell` is a body's tier cell (leaked, immortal).
    pub unsafe extern "C" fn rt_eager_current(cell: *const TierCell) -> u64 {
        // SAFETY: per the contract above.
        let cell = unsafe { &*cell };
        cell.unit().is_none_or(super::unit_current) as u64
    }

    /// Compiled code wrote `cell` (an inlined `global:put:`) whose value
    /// other compiled code folded: that code goes.
    ///
    /// # Safety
    /// `vm` is the running VM and `cell` a global cell (leaked, immortal).
    pub unsafe extern "C" fn rt_global_written(vm: *mut Vm, cell: *const crate::nodes::GlobalCell) {
        // SAFETY: per the contract above.
        let (vm, cell) = unsafe { (&mut *vm, &*cell) };
        // The code wrote a new value; the old one is what was folded.
        if cell.folded.get() {
            vm.global_changed(cell);
        }
    }

    /// A unit's speculation missed (`reason`, one of the `MISS_*`
    /// constants): an entry check failed (the unit is specialized on the
    /// current domain it was compiled for, on its receiver's owner, or on
    /// its receiver having the fields its body reads, and the activation it
    /// was entered for has another; it then declines and the activation is
    /// interpreted), or a site it left to the interpreter because it had
    /// never run has run. The miss is counted as a guard failure of the
    /// unit, which is recompiled, without the specialization or with the
    /// site, after [`GUARD_MISS_LIMIT`].
    ///
    /// # Safety
    /// `vm` is the running VM and `unit` a unit of this tier.
    pub unsafe extern "C" fn rt_unit_miss(vm: *mut Vm, unit: *const UnitState, reason: u64) {
        // SAFETY: per the contract above; units are leaked, immortal.
        let (vm, u) = unsafe { (&mut *vm, &*unit) };
        if u.valid.get() == 0 {
            return;
        }
        let n = u.misses.get() + 1;
        u.misses.set(n);
        if jit_enabled() {
            tracing::trace!(
                target: "metasom::jit",
                unit = u.method.source.site,
                expected = match reason {
                    MISS_ENTRY_DOMAIN => "its entry domain",
                    MISS_ENTRY_OWNER => "its receiver's owner",
                    MISS_ENTRY_LAYOUT => "a receiver with the fields it reads",
                    _ => "a site that had not run",
                },
                seen = %match reason {
                    MISS_ENTRY_DOMAIN => vm.class_name_of(vm.current_domain_key()),
                    MISS_SITE_RAN => "it ran".to_string(),
                    _ => "another".to_string(),
                },
                misses = n,
                "guard failed"
            );
        }
        if n >= GUARD_MISS_LIMIT {
            let current = u.cell.unit().is_some_and(|c| std::ptr::eq(c, u));
            if current {
                invalidate_unit(vm, u.cell, "guard failures");
            } else {
                u.valid.set(0);
            }
        }
    }

    /// An unwind (`status`) left a call made in an inlined activation whose
    /// frame is `frame` (its method and receiver; no slots): handles it as the activation would
    /// have ([`crate::interpreter`]'s `unwind_through`), then, if it goes on,
    /// as the send at `pos` in the enclosing activation that was inlined
    /// would have. Status 0: the inlined activation answers the value.
    ///
    /// # Safety
    /// As for [`rt_eval_node`].
    pub unsafe extern "C" fn rt_unwind_inlined(
        vm: *mut Vm,
        frame: *mut Frame,
        status: u64,
        pos: u64,
    ) -> TierRet {
        // SAFETY: per the contract above.
        let vm = unsafe { &mut *vm };
        let l = link(vm, frame);
        // SAFETY: as above.
        let r =
            crate::interpreter::unwind_inlined(vm, unsafe { &*frame }, Unwind::from_code(status));
        unlink(vm, l);
        let r = crate::interpreter::sent(unpack_pos(pos), r, vm);
        TierRet::from_result(r)
    }
}
