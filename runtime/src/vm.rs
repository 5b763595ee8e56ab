//! The VM: heap, value stack, symbols, globals, core classes, and the generic
//! operations (allocation, lookup, sends) that nodes and primitives build on.
//!
//! Invariants:
//! - the VM is single-threaded and created on the thread that runs SOM code;
//!   that thread's native stack is scanned conservatively by the collector;
//! - the value stack never reallocates (it is reserved once, at
//!   [`VALUE_STACK_SLOTS`]), so frames may hold raw pointers into it;
//! - at most [`MAX_ACTIVATION_DEPTH`] SOM activations are live at once;
//!   `activations_left` counts down as they start and every activation gives
//!   its count back on every exit path;
//! - `stack[..sp]` holds only valid values and is scanned precisely.

use std::cell::Cell;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use indexmap::IndexMap;

use crate::class::ClassData;
use crate::dispatch::Target;
use crate::heap::{self, Heap};
use crate::hooks::Frontend;
use crate::interpreter::{invoke, invoke_block, Unwind};
use crate::method::MethodData;
use crate::nodes::GlobalCell;
use crate::object::{self, Header, Kind, Shape};
use crate::symbols::{SymbolId, SymbolTable};
use crate::value::Value;

/// Result of evaluating SOM code.
pub type VmResult = Result<Value, Unwind>;

/// Capacity of the value stack (arguments, locals, pending send operands).
/// Exceeding it is reported as a SOM "stack overflow" error. The stack is
/// allocated zeroed and untouched, so the OS commits only the pages that deep
/// recursion actually reaches: 16M slots are 128 MB of address space but
/// [`MAX_ACTIVATION_DEPTH`] activations of a typical method touch a few MB.
pub const VALUE_STACK_SLOTS: usize = 16 * 1024 * 1024;

/// Most SOM activations (method and block activations) live at once; one more
/// is reported as the SOM error "stack overflow". The depth is counted in SOM
/// activations, not native stack bytes, so every execution tier (this
/// interpreter, and a compiled tier counting the activations it inlines)
/// fails at the same depth and the limit does not move with frame sizes.
///
/// Why 100,000: real programs need far less (measured: SOM-st/SOM's
/// TestSuite at most 24 activations, the AWFY benchmarks at most 436, in
/// Havlak's recursive DFS), and SOM-st's implementations stop somewhere
/// between a few thousand (Truffle on a default JVM stack) and tens of
/// thousands of frames. 100,000 leaves room for naive recursion over long
/// lists while keeping the cost of reaching the limit small: 30-80 MB of
/// native and value stack and a few hundredths of a second, whatever the
/// route (`tests/stack_depth.rs`).
pub const MAX_ACTIVATION_DEPTH: usize = 100_000;

/// Longest String or Symbol, in bytes of UTF-8. Every String the VM makes is
/// created through [`Vm::new_string`] or [`Vm::new_string_concat`], which
/// report a longer one as an `ArgumentError` before allocating anything, so
/// a program that builds ever longer strings gets a catchable error instead
/// of exhausting memory (or overflowing the 32-bit length of the object
/// header). Why 2^28 (256 MiB): the same bound as
/// `primitives::array::MAX_ARRAY_LENGTH`, far beyond what SOM programs
/// build, and reaching it by doubling costs a test well under a second and
/// under 400 MB.
pub const MAX_STRING_LENGTH: usize = 1 << 28;

/// The error for a String or Symbol of `len` bytes, over [`MAX_STRING_LENGTH`].
#[cold]
#[inline(never)]
fn string_too_long(len: usize) -> Unwind {
    Unwind::error_as(
        crate::error::ErrorClass::ArgumentError,
        format!("a String of {len} bytes is longer than the limit of {MAX_STRING_LENGTH} bytes"),
    )
}

/// Bytes of native stack kept free below the current frame; an activation that
/// would go deeper reports "stack overflow" instead of faulting. A backstop for
/// Rust recursion that is not a SOM activation (primitives calling back into
/// SOM, deeply nested expressions), so that no program aborts the process.
pub const NATIVE_STACK_RESERVE: usize = 256 * 1024;

/// First state of the identity-hash sequence: any non-zero constant, fixed so
/// that every run of a program sees the same hashes.
const IDENTITY_HASH_SEED: u32 = 0x9E37_79B9;

/// Lines of SOM backtrace kept in an error (and printed by
/// `System>>printStackTrace`); the outer activations beyond them are counted
/// in a final `... N more` line.
pub const MAX_BACKTRACE_LINES: usize = 60;

/// The core classes the VM itself refers to.
#[derive(Clone, Copy)]
#[allow(missing_docs, reason = "one field per core class, named after it")]
pub struct CoreClasses {
    pub object: Value,
    pub class: Value,
    pub metaclass: Value,
    pub nil: Value,
    pub array: Value,
    pub method: Value,
    pub primitive: Value,
    pub string: Value,
    pub symbol: Value,
    pub integer: Value,
    pub double: Value,
    pub block: Value,
    pub block1: Value,
    pub block2: Value,
    pub block3: Value,
    pub boolean: Value,
    pub true_: Value,
    pub false_: Value,
    pub system: Value,
}

/// Selectors the VM sends by itself.
#[derive(Clone, Copy)]
#[allow(missing_docs, reason = "one field per selector, named after it")]
pub struct WellKnown {
    pub dnu: SymbolId,
    pub unknown_global: SymbolId,
    pub escaped_block: SymbolId,
    pub initialize: SymbolId,
    pub value: SymbolId,
    pub value_1: SymbolId,
    pub value_2: SymbolId,
    pub perform_with_arguments: SymbolId,
}

/// A multiplicative hasher for the VM's internal tables, whose keys are
/// pointers and small ids chosen by the VM itself (so no flooding concern):
/// much cheaper than the default SipHash on the generic send path.
#[derive(Default, Clone, Copy)]
pub struct FastHash;

/// The hasher state of [`FastHash`].
#[derive(Default)]
pub struct FastHasher(u64);

impl std::hash::BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(*b as u64);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }
}

