//! The Cranelift tier: hot method and block bodies compiled by partial
//! evaluation of their specialized AST.
//!
//! The runtime asks for a body through `som_runtime::tier::Tier` once it is
//! hot (`--jit=on`) or at once (`--jit=eager`). The lowering walks the body
//! with the chains as they are now: chain keys become constants, chain
//! entries shape guards leading to their inlined targets, and what no guard
//! needs disappears. One file per node family, mirroring
//! `runtime/src/nodes/`: [`variables`], [`send`] (with [`special`], the
//! special selectors), [`control`], [`block`], [`enforced`] (OMOP: domain
//! chains folded into shape guards, handlers inlined at the meta level);
//! [`call`] runs the compiled bodies of targets it does not inline directly;
//! [`unit`] holds what they share (activations, locals, calls, unwinding);
//! [`validity`] cleans the built function (redundant validity tests, blocks
//! that only jump on).
//! The lowering reads the VM only through its `tier_*` API.
//!
//! **Guard failure** (one strategy everywhere): a guard that misses takes a
//! cold path that finishes the operation generically (the send through
//! `rt_send`, which runs the site's chains exactly as the interpreter does)
//! and rejoins the compiled code at the merge point with a boxed value
//! (for a send that is the argument of inline arithmetic or a comparison,
//! after that operation, which the cold path finishes generically too:
//! `send::Lowerer::send_evaluated_with`).
//! Nothing the fast path relies on is destroyed: values are SOM words, or
//! Doubles kept unboxed ([`unit::Lazy`]: a word of 0 stands for "the f64
//! beside it"), which a generic path boxes before it uses them; and no fact
//! about a value survives a call that was not inlined.
//! No frame is reconstructed and the interpreter never resumes mid-body.
//! Consequences: a site whose receivers change keeps paying for the call
//! until its unit is recompiled; in eager mode, a chain that changes state
//! makes the runtime recompile the unit at its next invocation.
//!
//! **Invalidation**: every inlined lookup is guarded by the unit's `valid`
//! word (see `som_runtime::tier`), cleared when a method of an inlined
//! selector changes (or a global the unit folded is written, or, for a
//! unit that took an owner as fixed, any object changes owner); stale code
//! then takes its generic paths until it returns, and new activations run
//! the interpreter until the body is hot again. An enforced unit may be
//! specialized on its entry domain and its receiver's owner, tested once on
//! entry: another one makes it decline (`STATUS_NO_BUDGET`, the activation
//! is interpreted, the miss counted as a guard failure). A test of `valid` that every
//! path reaches through another one without a call in between is removed
//! ([`validity`]): the word only changes in calls.
//!
//! Compiled code is relocation-free: runtime functions, chains, shapes and
//! constants are immediates (all of them immortal), so each unit is copied
//! into its own executable mapping ([`code_heap`]).

mod block;
mod call;
mod cleanup;
mod code_heap;
mod control;
mod enforced;
mod entry;
mod listing;
mod send;
mod special;
#[cfg(test)]
mod test_support;
mod unit;
mod validity;
mod variables;

use std::cell::{Cell, RefCell};

use cranelift_codegen::ir::{self, types::I64, AbiParam, InstBuilder, Signature, UserFuncName};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::{control::ControlPlane, Context};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};

use som_runtime::nodes::Node;
use som_runtime::tier::Vm;
use som_runtime::tier::{
    fingerprint, layout, BodyFn, Compiled, HotLoop, OsrFn, Tier, TierCell, TierReport, UnitState,
};
use som_runtime::tier::{AstBody, MethodData};

pub use call::MAX_DIRECT_SLOTS;
pub use unit::{INLINE_BUDGET, INLINE_NEW_MAX_FIELDS, MAX_INLINE_DEPTH};

use entry::Entry;
use entry::EntrySigs;
use unit::{FrameRef, Lowerer, Scope, Slots};

/// Counters of the tier's work, for `--dispatch-stats` and benchmarks.
#[derive(Clone, Copy, Debug, Default)]
pub struct TierStats {
    /// Units compiled.
    pub compilations: u64,
    /// Time spent compiling, in microseconds.
    pub compile_micros: u64,
    /// Bytes of executable memory holding compiled code.
    pub code_bytes: usize,
}

