//! The runtime entry points compiled code calls, with their Cranelift
//! signatures. The functions themselves are `som_runtime::tier::entry`; this
//! table is the only place their addresses enter compiled code (as constants
//! of `call_indirect`, so the code needs no relocation).

use cranelift_codegen::ir::{self, types::I64, AbiParam, Signature};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::FunctionBuilder;

use som_runtime::tier::entry as rt;

/// One entry point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Entry {
    /// `rt_send(vm, node, argv, argc) -> (status, value)`
    Send,
    /// `rt_eval_node(vm, frame, node) -> (status, value)`
    EvalNode,
    /// `rt_fallback(vm, frame, fallback, cond) -> (status, value)`
    Fallback,
    /// `rt_loop_not_boolean(vm, node, c) -> (status, value)`
    LoopNotBoolean,
    /// `rt_to_do(vm, frame, node, from, to, step) -> (status, value)`
    ToDo,
    /// `rt_field(vm, rcvr, index, pos, value) -> (status, value)`
    Field,
    /// `rt_literal_array(vm, template) -> value`
    LiteralArray,
    /// `rt_unwind_inlined(vm, frame, status, pos) -> (status, value)`
    UnwindInlined,
    /// `rt_new_array(vm, argv, n) -> value`
    NewArray,
    /// `rt_return(vm, value) -> (status, value)`
    Return,
    /// `rt_send_miss(vm, node, argv, argc, unit) -> (status, value)`
    SendMiss,
    /// `rt_new_double(vm, bits) -> value`
    NewDouble,
    /// `rt_enforced_send(vm, node, argv, argc) -> (status, value)`
    EnforcedSend,
    /// `rt_enforced_send_miss(vm, node, argv, argc, unit) -> (status, value)`
    EnforcedSendMiss,
    /// `rt_super_send(vm, node, argv, argc) -> (status, value)`
    SuperSend,
    /// `rt_invoke(vm, node, method, argv, argc) -> (status, value)`
    Invoke,
    /// `rt_enforced_invoke(vm, node, method, argv, argc) -> (status, value)`
    EnforcedInvoke,
    /// `rt_enforced_field(vm, node, rcvr, write, value) -> (status, value)`
    EnforcedField,
    /// `rt_call_unwound(vm, frame, status, pos) -> (status, value)`
    CallUnwound,
    /// `rt_send_pending(vm, node, inner, argv, argc) -> (status, value)`
    SendPending,
    /// `rt_restart_inlined(vm, frame, pos) -> (status, value)`
    RestartInlined,
    /// `rt_global_written(vm, cell)`
    GlobalWritten,
    /// `rt_eager_current(cell) -> bool`
    EagerCurrent,
    /// `rt_unit_miss(vm, unit, reason)`
    UnitMiss,
    /// `rt_enforced_primitive(vm, node, method, argv, argc) -> (status, value)`
    EnforcedPrimitive,
}

const ALL: [Entry; 25] = [
    Entry::EnforcedPrimitive,
    Entry::UnitMiss,
    Entry::EnforcedSendMiss,
    Entry::EagerCurrent,
    Entry::GlobalWritten,
    Entry::RestartInlined,
    Entry::SendPending,
    Entry::CallUnwound,
    Entry::EnforcedInvoke,
    Entry::Invoke,
    Entry::SuperSend,
    Entry::EnforcedSend,
    Entry::EnforcedField,
    Entry::NewDouble,
    Entry::SendMiss,
    Entry::Return,
    Entry::NewArray,
    Entry::Send,
    Entry::EvalNode,
    Entry::Fallback,
    Entry::LoopNotBoolean,
    Entry::ToDo,
    Entry::Field,
    Entry::LiteralArray,
    Entry::UnwindInlined,
];

impl Entry {
    /// The function's address.
    pub fn address(self) -> usize {
        match self {
            Entry::Send => rt::rt_send as *const () as usize,
            Entry::EvalNode => rt::rt_eval_node as *const () as usize,
            Entry::Fallback => rt::rt_fallback as *const () as usize,
            Entry::LoopNotBoolean => rt::rt_loop_not_boolean as *const () as usize,
            Entry::ToDo => rt::rt_to_do as *const () as usize,
            Entry::Field => rt::rt_field as *const () as usize,
            Entry::LiteralArray => rt::rt_literal_array as *const () as usize,
            Entry::UnwindInlined => rt::rt_unwind_inlined as *const () as usize,
            Entry::NewArray => rt::rt_new_array as *const () as usize,
            Entry::Return => rt::rt_return as *const () as usize,
            Entry::SendMiss => rt::rt_send_miss as *const () as usize,
            Entry::NewDouble => rt::rt_new_double as *const () as usize,
            Entry::EnforcedSend => rt::rt_enforced_send as *const () as usize,
            Entry::EnforcedSendMiss => rt::rt_enforced_send_miss as *const () as usize,
            Entry::SuperSend => rt::rt_super_send as *const () as usize,
            Entry::Invoke => rt::rt_invoke as *const () as usize,
            Entry::EnforcedInvoke => rt::rt_enforced_invoke as *const () as usize,
            Entry::EnforcedPrimitive => rt::rt_enforced_primitive as *const () as usize,
            Entry::EnforcedField => rt::rt_enforced_field as *const () as usize,
            Entry::CallUnwound => rt::rt_call_unwound as *const () as usize,
            Entry::SendPending => rt::rt_send_pending as *const () as usize,
            Entry::RestartInlined => rt::rt_restart_inlined as *const () as usize,
            Entry::GlobalWritten => rt::rt_global_written as *const () as usize,
            Entry::EagerCurrent => rt::rt_eager_current as *const () as usize,
            Entry::UnitMiss => rt::rt_unit_miss as *const () as usize,
        }
    }

