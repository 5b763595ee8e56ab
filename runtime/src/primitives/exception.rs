//! Exceptions: `Block>>on:do:`, `ensure:`, `ifCurtailed:` and the signalling
//! primitives of `Exception`.
//!
//! Handlers run on top of the signalling activation, as in Smalltalk: `signal`
//! searches the handler stack ([`Vm::handlers`]) innermost first, asking each
//! record's exception class `handles:`; while a handler block runs, its record
//! and every record above it are disabled, so an exception signalled inside a
//! handler goes to the handlers outside it. What the handler does decides the
//! transfer:
//! - falling off its end, or `return:` — unwind to its `on:do:` with the value
//!   (`Unwind::EXCEPTION`, target = the record's id);
//! - `retry` — the same unwind, then `on:do:` runs its receiver again;
//! - `resume:` — `signal` answers the value (`Unwind::RESUME`, target = the
//!   exception object); only for resumable exceptions;
//! - `pass` / `outer` / `signal` — search the handlers outside this one.
//!
//! An exception no handler takes gets `defaultAction`, which for the core
//! library's exceptions ends the program with a SOM-level message and
//! backtrace.
//!
//! Runtime errors become exceptions here too ([`signal_runtime_error`]): an
//! error the VM detects (a classed [`crate::error::SomError`], the core
//! library's `error:`, `doesNotUnderstand:arguments:` and `unknownGlobal:`)
//! is signalled as an instance of the core library's `Error` subclass for it
//! when some handler is active and the loaded library defines that class.
//! When no handler takes it, the program ends with the error's own message,
//! exactly as it did before exceptions existed; so does a library without
//! the class (SOM-st/SOM's `Smalltalk/`).

use crate::interpreter::{is_kind, take_error, Args, Unwind};
use crate::object::{self, Kind};
use crate::value::Value;
use crate::vm::{Vm, VmResult};

/// One active `on:do:`.
#[derive(Clone, Copy)]
pub struct HandlerRecord {
    /// What it catches: a class (or anything answering `handles:`).
    pub class: Value,
    /// The handler block.
    pub block: Value,
    /// Identifies the `on:do:` activation.
    pub id: u64,
    /// False while this handler or one inside it is running.
    pub enabled: bool,
    /// Enforcement and current domain where `on:do:` was entered: the
    /// handler block runs there, not at the meta level a handler may have
    /// signalled from.
    pub execution: crate::omop::Execution,
}

/// Where an exception unwind is going.
#[derive(Clone, Copy, Default)]
pub struct ExceptionTransfer {
    /// Target `on:do:` of `Unwind::EXCEPTION`.
    pub target: u64,
    /// Whether that `on:do:` runs its receiver again.
    pub retry: bool,
    /// The exception whose `signal` answers, for `Unwind::RESUME`.
    pub resume: Value,
    /// Next record id.
    pub next_id: u64,
}

fn field(vm: &Vm, obj: Value, name: &str) -> Option<usize> {
    if !is_kind(obj, Kind::Object) {
        return None;
    }
    let id = vm.symbols.lookup(name)?;
    let class = vm.class_of(obj);
    let fields = vm.class_data(class).instance_fields.borrow();
    fields.iter().position(|f| *f == id)
}

fn handler_id(vm: &Vm, exc: Value) -> Option<u64> {
    let i = field(vm, exc, "handlerId")?;
    object::slots(exc)[i].small_int().map(|v| v as u64)
}

fn set_handler_id(vm: &Vm, exc: Value, id: Value) {
    if let Some(i) = field(vm, exc, "handlerId") {
        object::slots(exc)[i] = id;
    }
}

fn block_arg(vm: &Vm, prim: &str, v: Value) -> Result<Value, Unwind> {
    if is_kind(v, Kind::Block) {
        Ok(v)
    } else {
        Err(super::wrong_arg(vm, prim, "a Block", v))
    }
}

fn block_arity(v: Value) -> usize {
    // SAFETY: block bodies point to immortal MethodData.
    unsafe { &*object::block_body(v).method }.num_args
}