/// A cache that holds the result of a method lookup, registered under the
/// looked-up selector so that a change to a method of that selector can
/// invalidate it. Both live in leaked AST nodes, so the pointers stay valid.
#[derive(Clone, Copy)]
pub enum Dependent {
    /// A send site's dispatch chain, with the class its lookups start in
    /// (ZERO for the receiver's class; a class for a `perform:inSuperclass:`
    /// entry, whose methods depend on that class, not on the receiver's) and
    /// the site (`Class>>#selector`, line:col) for traces.
    Chain(
        *const crate::dispatch::DispatchChain,
        Value,
        &'static crate::trace::Site,
        (u32, u32),
    ),
    /// A super send's cached target.
    Super(*const crate::nodes::SuperSendNode),
    /// A `respondsTo:` site's cached answers.
    Reflect(*const crate::nodes::ReflectCache),
    /// A domain-keyed chain, registered under its handler's selector.
    Domain(*const crate::nodes::DomainChain),
    /// An enforced super send's cached target.
    EnforcedSuper(*const crate::nodes::EnforcedSendNode),
    /// Compiled code that inlined a lookup of the selector.
    Code(&'static crate::tier::UnitState),
}

/// The virtual machine.
pub struct Vm {
    /// The object heap.
    pub heap: Heap,
    /// Interned symbols.
    pub symbols: SymbolTable,
    pub(crate) globals: IndexMap<SymbolId, &'static GlobalCell>,
    /// Compiled units that folded a global's value, by the global's name.
    pub(crate) global_dependents: HashMap<SymbolId, Vec<&'static crate::tier::UnitState>>,
    /// Compiled code relying on its receiver's owner staying the same
    /// (`Compiled::relies_on_owners`): invalidated by any owner change.
    pub(crate) owner_dependents: Vec<&'static crate::tier::UnitState>,
    /// Core classes (valid after bootstrap).
    pub classes: CoreClasses,
    /// Selectors the VM sends itself.
    pub well_known: WellKnown,
    /// The nil object.
    pub nil: Value,
    /// The true object.
    pub true_: Value,
    /// The false object.
    pub false_: Value,
    /// The `system` object.
    pub system: Value,
    stack: Box<[Value]>,
    sp: usize,
    /// How many more SOM activations may start ([`MAX_ACTIVATION_DEPTH`]
    /// minus the live ones) and the native stack limit: the state compiled
    /// code updates itself.
    pub(crate) tier_state: crate::tier::TierVm,
    /// The compiled tier, if installed.
    pub(crate) tier: Option<std::rc::Rc<dyn crate::tier::Tier>>,
    /// When bodies are compiled.
    pub jit_mode: crate::tier::JitMode,
    /// Invalidated units whose code may still run: freed once no word of
    /// the native stack points into it (`tier::free_retired`).
    pub(crate) retired_units: std::cell::RefCell<Vec<&'static crate::tier::UnitState>>,
    native_stack_base: usize,
    /// Directories searched for class files, in order.
    pub classpath: Vec<PathBuf>,
    /// Libraries searched after `classpath`, in order.
    pub embedded: Vec<&'static crate::universe::EmbeddedLibrary>,
    pub(crate) frontend: Option<std::rc::Rc<dyn Frontend>>,
    /// Buffered standard output.
    pub out: std::io::BufWriter<std::io::Stdout>,
    /// When the VM started (for `system ticks`).
    pub start: Instant,
    pub(crate) permanent_roots: Vec<Value>,
    /// Interned shapes by (class, domain, kind, fields).
    pub(crate) shapes: HashMap<(u64, u64, u8, u32), *const Shape>,
    pub(crate) int_shape: *const Shape,
    /// A header whose shape is [`Vm::int_shape`], at a fixed address:
    /// compiled code reads the shape of a value that may be a small integer
    /// from it (or from the object's own header) without a branch.
    pub(crate) int_header: Box<crate::object::Header>,
    lookup_cache: HashMap<(u64, SymbolId), Option<&'static MethodData>, FastHash>,
    dependents: HashMap<SymbolId, Vec<Dependent>>,
    /// Send sites that ever specialized (for `--dispatch-stats`).
    pub(crate) sites: Vec<crate::trace::Recorded>,
    arities: Vec<u8>,
    /// Methods of Object that lookup finds but `Class>>methods` does not list.
    pub(crate) hidden_methods: HashMap<SymbolId, &'static MethodData>,
    pub(crate) primitives: HashMap<(String, String), crate::method::PrimFn>,
    pub(crate) loading: Vec<SymbolId>,
    /// Seed of `Integer>>atRandom`.
    pub random_state: Cell<u64>,
    /// State of the identity-hash sequence (see [`Vm::identity_hash`]).
    identity_hash_state: u32,
    /// Whether Integer's methods are still those of the core library, which
    /// lets sends compute small-integer arithmetic in place.
    pub integer_intact: bool,
    /// Likewise for Double.
    pub double_intact: bool,
    /// Likewise for Array (`at:`, `at:put:`).
    pub array_intact: bool,
    /// Likewise for Block and its subclasses (`value`...).
    pub block_intact: bool,
    /// Likewise for Boolean, True and False (`&&`, `||`).
    pub boolean_intact: bool,
    /// Shape of plain Arrays in the standard domain.
    pub array_shape: *const Shape,
    /// Shape of Doubles.
    pub double_shape: *const Shape,
    /// Shape of heap contexts (class Object, kind Context).
    pub(crate) context_shape: *const Shape,
    pub(crate) char_strings: [Value; 128],
    /// Set once bootstrap has loaded the core library.
    pub bootstrapped: bool,
    /// Set while a new class's methods are installed (see
    /// `Vm::define_class`): no lookup can depend on them yet.
    pub(crate) defining_fresh: bool,
    /// The value carried by a `Return`, `NonLocal` or `Escaped` unwind.
    pub unwind_value: Value,
    /// The home context a `NonLocal` unwind is looking for.
    pub unwind_home: Value,
    /// The status of an `Exit` unwind.
    pub exit_code: i32,
    /// Time spent compiling methods (front end now, JIT later), for
    /// `system totalCompilationTime`.
    pub compile_time: std::time::Duration,
    /// Execution mode, current domain and handler bookkeeping of the OMOP.
    pub omop: crate::omop::OmopState,
    /// Active exception handlers (`on:do:`), innermost last.
    pub handlers: Vec<crate::primitives::HandlerRecord>,
    /// Target of the exception unwind in flight.
    pub exc: crate::primitives::ExceptionTransfer,
    /// `--verify-caches`: every cache hit is re-checked against a full
    /// lookup (see [`crate::verify`]).
    pub verify_caches: bool,
    /// Primitives that run other code and are never reified.
    pub(crate) transparent: std::collections::HashSet<(String, String)>,
}

impl Vm {
    /// Creates a VM with an empty heap. Must be called on the thread that will
    /// run SOM code; follow with [`Vm::bootstrap`].
    pub fn new(classpath: Vec<PathBuf>, frontend: std::rc::Rc<dyn Frontend>) -> Vm {
        let (low, high) = native_stack_bounds();
        let stack = zeroed_value_stack();
        let dummy = Value::ZERO;
        Vm {
            heap: Heap::new(),
            symbols: SymbolTable::default(),
            globals: IndexMap::new(),
            global_dependents: HashMap::new(),
            owner_dependents: Vec::new(),
            classes: CoreClasses {
                object: dummy,
                class: dummy,
                metaclass: dummy,
                nil: dummy,
                array: dummy,
                method: dummy,
                primitive: dummy,
                string: dummy,
                symbol: dummy,
                integer: dummy,
                double: dummy,
                block: dummy,
                block1: dummy,
                block2: dummy,
                block3: dummy,
                boolean: dummy,
                true_: dummy,
                false_: dummy,
                system: dummy,
            },
            well_known: WellKnown {
                dnu: SymbolId(0),
                unknown_global: SymbolId(0),
                escaped_block: SymbolId(0),
                initialize: SymbolId(0),
                value: SymbolId(0),
                value_1: SymbolId(0),
                value_2: SymbolId(0),
                perform_with_arguments: SymbolId(0),
            },
            nil: dummy,
            true_: dummy,
            false_: dummy,
            system: dummy,
            stack,
            sp: 0,
            tier_state: crate::tier::TierVm {
                activations_left: MAX_ACTIVATION_DEPTH,
                native_stack_limit: low + NATIVE_STACK_RESERVE,
                current: Value::ZERO,
                alloc: Value::ZERO,
                enforced: false,
                frame: std::ptr::null(),
            },
            tier: None,
            jit_mode: crate::tier::JitMode::Off,
            retired_units: Default::default(),
            native_stack_base: high,
            classpath,
            embedded: Vec::new(),
            frontend: Some(frontend),
            out: std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()),
            start: Instant::now(),
            permanent_roots: Vec::new(),
            shapes: HashMap::new(),
            int_shape: std::ptr::null(),
            int_header: Box::new(crate::object::Header {
                shape: std::ptr::null(),
                meta: 0,
            }),
            lookup_cache: HashMap::default(),
            dependents: HashMap::new(),
            hidden_methods: HashMap::new(),
            sites: Vec::new(),
            arities: Vec::new(),
            primitives: HashMap::new(),
            loading: Vec::new(),
            random_state: Cell::new(0x2545_F491_4F6C_DD1D),
            identity_hash_state: IDENTITY_HASH_SEED,
            compile_time: std::time::Duration::ZERO,
            integer_intact: false,
            double_intact: false,
            array_intact: false,
            block_intact: false,
            boolean_intact: false,
            array_shape: std::ptr::null(),
            double_shape: std::ptr::null(),
            context_shape: std::ptr::null(),
            char_strings: [Value::ZERO; 128],
            bootstrapped: false,
            defining_fresh: false,
            unwind_value: Value::ZERO,
            unwind_home: Value::ZERO,
            exit_code: 0,
            omop: Default::default(),
            handlers: Vec::new(),
            exc: Default::default(),
            transparent: Default::default(),
            verify_caches: false,
        }
    }

