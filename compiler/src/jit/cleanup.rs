//! Clean-up of a unit's function once it is built, before Cranelift
//! compiles it: cold marks made transitive, blocks that only pass values on
//! bypassed, straight-line chains of blocks joined into one, constants made
//! where cold paths use them and dropped where nothing does.
//!
//! The lowering adds blocks freely (an inlined activation's exit, the fast
//! side of a guard it folded) and leaves constants on paths it then folds
//! away; Cranelift without its optimizer keeps them, so they would cost
//! compile time and make the listings of code that computes the same thing
//! differ by the hops. Invariant: every pass keeps what the function
//! computes, and hot and cold code apart (a block runs on a slow path only
//! if it is marked cold, and a slow path entered from hot code stays a block
//! of its own).

use std::collections::HashMap;

use cranelift_codegen::ir::{self, Opcode};

/// Marks cold every block reached only from cold blocks: Cranelift's cold
/// mark is not transitive, and a slow path is often several blocks (a call,
/// its status test, the rest of the generic operation).
pub(crate) fn propagate_cold(func: &mut ir::Function) {
    let cfg = cranelift_codegen::flowgraph::ControlFlowGraph::with_function(func);
    let entry = func.layout.entry_block();
    let blocks: Vec<ir::Block> = func.layout.blocks().collect();
    loop {
        let mut changed = false;
        for &blk in &blocks {
            if Some(blk) == entry || func.layout.is_cold(blk) {
                continue;
            }
            let mut preds = cfg.pred_iter(blk).peekable();
            if preds.peek().is_none() {
                continue;
            }
            if preds.all(|p| func.layout.is_cold(p.block)) {
                func.layout.set_cold(blk);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
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

/// Joins each block to its predecessor where that predecessor ends in a
/// jump to it and is its only one (`A: ...; jump B(x)` and `B(p): ...`):
/// B's parameters become the values passed and its instructions continue
/// A. Only blocks of the same temperature join, and chains join into their
/// first block.
pub(crate) fn merge_straight_blocks(func: &mut ir::Function) {
    let cfg = cranelift_codegen::flowgraph::ControlFlowGraph::with_function(func);
    let entry = func.layout.entry_block();
    let blocks: Vec<ir::Block> = func.layout.blocks().collect();
    for a in blocks {
        if !func.layout.is_block_inserted(a) {
            continue;
        }
        while let Some(term) = func.layout.last_inst(a) {
            if func.dfg.insts[term].opcode() != Opcode::Jump {
                break;
            }
            let dest = func.dfg.insts[term]
                .branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables)[0];
            let b = dest.block(&func.dfg.value_lists);
            // Predecessors are counted per branch instruction: one is ours.
            if b == a
                || Some(b) == entry
                || func.layout.is_cold(a) != func.layout.is_cold(b)
                || cfg.pred_iter(b).count() != 1
            {
                break;
            }
            let Some(args) = dest
                .args(&func.dfg.value_lists)
                .map(|x| x.as_value())
                .collect::<Option<Vec<ir::Value>>>()
            else {
                break;
            };
            func.layout.remove_inst(term);
            let params = func.dfg.detach_block_params(b);
            let params = params.as_slice(&func.dfg.value_lists).to_vec();
            for (p, x) in params.into_iter().zip(args) {
                func.dfg.change_to_alias(p, x);
            }
            while let Some(i) = func.layout.first_inst(b) {
                func.layout.remove_inst(i);
                func.layout.append_inst(i, a);
            }
            func.layout.remove_block(b);
        }
    }
    func.dfg.resolve_all_aliases();
}