/// `Block>>on:do:`.
fn block_on_do(vm: &mut Vm, a: Args) -> VmResult {
    let body = block_arg(vm, "Block>>#on:do:", a.rcvr(vm))?;
    let class = a.arg(vm, 0);
    let handler = block_arg(vm, "Block>>#on:do:", a.arg(vm, 1))?;
    if block_arity(handler) > 1 {
        return Err(Unwind::error_as(
            crate::error::ErrorClass::ArgumentError,
            "Block>>#on:do: the handler block must take zero or one argument",
        ));
    }
    loop {
        vm.exc.next_id += 1;
        let id = vm.exc.next_id;
        let depth = vm.handlers.len();
        vm.handlers.push(HandlerRecord {
            class,
            block: handler,
            id,
            enabled: true,
            execution: vm.save_execution(),
        });
        let r = vm.call_block(body, &[]);
        vm.handlers.truncate(depth);
        match r {
            Err(Unwind::EXCEPTION) if vm.exc.target == id => {
                if vm.exc.retry {
                    vm.exc.retry = false;
                    continue;
                }
                return Ok(vm.take_unwind_value());
            }
            other => return other,
        }
    }
}

/// Searches the enabled handlers for one that handles `exc` and runs it;
/// `defaultAction` when none does.
fn signal(vm: &mut Vm, exc: Value) -> VmResult {
    if let Some(r) = run_handler(vm, exc) {
        return r;
    }
    let default_action = vm.intern("defaultAction");
    vm.send(exc, default_action, &[])
}

/// Runs the innermost enabled handler that handles `exc`, answering what
/// `signal` answers; None when no handler takes it.
fn run_handler(vm: &mut Vm, exc: Value) -> Option<VmResult> {
    let handles = vm.intern("handles:");
    let mut i = vm.handlers.len();
    while i > 0 {
        i -= 1;
        let rec = vm.handlers[i];
        if !rec.enabled {
            continue;
        }
        // `handles:` runs with this record (and those inside it) disabled,
        // as a handler block does: an exception it raises (a selector that
        // does not understand `handles:`, a failing `handles:`) goes to the
        // handlers outside instead of asking this record again, endlessly.
        let saved = disable_from(vm, i);
        let r = vm.send(rec.class, handles, &[exc]);
        restore_from(vm, i, saved);
        match r {
            Ok(v) if v == vm.true_ => {}
            Ok(_) => continue,
            Err(e) => return Some(Err(e)),
        }
        set_handler_id(vm, exc, Value::small(rec.id as i64));
        let saved = disable_from(vm, i);
        let args: &[Value] = if block_arity(rec.block) == 1 {
            &[exc]
        } else {
            &[]
        };
        let r = vm.with_saved_execution(rec.execution, |vm| vm.call_block(rec.block, args));
        restore_from(vm, i, saved);
        return Some(match r {
            Ok(v) => {
                vm.unwind_value = v;
                vm.exc.target = rec.id;
                vm.exc.retry = false;
                Err(Unwind::EXCEPTION)
            }
            Err(Unwind::RESUME) if vm.exc.resume == exc => {
                vm.exc.resume = Value::ZERO;
                Ok(vm.take_unwind_value())
            }
            Err(e) => Err(e),
        });
    }
    None
}

/// Disables the handler records from `i` on; answers their previous states
/// for [`restore_from`].
fn disable_from(vm: &mut Vm, i: usize) -> Vec<bool> {
    let saved = vm.handlers[i..].iter().map(|r| r.enabled).collect();
    for r in &mut vm.handlers[i..] {
        r.enabled = false;
    }
    saved
}

/// Restores the states [`disable_from`] saved. Records above `i` may be gone
/// when the code run in between unwound.
fn restore_from(vm: &mut Vm, i: usize, saved: Vec<bool>) {
    for (r, e) in vm.handlers[i..].iter_mut().zip(saved) {
        r.enabled = e;
    }
}

/// Whether some `on:do:` could take an exception signalled now; when none
/// can, runtime errors take the fatal path without creating an exception.
pub(crate) fn handler_may_catch(vm: &Vm) -> bool {
    vm.handlers.iter().any(|r| r.enabled)
}

