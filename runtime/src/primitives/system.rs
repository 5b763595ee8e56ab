//! System primitives: globals, class loading, output, time, the collector and
//! process exit.

use std::io::Write;

use super::{int_arg, symbol_arg, text_arg};
use crate::interpreter::{Args, Unwind};
use crate::vm::{Vm, VmResult};

/// In enforced execution, `global:` goes through the current domain's
/// `readGlobal:for:` (the receiver is `system`).
fn system_global(vm: &mut Vm, a: Args) -> VmResult {
    let sym = a.arg(vm, 0);
    let name = symbol_arg(vm, "System>>#global:", sym)?;
    if vm.tier_state.enforced {
        let key = vm.tier_state.current;
        if let Some(h) = vm.domain_handler(key, crate::omop::Handler::ReadGlobal) {
            let sym = vm.symbol_value(name);
            let rcvr = a.rcvr(vm);
            return vm.call_handler(h, key, &[sym, rcvr]);
        }
    }
    Ok(vm.global(name).unwrap_or(vm.nil))
}

/// In enforced execution, `global:put:` goes through the current domain's
/// `write:toGlobal:for:`.
fn system_global_put(vm: &mut Vm, a: Args) -> VmResult {
    let name = symbol_arg(vm, "System>>#global:put:", a.arg(vm, 0))?;
    let v = a.arg(vm, 1);
    if vm.tier_state.enforced {
        let key = vm.tier_state.current;
        if let Some(h) = vm.domain_handler(key, crate::omop::Handler::WriteGlobal) {
            let sym = vm.symbol_value(name);
            let rcvr = a.rcvr(vm);
            vm.call_handler(h, key, &[v, sym, rcvr])?;
            return Ok(v);
        }
    }
    vm.set_global(name, v);
    Ok(v)
}

fn system_has_global(vm: &mut Vm, a: Args) -> VmResult {
    let name = symbol_arg(vm, "System>>#hasGlobal:", a.arg(vm, 0))?;
    Ok(vm.boolean(vm.global(name).is_some()))
}

fn system_load_file(vm: &mut Vm, a: Args) -> VmResult {
    let path = text_arg(vm, "System>>#loadFile:", a.arg(vm, 0))?.to_string();
    match std::fs::read_to_string(&path) {
        Ok(s) => vm.new_string(&s),
        Err(_) => Ok(vm.nil),
    }
}

fn system_load(vm: &mut Vm, a: Args) -> VmResult {
    let name = symbol_arg(vm, "System>>#load:", a.arg(vm, 0))?;
    Ok(vm.try_load_class(name)?.unwrap_or(vm.nil))
}

fn system_exit(vm: &mut Vm, a: Args) -> VmResult {
    let code = int_arg(vm, "System>>#exit:", a.arg(vm, 0))?;
    vm.flush();
    vm.exit_code = code as i32;
    Err(Unwind::EXIT)
}

fn system_print_string(vm: &mut Vm, a: Args) -> VmResult {
    let s = text_arg(vm, "System>>#printString:", a.arg(vm, 0))?;
    let _ = vm.out.write_all(s.as_bytes());
    Ok(a.rcvr(vm))
}

fn system_print_newline(vm: &mut Vm, a: Args) -> VmResult {
    let _ = vm.out.write_all(b"\n");
    Ok(a.rcvr(vm))
}

fn system_error_print(vm: &mut Vm, a: Args) -> VmResult {
    let s = text_arg(vm, "System>>#errorPrint:", a.arg(vm, 0))?;
    vm.flush();
    eprint!("{s}");
    Ok(a.rcvr(vm))
}

fn system_error_println(vm: &mut Vm, a: Args) -> VmResult {
    let s = text_arg(vm, "System>>#errorPrintln:", a.arg(vm, 0))?;
    vm.flush();
    eprintln!("{s}");
    Ok(a.rcvr(vm))
}

fn system_print_stack_trace(vm: &mut Vm, a: Args) -> VmResult {
    vm.flush();
    eprint!("{}", vm.stack_trace());
    Ok(a.rcvr(vm))
}

fn system_time(vm: &mut Vm, _a: Args) -> VmResult {
    Ok(vm.int(vm.start.elapsed().as_millis() as i64))
}

/// Microseconds since the VM started (SOM's definition). `vm.start` is taken
/// before bootstrap, which parses the whole core library, so by the time any
/// SOM code can ask, ticks are positive without any adjustment.
fn system_ticks(vm: &mut Vm, _a: Args) -> VmResult {
    Ok(vm.int(vm.start.elapsed().as_micros() as i64))
}

fn system_full_gc(vm: &mut Vm, _a: Args) -> VmResult {
    vm.collect_garbage();
    Ok(vm.true_)
}

fn system_gc_stats(vm: &mut Vm, _a: Args) -> VmResult {
    let s = vm.heap.stats.clone();
    let values = [
        vm.int(s.collections as i64),
        vm.int(s.total_time.as_millis() as i64),
        vm.int(s.allocated_bytes as i64),
    ];
    Ok(vm.new_array_from(&values))
}

fn system_total_compilation_time(vm: &mut Vm, _a: Args) -> VmResult {
    Ok(vm.int(vm.compile_time.as_millis() as i64))
}

impl Vm {
    /// The SOM activations currently running, innermost first, in the
    /// format of error backtraces. The positions are those of the methods
    /// and blocks: sends note their positions only when an error leaves
    /// them (see `interpreter`), so a running activation's send is unknown.
    pub fn stack_trace(&self) -> String {
        let mut lines = Vec::new();
        let mut f = self.tier_state.frame;
        let mut n = 0;
        while !f.is_null() {
            // SAFETY: `frame` links point to activations still on the native
            // stack: each is unlinked before its activation returns.
            let frame = unsafe { &*f };
            if n < crate::vm::MAX_BACKTRACE_LINES {
                lines.push(self.describe_activation(frame.method, None));
            }
            f = frame.parent;
            n += 1;
        }
        crate::error::render_backtrace(&lines, n - lines.len())
    }
}

pub(super) fn install(vm: &mut Vm) {
    let table: [(&str, crate::method::PrimFn); 16] = [
        ("global:", system_global),
        ("global:put:", system_global_put),
        ("hasGlobal:", system_has_global),
        ("loadFile:", system_load_file),
        ("load:", system_load),
        ("exit:", system_exit),
        ("printString:", system_print_string),
        ("printNewline", system_print_newline),
        ("errorPrint:", system_error_print),
        ("errorPrintln:", system_error_println),
        ("printStackTrace", system_print_stack_trace),
        ("time", system_time),
        ("ticks", system_ticks),
        ("fullGC", system_full_gc),
        ("gcStats", system_gc_stats),
        ("totalCompilationTime", system_total_compilation_time),
    ];
    for (s, f) in table {
        vm.register_primitive("System", s, f);
    }
}