/// The Cranelift tier.
pub struct CraneliftTier {
    isa: OwnedTargetIsa,
    fctx: RefCell<FunctionBuilderContext>,
    /// Cranelift's context, kept between compilations: it holds the
    /// register allocator's tables, whose reallocation per unit was a tenth
    /// of the compile time.
    ctx: RefCell<Option<Context>>,
    heap: code_heap::CodeHeap,
    print_ir: Option<String>,
    stats: Cell<TierStats>,
    /// The send sites each live unit (by code address) compiled.
    sites: RefCell<std::collections::HashMap<usize, Vec<usize>>>,
    /// `/tmp/perf-<pid>.map`, when profiling with `perf` (`--perf-map`).
    perf_map: Option<RefCell<std::fs::File>>,
}

impl CraneliftTier {
    /// A tier for the host machine. `print_ir` (`Class>>#selector`) names a
    /// method whose compilations are listed on standard error.
    pub fn new(print_ir: Option<String>) -> Result<CraneliftTier, String> {
        let mut fb = settings::builder();
        let set = |fb: &mut settings::Builder, k: &str, v: &str| {
            fb.set(k, v)
                .map_err(|e| format!("cranelift setting {k}: {e}"))
        };
        // The lowering folds what the chains know itself; Cranelift's
        // e-graph pass on top cost 30-45% more compile time per unit and
        // made no benchmark faster (measured on Richards, DeltaBlue,
        // Mandelbrot, Queens and Json, 2026-11-29). The single-pass
        // register allocator compiles faster still but made code 1.3 to 4
        // times slower, so the backtracking one stays.
        set(&mut fb, "opt_level", "none")?;
        // The verifier checks every function in debug builds (tests), where
        // compile time matters less than catching a malformed lowering.
        let verify = if cfg!(debug_assertions) {
            "true"
        } else {
            "false"
        };
        set(&mut fb, "enable_verifier", verify)?;
        set(&mut fb, "is_pic", "false")?;
        set(&mut fb, "unwind_info", "false")?;
        set(&mut fb, "preserve_frame_pointers", "true")?;
        // Stack probes would call a helper through a relocation.
        set(&mut fb, "enable_probestack", "false")?;
        let isa = cranelift_native::builder()
            .map_err(|e| format!("no Cranelift backend for this machine: {e}"))?
            .finish(settings::Flags::new(fb))
            .map_err(|e| format!("cranelift: {e}"))?;
        Ok(CraneliftTier {
            isa,
            fctx: RefCell::new(FunctionBuilderContext::new()),
            ctx: RefCell::new(None),
            heap: Default::default(),
            print_ir,
            stats: Cell::new(TierStats::default()),
            sites: Default::default(),
            perf_map: None,
        })
    }