/// The core-library exception class `name`, if the loaded library defines
/// it as a subclass of `Exception`.
fn exception_class(vm: &mut Vm, name: &str) -> Option<Value> {
    let exception = vm.intern("Exception");
    let root = vm.global(exception)?;
    let id = vm.intern(name);
    let class = match vm.global(id) {
        Some(c) => c,
        None => vm.try_load_class(id).ok()??,
    };
    (vm.is_class(class) && vm.inherits_from(class, root)).then_some(class)
}

/// Signals a runtime error detected by the VM as an instance of the core
/// library's exception class `class_name`, with `text` as its messageText,
/// after `init` has set its other fields. Answers what `signal` answers (a
/// handler's `resume:` value, or the unwind to its `on:do:`). When no handler
/// takes it, or the library has no such class, the error is fatal with
/// `text` as its message, just as an unhandled VM error.
#[cold]
#[inline(never)]
pub(crate) fn signal_runtime_error(
    vm: &mut Vm,
    class_name: &str,
    text: String,
    init: impl FnOnce(&mut Vm, Value) -> Result<(), Unwind>,
) -> VmResult {
    if !handler_may_catch(vm) {
        return Err(Unwind::error(text));
    }
    let Some(class) = exception_class(vm, class_name) else {
        return Err(Unwind::error(text));
    };
    let exc = vm.new_instance(class);
    let sel = vm.intern("messageText:");
    let msg = vm.new_string(&text)?;
    vm.send(exc, sel, &[msg])?;
    init(vm, exc)?;
    match run_handler(vm, exc) {
        Some(r) => r,
        None => Err(Unwind::error(text)),
    }
}

/// `Exception>>signal` (also `pass`, `outer` and a re-`signal` from a handler:
/// the running handler's record is disabled, so the search starts outside it).
fn exception_signal(vm: &mut Vm, a: Args) -> VmResult {
    let exc = a.rcvr(vm);
    signal(vm, exc)
}

fn active_handler(vm: &mut Vm, exc: Value, what: &str) -> Result<u64, Unwind> {
    match handler_id(vm, exc) {
        Some(id) if vm.handlers.iter().any(|r| r.id == id) => Ok(id),
        _ => Err(signal_error(
            vm,
            format!("Exception>>#{what} outside of a handler of this exception"),
        )),
    }
}

/// Signals a new core-library `Error` with `text`, so that misuse of the
/// exception protocol can itself be handled; fatal when unhandled or when
/// class Error is not available.
#[cold]
pub(crate) fn signal_error(vm: &mut Vm, text: String) -> Unwind {
    match signal_runtime_error(vm, "Error", text.clone(), |_, _| Ok(())) {
        // A handler resumed an Error: it cannot be; report the original.
        Ok(_) => Unwind::error(text),
        Err(e) => e,
    }
}

/// `Object>>error:` of the core library: signals an `Error` whose
/// messageText is the argument (its `asString` when it is not a String).
fn object_error(vm: &mut Vm, a: Args) -> VmResult {
    let text = message_text(vm, a.arg(vm, 0))?;
    signal_runtime_error(vm, "Error", text, |_, _| Ok(()))
}

/// The text of an `error:` argument.
fn message_text(vm: &mut Vm, v: Value) -> Result<String, Unwind> {
    if is_kind(v, Kind::String) || is_kind(v, Kind::Symbol) {
        return Ok(object::str_of(v).to_string());
    }
    let sel = vm.intern("asString");
    let s = vm.send(v, sel, &[])?;
    if is_kind(s, Kind::String) || is_kind(s, Kind::Symbol) {
        Ok(object::str_of(s).to_string())
    } else {
        Ok(format!("an instance of {}", vm.class_name_of(v)))
    }
}

