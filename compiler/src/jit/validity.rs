//! Redundant tests of the unit's `valid` word, removed once the function is
//! built.
//!
//! The lowering tests `valid` in front of every speculative path
//! (`Lowerer::guard_valid`), knowing only what was tested in the block it
//! is adding to (`Lowerer::valid_known`). A test is redundant where every path reaching it passed a test
//! (or the unit's entry) with no call since: `valid` only changes in calls
//! (a metaobject change is made by the runtime), and code is only entered
//! while valid (through its entry cell, which invalidation clears). This
//! pass computes that on the control-flow graph (a forward "must" data
//! flow, iterated to its fixed point) and removes each redundant test, its
//! passing side continuing the test's block. The test's address constant is
//! made for it alone (`Lowerer::addr`), so it goes too.
//!
//! Invariant: a test survives unless `valid` is provably non-zero on every
//! path to it; the code a removed test guarded runs exactly when the test
//! would have passed.

use std::collections::HashMap;

use cranelift_codegen::entity::{packed_option::PackedOption, SecondaryMap};
use cranelift_codegen::flowgraph::ControlFlowGraph;
use cranelift_codegen::ir::{self, Opcode};

/// One test of `valid`: the load of the word, the branch on it, and the
/// block the branch goes to when the unit is valid.
#[derive(Clone, Copy)]
pub(crate) struct Check {
    pub load: ir::Inst,
    pub check: ir::Inst,
    pub ok: ir::Block,
}

fn is_call(func: &ir::Function, inst: ir::Inst) -> bool {
    matches!(
        func.dfg.insts[inst].opcode(),
        Opcode::Call | Opcode::CallIndirect
    )
}

