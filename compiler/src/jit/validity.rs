//! Redundant tests of the unit's `valid` word, removed once the function is
//! built.
//!
//! The lowering tests `valid` in front of every speculative path
//! (`Lowerer::guard_valid`), knowing only what was tested in the block it
//! is adding to (`Lowerer::valid_known`). A test is redundant where every
//! path reaching it passed a test (or the unit's entry) with no call since:
//! `valid` only changes in calls (a metaobject change is made by the
//! runtime), and code is only entered
//! while valid (through its entry cell, which invalidation clears). This
//! pass computes that on the control-flow graph (a forward "must" data
//! flow, iterated to its fixed point) and removes each redundant test, its
//! branch made a jump to the passing side. The test's address constant is
//! made for it alone (`Lowerer::addr`), so it goes too. It runs again after
//! the clean-up passes (`cleanup.rs`) drop paths that never run: a dead path
//! with a call counts as one that may have invalidated the unit.
//!
//! Invariant: a test survives unless `valid` is provably non-zero on every
//! path to it; the code a removed test guarded runs exactly when the test
//! would have passed.

use cranelift_codegen::entity::{packed_option::PackedOption, SecondaryMap};
use cranelift_codegen::flowgraph::ControlFlowGraph;
use cranelift_codegen::ir::{self, Opcode};

/// One test of `valid`: the load of the word and the branch on it, whose
/// first destination is taken when the unit is valid.
#[derive(Clone, Copy)]
pub(crate) struct Check {
    pub load: ir::Inst,
    pub check: ir::Inst,
}

fn is_call(func: &ir::Function, inst: ir::Inst) -> bool {
    matches!(
        func.dfg.insts[inst].opcode(),
        Opcode::Call | Opcode::CallIndirect
    )
}

/// Replaces the redundant tests among `checks` by jumps.
pub(crate) fn drop_redundant_checks(func: &mut ir::Function, checks: &[Check]) -> bool {
    if checks.is_empty() {
        return false;
    }
    let cfg = ControlFlowGraph::with_function(func);
    let mut passes: SecondaryMap<ir::Inst, PackedOption<ir::Block>> = SecondaryMap::new();
    for c in checks {
        passes[c.check] = passing_side(func, c.check).into();
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
        if func.dfg.insts[c.check].opcode() != Opcode::Brif {
            // Removed by an earlier run: its branch is a jump now.
            continue;
        }
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
    let any = !redundant.is_empty();
    for c in redundant {
        remove_check(func, c);
    }
    any
}

/// Where a test goes when the unit is valid: the first destination of its
/// branch (`brif valid, ok, miss`), which the clean-up passes may have
/// moved past blocks that only passed values on. None once the test is no
/// longer in the function.
fn passing_side(func: &ir::Function, check: ir::Inst) -> Option<ir::Block> {
    func.layout.inst_block(check)?;
    let dests =
        func.dfg.insts[check].branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables);
    Some(dests.first()?.block(&func.dfg.value_lists))
}

/// Removes a redundant test: its address and load go, and its branch
/// becomes a jump to the passing side, which joins the test's block when
/// the test was its only way in (`cleanup::merge_straight_blocks`), so the
/// code is what it would have been had the test never been emitted.
fn remove_check(func: &mut ir::Function, c: Check) {
    use cranelift_codegen::ir::InstBuilder;
    let addr = func.dfg.inst_args(c.load)[0];
    let ok = func.dfg.insts[c.check]
        .branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables)[0];
    let dest = ok.block(&func.dfg.value_lists);
    let args: Vec<ir::BlockArg> = ok.args(&func.dfg.value_lists).collect();
    func.replace(c.check).jump(dest, &args);
    func.layout.remove_inst(c.load);
    if let Some(a) = func.dfg.value_def(addr).inst() {
        func.layout.remove_inst(a);
    }
}

/// Sends every edge on which the unit is known to be invalid past the test
/// it enters, straight to the test's miss side. `valid` only ever goes
/// from set to clear, so a path that failed a test fails every test after
/// it, calls or not: a slow path entered only from a failed test (an
/// enforced field access whose owner the unit is specialized on) rejoins
/// the fast code invalid. Where the next test sits alone in a block
/// without parameters (the join after a store), that edge now bypasses it,
/// and the test, left with edges that passed a test, goes as redundant
/// ([`drop_redundant_checks`]). Nothing the miss side reads is defined in
/// the test's block, and what dominated the block dominates its
/// predecessors, so the code stays well formed. Answers whether it sent
/// any.
pub(crate) fn route_invalid_edges(func: &mut ir::Function, checks: &[Check]) -> bool {
    let Some(entry) = func.layout.entry_block() else {
        return false;
    };
    let cfg = ControlFlowGraph::with_function(func);
    // The miss side of each test still in the function.
    let mut miss: SecondaryMap<ir::Inst, PackedOption<ir::Block>> = SecondaryMap::new();
    for c in checks {
        if func.layout.inst_block(c.check).is_none()
            || func.dfg.insts[c.check].opcode() != Opcode::Brif
        {
            continue;
        }
        let d = func.dfg.insts[c.check]
            .branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables);
        let (ok, m) = (
            d[0].block(&func.dfg.value_lists),
            d[1].block(&func.dfg.value_lists),
        );
        if ok != m {
            miss[c.check] = m.into();
        }
    }
    let blocks: Vec<ir::Block> = func.layout.blocks().collect();
    // Whether every path into a block failed a test (optimistic start,
    // lowered until stable; a block no path reaches keeps its mark and
    // never runs).
    let mut invalid: SecondaryMap<ir::Block, bool> = SecondaryMap::with_default(true);
    invalid[entry] = false;
    loop {
        let mut changed = false;
        for &b in &blocks {
            if b == entry || !invalid[b] {
                continue;
            }
            let v = cfg
                .pred_iter(b)
                .all(|p| miss[p.inst].expand() == Some(b) || invalid[p.block]);
            if !v {
                invalid[b] = false;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut sent = false;
    for c in checks {
        let Some(j) = func.layout.inst_block(c.check) else {
            continue;
        };
        let Some(m) = miss[c.check].expand() else {
            continue;
        };
        // The test alone in its block: its address, its load, its branch.
        let addr = func.dfg.value_def(func.dfg.inst_args(c.load)[0]).inst();
        let alone = func
            .layout
            .block_insts(j)
            .all(|i| i == c.check || i == c.load || Some(i) == addr);
        let d = func.dfg.insts[c.check]
            .branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables);
        if j == entry
            || m == j
            || !alone
            || func.dfg.num_block_params(j) != 0
            || d[1].len(&func.dfg.value_lists) != 0
        {
            continue;
        }
        let preds: Vec<ir::Inst> = cfg
            .pred_iter(j)
            .filter(|p| p.block != j && (invalid[p.block] || miss[p.inst].expand() == Some(j)))
            .map(|p| p.inst)
            .collect();
        for inst in preds {
            let dfg = &mut func.dfg;
            for dest in dfg.insts[inst]
                .branch_destination_mut(&mut dfg.jump_tables, &mut dfg.exception_tables)
            {
                if dest.block(&dfg.value_lists) == j {
                    dest.set_block(m, &mut dfg.value_lists);
                    sent = true;
                }
            }
        }
    }
    sent
}
