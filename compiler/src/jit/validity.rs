//! The tests of the unit's `valid` word, once the function is built:
//! redundant ones removed, paths whose outcome is known sent past them.
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
//! fails every later one, and a path that passed one with no call since
//! passes the next: [`route_known_edges`] sends such paths past the next
//! test, straight to the side it would have taken. Where a slow path joins
//! the fast one in front of a test, the fast path so skips the test, which
//! stays on the slow path's way back alone (stores between the join and the
//! test move to both sides of it first: a store is no call).
//!
//! Invariant: a test survives unless `valid` is provably non-zero on every
//! path to it; the code a removed test guarded runs exactly when the test
//! would have passed, and a path sent past a test is one on which it would
//! have taken the side it is sent to.

use cranelift_codegen::dominator_tree::DominatorTree;
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
pub(crate) fn drop_redundant_checks(
    func: &mut ir::Function,
    checks: &[Check],
    cfg: Option<ControlFlowGraph>,
) -> bool {
    if checks.is_empty() {
        return false;
    }
    // The graph routing kept up to date, or a new one.
    let cfg = cfg.unwrap_or_else(|| ControlFlowGraph::with_function(func));
    let mut passes: SecondaryMap<ir::Inst, PackedOption<ir::Block>> = SecondaryMap::new();
    for c in checks {
        passes[c.check] = passing_side(func, c.check).into();
    }
    let blocks: Vec<ir::Block> = func.layout.blocks().collect();
    let mut calls: SecondaryMap<ir::Block, bool> = SecondaryMap::new();
    for &b in &blocks {
        calls[b] = func.layout.block_insts(b).any(|i| is_call(func, i));
    }
    // A block without predecessors never runs (the lowering leaves some,
    // e.g. after a guard it folded): it kills nothing.
    let known = known_valid(func, &cfg, &blocks, &calls, &passes);
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

/// Whether `valid` is known non-zero on entry to each block: the forward
/// "must" data flow of [`drop_redundant_checks`] (optimistic start, lowered
/// until stable), with `calls[b]` whether block `b` calls anything and
/// `passes[i]` the passing side of test `i`.
fn known_valid(
    func: &ir::Function,
    cfg: &ControlFlowGraph,
    blocks: &[ir::Block],
    calls: &SecondaryMap<ir::Block, bool>,
    passes: &SecondaryMap<ir::Inst, PackedOption<ir::Block>>,
) -> SecondaryMap<ir::Block, bool> {
    let entry = func.layout.entry_block();
    let mut known: SecondaryMap<ir::Block, bool> = SecondaryMap::with_default(true);
    loop {
        let mut changed = false;
        for &b in blocks {
            if Some(b) == entry || !known[b] {
                continue;
            }
            let v = cfg
                .pred_iter(b)
                .all(|p| passes[p.inst].expand() == Some(b) || (known[p.block] && !calls[p.block]));
            if !v {
                known[b] = false;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    known
}

/// Sends every edge on which the test a block holds alone has a known
/// outcome straight to the side the test would take.
///
/// `valid` only ever goes from set to clear, so a path that failed a test
/// fails every test after it, calls or not: a slow path entered only from
/// a failed test (an enforced field access whose owner the unit is
/// specialized on) rejoins the fast code invalid, and goes to the next
/// test's miss side. A path that passed a test with no call since passes
/// the next one: where a join after a slow path (a send's generic call, an
/// arithmetic overflow's) holds the test the slow path needs, the fast
/// path's edge goes to the passing side, and the test stays on the slow
/// path alone (made cold by `cleanup::propagate_cold`). Either way the
/// test, left with the edges that need it, costs the fast code nothing:
/// code after a slow path is the same as code with no slow path.
///
/// The block's parameters were defined for all the code it dominated; the
/// side taken gets parameters of its own for the edges it now takes, and
/// every read of them after the two meet reads a parameter of the block
/// where they meet ([`Repair`]). Answers whether it sent any.
pub(crate) fn route_known_edges(
    func: &mut ir::Function,
    checks: &[Check],
) -> (bool, Option<ControlFlowGraph>) {
    let Some(entry) = func.layout.entry_block() else {
        return (false, None);
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
    if !checks
        .iter()
        .any(|c| alone(func, c) || stores_before(func, c).is_some())
    {
        return (false, None);
    }
    let mut cfg = ControlFlowGraph::with_function(func);
    // The sides of each test still in the function.
    let mut miss: SecondaryMap<ir::Inst, PackedOption<ir::Block>> = SecondaryMap::new();
    let mut passes: SecondaryMap<ir::Inst, PackedOption<ir::Block>> = SecondaryMap::new();
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
            passes[c.check] = ok.into();
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
    // Routing keeps these true as well: an edge moved to a passing side
    // was one on which the test passes.
    let mut calls: SecondaryMap<ir::Block, bool> = SecondaryMap::new();
    for &b in &blocks {
        calls[b] = func.layout.block_insts(b).any(|i| is_call(func, i));
    }
    let mut known = known_valid(func, &cfg, &blocks, &calls, &passes);
    // A test after stores of the join it sits in (`x := x + 1` stores the
    // addition's result where its slow path joins the fast one) moves in
    // front of them, the stores going to both sides, when a path that
    // passed a test comes in: alone in its block, it is then routed.
    for c in checks {
        let Some(stores) = stores_before(func, c) else {
            continue;
        };
        let j = func
            .layout
            .inst_block(c.check)
            .expect("a test in the layout");
        let hot_way_in = cfg.pred_iter(j).any(|p| {
            p.block != j
                && (passes[p.inst].expand() == Some(j) || (known[p.block] && !calls[p.block]))
        });
        if !hot_way_in {
            continue;
        }
        let (ok, m) = split_stores(func, c, &stores);
        for b in [j, ok, m] {
            cfg.recompute_block(func, b);
        }
        passes[c.check] = ok.into();
        miss[c.check] = m.into();
        known[ok] = true;
        known[m] = false;
        invalid[ok] = false;
        invalid[m] = true;
    }
    // The values whose reads routing may move: the parameters and
    // constants of the blocks holding a test alone.
    let mut wanted: SecondaryMap<ir::Value, bool> = SecondaryMap::new();
    for c in checks.iter().filter(|c| alone(func, c)) {
        let Some(j) = func.layout.inst_block(c.check) else {
            continue;
        };
        for &p in func.dfg.block_params(j) {
            wanted[p] = true;
        }
        for i in func.layout.block_insts(j) {
            if func.dfg.insts[i].opcode() == Opcode::Iconst {
                wanted[func.dfg.first_result(i)] = true;
            }
        }
    }
    let mut router = Router {
        cfg,
        domtree: None,
        uses: None,
        wanted,
        limit: blocks.len(),
    };
    let mut sent = false;
    for c in checks {
        let Some(j) = func.layout.inst_block(c.check) else {
            continue;
        };
        let (Some(m), Some(ok)) = (miss[c.check].expand(), passes[c.check].expand()) else {
            continue;
        };
        if j == entry || !alone(func, c) {
            continue;
        }
        let d = func.dfg.insts[c.check]
            .branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables);
        let ok_args = d[0].len(&func.dfg.value_lists);
        let miss_args = d[1].len(&func.dfg.value_lists);
        let addr = func.dfg.value_def(func.dfg.inst_args(c.load)[0]).inst();
        // Failed paths to the miss side. A miss side that takes arguments
        // (a slow path entered with the values around it) can take them
        // from the routed edges too when the test's block has no
        // parameters: they are then values made before it (or constants).
        let takes = miss_args != 0 || func.dfg.num_block_params(m) != 0;
        let params_free =
            func.dfg.num_block_params(j) == 0 && plain_args(func, c.check, 1, j, addr);
        // With parameters to repair, every other way into the miss side
        // must come from code the test's block dominates (failed guards
        // after the test), or the repair would walk past it to the entry;
        // a miss side shared with guards before the test is left alone.
        let repairable = func.dfg.num_block_params(j) == 0 || {
            let others: Vec<ir::Block> = router
                .cfg
                .pred_iter(m)
                .filter(|p| p.inst != c.check)
                .map(|p| p.block)
                .collect();
            others.is_empty() || {
                let dom = router
                    .domtree
                    .get_or_insert_with(|| DominatorTree::with_function(func, &router.cfg));
                others
                    .iter()
                    .all(|b| !dom.is_reachable(*b) || dom.block_dominates(j, *b))
            }
        };
        if m != j && (!takes || params_free) && repairable {
            let routed: Vec<(ir::Block, ir::Inst)> = router
                .cfg
                .pred_iter(j)
                .filter(|p| p.block != j && (invalid[p.block] || miss[p.inst].expand() == Some(j)))
                .map(|p| (p.block, p.inst))
                .collect();
            if !routed.is_empty() {
                router.send_past(func, c.check, 1, &routed, addr);
                sent = true;
            }
        }
        // Passed paths to the passing side, when the test is its only way
        // in (so everything the block's parameters reach is behind it).
        let single_pred = {
            let mut preds = router.cfg.pred_iter(ok);
            preds.next().is_some_and(|p| p.inst == c.check) && preds.next().is_none()
        };
        if ok != j
            && ok != m
            && ok_args == 0
            && func.dfg.num_block_params(ok) == 0
            && single_pred
            && func.layout.inst_block(c.check) == Some(j)
        {
            let routed: Vec<(ir::Block, ir::Inst)> = router
                .cfg
                .pred_iter(j)
                .filter(|p| {
                    p.block != j
                        && (passes[p.inst].expand() == Some(j)
                            || (known[p.block] && !calls[p.block]))
                })
                .map(|p| (p.block, p.inst))
                .collect();
            if !routed.is_empty() {
                // The passing side was as cold as the test's block, its
                // only way in (a slow path that starts with a test).
                if func.layout.is_cold(j) {
                    func.layout.set_cold(ok);
                }
                router.send_past(func, c.check, 0, &routed, addr);
                sent = true;
            }
        }
    }
    (sent, Some(router.cfg))
}

/// The instructions reading each value (aliases resolved), built once per
/// routing pass and kept up to date by it: finding the reads of a test
/// block's parameters or constants must not cost a walk over the whole
/// function per test. A listed instruction may no longer read the value
/// (it was rewritten) or no longer be in the layout; readers check.
struct Uses {
    /// Readers of each value looked for (a parameter or constant of a
    /// block holding a test alone), then the reads added since.
    of: SecondaryMap<ir::Value, Vec<ir::Inst>>,
}

impl Uses {
    /// The readers of the values `wanted` marks (the rest are never looked
    /// up, other than for reads added later).
    fn of(func: &ir::Function, wanted: &SecondaryMap<ir::Value, bool>) -> Uses {
        let mut of: SecondaryMap<ir::Value, Vec<ir::Inst>> = SecondaryMap::new();
        for b in func.layout.blocks() {
            for i in func.layout.block_insts(b) {
                for v in func.dfg.inst_values(i) {
                    let v = func.dfg.resolve_aliases(v);
                    if wanted[v] && of[v].last() != Some(&i) {
                        of[v].push(i);
                    }
                }
            }
        }
        Uses { of }
    }

    fn add(&mut self, v: ir::Value, i: ir::Inst) {
        self.of[v].push(i);
    }

    /// The instructions in the layout, outside block `j`, that read `v`.
    fn readers(
        &self,
        func: &ir::Function,
        v: ir::Value,
        j: ir::Block,
    ) -> Vec<(ir::Block, ir::Inst)> {
        let mut out: Vec<(ir::Block, ir::Inst)> = Vec::new();
        for &i in self.of.get(v).into_iter().flatten() {
            let Some(b) = func.layout.inst_block(i) else {
                continue;
            };
            if b == j || out.iter().any(|x| x.1 == i) {
                continue;
            }
            if func
                .dfg
                .inst_values(i)
                .any(|x| func.dfg.resolve_aliases(x) == v)
            {
                out.push((b, i));
            }
        }
        out
    }
}

/// The stores in front of a test in its block, when nothing else is
/// there (constants aside) and there is one at least.
fn stores_before(func: &ir::Function, c: &Check) -> Option<Vec<ir::Inst>> {
    let j = func.layout.inst_block(c.check)?;
    if func.dfg.insts[c.check].opcode() != Opcode::Brif {
        return None;
    }
    let mut stores = Vec::new();
    for i in func.layout.block_insts(j) {
        if i == c.check || i == c.load {
            continue;
        }
        match func.dfg.insts[i] {
            ir::InstructionData::Store { .. } => stores.push(i),
            ir::InstructionData::UnaryImm {
                opcode: Opcode::Iconst,
                ..
            } => {}
            _ => return None,
        }
    }
    (!stores.is_empty()).then_some(stores)
}

/// Moves `stores` from the test's block to two new blocks, one on each
/// side of the test (a store is no call: `valid` is the same before and
/// after it, and compiled code never writes `valid`): `J: stores; brif
/// valid, ok(a..), miss(b..)` becomes `J: brif valid, ok', miss'` with
/// `ok': stores; jump ok(a..)` and `miss': stores; jump miss(b..)`, each
/// as cold as where it leads. Answers (ok', miss').
fn split_stores(func: &mut ir::Function, c: &Check, stores: &[ir::Inst]) -> (ir::Block, ir::Block) {
    use cranelift_codegen::cursor::{Cursor, FuncCursor};
    use cranelift_codegen::ir::InstBuilder;
    let j = func
        .layout
        .inst_block(c.check)
        .expect("a test in the layout");
    let d = func.dfg.insts[c.check]
        .branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables);
    let sides: Vec<(ir::Block, Vec<ir::BlockArg>)> = d
        .iter()
        .map(|b| {
            (
                b.block(&func.dfg.value_lists),
                b.args(&func.dfg.value_lists).collect(),
            )
        })
        .collect();
    let cond = func.dfg.inst_args(c.check)[0];
    let mut made = Vec::new();
    let mut after = j;
    for (to, args) in &sides {
        let nb = func.dfg.make_block();
        func.layout.insert_block_after(nb, after);
        after = nb;
        if func.layout.is_cold(*to) {
            func.layout.set_cold(nb);
        }
        for &st in stores {
            let data = func.dfg.insts[st];
            let copy = func.dfg.make_inst(data);
            func.layout.append_inst(copy, nb);
        }
        FuncCursor::new(func).at_bottom(nb).ins().jump(*to, args);
        made.push(nb);
    }
    for &st in stores {
        func.layout.remove_inst(st);
    }
    func.replace(c.check).brif(cond, made[0], &[], made[1], &[]);
    (made[0], made[1])
}

/// Notes in the use index, once there is one, that `i` reads `v`.
fn note(uses: &mut Option<Uses>, v: ir::Value, i: ir::Inst) {
    if let Some(u) = uses.as_mut() {
        u.add(v, i);
    }
}

/// Whether the arguments test `check` passes its destination `side` are
/// plain values made outside block `j` or constants made in it (not the
/// test's own address or load), so that an edge into `j` can pass them too.
fn plain_args(
    func: &ir::Function,
    check: ir::Inst,
    side: usize,
    j: ir::Block,
    addr: Option<ir::Inst>,
) -> bool {
    func.dfg.insts[check].branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables)
        [side]
        .args(&func.dfg.value_lists)
        .all(|a| {
            let ir::BlockArg::Value(v) = a else {
                return false;
            };
            match func.dfg.value_def(v) {
                ir::ValueDef::Result(i, _) if func.layout.inst_block(i) == Some(j) => {
                    Some(i) != addr && func.dfg.insts[i].opcode() == Opcode::Iconst
                }
                ir::ValueDef::Param(b, _) => b != j,
                _ => true,
            }
        })
}

/// The state of one routing pass: the graph it keeps up to date, the use
/// index (built when first needed), the values it indexes, and how far a
/// repair walks up a chain of single predecessors.
struct Router {
    cfg: ControlFlowGraph,
    /// Dominance as it was when first asked for: routing an edge past one
    /// test does not change which blocks another test's block dominates.
    domtree: Option<DominatorTree>,
    uses: Option<Uses>,
    wanted: SecondaryMap<ir::Value, bool>,
    limit: usize,
}

impl Router {
    /// Moves the `routed` edges into the block of test `check` to the test's
    /// destination number `side` (0 passing, 1 miss). With parameters, the
    /// test's block has a side without any: it gets the block's, the test's
    /// own edge there passes them, and reads after the two paths meet are
    /// repaired ([`Repair`]). Without, the routed edges pass what the test
    /// passes that side.
    fn send_past(
        &mut self,
        func: &mut ir::Function,
        check: ir::Inst,
        side: usize,
        routed: &[(ir::Block, ir::Inst)],
        addr: Option<ir::Inst>,
    ) {
        let (cfg, uses, wanted, limit) = (&mut self.cfg, &mut self.uses, &self.wanted, self.limit);
        let Some(j) = func.layout.inst_block(check) else {
            return;
        };
        let m = func.dfg.insts[check]
            .branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables)[side]
            .block(&func.dfg.value_lists);
        // The use index is needed to find reads of the block's parameters or
        // constants; built then, it sees the function as it is, so only later
        // changes are noted in it.
        let needs_uses = !func.dfg.block_params(j).is_empty()
            || func
                .layout
                .block_insts(j)
                .any(|i| Some(i) != addr && func.dfg.insts[i].opcode() == Opcode::Iconst);
        if needs_uses {
            let u = uses.get_or_insert_with(|| Uses::of(func, wanted));
            remake_constants_outside(func, u, j, addr);
        }
        // The edges keep their arguments: the side's new parameters are the
        // test block's, in order.
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
            .filter(|i| *i != check)
            .collect();
        // What the test passes its side (only with a test block without
        // parameters: see `route_known_edges`), passed by the routed edges too.
        let side_args: Vec<ir::BlockArg> = func.dfg.insts[check]
            .branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables)[side]
            .args(&func.dfg.value_lists)
            .collect();
        debug_assert!(side_args.is_empty() || params.is_empty());
        for &(_, inst) in routed {
            let dfg = &mut func.dfg;
            for dest in dfg.insts[inst]
                .branch_destination_mut(&mut dfg.jump_tables, &mut dfg.exception_tables)
            {
                if dest.block(&dfg.value_lists) == j {
                    if side_args.is_empty() {
                        dest.set_block(m, &mut dfg.value_lists);
                    } else {
                        *dest =
                            ir::BlockCall::new(m, side_args.iter().copied(), &mut dfg.value_lists);
                    }
                }
            }
        }
        if !side_args.is_empty() {
            // Constants of the test's block passed on are read outside it now.
            for &(_, inst) in routed {
                for a in &side_args {
                    if let ir::BlockArg::Value(v) = a {
                        note(uses, func.dfg.resolve_aliases(*v), inst);
                    }
                }
            }
            if let Some(u) = uses.as_mut() {
                remake_constants_outside(func, u, j, addr);
            }
        }
        {
            let dfg = &mut func.dfg;
            let dest = &mut dfg.insts[check]
                .branch_destination_mut(&mut dfg.jump_tables, &mut dfg.exception_tables)[side];
            for &p in &params {
                dest.append_argument(p, &mut dfg.value_lists);
            }
        }
        for &p in &params {
            note(uses, p, check);
        }
        // Only the routed edges' blocks lead elsewhere now.
        for &(b, _) in routed {
            cfg.recompute_block(func, b);
        }
        if params.is_empty() {
            return;
        }
        let mut repair = Repair {
            j,
            m,
            defs: params.iter().copied().zip(fresh.iter().copied()).collect(),
            memo: vec![SecondaryMap::new(); params.len()],
            phis: Vec::new(),
            limit,
        };
        // Every read of a parameter outside the test's block.
        let mut reads: Vec<(ir::Block, ir::Inst)> = Vec::new();
        for &p in &params {
            let Some(u) = uses.as_ref() else { break };
            for r in u.readers(func, p, j) {
                if !reads.iter().any(|x| x.1 == r.1) {
                    reads.push(r);
                }
            }
        }
        for (b, i) in reads {
            let now: Vec<ir::Value> = (0..params.len())
                .map(|k| repair.value_at(func, cfg, b, k))
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
            for &(_, k) in &named {
                note(uses, now[k], i);
            }
        }
        // The side's other edges (failed guards after the test) pass what
        // reaches them.
        for inst in others {
            if routed.iter().any(|r| r.1 == inst) {
                continue;
            }
            let Some(b) = func.layout.inst_block(inst) else {
                continue;
            };
            let now: Vec<ir::Value> = (0..params.len())
                .map(|k| repair.value_at(func, cfg, b, k))
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
            for &v in &now {
                note(uses, v, inst);
            }
        }
        repair.fill_phis(func, cfg, uses);
    }
}

