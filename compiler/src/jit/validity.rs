//! The tests of the unit's `valid` word, once the function is built:
//! redundant ones removed, paths known invalid sent past them.
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
//! `valid` is never set again once cleared, so a path that failed a test
//! fails every later one: [`route_invalid_edges`] sends such paths past the
//! next test to its miss side (which is where the test would have sent
//! them), so that the test, reached only from paths that passed one,
//! becomes redundant.
//!
//! Invariant: a test survives unless `valid` is provably non-zero on every
//! path to it; the code a removed test guarded runs exactly when the test
//! would have passed, and a path sent past a test is one on which it would
//! have failed.

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
/// the fast code invalid. Where the next test sits alone in its block (the
/// join after the access, with the value read as its parameter), that edge
/// now bypasses it, and the test, left with edges that passed a test, goes
/// as redundant ([`drop_redundant_checks`]).
///
/// The block's parameters were defined for all the code it dominated; the
/// miss side gets parameters of its own for the edges it now takes, and
/// every read of them after the two meet reads a parameter of the block
/// where they meet ([`Repair`]). Answers whether it sent any.
pub(crate) fn route_invalid_edges(func: &mut ir::Function, checks: &[Check]) -> bool {
    let Some(entry) = func.layout.entry_block() else {
        return false;
    };
    // Only a test alone in its block can be bypassed: without one, no
    // graph is needed.
    let alone = |func: &ir::Function, c: &Check| {
        func.layout.inst_block(c.check).is_some_and(|j| {
            func.dfg.insts[c.check].opcode() == Opcode::Brif
                && func.layout.block_insts(j).all(|i| {
                    i == c.check || i == c.load || func.dfg.insts[i].opcode() == Opcode::Iconst
                })
        })
    };
    if !checks.iter().any(|c| alone(func, c)) {
        return false;
    }
    let mut cfg = ControlFlowGraph::with_function(func);
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
    // never runs). Routing keeps it true: an edge moved from a test's
    // block to its miss side was invalid already.
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
        // The test alone in its block: its address, its load, its branch,
        // and constants (which the lowering makes where it is).
        let addr = func.dfg.value_def(func.dfg.inst_args(c.load)[0]).inst();
        let alone = func
            .layout
            .block_insts(j)
            .all(|i| i == c.check || i == c.load || func.dfg.insts[i].opcode() == Opcode::Iconst);
        let d = func.dfg.insts[c.check]
            .branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables);
        if j == entry
            || m == j
            || !alone
            || d[1].len(&func.dfg.value_lists) != 0
            || func.dfg.num_block_params(m) != 0
        {
            continue;
        }
        let routed: Vec<(ir::Block, ir::Inst)> = cfg
            .pred_iter(j)
            .filter(|p| p.block != j && (invalid[p.block] || miss[p.inst].expand() == Some(j)))
            .map(|p| (p.block, p.inst))
            .collect();
        if routed.is_empty() {
            continue;
        }
        remake_constants_outside(func, j, addr);
        // The edges keep their arguments: the miss side's new parameters
        // are the test block's, in order.
        let params = func.dfg.block_params(j).to_vec();
        let fresh: Vec<ir::Value> = params
            .iter()
            .map(|p| {
                let ty = func.dfg.value_type(*p);
                func.dfg.append_block_param(m, ty)
            })
            .collect();
        let others: Vec<ir::Inst> = cfg
            .pred_iter(m)
            .map(|p| p.inst)
            .filter(|i| *i != c.check)
            .collect();
        for &(_, inst) in &routed {
            let dfg = &mut func.dfg;
            for dest in dfg.insts[inst]
                .branch_destination_mut(&mut dfg.jump_tables, &mut dfg.exception_tables)
            {
                if dest.block(&dfg.value_lists) == j {
                    dest.set_block(m, &mut dfg.value_lists);
                }
            }
        }
        {
            let dfg = &mut func.dfg;
            let dest = &mut dfg.insts[c.check]
                .branch_destination_mut(&mut dfg.jump_tables, &mut dfg.exception_tables)[1];
            for &p in &params {
                dest.append_argument(p, &mut dfg.value_lists);
            }
        }
        sent = true;
        // Only the routed edges' blocks lead elsewhere now.
        for &(b, _) in &routed {
            cfg.recompute_block(func, b);
        }
        if params.is_empty() {
            continue;
        }
        let mut repair = Repair {
            j,
            m,
            defs: params.iter().copied().zip(fresh.iter().copied()).collect(),
            memo: vec![SecondaryMap::new(); params.len()],
            phis: Vec::new(),
            limit: blocks.len(),
        };
        // Every read of a parameter outside the test's block.
        let mut reads: Vec<(ir::Block, ir::Inst)> = Vec::new();
        for b in func.layout.blocks() {
            if b == j {
                continue;
            }
            for i in func.layout.block_insts(b) {
                if func
                    .dfg
                    .inst_values(i)
                    .any(|v| params.contains(&func.dfg.resolve_aliases(v)))
                {
                    reads.push((b, i));
                }
            }
        }
        for (b, i) in reads {
            let now: Vec<ir::Value> = (0..params.len())
                .map(|k| repair.value_at(func, &cfg, b, k))
                .collect();
            let dfg = &mut func.dfg;
            let named: Vec<(ir::Value, usize)> = dfg
                .inst_values(i)
                .filter_map(|v| {
                    let r = dfg.resolve_aliases(v);
                    params.iter().position(|p| *p == r).map(|k| (v, k))
                })
                .collect();
            dfg.map_inst_values(i, |v| match named.iter().find(|(x, _)| *x == v) {
                Some(&(_, k)) => now[k],
                None => v,
            });
        }
        // The miss side's other edges (failed guards after the test) pass
        // what reaches them.
        for inst in others {
            if routed.iter().any(|r| r.1 == inst) {
                continue;
            }
            let Some(b) = func.layout.inst_block(inst) else {
                continue;
            };
            let now: Vec<ir::Value> = (0..params.len())
                .map(|k| repair.value_at(func, &cfg, b, k))
                .collect();
            let dfg = &mut func.dfg;
            for dest in dfg.insts[inst]
                .branch_destination_mut(&mut dfg.jump_tables, &mut dfg.exception_tables)
            {
                if dest.block(&dfg.value_lists) == m {
                    for &v in &now {
                        dest.append_argument(v, &mut dfg.value_lists);
                    }
                }
            }
        }
        repair.fill_phis(func, &cfg);
    }
    sent
}