/// `Object>>doesNotUnderstand:arguments:` of the core library: signals a
/// `MessageNotUnderstood` carrying a `Message` (selector and arguments) and
/// the receiver. It is resumable: `resume: v` makes the failed send answer
/// `v`.
fn object_does_not_understand(vm: &mut Vm, a: Args) -> VmResult {
    let rcvr = a.rcvr(vm);
    let (selector, arguments) = (a.arg(vm, 0), a.arg(vm, 1));
    let sel_text = message_text(vm, selector)?;
    let class = vm.class_of(rcvr);
    let text = format!(
        "Method {sel_text} not found in class {}",
        vm.class_name(class)
    );
    signal_runtime_error(vm, "MessageNotUnderstood", text, |vm, exc| {
        // Only sends that are understood: a program's own class named
        // Message must not make the report of a DNU a DNU itself.
        let make = vm.intern("selector:arguments:");
        let set = vm.intern("message:receiver:");
        let message = match exception_message_class(vm) {
            Some(c) if understands(vm, c, make) => vm.send(c, make, &[selector, arguments])?,
            _ => vm.nil,
        };
        if understands(vm, exc, set) {
            vm.send(exc, set, &[message, rcvr])?;
        }
        Ok(())
    })
}

/// Whether `rcvr` has a method for `selector` (no `doesNotUnderstand:`).
fn understands(vm: &mut Vm, rcvr: Value, selector: crate::symbols::SymbolId) -> bool {
    let class = vm.class_of(rcvr);
    vm.lookup(class, selector).is_some()
}

/// The core library's class `Message`, if loaded or loadable.
fn exception_message_class(vm: &mut Vm) -> Option<Value> {
    let id = vm.intern("Message");
    match vm.global(id) {
        Some(c) => Some(c),
        None => vm.try_load_class(id).ok()?,
    }
    .filter(|c| vm.is_class(*c))
}

/// `Object>>unknownGlobal:` of the core library: a class of that name is
/// loaded from the class path; failing that an `UnknownGlobal` is signalled
/// (resumable: `resume: v` makes the global read answer `v`).
fn object_unknown_global(vm: &mut Vm, a: Args) -> VmResult {
    let name = a.arg(vm, 0);
    let id = super::symbol_arg(vm, "Object>>#unknownGlobal:", name)?;
    if let Some(v) = vm.global(id) {
        return Ok(v);
    }
    if let Some(class) = vm.try_load_class(id)? {
        return Ok(class);
    }
    let text = format!(
        "Tried loading '{}' as a class, but failed.",
        vm.symbols.text(id)
    );
    let sym = vm.symbol_value(id);
    signal_runtime_error(vm, "UnknownGlobal", text, |vm, exc| {
        let set = vm.intern("name:");
        if understands(vm, exc, set) {
            vm.send(exc, set, &[sym])?;
        }
        Ok(())
    })
}

/// `Exception>>return:`.
fn exception_return(vm: &mut Vm, a: Args) -> VmResult {
    let exc = a.rcvr(vm);
    let id = active_handler(vm, exc, "return:")?;
    vm.unwind_value = a.arg(vm, 0);
    vm.exc.target = id;
    vm.exc.retry = false;
    Err(Unwind::EXCEPTION)
}

/// `Exception>>retry`.
fn exception_retry(vm: &mut Vm, a: Args) -> VmResult {
    let exc = a.rcvr(vm);
    let id = active_handler(vm, exc, "retry")?;
    vm.unwind_value = vm.nil;
    vm.exc.target = id;
    vm.exc.retry = true;
    Err(Unwind::EXCEPTION)
}

/// `Exception>>resume:`.
fn exception_resume(vm: &mut Vm, a: Args) -> VmResult {
    let exc = a.rcvr(vm);
    active_handler(vm, exc, "resume:")?;
    let resumable = vm.intern("isResumable");
    if vm.send(exc, resumable, &[])? != vm.true_ {
        let name = vm.class_name_of(exc);
        return Err(signal_error(
            vm,
            format!(
                "Exception>>#resume: {} is not resumable",
                super::with_article(&name)
            ),
        ));
    }
    vm.unwind_value = a.arg(vm, 0);
    vm.exc.resume = exc;
    Err(Unwind::RESUME)
}