/// Replaces the redundant tests among `checks` by jumps.
pub(crate) fn drop_redundant_checks(func: &mut ir::Function, checks: &[Check]) {
    if checks.is_empty() {
        return;
    }
    let cfg = ControlFlowGraph::with_function(func);
    let mut passes: SecondaryMap<ir::Inst, PackedOption<ir::Block>> = SecondaryMap::new();
    for c in checks {
        passes[c.check] = c.ok.into();
    }
    let blocks: Vec<ir::Block> = func.layout.blocks().collect();
    let entry = func.layout.entry_block();
    let mut calls: SecondaryMap<ir::Block, bool> = SecondaryMap::new();
    for &b in &blocks {
        calls[b] = func.layout.block_insts(b).any(|i| is_call(func, i));
    }
    // Optimistic start, lowered until stable: a block's value is whether
    // `valid` is known non-zero on entry to it.
    let mut known: SecondaryMap<ir::Block, bool> = SecondaryMap::with_default(true);
    loop {
        let mut changed = false;
        for &b in &blocks {
            if Some(b) == entry || !known[b] {
                continue;
            }
            // A block without predecessors never runs (the lowering leaves
            // some, e.g. after a guard it folded): it kills nothing.
            let v = cfg.pred_iter(b).all(|p| {
                let passed = passes[p.inst].expand() == Some(b);
                passed || (known[p.block] && !calls[p.block])
            });
            if !v {
                known[b] = false;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut redundant = Vec::new();
    for c in checks {
        let Some(b) = func.layout.inst_block(c.check) else {
            continue;
        };
        let mut state = known[b];
        for i in func.layout.block_insts(b) {
            if i == c.check {
                break;
            }
            if is_call(func, i) {
                state = false;
            }
        }
        if state {
            redundant.push(*c);
        }
    }
    for c in redundant {
        remove_check(func, c);
    }
}

/// Removes a redundant test: its address, load and branch go, and the
/// passing side (reached only from the test) continues the test's block,
/// so the code is what it would have been had the test never been emitted.
fn remove_check(func: &mut ir::Function, c: Check) {
    let b = func
        .layout
        .inst_block(c.check)
        .expect("the test is in the layout");
    let addr = func.dfg.inst_args(c.load)[0];
    func.layout.remove_inst(c.check);
    func.layout.remove_inst(c.load);
    if let Some(a) = func.dfg.value_def(addr).inst() {
        func.layout.remove_inst(a);
    }
    let moved: Vec<ir::Inst> = func.layout.block_insts(c.ok).collect();
    for i in moved {
        func.layout.remove_inst(i);
        func.layout.append_inst(i, b);
    }
    func.layout.remove_block(c.ok);
}

/// Bypasses blocks that only pass their parameters on (`block B(p..):
/// jump C(p..)`): every branch to such a block goes straight to where it
/// jumps, and the block goes. The lowering leaves many (the exit of an
/// inlined activation feeding its caller's), and code that inlines one
/// activation more must not differ by the hops it adds. Cold blocks stay:
/// a slow path entered from the hot code is a block of its own, whether it
/// then joins another slow path or not, so that the hot branches are the
/// same either way.
pub(crate) fn thread_jumps(func: &mut ir::Function) {
    let entry = func.layout.entry_block();
    let mut forward: HashMap<ir::Block, ir::Block> = HashMap::new();
    for b in func.layout.blocks() {
        if Some(b) == entry || func.layout.is_cold(b) {
            continue;
        }
        let mut insts = func.layout.block_insts(b);
        let (Some(only), None) = (insts.next(), insts.next()) else {
            continue;
        };
        let data = &func.dfg.insts[only];
        if data.opcode() != Opcode::Jump {
            continue;
        }
        let dest = data.branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables)[0];
        let target = dest.block(&func.dfg.value_lists);
        let params = func.dfg.block_params(b);
        let passes_on = target != b
            && dest.len(&func.dfg.value_lists) == params.len()
            && dest
                .args(&func.dfg.value_lists)
                .zip(params)
                .all(|(a, p)| a == ir::BlockArg::Value(*p));
        if passes_on {
            forward.insert(b, target);
        }
    }
    if forward.is_empty() {
        return;
    }
    let last = |mut b: ir::Block| {
        // A cycle of forwarding blocks is an empty infinite loop the
        // lowering never makes; stop after as many hops as there are.
        for _ in 0..forward.len() {
            match forward.get(&b) {
                Some(next) => b = *next,
                None => break,
            }
        }
        b
    };
    let blocks: Vec<ir::Block> = func.layout.blocks().collect();
    for b in &blocks {
        if forward.contains_key(b) {
            continue;
        }
        let Some(term) = func.layout.last_inst(*b) else {
            continue;
        };
        let dfg = &mut func.dfg;
        let dests =
            dfg.insts[term].branch_destination_mut(&mut dfg.jump_tables, &mut dfg.exception_tables);
        for d in dests {
            let to = d.block(&dfg.value_lists);
            let end = last(to);
            if end != to {
                d.set_block(end, &mut dfg.value_lists);
            }
        }
    }
    for (b, _) in forward {
        let jump = func.layout.first_inst(b).expect("a forwarding block jumps");
        func.layout.remove_inst(jump);
        func.layout.remove_block(b);
    }
}

/// Removes constants nothing uses (the lowering makes some for paths it
/// then folds away), so that a listing shows only what the code computes.
pub(crate) fn drop_dead_constants(func: &mut ir::Function) {
    let mut used = std::collections::HashSet::new();
    for b in func.layout.blocks() {
        for i in func.layout.block_insts(b) {
            for v in func.dfg.inst_values(i) {
                used.insert(func.dfg.resolve_aliases(v));
            }
        }
    }
    let dead: Vec<ir::Inst> = func
        .layout
        .blocks()
        .flat_map(|b| func.layout.block_insts(b))
        .filter(|i| {
            func.dfg.insts[*i].opcode() == Opcode::Iconst
                && !used.contains(&func.dfg.first_result(*i))
        })
        .collect();
    for i in dead {
        func.layout.remove_inst(i);
    }
}

/// Makes constants where cold paths use them: a use in a cold block of a
/// constant made in a hot one gets its own copy just before it (constants
/// are free to repeat), so a constant that only a cold path needs no longer
/// sits in the hot path. Cold marks must be complete (`propagate_cold`).
pub(crate) fn sink_constants(func: &mut ir::Function) {
    use cranelift_codegen::cursor::{Cursor, FuncCursor};
    use cranelift_codegen::ir::InstBuilder;
    // Constants of hot blocks, the only ones a cold use can be far from.
    let mut consts: HashMap<ir::Value, (ir::Type, i64)> = HashMap::new();
    let mut cold = Vec::new();
    for b in func.layout.blocks() {
        if func.layout.is_cold(b) {
            cold.push(b);
            continue;
        }
        for i in func.layout.block_insts(b) {
            if let ir::InstructionData::UnaryImm {
                opcode: Opcode::Iconst,
                imm,
            } = func.dfg.insts[i]
            {
                let v = func.dfg.first_result(i);
                consts.insert(v, (func.dfg.value_type(v), imm.bits()));
            }
        }
    }
    let mut far: Vec<(ir::Value, ir::Type, i64)> = Vec::new();
    for b in cold {
        let insts: Vec<ir::Inst> = func.layout.block_insts(b).collect();
        for i in insts {
            far.clear();
            for v in func.dfg.inst_values(i) {
                let v = func.dfg.resolve_aliases(v);
                if let Some(&(ty, imm)) = consts.get(&v) {
                    if !far.iter().any(|f| f.0 == v) {
                        far.push((v, ty, imm));
                    }
                }
            }
            for &(v, ty, imm) in &far {
                let mut pos = FuncCursor::new(func).at_inst(i);
                let copy = pos.ins().iconst(ty, imm);
                let dfg = &mut func.dfg;
                let named: Vec<ir::Value> = dfg
                    .inst_values(i)
                    .filter(|x| dfg.resolve_aliases(*x) == v)
                    .collect();
                dfg.map_inst_values(i, |x| if named.contains(&x) { copy } else { x });
            }
        }
    }
}