    /// The name listings show for the function.
    pub fn name(self) -> &'static str {
        match self {
            Entry::Send => "rt_send",
            Entry::EvalNode => "rt_eval_node",
            Entry::Fallback => "rt_fallback",
            Entry::LoopNotBoolean => "rt_loop_not_boolean",
            Entry::ToDo => "rt_to_do",
            Entry::Field => "rt_field",
            Entry::LiteralArray => "rt_literal_array",
            Entry::UnwindInlined => "rt_unwind_inlined",
            Entry::NewArray => "rt_new_array",
            Entry::Return => "rt_return",
            Entry::SendMiss => "rt_send_miss",
            Entry::NewDouble => "rt_new_double",
            Entry::EnforcedSend => "rt_enforced_send",
            Entry::EnforcedSendMiss => "rt_enforced_send_miss",
            Entry::SuperSend => "rt_super_send",
            Entry::Invoke => "rt_invoke",
            Entry::EnforcedInvoke => "rt_enforced_invoke",
            Entry::EnforcedPrimitive => "rt_enforced_primitive",
            Entry::EnforcedField => "rt_enforced_field",
            Entry::CallUnwound => "rt_call_unwound",
            Entry::SendPending => "rt_send_pending",
            Entry::RestartInlined => "rt_restart_inlined",
            Entry::GlobalWritten => "rt_global_written",
            Entry::EagerCurrent => "rt_eager_current",
            Entry::UnitMiss => "rt_unit_miss",
        }
    }

    /// The entry point at `address`, if it is one.
    pub fn at(address: usize) -> Option<Entry> {
        ALL.into_iter().find(|e| e.address() == address)
    }

    /// Whether the runtime may start SOM activations in the call (so it
    /// must see the activation budget of the inlined activations around
    /// it); allocation and bookkeeping entries do not.
    pub fn activates(self) -> bool {
        !matches!(
            self,
            Entry::LiteralArray
                | Entry::NewArray
                | Entry::NewDouble
                | Entry::Return
                | Entry::GlobalWritten
                | Entry::EagerCurrent
                | Entry::UnitMiss
        )
    }

    /// (parameters, results), all 64-bit words.
    fn arity(self) -> (usize, usize) {
        match self {
            Entry::Send => (4, 2),
            Entry::EvalNode => (3, 2),
            Entry::Fallback => (4, 2),
            Entry::LoopNotBoolean => (3, 2),
            Entry::ToDo => (6, 2),
            Entry::Field => (5, 2),
            Entry::LiteralArray => (2, 1),
            Entry::UnwindInlined => (4, 2),
            Entry::NewArray => (3, 1),
            Entry::Return => (2, 2),
            Entry::SendMiss => (5, 2),
            Entry::NewDouble => (2, 1),
            Entry::EnforcedSend => (4, 2),
            Entry::EnforcedSendMiss => (5, 2),
            Entry::SuperSend => (4, 2),
            Entry::Invoke => (5, 2),
            Entry::EnforcedInvoke => (5, 2),
            Entry::EnforcedPrimitive => (5, 2),
            Entry::EnforcedField => (5, 2),
            Entry::CallUnwound => (4, 2),
            Entry::SendPending => (5, 2),
            Entry::RestartInlined => (3, 2),
            Entry::GlobalWritten => (2, 0),
            Entry::EagerCurrent => (1, 1),
            Entry::UnitMiss => (3, 0),
        }
    }
}

/// The signatures imported into the function being built, one per entry
/// point used.
pub(crate) struct EntrySigs {
    call_conv: CallConv,
    refs: Vec<(Entry, ir::SigRef)>,
    body: Option<ir::SigRef>,
}

impl EntrySigs {
    pub fn new(call_conv: CallConv) -> EntrySigs {
        EntrySigs {
            call_conv,
            refs: Vec::new(),
            body: None,
        }
    }

    /// The signature of a compiled body (`som_runtime::tier::BodyFn`), for
    /// calls between compiled units.
    pub fn body(&mut self, b: &mut FunctionBuilder<'_>) -> ir::SigRef {
        if let Some(r) = self.body {
            return r;
        }
        let mut sig = Signature::new(self.call_conv);
        sig.params
            .extend((0..3 + som_runtime::tier::REG_ARGS).map(|_| AbiParam::new(I64)));
        sig.returns.extend((0..2).map(|_| AbiParam::new(I64)));
        let r = b.import_signature(sig);
        self.body = Some(r);
        r
    }

    /// The signature of `e` in the function `b` builds.
    pub fn get(&mut self, b: &mut FunctionBuilder<'_>, e: Entry) -> ir::SigRef {
        if let Some((_, r)) = self.refs.iter().find(|(x, _)| *x == e) {
            return *r;
        }
        let (params, results) = e.arity();
        let mut sig = Signature::new(self.call_conv);
        sig.params.extend((0..params).map(|_| AbiParam::new(I64)));
        sig.returns.extend((0..results).map(|_| AbiParam::new(I64)));
        let r = b.import_signature(sig);
        self.refs.push((e, r));
        r
    }
}