    /// Names every unit's code in `/tmp/perf-<pid>.map`, the file `perf
    /// report` reads to attribute samples in code it did not load. Freed
    /// code keeps its line: perf takes the latest mapping of an address.
    pub fn with_perf_map(mut self) -> Result<CraneliftTier, String> {
        let path = format!("/tmp/perf-{}.map", std::process::id());
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("cannot open {path}: {e}"))?;
        self.perf_map = Some(RefCell::new(f));
        Ok(self)
    }

    /// What the tier has done so far.
    pub fn stats(&self) -> TierStats {
        self.stats.get()
    }

    /// `som_runtime::tier::BodyFn`: the VM, the frame, the receiver and
    /// [`som_runtime::tier::REG_ARGS`] arguments.
    fn body_signature(&self) -> Signature {
        let mut sig = Signature::new(self.isa.default_call_conv());
        for _ in 0..3 + som_runtime::tier::REG_ARGS {
            sig.params.push(AbiParam::new(I64));
        }
        sig.returns.push(AbiParam::new(I64));
        sig.returns.push(AbiParam::new(I64));
        sig
    }

    fn compile_unit(
        &self,
        vm: &mut Vm,
        m: &'static MethodData,
        body: &'static AstBody,
        hot_loop: Option<(HotLoop, &'static TierCell)>,
    ) -> Result<Compiled<usize>, String> {
        let start = std::time::Instant::now();
        let unit: &'static UnitState = Box::leak(Box::new(UnitState {
            valid: Cell::new(1),
            body,
            cell: hot_loop.map_or(&body.tier, |(_, c)| c),
            method: m,
            fingerprint: fingerprint(body),
            inlined: std::cell::OnceCell::new(),
            code_bytes: Cell::new(0),
            code: Cell::new(0),
            misses: Cell::new(0),
        }));
        let consts = vm.tier_constants();
        let tier_vm = vm.tier_vm() as i64;
        // The OMOP state compiled code reads lives in the VM's TierVm block.
        let enforced_flag = tier_vm + layout::VM_ENFORCED as i64;
        let current_domain = tier_vm + layout::VM_CURRENT_DOMAIN as i64;
        let alloc_domain = tier_vm + layout::VM_ALLOC_DOMAIN as i64;
        let handler_selectors = som_runtime::tier::Handler::ALL
            .iter()
            .map(|h| (*h, vm.tier_handler_selector(*h)))
            .collect();
        let dnu_selector = vm.well_known.dnu;
        let eager = vm.jit_mode == som_runtime::tier::JitMode::Eager;
        // An enforced twin runs in enforced execution, a plain body outside
        // it (the runtime's invariant, asserted in `tier::run_body`).
        let enforced_body = m.enforced.get().is_some_and(|t| std::ptr::eq(t, body));
        let object_bumps = vm.tier_object_bumps(unit::INLINE_NEW_MAX_FIELDS);
        // From here on the lowering only reads the VM.
        let vm: &Vm = vm;
        let mut ctx = self.ctx.take().unwrap_or_else(Context::new);
        ctx.clear();
        ctx.func.signature = self.body_signature();
        if hot_loop.is_some() {
            // An OsrFn: the VM, the frame, then i, limit, step.
            ctx.func.signature.params.truncate(2);
            for _ in 0..3 {
                ctx.func.signature.params.push(AbiParam::new(I64));
            }
        }
        ctx.func.name = UserFuncName::user(0, 0);
        let mut fctx = self.fctx.borrow_mut();
        let b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let mut lw = Lowerer {
            b,
            vm_addr: vm as *const Vm as i64,
            consts,
            unit,
            tier_vm,
            scopes: Vec::new(),
            depends_on: Vec::new(),
            budget: INLINE_BUDGET,
            site_budget: None,
            sigs: EntrySigs::new(self.isa.default_call_conv()),
            inlined: Vec::new(),
            embedded: listing::Constants::new(self.wants_listing(vm, m)),
            sites: Vec::new(),
            osr: false,
            compilations: hot_loop.map_or(&body.tier, |(_, c)| c).compilations(),
            entry_domain: if enforced_body {
                unit::entry_domain(body, hot_loop.map_or(&body.tier, |(_, c)| c).compilations())
            } else {
                None
            },
            self_owner: if enforced_body {
                unit::receiver_owner(body, hot_loop.map_or(&body.tier, |(_, c)| c).compilations())
            } else {
                None
            },
            unit_receiver: None,
            register_args: None,
            owner_facts: false,
            syms: &vm.symbols,
            dnu_selector,
            enforced_flag,
            current_domain,
            alloc_domain,
            handler_selectors,
            flag: enforced_body,
            base_flag: enforced_body,
            runtime: vm,
            epoch: 0,
            max_inline_depth: 0,
            folded_globals: Vec::new(),
            validity_checks: Vec::new(),
            valid_block: None,
            valid_carry: None,
            inlined_bodies: Vec::new(),
            eager,
            shape_next: None,
            arg_shapes_next: Vec::new(),
            slot_shapes_next: Vec::new(),
            defer_join: None,
            deferred: None,
            object_bumps,
            slow_path: 0,
        };
        lw.lower_unit(m, body, hot_loop.map(|(l, _)| l));
        let lowered = start.elapsed();
        let (depends_on, inlined) = (std::mem::take(&mut lw.depends_on), lw.inlined.len());
        let folded_globals = std::mem::take(&mut lw.folded_globals);
        let relies_on_owners = lw.self_owner.is_some() || lw.owner_facts;
        let inlined_bodies: Vec<(&'static AstBody, u64)> = std::mem::take(&mut lw.inlined_bodies)
            .into_iter()
            .map(|b| (b, fingerprint(b)))
            .collect();
        // Set once: the unit is new.
        let _ = unit.inlined.set(inlined_bodies);
        let embedded = std::mem::take(&mut lw.embedded);
        let sites = std::mem::take(&mut lw.sites);
        let checks = std::mem::take(&mut lw.validity_checks);
        lw.b.seal_all_blocks();
        lw.b.finalize(self.isa.frontend_config());
        cleanup::run(&mut ctx.func, &checks);
        // What is compiled: the instructions left in the layout.
        let clif_insts: usize = ctx
            .func
            .layout
            .blocks()
            .map(|b| ctx.func.layout.block_insts(b).count())
            .sum();
        let passed = start.elapsed();
        if self.wants_listing(vm, m) {
            ctx.set_disasm(true);
        }
        let code = ctx
            .compile(&*self.isa, &mut ControlPlane::default())
            .map_err(|e| format!("cranelift: {:?}\n{}", e.inner, e.func.display()))?;
        if !code.buffer.relocs().is_empty() {
            return Err("compiled code needs relocations".into());
        }
        let generated = start.elapsed();
        let bytes = code.code_buffer().to_vec();
        let listing = code.vcode.clone();
        let addr = self.heap.install(&bytes)?;
        unit.code_bytes.set(bytes.len());
        unit.code.set(addr as usize);
        self.sites.borrow_mut().insert(addr as usize, sites);
        if let Some(f) = &self.perf_map {
            use std::io::Write;
            let kind = if hot_loop.is_some() { " (OSR)" } else { "" };
            // A failed write only loses a profiler's label.
            let _ = writeln!(
                f.borrow_mut(),
                "{:x} {:x} som:{}{kind}",
                addr as usize,
                bytes.len(),
                describe(vm, m)
            );
        }
        if self.wants_listing(vm, m) {
            let clif = listing::normalize(&ctx.func.display().to_string(), &embedded);
            let code = listing::normalize(&listing.unwrap_or_default(), &embedded);
            eprintln!(
                "; unit {} ({} CLIF instructions, {} bytes of code)\n; optimized CLIF\n{clif}; machine code\n{code}",
                describe(vm, m),
                clif_insts,
                bytes.len(),
            );
        }
        let micros = start.elapsed().as_micros() as u64;
        let mut st = self.stats.get();
        st.compilations += 1;
        st.compile_micros += micros;
        st.code_bytes = self.heap.live_bytes();
        self.stats.set(st);
        if som_runtime::tier::jit_enabled() {
            tracing::trace!(
                target: "metasom::jit",
                unit = describe(vm, m),
                inlined,
                clif_insts,
                code_bytes = bytes.len(),
                micros,
                lower_micros = lowered.as_micros() as u64,
                passes_micros = (passed - lowered).as_micros() as u64,
                codegen_micros = (generated - passed).as_micros() as u64,
                "compiled"
            );
        }
        self.ctx.replace(Some(ctx));
        Ok(Compiled {
            entry: addr as usize,
            unit,
            depends_on,
            folded_globals,
            relies_on_owners,
        })
    }

    fn wants_listing(&self, vm: &Vm, m: &MethodData) -> bool {
        self.print_ir.as_deref() == Some(describe(vm, m).as_str())
    }
}