    // ----- value stack -------------------------------------------------------

    /// The stack pointer (index of the first free slot).
    #[inline(always)]
    pub fn sp(&self) -> usize {
        self.sp
    }

    /// Sets the stack pointer (callers only ever lower it to a saved value or
    /// raise it after `reserve_stack`).
    #[inline(always)]
    pub fn set_sp(&mut self, sp: usize) {
        debug_assert!(sp <= VALUE_STACK_SLOTS);
        self.sp = sp;
    }

    /// Pushes a value.
    #[inline(always)]
    pub fn push(&mut self, v: Value) -> Result<(), Unwind> {
        if self.sp >= VALUE_STACK_SLOTS {
            return Err(stack_overflow());
        }
        // SAFETY: `sp < VALUE_STACK_SLOTS`, the length of `stack`.
        unsafe { *self.stack.get_unchecked_mut(self.sp) = v };
        self.sp += 1;
        Ok(())
    }

    /// Checks that the stack can grow to `new_sp`.
    #[inline(always)]
    pub fn reserve_stack(&mut self, new_sp: usize) -> Result<(), Unwind> {
        if new_sp > VALUE_STACK_SLOTS {
            Err(stack_overflow())
        } else {
            Ok(())
        }
    }

    /// Reads stack slot `i`.
    #[inline(always)]
    pub fn stack_at(&self, i: usize) -> Value {
        debug_assert!(i < VALUE_STACK_SLOTS);
        // SAFETY: callers only read slots of live frames, below
        // `VALUE_STACK_SLOTS` (checked by `push` and `reserve_stack`).
        unsafe { *self.stack.get_unchecked(i) }
    }

    /// Writes stack slot `i`.
    #[inline(always)]
    pub fn set_stack_at(&mut self, i: usize, v: Value) {
        self.stack[i] = v;
    }

    /// Stack slots `from..to`.
    #[inline(always)]
    pub fn stack_slice_mut(&mut self, from: usize, to: usize) -> &mut [Value] {
        debug_assert!(from <= to && to <= VALUE_STACK_SLOTS);
        // SAFETY: callers pass a range checked by `reserve_stack`.
        unsafe { self.stack.get_unchecked_mut(from..to) }
    }

    /// Raw pointer to stack slot `i`; stable because the stack never moves.
    #[inline(always)]
    pub fn stack_ptr(&mut self, i: usize) -> *mut Value {
        debug_assert!(i <= VALUE_STACK_SLOTS);
        // SAFETY: in bounds (or one past the end for an empty frame).
        unsafe { self.stack.as_mut_ptr().add(i) }
    }

    /// Fails with "stack overflow" when the native stack is nearly exhausted.
    #[inline(always)]
    pub fn check_native_stack(&self) -> Result<(), Unwind> {
        let here = &self as *const _ as usize;
        if here < self.tier_state.native_stack_limit {
            return Err(stack_overflow());
        }
        Ok(())
    }

    /// The lowest native stack address code may reach before it must report
    /// "stack overflow": recursive work that is not a SOM activation (the
    /// front end's parser and lowering) checks against it per level.
    pub fn native_stack_limit(&self) -> usize {
        self.tier_state.native_stack_limit
    }

    /// Counts a new SOM activation; fails with "stack overflow" (counting
    /// nothing) when [`MAX_ACTIVATION_DEPTH`] activations are live already or
    /// the native stack is nearly exhausted. Every success is paired with one
    /// [`Vm::leave_activation`] on every exit path of the activation.
    #[inline(always)]
    pub fn enter_activation(&mut self) -> Result<(), Unwind> {
        // One combined test on the hot path: a count of activations left
        // (so the check is a compare with zero) and the native-stack backstop.
        let here = &self as *const _ as usize;
        if self.tier_state.activations_left == 0 || here < self.tier_state.native_stack_limit {
            return Err(stack_overflow());
        }
        self.tier_state.activations_left -= 1;
        Ok(())
    }