/// Gives every read outside block `j` of a constant made in `j` (other
/// than the test's address `addr`) a copy of its own just before it:
/// constants are free to repeat, and `j` no longer dominates those reads
/// once edges bypass it.
fn remake_constants_outside(
    func: &mut ir::Function,
    uses: &mut Uses,
    j: ir::Block,
    addr: Option<ir::Inst>,
) {
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
    for (v, ty, imm) in made {
        for (_, i) in uses.readers(func, v, j) {
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
    fn fill_phis(
        &mut self,
        func: &mut ir::Function,
        cfg: &ControlFlowGraph,
        uses: &mut Option<Uses>,
    ) {
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
                note(uses, v, inst);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{frontend, one_arg_function, verified};
    use super::*;
    use cranelift_codegen::ir::{types::I64, InstBuilder, MemFlagsData};
    use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};

    /// A test of `valid` at the builder's position: (check, passing side).
    fn test_valid(
        b: &mut FunctionBuilder,
        ok: ir::Block,
        ok_args: &[ir::BlockArg],
        miss: ir::Block,
    ) -> Check {
        let addr = b.ins().iconst(I64, 0x1000);
        let v = b.ins().load(I64, MemFlagsData::trusted(), addr, 0);
        let check = b.ins().brif(v, ok, ok_args, miss, &[]);
        let load = b.func.dfg.value_def(v).unwrap_inst();
        Check { load, check }
    }

    #[test]
    fn a_miss_side_shared_with_an_earlier_test_is_not_repaired_into() {
        // entry(x): test A -> b1 | m;  b1: test T -> b2 | f;  f: jump j(x)
        // (known invalid);  b2: jump j(x);  j(p): test J -> ok | m;
        // ok: return p + p;  m: return x. Sending f past J to m would need
        // m to take p, which the edge from A (not behind J) cannot give.
        let mut func = one_arg_function();
        let mut ctx = FunctionBuilderContext::new();
        let mut b = FunctionBuilder::new(&mut func, &mut ctx);
        let [entry, b1, f, b2, j, ok, m] = std::array::from_fn(|_| b.create_block());
        b.append_block_params_for_function_params(entry);
        let p = b.append_block_param(j, I64);
        b.switch_to_block(entry);
        let x = b.block_params(entry)[0];
        let a = test_valid(&mut b, b1, &[], m);
        b.switch_to_block(b1);
        let t = test_valid(&mut b, b2, &[], f);
        b.switch_to_block(f);
        b.ins().jump(j, &[x.into()]);
        b.switch_to_block(b2);
        b.ins().jump(j, &[x.into()]);
        b.switch_to_block(j);
        let jt = test_valid(&mut b, ok, &[], m);
        b.switch_to_block(ok);
        let r = b.ins().iadd(p, p);
        b.ins().return_(&[r]);
        b.switch_to_block(m);
        b.ins().return_(&[x]);
        b.seal_all_blocks();
        b.finalize(frontend());
        verified(&func);
        route_known_edges(&mut func, &[a, t, jt]);
        verified(&func);
    }
}