/// `Class>>#selector` (or the enclosing method's, for a block).
fn describe(vm: &Vm, m: &MethodData) -> String {
    if m.is_block {
        return format!("[] in {}", m.source.site);
    }
    let holder = m.holder.get();
    let class = if vm.is_class(holder) {
        vm.class_name(holder).to_string()
    } else {
        "?".to_string()
    };
    format!("{class}>>#{}", vm.symbols.text(m.signature))
}

impl Tier for CraneliftTier {
    fn compile_loop(
        &self,
        vm: &mut Vm,
        m: &'static MethodData,
        body: &'static AstBody,
        node: HotLoop,
        cell: &'static TierCell,
    ) -> Option<Compiled<OsrFn>> {
        match self.compile_unit(vm, m, body, Some((node, cell))) {
            Ok(c) => Some(Compiled {
                // SAFETY: the code was compiled with the OsrFn signature
                // (five i64 parameters, two i64 results, the host's default
                // calling convention = extern "C").
                entry: unsafe { std::mem::transmute::<usize, OsrFn>(c.entry) },
                unit: c.unit,
                depends_on: c.depends_on,
                folded_globals: c.folded_globals,
                relies_on_owners: c.relies_on_owners,
            }),
            Err(e) => {
                if som_runtime::tier::jit_enabled() {
                    tracing::trace!(target: "metasom::jit", unit = describe(vm, m), error = %e, "declined");
                }
                debug_assert!(false, "compiling a loop of {}: {e}", describe(vm, m));
                None
            }
        }
    }