    /// Ends an activation counted by [`Vm::enter_activation`].
    #[inline(always)]
    pub fn leave_activation(&mut self) {
        debug_assert!(self.tier_state.activations_left < MAX_ACTIVATION_DEPTH);
        self.tier_state.activations_left += 1;
    }

    /// Live SOM activations.
    pub fn activation_depth(&self) -> usize {
        MAX_ACTIVATION_DEPTH - self.tier_state.activations_left
    }

    // ----- allocation --------------------------------------------------------

    /// Allocates an object, collecting first if the budget is spent.
    #[inline]
    pub fn allocate(&mut self, kind: Kind, len: usize, shape: *const Shape) -> Value {
        debug_assert_layout(shape, kind, len);
        if self.heap.wants_collection() {
            self.collect_garbage();
        }
        let size = object::object_size(kind, len);
        self.heap
            .allocate(size, shape, Header::meta_word(kind, len))
    }

    /// Allocates an object whose body the caller initialises completely
    /// before allocating again.
    #[inline(always)]
    fn allocate_uninit(&mut self, kind: Kind, len: usize, shape: *const Shape) -> Value {
        debug_assert_layout(shape, kind, len);
        if self.heap.wants_collection() {
            self.collect_garbage();
        }
        let size = object::object_size(kind, len);
        self.heap
            .allocate_uninit(size, shape, Header::meta_word(kind, len))
    }

    /// The highest address of the native stack the VM runs on (the scans
    /// of the stack end there).
    pub(crate) fn native_stack_base(&self) -> usize {
        self.native_stack_base
    }

    /// Runs a full collection now.
    #[inline(never)]
    pub fn collect_garbage(&mut self) {
        let base = self.native_stack_base;
        heap::with_registers_spilled(|sp| {
            let stack_top = self.sp;
            let stack_ptr = self.stack.as_ptr();
            let globals: Vec<Value> = self.globals.values().map(|c| c.value.get()).collect();
            let perm = std::mem::take(&mut self.permanent_roots);
            let extra = [
                self.nil,
                self.true_,
                self.false_,
                self.system,
                self.unwind_value,
                self.unwind_home,
                self.tier_state.current,
                self.tier_state.alloc,
                self.omop.standard,
            ];
            self.heap.collect(|m| {
                for v in &perm {
                    m.mark_value(*v);
                }
                for v in globals {
                    m.mark_value(v);
                }
                for v in extra {
                    m.mark_value(v);
                }
                for i in 0..stack_top {
                    // SAFETY: `stack[..sp]` holds valid values.
                    m.mark_value(unsafe { *stack_ptr.add(i) });
                }
                // SAFETY: [sp, base) is the live part of this thread's stack.
                unsafe { m.mark_range(sp, base) };
            });
            self.permanent_roots = perm;
        });
    }

    /// The identity hash of heap object `v`: assigned on the first request
    /// from a per-VM pseudo-random sequence and stored in the header, so it
    /// stays fixed for the object's lifetime and depends only on the order
    /// in which the program asks for hashes, never on addresses (which
    /// differ between runs, `--gc-stress` and execution tiers).
    pub fn identity_hash(&mut self, v: Value) -> u32 {
        let h = object::header(v).identity_hash();
        if h != 0 {
            return h;
        }
        self.assign_identity_hash(v)
    }

    #[cold]
    fn assign_identity_hash(&mut self, v: Value) -> u32 {
        let mask = (1u32 << object::IDENTITY_HASH_BITS) - 1;
        let h = loop {
            // xorshift32: full period, cheap, and deterministic per run.
            let mut x = self.identity_hash_state;
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            self.identity_hash_state = x;
            if x & mask != 0 {
                break x & mask;
            }
        };
        object::header(v).set_identity_hash(h);
        h
    }

    /// Keeps `v` alive forever and never frees it.
    pub fn make_permanent(&mut self, v: Value) -> Value {
        if v.is_ptr() {
            self.heap.set_permanent(v);
            self.permanent_roots.push(v);
        }
        v
    }

    /// Marks a leaf object (one whose references are all immortal) as never
    /// freed, without adding it to the root set.
    pub fn make_immortal(&mut self, v: Value) -> Value {
        if v.is_ptr() {
            self.heap.set_permanent(v);
        }
        v
    }

    /// The standard-domain shape of the usual instances of `class`: plain
    /// objects with its fields, or for the core classes whose instances
    /// have a layout of their own (Array, String, Double, blocks...), that
    /// layout.
    #[inline(always)]
    pub fn instance_shape(&self, class: Value) -> *const Shape {
        self.class_data(class).shape.get()
    }

    /// The interned shape of objects of `class`, owned by `domain`, of
    /// `kind` with bodies of `len` words (only plain and class objects'
    /// lengths are part of the shape).
    pub fn shape_for(
        &mut self,
        class: Value,
        domain: Value,
        kind: Kind,
        len: usize,
    ) -> *const Shape {
        let fields = Shape::fields_key(kind, len);
        let key = (class.bits(), domain.bits(), kind as u8, fields);
        if let Some(s) = self.shapes.get(&key) {
            return *s;
        }
        let id = self.shapes.len() as u32;
        let s: *const Shape = Box::leak(Box::new(Shape {
            class,
            domain,
            id,
            kind,
            fields,
        }));
        self.shapes.insert(key, s);
        s
    }

    /// `shape` with its owner domain replaced by `domain`: the same class
    /// and layout.
    pub fn shape_owned_by(&mut self, shape: &Shape, domain: Value) -> *const Shape {
        self.shape_for(shape.class, domain, shape.kind, shape.fields as usize)
    }

    /// A new instance of `class` with all fields nil.
    pub fn new_instance(&mut self, class: Value) -> Value {
        let n = self.class_data(class).instance_fields.borrow().len();
        let shape = self.owned_shape(class, Kind::Object, n);
        let o = self.allocate_uninit(Kind::Object, n, shape);
        let nil = self.nil;
        object::slots(o).fill(nil);
        o
    }

    /// The shape of a new instance of `class`: owned by the current domain's
    /// `domainForNewObjects`. The one place that decides the owner of a new
    /// object: every allocation of a plain object, an Array (of any Array
    /// class) or a closure takes its shape from here. Strings, Symbols,
    /// numbers, classes, methods and contexts are the standard domain's.
    /// The layout (`kind`, `len`) is the new object's.
    #[inline(always)]
    pub fn owned_shape(&mut self, class: Value, kind: Kind, len: usize) -> *const Shape {
        let d = self.tier_state.alloc;
        if d == Value::ZERO {
            let s = self.instance_shape(class);
            if object::shape_ref(s).is_some_and(|s| s.has_layout(kind, len)) {
                return s;
            }
        }
        self.shape_for(class, d, kind, len)
    }

