//! Invokables: SOM methods (an AST) and primitives (a Rust function).
//!
//! A [`MethodData`] is allocated once and leaked: dispatch-chain entries and the
//! future JIT hold `&'static` references to it, so it must outlive every cache.
//! Redefining a method installs a new `MethodData`; the old one stays valid for
//! activations still running it.

use std::cell::{Cell, OnceCell};

use crate::interpreter::Args;
use crate::nodes::Node;
use crate::symbols::SymbolId;
use crate::value::Value;
use crate::vm::{Vm, VmResult};

/// The Rust side of a primitive.
pub type PrimFn = fn(&mut Vm, Args) -> VmResult;

/// Where a method was defined, for backtraces.
#[derive(Clone, Debug, Default)]
pub struct SourceLoc {
    /// File the method came from.
    pub file: String,
    /// 1-based line of the method pattern.
    pub line: u32,
    /// 1-based column of the method pattern.
    pub col: u32,
    /// `Class>>#selector` of the method the code is in (for a block, its
    /// enclosing method), so block activations can be named in backtraces.
    pub site: &'static str,
}

/// A compiled SOM method or block body.
pub struct AstBody {
    /// The body; evaluates to the method's result.
    pub body: Node,
    /// Arguments plus locals, including the locals of inlined blocks.
    pub num_slots: usize,
    /// Slots live in a heap context because a nested block captures them.
    pub needs_context: bool,
    /// The compiled tier's state of this body.
    pub tier: crate::tier::TierCell,
}

/// What executes when the invokable runs. Its layout is C's (a tag byte,
/// then the payload; see [`KindLayout`]) so that compiled code can reach the
/// AST body of a method it only knows at run time (a closure's).
#[repr(C, u8)]
pub enum MethodKind {
    /// A SOM-level method or block.
    Ast(AstBody),
    /// A primitive implemented in Rust.
    Primitive(PrimFn),
}

/// The layout `#[repr(C, u8)]` gives [`MethodKind`]: the tag (0 for
/// [`MethodKind::Ast`]), then the payload. Used only for its offsets.
#[repr(C)]
pub struct KindLayout {
    /// The variant's tag.
    pub tag: u8,
    /// The variant's fields.
    pub payload: KindPayload,
}

/// The payload of [`KindLayout`].
#[repr(C)]
pub union KindPayload {
    /// [`MethodKind::Ast`]'s body.
    pub ast: std::mem::ManuallyDrop<AstBody>,
    /// [`MethodKind::Primitive`]'s function.
    pub primitive: PrimFn,
}

const _: () = assert!(std::mem::size_of::<KindLayout>() == std::mem::size_of::<MethodKind>());

/// A method so simple that a send can do its work without an activation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trivial {
    /// `^field`
    Getter(usize),
    /// `field: v = ( field := v )`, answering self.
    Setter(usize),
    /// `^literal`
    Constant(Value),
    /// `^self` or an empty body.
    ReturnSelf,
    /// The identity primitive `Object>>==`.
    Identity,
    /// The primitive `Object>>class`.
    ClassOf,
    /// The primitive `String>>=` when both operands are Strings or Symbols.
    TextEquals,
    /// The primitive `Array class>>with:` sent to Array itself.
    ArrayWith,
    /// A `doesNotUnderstand:arguments:` handler that only forwards:
    /// `^R perform: S withArguments: arguments`, with R `self` or a field and
    /// S a constant symbol or the not-understood selector.
    Forward {
        /// The field holding the new receiver (None: `self`).
        field: Option<usize>,
        /// The performed selector (None: the not-understood one).
        selector: Option<crate::symbols::SymbolId>,
    },
}

/// A method, block or primitive.
pub struct MethodData {
    /// The selector (for blocks: `value`, `value:`, `value:with:`).
    pub signature: SymbolId,
    /// Number of arguments, not counting the receiver.
    pub num_args: usize,
    /// The code.
    pub kind: MethodKind,
    /// The class that holds the method (nil for blocks before installation).
    pub holder: Cell<Value>,
    /// The SOM-level Method or Primitive object (ZERO for blocks).
    pub object: Cell<Value>,
    /// Definition site.
    pub source: SourceLoc,
    /// Whether this is a block body.
    pub is_block: bool,
    /// Set when the method is trivial enough to run without an activation.
    pub trivial: Option<Trivial>,
    /// Set on the reflective primitives (`perform:` family, field and global
    /// access, `respondsTo:`): send sites that reach them use a nested chain
    /// instead of calling them.
    pub reflective: Option<crate::nodes::Reflective>,
    /// Declared `unenforced`: the method always runs at the meta level, and
    /// a primitive so marked is never reified.
    pub unenforced: bool,
    /// A primitive whose job is to run other code (block evaluation,
    /// `perform:`, `invokeOn:with:`, exception handling): it is never
    /// reified, and the code it runs is subject to the caller's enforcement.
    pub transparent: bool,
    /// The body used in enforced execution, compiled on first use.
    pub enforced: EnforcedBody,
}

/// Compiles the enforced twin of a method or block body.
pub type BodyCompiler = Box<dyn Fn(&mut Vm) -> Result<AstBody, String>>;

/// The enforced twin of an AST body: the same code with every send, field
/// access and global read going through the owner domain's handlers.
/// Compiled on first enforced activation, so programs that never enforce pay
/// nothing for it.
#[derive(Default)]
pub struct EnforcedBody {
    compiled: OnceCell<&'static AstBody>,
    compile: Option<BodyCompiler>,
    /// The twin's address once compiled, 0 before: a word compiled code
    /// reads ([`crate::tier::layout::METHOD_ENFORCED_TWIN`]) to run the
    /// twin of a closure it does not know.
    pub(crate) twin: std::cell::Cell<usize>,
}

impl EnforcedBody {
    /// A twin compiled by `compile` on first use.
    pub fn new(compile: BodyCompiler) -> EnforcedBody {
        EnforcedBody {
            compiled: OnceCell::new(),
            compile: Some(compile),
            twin: std::cell::Cell::new(0),
        }
    }

    /// The compiled twin, if it was compiled already.
    pub fn get(&self) -> Option<&'static AstBody> {
        self.compiled.get().copied()
    }

    /// The twin, compiling it now if needed; None for bodies built without a
    /// compiler (hand-made ASTs), which then run their only body.
    pub fn force(&self, vm: &mut Vm) -> Result<Option<&'static AstBody>, String> {
        if let Some(b) = self.compiled.get() {
            return Ok(Some(b));
        }
        let Some(compile) = &self.compile else {
            return Ok(None);
        };
        let body: &'static AstBody = Box::leak(Box::new(compile(vm)?));
        let body = *self.compiled.get_or_init(|| body);
        self.twin.set(body as *const AstBody as usize);
        // The twins of its block literals too, run or not: compiled code
        // inlines a block literal it passes to an inlined method only from
        // its twin, and a block that has not run yet (an error branch, an
        // `ifNil:` argument) would otherwise be made as a closure every
        // time. A block whose twin does not compile stays lazy (it fails
        // when it runs, as it would have).
        body.body.for_each_unit_node(&mut |n| {
            if let crate::nodes::Node::Block(b) = n {
                let _ = b.method.enforced.force(vm);
            }
        });
        Ok(Some(body))
    }
}

impl MethodData {
    /// Leaks a new method so it can be referenced from caches forever.
    pub fn leak(self) -> &'static MethodData {
        Box::leak(Box::new(self))
    }

    /// Whether this is a primitive.
    pub fn is_primitive(&self) -> bool {
        matches!(self.kind, MethodKind::Primitive(_))
    }
}