    fn release(&self, unit: &'static UnitState) {
        let addr = unit.code.replace(0);
        if addr != 0 {
            self.sites.borrow_mut().remove(&addr);
            // SAFETY: the runtime releases a unit only once it is invalid,
            // out of its entry cell and run by no activation.
            unsafe { self.heap.free(addr) };
        }
    }

    fn report(&self) -> TierReport {
        let st = self.stats.get();
        TierReport {
            compilations: st.compilations,
            live_units: self.heap.live_units(),
            live_bytes: self.heap.live_bytes(),
            compile_micros: st.compile_micros,
            compiled_sites: self.sites.borrow().values().flatten().copied().collect(),
        }
    }

    fn compile(
        &self,
        vm: &mut Vm,
        m: &'static MethodData,
        body: &'static AstBody,
    ) -> Option<Compiled> {
        match self.compile_unit(vm, m, body, None) {
            Ok(c) => Some(Compiled {
                // SAFETY: the code was compiled with the BodyFn signature
                // (two i64 parameters, two i64 results, the host's default
                // calling convention = extern "C").
                entry: unsafe { std::mem::transmute::<usize, BodyFn>(c.entry) },
                unit: c.unit,
                depends_on: c.depends_on,
                folded_globals: c.folded_globals,
                relies_on_owners: c.relies_on_owners,
            }),
            Err(e) => {
                // A lowering the backend rejects is a VM bug; the body stays
                // interpreted, so the program still runs correctly.
                if som_runtime::tier::jit_enabled() {
                    tracing::trace!(target: "metasom::jit", unit = describe(vm, m), error = %e, "declined");
                }
                debug_assert!(false, "compiling {}: {e}", describe(vm, m));
                None
            }
        }
    }
}