    /// [`Vm::owned_shape`] of an Array of `class`, without a table lookup in
    /// the common case (a plain Array in the standard domain).
    #[inline(always)]
    fn new_array_shape(&mut self, class: Value) -> *const Shape {
        if class == self.classes.array && self.tier_state.alloc == Value::ZERO {
            self.array_shape
        } else {
            self.owned_shape(class, Kind::Array, 0)
        }
    }

    /// A new Array of `n` nils.
    pub fn new_array(&mut self, n: usize) -> Value {
        self.new_array_of(self.classes.array, n)
    }

    /// A new instance of Array or of an Array subclass, with `n` nils.
    pub fn new_array_of(&mut self, class: Value, n: usize) -> Value {
        let shape = self.new_array_shape(class);
        let a = self.allocate_uninit(Kind::Array, n, shape);
        let nil = self.nil;
        object::slots(a).fill(nil);
        a
    }

    /// A new Array of `n` elements taken from the value stack at `from`.
    #[inline]
    pub fn new_array_from_stack(&mut self, from: usize, n: usize) -> Value {
        self.new_array_of_from_stack(self.classes.array, from, n)
    }

    /// A new instance of Array or of an Array subclass holding the `n`
    /// values on the value stack at `from`.
    #[inline]
    pub fn new_array_of_from_stack(&mut self, class: Value, from: usize, n: usize) -> Value {
        let shape = self.new_array_shape(class);
        let a = self.allocate_uninit(Kind::Array, n, shape);
        debug_assert!(from + n <= VALUE_STACK_SLOTS);
        // SAFETY: `from..from + n` are live stack slots and the new body has
        // room for `n` slots; both regions are distinct.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.stack.as_ptr().add(from),
                object::body_ptr::<Value>(a),
                n,
            )
        };
        a
    }

    /// A new Array holding `values`.
    #[inline]
    pub fn new_array_from(&mut self, values: &[Value]) -> Value {
        let shape = self.new_array_shape(self.classes.array);
        let a = self.allocate_uninit(Kind::Array, values.len(), shape);
        // SAFETY: an Array body has room for `values.len()` slots, all of
        // which are written here before the next allocation.
        unsafe {
            std::ptr::copy_nonoverlapping(
                values.as_ptr(),
                object::body_ptr::<Value>(a),
                values.len(),
            )
        };
        a
    }

    /// A new Double.
    #[inline]
    pub fn new_double(&mut self, d: f64) -> Value {
        let v = self.allocate_uninit(Kind::Double, 1, self.double_shape);
        // SAFETY: a Double body is one f64.
        unsafe { *object::body_ptr::<f64>(v) = d };
        v
    }

    /// A new String; longer than [`MAX_STRING_LENGTH`] is an error.
    pub fn new_string(&mut self, s: &str) -> VmResult {
        if s.len() > MAX_STRING_LENGTH {
            return Err(string_too_long(s.len()));
        }
        let shape = self.instance_shape(self.classes.string);
        Ok(self.new_text(Kind::String, s, shape, 0))
    }

    /// A new String holding `a` followed by `b`; longer than
    /// [`MAX_STRING_LENGTH`] is an error.
    pub fn new_string_concat(&mut self, a: &str, b: &str) -> VmResult {
        let len = a.len() + b.len();
        if len > MAX_STRING_LENGTH {
            return Err(string_too_long(len));
        }
        let shape = self.instance_shape(self.classes.string);
        let v = self.allocate(Kind::String, len, shape);
        let chars = if a.is_ascii() && b.is_ascii() {
            len
        } else {
            a.chars().count() + b.chars().count()
        };
        // SAFETY: the body holds the count word and `len` bytes; `a` and `b`
        // live outside this new object.
        unsafe {
            *object::body_ptr::<u32>(v) = chars as u32;
            let dst = object::body_ptr::<u8>(v).add(8);
            std::ptr::copy_nonoverlapping(a.as_ptr(), dst, a.len());
            std::ptr::copy_nonoverlapping(b.as_ptr(), dst.add(a.len()), b.len());
        }
        Ok(v)
    }

    /// The shared one-character String for an ASCII byte.
    pub fn ascii_char_string(&mut self, b: u8) -> Value {
        let i = b as usize & 127;
        let cached = self.char_strings[i];
        if cached != Value::ZERO {
            return cached;
        }
        let text = [b & 127];
        let s = std::str::from_utf8(&text).expect("ASCII");
        let shape = self.instance_shape(self.classes.string);
        let v = self.new_text(Kind::String, s, shape, 0);
        self.make_immortal(v);
        self.char_strings[i] = v;
        v
    }

    pub(crate) fn new_text(&mut self, kind: Kind, s: &str, shape: *const Shape, id: u32) -> Value {
        let v = self.allocate(kind, s.len(), shape);
        let chars = if s.is_ascii() {
            s.len()
        } else {
            s.chars().count()
        };
        // SAFETY: string bodies are [chars: u32, id: u32, bytes...] with room
        // for `s.len()` bytes (see `object_size`).
        unsafe {
            *object::body_ptr::<u32>(v) = chars as u32;
            *object::body_ptr::<u32>(v).add(1) = id;
            std::ptr::copy_nonoverlapping(s.as_ptr(), object::body_ptr::<u8>(v).add(8), s.len());
        }
        v
    }

    /// A heap context with `n` nil slots and the given outer context.
    pub fn new_context(&mut self, n: usize, outer: Value) -> Value {
        let shape = self.context_shape;
        let c = self.allocate_uninit(Kind::Context, n, shape);
        // SAFETY: a Context body is [outer, alive, slots...].
        unsafe {
            *object::body_ptr::<Value>(c) = outer;
            *object::body_ptr::<u64>(c).add(1) = 1;
        }
        let nil = self.nil;
        object::slots(c).fill(nil);
        c
    }

    /// A closure of `method`.
    pub fn new_block(
        &mut self,
        method: &'static MethodData,
        context: Value,
        receiver: Value,
        home: Value,
    ) -> Value {
        let class = match method.num_args {
            0 => self.classes.block1,
            1 => self.classes.block2,
            _ => self.classes.block3,
        };
        let shape = self.owned_shape(class, Kind::Block, 0);
        let b = self.allocate_uninit(Kind::Block, 0, shape);
        let body = object::block_body(b);
        body.method = method;
        body.context = context;
        body.receiver = receiver;
        body.home = home;
        b
    }

    /// A fresh (deep) copy of a literal array template.
    pub fn copy_literal_array(&mut self, template: Value) -> Value {
        let n = object::header(template).len();
        let copy = self.new_array(n);
        for i in 0..n {
            let e = object::slots(template)[i];
            let e = if e.is_ptr() && object::kind_of(e) == Kind::Array {
                self.copy_literal_array(e)
            } else {
                e
            };
            object::slots(copy)[i] = e;
        }
        copy
    }

    // ----- classes and lookup -----------------------------------------------

    /// The Rust-side data of a class object.
    #[inline(always)]
    pub fn class_data(&self, class: Value) -> &'static ClassData {
        // SAFETY: class data is leaked at class creation and never freed.
        unsafe { &*object::class_data_ptr(class) }
    }

    /// The shape of any value (small integers share one shape).
    #[inline(always)]
    pub fn shape_of(&self, v: Value) -> *const Shape {
        if v.is_small() {
            self.int_shape
        } else {
            object::header(v).shape
        }
    }

    /// The class of any value.
    #[inline(always)]
    pub fn class_of(&self, v: Value) -> Value {
        // SAFETY: shapes are interned and live as long as their class.
        unsafe { (*self.shape_of(v)).class }
    }

    /// Whether `v` is a class object.
    pub fn is_class(&self, v: Value) -> bool {
        v.is_ptr() && object::kind_of(v) == Kind::Class
    }

    /// The name of the class of `v`.
    pub fn class_name_of(&self, v: Value) -> String {
        let c = self.class_of(v);
        self.symbols.text(self.class_data(c).name).to_string()
    }

    /// The name of a class.
    pub fn class_name(&self, class: Value) -> &str {
        self.symbols.text(self.class_data(class).name)
    }

    /// Looks `selector` up along the superclass chain of `class` (cached).
    pub fn lookup(&mut self, class: Value, selector: SymbolId) -> Option<&'static MethodData> {
        if let Some(&r) = self.lookup_cache.get(&(class.bits(), selector)) {
            if self.verify_caches {
                crate::verify::lookup(self, class, selector, r);
            }
            return r;
        }
        let r = self.lookup_uncached(class, selector);
        self.lookup_cache.insert((class.bits(), selector), r);
        r
    }

    /// Looks `selector` up without the cache.
    pub fn lookup_uncached(
        &self,
        mut class: Value,
        selector: SymbolId,
    ) -> Option<&'static MethodData> {
        while class != self.nil && class.is_ptr() {
            let data = self.class_data(class);
            if let Some(m) = data.methods.borrow().get(&selector) {
                return Some(*m);
            }
            class = data.superclass.get();
        }
        self.hidden_methods.get(&selector).copied()
    }

    /// Forgets cached lookups (after a method table changed).
    pub fn flush_lookup_cache(&mut self) {
        self.lookup_cache.clear();
        self.flush_handler_cache();
    }

    /// Records that `dep` cached a lookup of `selector`.
    pub fn register_dependent(&mut self, selector: SymbolId, dep: Dependent) {
        self.dependents.entry(selector).or_default().push(dep);
    }

    /// Number of registered dependents (each cache registers a bounded
    /// number of times, so this stays proportional to the program's sites).
    pub fn dependent_count(&self) -> usize {
        self.dependents.values().map(Vec::len).sum()
    }

    /// Whether `class` is `ancestor` or inherits from it.
    pub fn inherits_from(&self, mut class: Value, ancestor: Value) -> bool {
        while class.is_ptr() && class != self.nil {
            if class == ancestor {
                return true;
            }
            class = self.class_data(class).superclass.get();
        }
        false
    }

    /// Invalidates every cached lookup of `selector` that started in `class`
    /// or one of its subclasses (the receiver's class for ordinary sends and
    /// DNU handlers, the lookup class for super sends and
    /// `perform:inSuperclass:`): exactly the lookups a change of
    /// `class>>selector` can affect. Answers how many entries were dropped.
    pub fn invalidate_lookups(&mut self, class: Value, selector: SymbolId) -> usize {
        self.flush_lookup_cache();
        let Some(deps) = self.dependents.get_mut(&selector) else {
            return 0;
        };
        // Units invalidated earlier are gone for good: forget them, so the
        // registry does not grow with recompilations.
        deps.retain(|d| !matches!(d, Dependent::Code(u) if u.valid.get() == 0));
        let deps = deps.clone();
        let mut dropped = 0;
        for dep in deps {
            match dep {
                Dependent::Chain(c, lookup_class, site, pos) => {
                    // SAFETY: chains live in leaked AST nodes (see `Dependent`).
                    let chain = unsafe { &*c };
                    // Every entry of a chain with a lookup class found its
                    // method from that class (its DNU handler from the
                    // receiver's class, checked below).
                    let all = lookup_class.is_ptr() && self.inherits_from(lookup_class, class);
                    let n = chain.invalidate(|shape| {
                        // SAFETY: shapes are interned and never freed.
                        let cls = unsafe { (*shape).class };
                        all || self.inherits_from(cls, class)
                    });
                    if n > 0 && crate::trace::enabled() {
                        tracing::trace!(
                            target: "metasom::dispatch",
                            site = site.method,
                            pos = %format_args!("{}:{}:{}", site.file, pos.0, pos.1),
                            kind = "send",
                            selector = self.symbols.text(selector),
                            key = self.class_name(class),
                            depth = chain.chain_len(),
                            state = match chain.state() {
                                crate::dispatch::ChainState::Uninitialized => "uninitialized",
                                crate::dispatch::ChainState::Monomorphic => "monomorphic",
                                crate::dispatch::ChainState::Polymorphic => "polymorphic",
                                crate::dispatch::ChainState::Generic => "generic",
                            },
                            dropped = n,
                            "invalidated"
                        );
                    }
                    dropped += n;
                }
                Dependent::Reflect(r) => {
                    // SAFETY: reflective caches live in leaked AST nodes.
                    let cache = unsafe { &*r };
                    let sel_text = self.symbols.text(selector);
                    dropped += cache.invalidate(|shape, key| {
                        // SAFETY: shapes are interned and never freed.
                        let cls = unsafe { (*shape).class };
                        let same_selector = key.is_ptr()
                            && matches!(object::kind_of(key), Kind::String | Kind::Symbol)
                            && object::str_of(key) == sel_text;
                        same_selector && self.inherits_from(cls, class)
                    });
                }
                Dependent::Domain(d) => {
                    // SAFETY: domain chains live in leaked AST nodes.
                    let chain = unsafe { &*d };
                    let n = chain.invalidate(|key| {
                        key != Value::ZERO && self.inherits_from(self.class_of(key), class)
                    });
                    if n > 0 {
                        crate::trace::domain_invalidated(self, chain, class, n);
                    }
                    dropped += n;
                }
                Dependent::EnforcedSuper(s) => {
                    // SAFETY: enforced sends live in leaked AST nodes.
                    let node = unsafe { &*s };
                    let lc = node.lookup_class.unwrap_or(Value::ZERO);
                    if node.super_target.get().is_some() && self.inherits_from(lc, class) {
                        node.super_target.set(None);
                        dropped += 1;
                    }
                }
                Dependent::Code(u) => {
                    // A unit depends on its lookups in every class: cheaper
                    // to recompile on a rare change than to record classes.
                    let current = u.cell.unit().is_some_and(|c| std::ptr::eq(c, u));
                    if u.valid.get() != 0 && current {
                        crate::tier::invalidate_unit(self, u.cell, "method changed");
                        dropped += 1;
                    }
                }
                Dependent::Super(s) => {
                    // SAFETY: as above.
                    let node = unsafe { &*s };
                    if node.cached.get().is_some() && self.inherits_from(node.lookup_class, class) {
                        node.cached.set(None);
                        dropped += 1;
                    }
                }
            }
        }
        dropped
    }

    /// The dispatch target for `selector` sent to an instance of `class`.
    pub fn resolve_target(&mut self, class: Value, selector: SymbolId) -> Result<Target, Unwind> {
        if let Some(m) = self.lookup(class, selector) {
            return Ok(Target::Method(m));
        }
        match self.lookup(class, self.well_known.dnu) {
            Some(h) => Ok(Target::Dnu(h)),
            None => Err(Unwind::error_as(
                crate::error::ErrorClass::Error,
                format!(
                    "{} does not understand #{} and has no doesNotUnderstand:arguments:",
                    self.class_name(class),
                    self.symbols.text(selector)
                ),
            )),
        }
    }

    /// The dispatch target of a super send starting at `lookup_class`.
    pub fn resolve_super_target(
        &mut self,
        lookup_class: Value,
        rcvr: Value,
        selector: SymbolId,
    ) -> Result<Target, Unwind> {
        if lookup_class.is_ptr() && lookup_class != self.nil {
            if let Some(m) = self.lookup(lookup_class, selector) {
                return Ok(Target::Method(m));
            }
        }
        let class = self.class_of(rcvr);
        match self.lookup(class, self.well_known.dnu) {
            Some(h) => Ok(Target::Dnu(h)),
            None => Err(Unwind::error_as(
                crate::error::ErrorClass::Error,
                format!(
                    "super send of #{} not understood",
                    self.symbols.text(selector)
                ),
            )),
        }
    }

    // ----- sends -------------------------------------------------------------

    /// Sends `selector` with receiver and arguments already at `base` (a
    /// generic send, without an inline cache).
    pub fn send_at(&mut self, selector: SymbolId, base: usize, argc: usize) -> VmResult {
        if self.tier_state.enforced {
            return self.send_enforced_at(selector, Value::ZERO, base, argc);
        }
        let rcvr = self.stack_at(base);
        let class = self.class_of(rcvr);
        let target = self.resolve_target(class, selector)?;
        crate::nodes::send_call_target(self, target, selector, base, argc)
    }

    /// Sends `selector` to `rcvr` with `args` (a generic send).
    pub fn send(&mut self, rcvr: Value, selector: SymbolId, args: &[Value]) -> VmResult {
        let base = self.sp;
        self.push(rcvr)?;
        for a in args {
            self.push(*a)?;
        }
        let r = self.send_at(selector, base, args.len());
        self.sp = base;
        r
    }

    /// Invokes `m` directly on `rcvr` with `args`.
    pub fn invoke_with(&mut self, m: &'static MethodData, rcvr: Value, args: &[Value]) -> VmResult {
        let base = self.sp;
        self.push(rcvr)?;
        for a in args {
            self.push(*a)?;
        }
        let r = invoke(self, m, base);
        self.sp = base;
        r
    }

    /// Evaluates a block closure with `args`.
    pub fn call_block(&mut self, closure: Value, args: &[Value]) -> VmResult {
        let base = self.sp;
        self.push(closure)?;
        for a in args {
            self.push(*a)?;
        }
        let r = invoke_block(self, closure, base);
        self.sp = base;
        r
    }

    // ----- symbols and globals ----------------------------------------------

    /// Interns `text`.
    pub fn intern(&mut self, text: &str) -> SymbolId {
        if let Some(id) = self.symbols.lookup(text) {
            return id;
        }
        let id = self.symbols.next_id();
        let shape = if self.classes.symbol.is_ptr() {
            self.instance_shape(self.classes.symbol)
        } else {
            std::ptr::null()
        };
        let obj = self.new_text(Kind::Symbol, text, shape, id.0);
        self.heap.set_permanent(obj);
        self.symbols.insert(text, obj)
    }

    /// Number of arguments `selector` takes (cached per symbol).
    pub fn selector_arity(&mut self, selector: SymbolId) -> usize {
        let i = selector.0 as usize;
        if i >= self.arities.len() {
            self.arities.resize(i + 1, u8::MAX);
        }
        if self.arities[i] == u8::MAX {
            let a = crate::primitives::selector_arity(self.symbols.text(selector));
            self.arities[i] = a.min(254) as u8;
        }
        self.arities[i] as usize
    }

    /// The Symbol object of an id.
    #[inline]
    pub fn symbol_value(&self, id: SymbolId) -> Value {
        self.symbols.object(id)
    }

    /// The id of a Symbol object.
    #[inline]
    pub fn symbol_id(&self, v: Value) -> SymbolId {
        SymbolId(object::symbol_id_raw(v))
    }

    /// The cell of global `name`, created unbound if new.
    pub fn global_cell(&mut self, name: SymbolId) -> &'static GlobalCell {
        if let Some(c) = self.globals.get(&name) {
            return c;
        }
        let cell: &'static GlobalCell = Box::leak(Box::new(GlobalCell {
            name,
            value: Cell::new(Value::ZERO),
            folded: Cell::new(false),
            unstable: Cell::new(false),
        }));
        self.globals.insert(name, cell);
        cell
    }

    /// The value of global `name`, if bound.
    pub fn global(&self, name: SymbolId) -> Option<Value> {
        self.globals
            .get(&name)
            .map(|c| c.value.get())
            .filter(|v| *v != Value::ZERO)
    }

    /// Binds global `name`.
    pub fn set_global(&mut self, name: SymbolId, v: Value) {
        let cell = self.global_cell(name);
        self.write_global(cell, v);
    }

    /// Writes a global's cell: the one way globals change. Compiled code
    /// that folded the old value is invalidated.
    pub fn write_global(&mut self, cell: &'static GlobalCell, v: Value) {
        let old = cell.value.replace(v);
        if cell.folded.get() && old != v {
            self.global_changed(cell);
        }
    }

    /// A folded global changed: the code that embedded its value goes
    /// (see [`GlobalCell::unstable`]).
    #[cold]
    pub(crate) fn global_changed(&mut self, cell: &'static GlobalCell) {
        cell.folded.set(false);
        cell.unstable.set(true);
        let units = self
            .global_dependents
            .remove(&cell.name)
            .unwrap_or_default();
        for u in units {
            let current = u.cell.unit().is_some_and(|c| std::ptr::eq(c, u));
            if u.valid.get() != 0 && current {
                crate::tier::invalidate_unit(self, u.cell, "global changed");
            }
        }
    }

    /// An object changed owner: the code that relied on its receiver's
    /// owner goes (its running activations see it at their next validity
    /// test). Owner changes are rare; the units recompile when hot again.
    #[cold]
    pub(crate) fn owners_changed(&mut self) {
        for u in std::mem::take(&mut self.owner_dependents) {
            let current = u.cell.unit().is_some_and(|c| std::ptr::eq(c, u));
            if u.valid.get() != 0 && current {
                crate::tier::invalidate_unit(self, u.cell, "owner changed");
            }
        }
    }

    /// Registers compiled code that folded the value of `cell`.
    pub(crate) fn register_global_dependent(
        &mut self,
        cell: &'static GlobalCell,
        unit: &'static crate::tier::UnitState,
    ) {
        cell.folded.set(true);
        self.global_dependents
            .entry(cell.name)
            .or_default()
            .push(unit);
    }

    // ----- numbers -----------------------------------------------------------

    /// The value as f64 if it is a number.
    pub fn as_f64(&self, v: Value) -> Option<f64> {
        use num_traits::ToPrimitive;
        if let Some(i) = v.small_int() {
            return Some(i as f64);
        }
        if !v.is_ptr() {
            return None;
        }
        match object::kind_of(v) {
            Kind::Double => Some(object::double_of(v)),
            Kind::BigInt => object::bigint_of(v).to_f64(),
            _ => None,
        }
    }

    /// The limit of an inlined counting loop as an i64 that compares with
    /// every small integer exactly as `to` does under `Integer>>#<=` (or
    /// `>=` when `down`); None when there is no such i64 (`to` is not a
    /// number, or a Double too large for its comparisons with small integers
    /// to be exact), and the loop must run the library's way.
    pub fn loop_limit(&self, to: Value, down: bool) -> Option<i64> {
        /// Doubles below this magnitude compare with integers exactly.
        const EXACT: f64 = (1u64 << 53) as f64;
        if let Some(i) = to.small_int() {
            return Some(i);
        }
        if !to.is_ptr() {
            return None;
        }
        match object::kind_of(to) {
            // Every BigInt lies outside the small range: one past its end
            // on the same side compares alike with every small integer.
            Kind::BigInt if object::bigint_of(to).sign() == num_bigint::Sign::Minus => {
                Some(crate::value::SMALL_MIN - 1)
            }
            Kind::BigInt => Some(crate::value::SMALL_MAX + 1),
            Kind::Double => {
                let d = object::double_of(to);
                if d.is_nan() || d.abs() >= EXACT {
                    return None;
                }
                Some(if down { d.ceil() } else { d.floor() } as i64)
            }
            _ => None,
        }
    }

    // ----- diagnostics -------------------------------------------------------

    /// One backtrace line: `Class>>#selector (file:line:col)` for a method,
    /// `[] in Class>>#selector (file:line:col)` for a block, where the
    /// position is that of the send executing in the activation (`pos`), or
    /// the method's own when no send is known (an error outside any send).
    pub fn describe_activation(&self, m: &MethodData, pos: Option<(u32, u32)>) -> String {
        let what = if m.is_block {
            let site = if m.source.site.is_empty() {
                "?"
            } else {
                m.source.site
            };
            format!("[] in {site}")
        } else {
            let holder = m.holder.get();
            let holder_name = if holder.is_ptr() && object::kind_of(holder) == Kind::Class {
                self.class_name(holder)
            } else {
                "?"
            };
            format!("{holder_name}>>#{}", self.symbols.text(m.signature))
        };
        let (line, col) = pos.unwrap_or((m.source.line, m.source.col));
        if m.source.file.is_empty() {
            what
        } else {
            format!("{what} ({}:{line}:{col})", m.source.file)
        }
    }

    /// Takes the value of a pending unwind.
    #[inline]
    pub fn take_unwind_value(&mut self) -> Value {
        std::mem::replace(&mut self.unwind_value, Value::ZERO)
    }

    /// Flushes buffered standard output.
    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }
}