/// `Exception>>defaultAction` of the core library: the program ends with the
/// exception's class and message text.
fn exception_default_action(vm: &mut Vm, a: Args) -> VmResult {
    let exc = a.rcvr(vm);
    let sel = vm.intern("messageText");
    let text = vm.send(exc, sel, &[])?;
    let name = vm.class_name_of(exc);
    let text = if is_kind(text, Kind::String) || is_kind(text, Kind::Symbol) {
        object::str_of(text).to_string()
    } else {
        name.clone()
    };
    Err(Unwind::error(format!("unhandled {name}: {text}")))
}

/// What an unwind carried, so a block run in between cannot lose it.
struct Pending {
    value: Value,
    home: Value,
    exc: ExceptionTransfer,
    error: Option<crate::error::SomError>,
    exit: i32,
}

fn save(vm: &Vm, r: &VmResult) -> Pending {
    Pending {
        value: vm.unwind_value,
        home: vm.unwind_home,
        exc: vm.exc,
        error: matches!(r, Err(Unwind::ERROR)).then(take_error),
        exit: vm.exit_code,
    }
}

fn restore(vm: &mut Vm, p: Pending, r: VmResult) -> VmResult {
    let next_id = vm.exc.next_id;
    vm.unwind_value = p.value;
    vm.unwind_home = p.home;
    vm.exc = p.exc;
    vm.exc.next_id = next_id;
    vm.exit_code = p.exit;
    if let Some(e) = p.error {
        return Err(Unwind::raise(e));
    }
    r
}

/// `Block>>ensure:`: runs the argument after the receiver however it ends.
fn block_ensure(vm: &mut Vm, a: Args) -> VmResult {
    let body = block_arg(vm, "Block>>#ensure:", a.rcvr(vm))?;
    let after = block_arg(vm, "Block>>#ensure:", a.arg(vm, 0))?;
    let r = vm.call_block(body, &[]);
    let p = save(vm, &r);
    vm.call_block(after, &[])?;
    restore(vm, p, r)
}

/// `Block>>ifCurtailed:`: runs the argument only when the receiver does not
/// return normally (non-local return, exception unwind, error, exit).
fn block_if_curtailed(vm: &mut Vm, a: Args) -> VmResult {
    let body = block_arg(vm, "Block>>#ifCurtailed:", a.rcvr(vm))?;
    let after = block_arg(vm, "Block>>#ifCurtailed:", a.arg(vm, 0))?;
    let r = vm.call_block(body, &[]);
    if r.is_ok() {
        return r;
    }
    let p = save(vm, &r);
    vm.call_block(after, &[])?;
    restore(vm, p, r)
}

pub(super) fn install(vm: &mut Vm) {
    vm.register_primitive("Block", "on:do:", block_on_do);
    vm.register_primitive("Block", "ensure:", block_ensure);
    vm.register_primitive("Block", "ifCurtailed:", block_if_curtailed);
    vm.register_primitive("Exception", "signal", exception_signal);
    vm.register_primitive("Exception", "pass", exception_signal);
    vm.register_primitive("Exception", "return:", exception_return);
    vm.register_primitive("Exception", "retry", exception_retry);
    vm.register_primitive("Exception", "resume:", exception_resume);
    vm.register_primitive("Exception", "defaultAction", exception_default_action);
    vm.register_primitive("Object", "error:", object_error);
    vm.register_primitive(
        "Object",
        "doesNotUnderstand:arguments:",
        object_does_not_understand,
    );
    vm.register_primitive("Object", "unknownGlobal:", object_unknown_global);
    for (class, sel) in [
        ("Block", "on:do:"),
        ("Block", "ensure:"),
        ("Block", "ifCurtailed:"),
        ("Exception", "signal"),
        ("Exception", "pass"),
        ("Exception", "return:"),
        ("Exception", "retry"),
        ("Exception", "resume:"),
        ("Exception", "defaultAction"),
        ("Object", "error:"),
        ("Object", "doesNotUnderstand:arguments:"),
        ("Object", "unknownGlobal:"),
    ] {
        vm.register_transparent(class, sel);
    }
}