impl Lowerer<'_> {
    /// Lowers the unit's own activation: entry, body, exit.
    fn lower_unit(&mut self, m: &'static MethodData, body: &'static AstBody, hot: Option<HotLoop>) {
        let entry = self.b.create_block();
        self.b.append_block_params_for_function_params(entry);
        self.b.switch_to_block(entry);
        self.b.seal_block(entry);
        let params = self.b.block_params(entry).to_vec();
        let frame = params[1];
        // A body takes its receiver and first arguments in registers (see
        // `BodyFn`); a loop entered by OSR reads them from its frame, as a
        // body does its arguments past those, or all when they live in a
        // heap context.
        let in_registers = if hot.is_some() || body.needs_context {
            0
        } else {
            m.num_args.min(som_runtime::tier::REG_ARGS)
        };
        self.register_args = Some((frame, params[3..3 + in_registers].to_vec()));
        // The activations the unit inlines are counted here, once: the
        // budget must cover the deepest (known once the body is lowered, so
        // the constant is patched below), or the runtime interprets.
        let tvm = self.addr("vm", self.tier_vm);
        let left = self.load(tvm, layout::VM_ACTIVATIONS_LEFT);
        let need = self.iconst(0);
        let enough =
            self.b
                .ins()
                .icmp(ir::condcodes::IntCC::UnsignedGreaterThanOrEqual, left, need);
        let start = self.b.create_block();
        let decline = self.cold_block();
        let check = self.b.ins().brif(enough, start, &[], decline, &[]);
        self.b.seal_block(decline);
        self.b.switch_to_block(decline);
        self.spill_register_args();
        let status = self.iconst(som_runtime::tier::STATUS_NO_BUDGET as i64);
        let zero = self.iconst(0);
        self.b.ins().return_(&[status, zero]);
        self.b.seal_block(start);
        self.b.switch_to_block(start);
        if let Some(key) = self.entry_domain {
            self.check_entry_domain(key);
        }
        let receiver = if hot.is_some() {
            self.load(frame, layout::FRAME_RECEIVER)
        } else {
            params[2]
        };
        self.unit_receiver = Some(receiver);
        if let Some(key) = self.self_owner {
            self.check_receiver_owner(receiver, key);
        }
        let self_fields = unit::self_fields_used(body, self.compilations);
        if let Some(need) = self_fields {
            self.check_receiver_layout(m, receiver, need);
        }
        let mut entry_slots = None;
        let slots = if body.needs_context {
            Slots::Memory(self.load(frame, layout::FRAME_SLOTS))
        } else {
            let vars = self.new_vars(body.num_slots);
            // Every activation starts with nil locals (the runtime's and a
            // direct call's alike), so only the arguments are read; a loop
            // entered by OSR reads its live locals.
            let read = if hot.is_some() {
                body.num_slots
            } else {
                m.num_args
            };
            let slots_ptr = (read > in_registers).then(|| self.load(frame, layout::FRAME_SLOTS));
            if hot.is_some() {
                entry_slots = slots_ptr;
            }
            for (i, var) in vars.iter().enumerate() {
                let v = match slots_ptr {
                    _ if i < in_registers => params[3 + i],
                    Some(slots) if i < read => self.load(slots, (i * 8) as i32),
                    _ => self.nil(),
                };
                self.b.def_var(*var, v);
            }
            Slots::Vars(vars)
        };
        let (exit, unwind) = self.exit_and_unwind();
        let shadows = self.shadows_for(body, matches!(slots, Slots::Vars(_)));
        self.scopes.push(Scope {
            method: m,
            receiver,
            bindings: vec![unit::Binding::Plain; body.num_slots],
            shadows,
            receiver_shape: None,
            shape_used: false,
            self_fields: self_fields.unwrap_or(0),
            self_fields_kind: self.fields_kind_of(m),
            slot_shapes: Vec::new(),
            resend: None,
            slots,
            frame: FrameRef::Real {
                frame,
                slots: entry_slots,
            },
            exit,
            unwind,
            restart: None,
            call_pos: (m.source.line, m.source.col),
            outer: None,
        });
        self.osr = hot.is_some();
        let v = match hot {
            None => self.lower(&body.body),
            Some(HotLoop::While(n)) => self.lower_loop(n),
            Some(HotLoop::ToDo(n)) => {
                let (i, limit, step) = (params[2], params[3], params[4]);
                self.lower_to_do_entered(n, i, limit, step)
            }
        };
        self.jump_with(exit, v);
        self.finish_unwind(true);
        self.b.seal_block(exit);
        let v = self.enter_value_block(exit);
        if hot.is_some() {
            // The interpreter goes on after the loop with the frame's slots.
            self.materialize();
        }
        let zero = self.iconst(0);
        self.b.ins().return_(&[zero, v]);
        self.scopes.pop();
        let depth = self.max_inline_depth as i64;
        if depth == 0 {
            // Nothing inlined: nothing to check (the decline path is left
            // unreachable).
            self.b.func.replace(check).jump(start, &[]);
            let load = self.b.func.dfg.value_def(left).unwrap_inst();
            self.b.func.replace(load).iconst(I64, 0);
        } else {
            let need = self.b.func.dfg.value_def(need).unwrap_inst();
            self.b.func.replace(need).iconst(I64, depth);
        }
    }

    /// Declines (as for the activation budget) unless the current domain
    /// is `key`, the one the unit is specialized on; the miss is counted.
    fn check_entry_domain(&mut self, key: som_runtime::value::Value) {
        let cur = self.addr("vm", self.current_domain);
        let now = self.load(cur, 0);
        self.decline_unless(now, key, som_runtime::tier::MISS_ENTRY_DOMAIN);
    }

    /// Declines unless the owner of the unit's receiver is `key`.
    fn check_receiver_owner(&mut self, receiver: ir::Value, key: som_runtime::value::Value) {
        let owner = self.owner_key(receiver);
        self.decline_unless(owner, key, som_runtime::tier::MISS_ENTRY_OWNER);
    }

    /// Declines unless the unit's receiver has the fields its body reads
    /// and writes (`need` of them, of `self`'s layout): checked once here,
    /// the field accesses need no check of their own. A receiver always
    /// has them but for a method run on a foreign receiver, which leaves
    /// the unit to the interpreter until it is recompiled without the
    /// check (after [`som_runtime::tier::UNSTABLE_AFTER_COMPILATIONS`]).
    fn check_receiver_layout(&mut self, m: &MethodData, receiver: ir::Value, need: usize) {
        let go = self.b.create_block();
        let other = self.cold_block();
        self.check_fields_of(m, receiver, need - 1, go, other);
        self.decline_in(other, som_runtime::tier::MISS_ENTRY_LAYOUT);
        self.b.seal_block(go);
        self.b.switch_to_block(go);
    }

    /// Declines (as for the activation budget), counting a miss of the
    /// unit, unless `now` is `key`.
    fn decline_unless(&mut self, now: ir::Value, key: som_runtime::value::Value, reason: u64) {
        if key.is_ptr() {
            self.embedded.note(key.bits(), "object");
        }
        let same = self
            .b
            .ins()
            .icmp_imm_s(ir::condcodes::IntCC::Equal, now, key.bits() as i64);
        let go = self.b.create_block();
        let other = self.cold_block();
        self.b.ins().brif(same, go, &[], other, &[]);
        self.decline_in(other, reason);
        self.b.seal_block(go);
        self.b.switch_to_block(go);
    }

    /// Counts, on the path being built, that a site the unit left to the
    /// interpreter because it had never run has run (until the unit was
    /// recompiled too often: a site that stays so does not recompile it).
    pub(crate) fn count_site_ran(&mut self) {
        if self.compilations > som_runtime::tier::UNSTABLE_AFTER_COMPILATIONS {
            return;
        }
        self.count_unit_miss(som_runtime::tier::MISS_SITE_RAN);
    }

    /// `rt_unit_miss` for `reason`, on the path being built.
    fn count_unit_miss(&mut self, reason: u64) {
        let vm = self.vm();
        let unit = self.addr("unit", self.unit as *const UnitState as i64);
        let why = self.iconst(reason as i64);
        self.call_unadjusted(Entry::UnitMiss, &[vm, unit, why]);
    }

    /// Fills `other`, the cold block every branch to which is emitted, to
    /// count a miss of the unit's entry check (`reason`) and decline.
    fn decline_in(&mut self, other: ir::Block, reason: u64) {
        self.b.seal_block(other);
        self.b.switch_to_block(other);
        self.count_unit_miss(reason);
        self.spill_register_args();
        let status = self.iconst(som_runtime::tier::STATUS_NO_BUDGET as i64);
        let zero = self.iconst(0);
        self.b.ins().return_(&[status, zero]);
    }

    /// Writes the arguments the unit took in registers to its frame's
    /// slots, where the runtime reads them once the code answers anything
    /// but a value: the interpreter runs a declined activation, and
    /// `restart` re-runs one, from its frame (see `BodyFn`).
    pub(crate) fn spill_register_args(&mut self) {
        let Some((frame, args)) = self.register_args.clone() else {
            return;
        };
        if args.is_empty() {
            return;
        }
        let slots = self.load(frame, layout::FRAME_SLOTS);
        for (i, a) in args.into_iter().enumerate() {
            self.store(a, slots, (i * 8) as i32);
        }
    }

    /// Lowers one node whose value is not used.
    pub(crate) fn lower_effect(&mut self, node: &'static Node) {
        match node {
            Node::LocalWrite(i, _) if self.has_shadow(i.0) => {
                self.lower_lazy(node);
            }
            Node::Sequence(ns) => {
                for n in ns.iter() {
                    self.lower_effect(n);
                }
            }
            _ => {
                self.lower(node);
            }
        }
    }

    /// Lowers one node whose value may stay an unboxed Double.
    pub(crate) fn lower_lazy(&mut self, node: &'static Node) -> unit::Lazy {
        match node {
            Node::LocalRead(i) => {
                let top = self.scopes.len() - 1;
                match self.read_lazy_in(top, i.0) {
                    Some(l) => l,
                    None => unit::Lazy::word(self.read_local(i.0)),
                }
            }
            Node::LocalWrite(i, n) if self.has_shadow(i.0) => {
                let l = self.lower_lazy(n);
                let top = self.scopes.len() - 1;
                self.write_lazy_in(top, i.0, l);
                l
            }
            Node::Const(v) if self.is_double(*v) => {
                let word = self.som_const(*v);
                let f = som_runtime::object::double_of(*v);
                let dbl = self.b.ins().f64const(f);
                unit::Lazy {
                    word,
                    dbl: Some(dbl),
                    exact: true,
                }
            }
            _ => match self.double_site(node) {
                Some((s, op)) => self.lower_double_send(s, op),
                None => unit::Lazy::word(self.lower(node)),
            },
        }
    }

    /// Lowers one node; answers its value.
    pub(crate) fn lower(&mut self, node: &'static Node) -> ir::Value {
        match node {
            Node::Const(v) => self.som_const(*v),
            Node::LiteralArray(t) => self.lower_literal_array(*t),
            Node::SelfRef => self.receiver(),
            Node::LocalRead(i) => self.read_local(i.0),
            Node::LocalWrite(i, _) if self.has_shadow(i.0) => {
                let l = self.lower_lazy(node);
                let v = self.force(l);
                // The slot keeps the box, so later reads do not box again.
                self.write_local(i.0, v);
                v
            }
            Node::LocalWrite(i, n) => {
                let v = self.lower(n);
                self.write_local(i.0, v);
                v
            }
            Node::FieldRead(i, pos) => self.lower_field_read(*i, *pos),
            Node::FieldWrite(i, pos, n) => self.lower_field_write(*i, *pos, n),
            Node::GlobalRead(g) => self.lower_global_read(node, g),
            Node::Send(s) | Node::Send0(s) | Node::Send1(s) | Node::BinarySpecial(s) => {
                if self.double_site(node).is_some() {
                    let l = self.lower_lazy(node);
                    return self.force(l);
                }
                self.lower_send(s)
            }
            Node::Sequence(ns) => self.lower_sequence(ns),
            Node::Return(n) => self.lower_return(n),
            Node::If(n) => self.lower_if(n),
            Node::IfElse(n) => self.lower_if_else(n),
            Node::AndOr(n) => self.lower_and_or(n),
            Node::Loop(n) => self.lower_loop(n),
            Node::ToDo(n) => self.lower_to_do(n),
            Node::OuterRead(o) => self.lower_outer_read(node, *o),
            Node::OuterWrite(o, n) => self.lower_outer_write(node, *o, n),
            Node::NonLocalReturn(n) => self.lower_non_local_return(node, n),
            Node::EnforcedSend(s) => {
                if self.double_site(node).is_some() {
                    let l = self.lower_lazy(node);
                    return self.force(l);
                }
                self.lower_enforced_send(node, s)
            }
            Node::EnforcedFieldRead(f) => self.lower_enforced_field(f, false),
            Node::EnforcedFieldWrite(f) => self.lower_enforced_field(f, true),
            Node::EnforcedGlobalRead(g) => self.lower_enforced_global(node, g),
            Node::SuperSend(s) => self.lower_super_send(s),
            Node::Block(_) => self.lower_in_interpreter(node),
        }
    }
}