/// Gives every read outside block `j` of a constant made in `j` (other
/// than the test's address `addr`) a copy of its own just before it:
/// constants are free to repeat, and `j` no longer dominates those reads
/// once edges bypass it.
fn remake_constants_outside(func: &mut ir::Function, j: ir::Block, addr: Option<ir::Inst>) {
    let mut made: Vec<(ir::Value, ir::Type, i64)> = Vec::new();
    for i in func.layout.block_insts(j) {
        if Some(i) == addr {
            continue;
        }
        if let ir::InstructionData::UnaryImm {
            opcode: Opcode::Iconst,
            imm,
        } = func.dfg.insts[i]
        {
            let v = func.dfg.first_result(i);
            made.push((v, func.dfg.value_type(v), imm.bits()));
        }
    }
    if made.is_empty() {
        return;
    }
    let reads: Vec<ir::Inst> = func
        .layout
        .blocks()
        .filter(|b| *b != j)
        .flat_map(|b| func.layout.block_insts(b))
        .filter(|i| {
            func.dfg
                .inst_values(*i)
                .any(|v| made.iter().any(|m| m.0 == func.dfg.resolve_aliases(v)))
        })
        .collect();
    for i in reads {
        for &(v, ty, imm) in &made {
            if !func
                .dfg
                .inst_values(i)
                .any(|x| func.dfg.resolve_aliases(x) == v)
            {
                continue;
            }
            super::cleanup::read_own_copy(func, i, v, ty, imm);
        }
    }
}

/// The SSA repair after routing: parameter `k` of the test's block `j` is
/// now defined twice, by `j` (`defs[k].0`) and by the miss side `m`
/// (`defs[k].1`), and every path to a read passes one of them (the read
/// was dominated by `j`, and the new paths enter through `m`). A read takes
/// the definition its block's single predecessor chain reaches, or a new
/// parameter of the first block where two paths meet, whose edges pass
/// what reaches each ([`Repair::fill_phis`]). A parameter that gets the
/// same value on every edge goes later (`cleanup::drop_single_value_params`).
struct Repair {
    j: ir::Block,
    m: ir::Block,
    defs: Vec<(ir::Value, ir::Value)>,
    /// Per parameter, the value at the start of each block looked at.
    memo: Vec<SecondaryMap<ir::Block, PackedOption<ir::Value>>>,
    /// New parameters whose edges have no argument yet: (block, k).
    phis: Vec<(ir::Block, usize)>,
    /// Steps along a predecessor chain before giving up on it (a cycle of
    /// single-predecessor blocks no path reaches).
    limit: usize,
}

impl Repair {
    /// The value of parameter `k` at the start (and end) of block `b`.
    fn value_at(
        &mut self,
        func: &mut ir::Function,
        cfg: &ControlFlowGraph,
        b: ir::Block,
        k: usize,
    ) -> ir::Value {
        let mut chain = Vec::new();
        let mut cur = b;
        let v = loop {
            if let Some(v) = self.memo[k][cur].expand() {
                break v;
            }
            if cur == self.j {
                break self.defs[k].0;
            }
            if cur == self.m {
                break self.defs[k].1;
            }
            let mut preds = cfg.pred_iter(cur).map(|p| p.block);
            let first = preds.next();
            let single = first.filter(|f| preds.all(|p| p == *f));
            match single {
                Some(p) if chain.len() < self.limit => {
                    chain.push(cur);
                    cur = p;
                }
                _ => {
                    let ty = func.dfg.value_type(self.defs[k].0);
                    let phi = func.dfg.append_block_param(cur, ty);
                    self.memo[k][cur] = phi.into();
                    self.phis.push((cur, k));
                    break phi;
                }
            }
        };
        for b in chain {
            self.memo[k][b] = v.into();
        }
        v
    }

    /// Gives every new parameter its argument on each edge into its block,
    /// in the order the parameters were made (which may make more).
    fn fill_phis(&mut self, func: &mut ir::Function, cfg: &ControlFlowGraph) {
        let mut next = 0;
        while next < self.phis.len() {
            let (c, k) = self.phis[next];
            next += 1;
            let mut insts: Vec<(ir::Block, ir::Inst)> =
                cfg.pred_iter(c).map(|p| (p.block, p.inst)).collect();
            insts.sort_by_key(|x| x.1);
            insts.dedup_by_key(|x| x.1);
            for (b, inst) in insts {
                let v = self.value_at(func, cfg, b, k);
                let dfg = &mut func.dfg;
                for dest in dfg.insts[inst]
                    .branch_destination_mut(&mut dfg.jump_tables, &mut dfg.exception_tables)
                {
                    if dest.block(&dfg.value_lists) == c {
                        dest.append_argument(v, &mut dfg.value_lists);
                    }
                }
            }
        }
    }
}