#[cold]
fn stack_overflow() -> Unwind {
    Unwind::error("stack overflow")
}

/// The value stack, [`VALUE_STACK_SLOTS`] slots of `Value::ZERO`, allocated
/// zeroed and never written here: the OS maps zero pages lazily, so only the
/// part deep recursion reaches is ever committed (writing the zeros would
/// commit all 128 MB at start-up).
fn zeroed_value_stack() -> Box<[Value]> {
    let layout = std::alloc::Layout::array::<Value>(VALUE_STACK_SLOTS).expect("stack layout");
    // SAFETY: the layout is non-empty; `Value::ZERO` is all-zero bits, so the
    // zeroed block is `VALUE_STACK_SLOTS` valid values, and the box takes
    // ownership of the block with the layout it was allocated with.
    unsafe {
        let p = std::alloc::alloc_zeroed(layout) as *mut Value;
        if p.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, VALUE_STACK_SLOTS))
    }
}

/// The lowest and highest address of the current thread's stack.
fn native_stack_bounds() -> (usize, usize) {
    // SAFETY: pthread_getattr_np fills `attr` for the calling thread; we read
    // the stack range and destroy the attribute object afterwards.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) == 0 {
            let mut addr: *mut libc::c_void = std::ptr::null_mut();
            let mut size: libc::size_t = 0;
            let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
            libc::pthread_attr_destroy(&mut attr);
            if ok {
                let low = addr as usize;
                return (low, low + size);
            }
        }
    }
    // Unknown: assume a small stack below the current frame.
    let here = &() as *const () as usize;
    (here.saturating_sub(1 << 20), here + 4096)
}

/// Checks, in debug builds, that an object of `kind` with `len` words gets
/// a shape of its layout (the invariant of [`crate::object`]); a null shape
/// is set later (bootstrap) and a class object's comes from its metaclass.
#[inline(always)]
fn debug_assert_layout(shape: *const Shape, kind: Kind, len: usize) {
    let s = object::shape_ref(shape);
    debug_assert!(
        s.is_none_or(|s| s.has_layout(kind, len)),
        "a {kind:?} of {len} words with shape {s:?}"
    );
}
