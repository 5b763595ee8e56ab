//! Clean-up of a unit's function once it is built, before Cranelift
//! compiles it: cold marks made transitive, blocks that only pass values on
//! bypassed, parameters that receive one value on every live edge replaced
//! by it, integer operations on constants computed, branches on a constant
//! made jumps, branches on a Boolean a compare made sent to where the
//! compare leads, blocks no path reaches dropped, parameters nothing reads
//! dropped, straight-line chains of blocks joined into one, constants made
//! where cold paths use them and dropped (with the pure operations on them)
//! where nothing does. `CraneliftTier::compile_unit`
//! runs them in turn with the validity pass (`validity.rs`), each finding
//! more for the others.
//!
//! The lowering adds blocks freely (an inlined activation's exit, the fast
//! side of a guard it folded) and leaves constants on paths it then folds
//! away; Cranelift without its optimizer keeps them, so they would cost
//! compile time and make the listings of code that computes the same thing
//! differ by the hops. Invariant: every pass keeps what the function
//! computes, and hot and cold code apart (a block runs on a slow path only
//! if it is marked cold, and a slow path entered from hot code stays a block
//! of its own).

use cranelift_codegen::entity::SecondaryMap;
use cranelift_codegen::ir::{self, Opcode};

/// Runs the clean-up passes and the validity pass (`checks` are the unit's
/// tests of `valid`) over a finished function, in the order each needs:
/// dead paths go before tests are judged (a dead path with a call keeps the
/// tests after it), a test gone leaves its miss path dead and can leave a
/// join with one value, a constant made of it can fold a branch, which
/// leaves more dead paths; a few rounds reach what there is. Then the cold marks, the constants, the joins.
pub(crate) fn run(func: &mut ir::Function, checks: &[super::validity::Check]) {
    thread_jumps(func);
    // A test of `valid` the lowering began a block with, behind a join
    // that only jumps there (an inlined activation's exit), joins it, so
    // that routing sees the join's ways in.
    merge_straight_blocks(func);
    forward_stores(func);
    let mut booleans = true;
    for _ in 0..ROUNDS {
        drop_unreachable(func);
        // An edge known invalid sent past a test can leave it redundant,
        // which the next pass finds in this round.
        let (_, cfg) = super::validity::route_known_edges(func, checks);
        // A test removed leaves its miss path dead, a folded branch its
        // other side: either makes another round worth it.
        let tests = super::validity::drop_redundant_checks(func, checks, cfg);
        drop_single_value_params(func);
        fold_constants(func);
        let branches = fold_constant_branches(func);
        // The lowering makes these joins; a round finds new ones only
        // where the one before threaded some (a constant `and:` answer).
        booleans = booleans && thread_boolean_branches(func);
        if !tests && !branches && !booleans {
            break;
        }
    }
    drop_unreachable(func);
    propagate_cold(func);
    sink_constants(func);
    drop_dead_constants(func);
    // Constants and compares gone can leave parameters unread, and the
    // arguments of those dropped can be the last reads of constants.
    if drop_unused_params(func) {
        drop_dead_constants(func);
    }
    merge_straight_blocks(func);
    // Dropped parameters and tests leave more blocks that only pass values
    // on.
    thread_jumps(func);
    order_cold_params(func);
    // Values some pass made aliases of others (a forwarded load, folded
    // overflow arithmetic) read as what they stand for.
    func.dfg.resolve_all_aliases();
}

/// Orders the parameters of every cold block by their first read in it
/// (the branches into it pass their arguments in that order). The lowering
/// and the passes give a slow path its parameters in the order they come
/// to need them (a variable looked up, a value routed there), which
/// differs between two ways of writing the same code; the hot branches
/// into the slow path pass them, so their order shows in the hot code.
#[inline(never)]
pub(crate) fn order_cold_params(func: &mut ir::Function) {
    let mut moves: Vec<(ir::Block, Vec<usize>)> = Vec::new();
    for b in func.layout.blocks() {
        if !func.layout.is_cold(b) || func.dfg.num_block_params(b) < 2 {
            continue;
        }
        let params = func.dfg.block_params(b);
        let mut first = vec![usize::MAX; params.len()];
        let mut n = 0;
        for i in func.layout.block_insts(b) {
            for v in func.dfg.inst_values(i) {
                let v = func.dfg.resolve_aliases(v);
                if let Some(k) = params.iter().position(|p| *p == v) {
                    if first[k] == usize::MAX {
                        first[k] = n;
                    }
                }
                n += 1;
            }
        }
        let mut order: Vec<usize> = (0..params.len()).collect();
        order.sort_by_key(|&k| (first[k], k));
        if order.iter().enumerate().any(|(i, k)| i != *k) {
            moves.push((b, order));
        }
    }
    if moves.is_empty() {
        return;
    }
    let mut perm: SecondaryMap<ir::Block, Option<usize>> = SecondaryMap::new();
    for (i, (b, order)) in moves.iter().enumerate() {
        let old = func.dfg.block_params(*b).to_vec();
        func.dfg.detach_block_params(*b);
        for &k in order {
            func.dfg.attach_block_param(*b, old[k]);
        }
        perm[*b] = Some(i);
    }
    let blocks: Vec<ir::Block> = func.layout.blocks().collect();
    for b in blocks {
        let Some(term) = func.layout.last_inst(b) else {
            continue;
        };
        let dfg = &mut func.dfg;
        for d in
            dfg.insts[term].branch_destination_mut(&mut dfg.jump_tables, &mut dfg.exception_tables)
        {
            let to = d.block(&dfg.value_lists);
            let Some(i) = perm[to] else { continue };
            let args: Vec<ir::BlockArg> = d.args(&dfg.value_lists).collect();
            let order = &moves[i].1;
            *d = ir::BlockCall::new(to, order.iter().map(|&k| args[k]), &mut dfg.value_lists);
        }
    }
}

/// Rounds of [`run`]'s loop at most (each usually ends the one before's
/// work: the reflection and OMOP loops need two or three).
const ROUNDS: usize = 3;

/// Marks cold every block reached only from cold blocks: Cranelift's cold
/// mark is not transitive, and a slow path is often several blocks (a call,
/// its status test, the rest of the generic operation).
#[inline(never)]
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

/// Bypasses blocks that only jump (`block B(p..): jump C(a..)`): a branch
/// to such a block goes straight to where it jumps, with the arguments it
/// jumps with (B's parameters replaced by what the branch passed them), and
/// a block no branch reaches any more goes. The lowering leaves many (the
/// exit of an inlined activation feeding its caller's, the join after a
/// slow path passing on the values around it), and code that inlines one
/// activation more must not differ by the hops it adds; a path that skips
/// the join also keeps what it knows (a validity test behind it is not one
/// it has to pass again, `validity::route_known_edges`).
///
/// A block that passes its parameters on unchanged (`jump C(p..)`) is
/// bypassed by every branch. One that passes anything else is bypassed
/// only by jumps: a conditional branch taken to C with arguments would be
/// an edge Cranelift splits with a block of its own, the hop it replaced.
/// Cold blocks stay: a slow path entered from the hot code is a block of
/// its own, whether it then joins another slow path or not, so that the
/// hot branches are the same either way.
///
/// A value the jump passes other than B's parameters is defined outside B
/// and so dominates every branch to B; B's parameters must be read nowhere
/// but in its jump (a path that skips B would not have them).
pub(crate) fn thread_jumps(func: &mut ir::Function) {
    let entry = func.layout.entry_block();
    // Where each bypassed block jumps, and whether it passes its
    // parameters on unchanged.
    let mut forward: SecondaryMap<ir::Block, Option<(ir::Block, bool)>> = SecondaryMap::new();
    let mut candidates = Vec::new();
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
        let plain = dest
            .args(&func.dfg.value_lists)
            .all(|a| matches!(a, ir::BlockArg::Value(_)));
        let params = func.dfg.block_params(b);
        let passes_on = dest.len(&func.dfg.value_lists) == params.len()
            && dest
                .args(&func.dfg.value_lists)
                .zip(params)
                .all(|(a, p)| a == ir::BlockArg::Value(*p));
        if target != b && plain {
            candidates.push((b, only, (target, passes_on)));
        }
    }
    if candidates.is_empty() {
        return;
    }
    // A block's parameters may be read wherever it dominates (its target,
    // a loop it is the only way into...): a block is bypassed only when its
    // jump is the one reader.
    let general =
        |c: &(ir::Block, ir::Inst, (ir::Block, bool))| !func.dfg.block_params(c.0).is_empty();
    let mut read_elsewhere: SecondaryMap<ir::Value, bool> = SecondaryMap::new();
    if candidates.iter().any(general) {
        let mut own_jump: SecondaryMap<ir::Value, Option<ir::Inst>> = SecondaryMap::new();
        for &(b, jump, _) in candidates.iter().filter(|c| general(c)) {
            for &p in func.dfg.block_params(b) {
                own_jump[p] = Some(jump);
            }
        }
        for blk in func.layout.blocks() {
            for i in func.layout.block_insts(blk) {
                for v in func.dfg.inst_values(i) {
                    let v = func.dfg.resolve_aliases(v);
                    if own_jump[v].is_some_and(|j| j != i) {
                        read_elsewhere[v] = true;
                    }
                }
            }
        }
    }
    let mut any = false;
    for &(b, _, (target, passes_on)) in &candidates {
        if func.dfg.block_params(b).iter().all(|p| !read_elsewhere[*p]) {
            forward[b] = Some((target, passes_on));
            any = true;
        }
    }
    if !any {
        return;
    }
    let blocks: Vec<ir::Block> = func.layout.blocks().collect();
    // Follows the forwarding blocks from `to` with `args`: where the path
    // ends and what it passes there (`by_jump`: the branch is a jump, which
    // may bypass any of them). A cycle of forwarding blocks is an empty
    // infinite loop the lowering never makes; stop after as many hops as
    // there are blocks.
    let follow =
        |func: &ir::Function, mut to: ir::Block, mut args: Vec<ir::Value>, by_jump: bool| {
            for _ in 0..blocks.len() {
                match forward[to] {
                    Some((_, passes_on)) if passes_on || by_jump => {}
                    _ => break,
                }
                let jump = func
                    .layout
                    .first_inst(to)
                    .expect("a forwarding block jumps");
                let dest = func.dfg.insts[jump]
                    .branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables)[0];
                let params = func.dfg.block_params(to);
                let next: Vec<ir::Value> = dest
                    .args(&func.dfg.value_lists)
                    .map(|a| {
                        let ir::BlockArg::Value(v) = a else {
                            unreachable!("forwarding blocks pass plain values")
                        };
                        match params.iter().position(|p| *p == v) {
                            Some(k) => args[k],
                            None => v,
                        }
                    })
                    .collect();
                to = dest.block(&func.dfg.value_lists);
                args = next;
            }
            (to, args)
        };
    for b in &blocks {
        let Some(term) = func.layout.last_inst(*b) else {
            continue;
        };
        let by_jump = func.dfg.insts[term].opcode() == Opcode::Jump;
        let n = func.dfg.insts[term]
            .branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables)
            .len();
        for k in 0..n {
            let d = func.dfg.insts[term]
                .branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables)[k];
            let to = d.block(&func.dfg.value_lists);
            if forward[to].is_none() {
                continue;
            }
            let args: Option<Vec<ir::Value>> = d
                .args(&func.dfg.value_lists)
                .map(|a| match a {
                    ir::BlockArg::Value(v) => Some(v),
                    _ => None,
                })
                .collect();
            let Some(args) = args else { continue };
            let (end, passed) = follow(func, to, args, by_jump);
            if end == to {
                continue;
            }
            let dfg = &mut func.dfg;
            let call = ir::BlockCall::new(
                end,
                passed.into_iter().map(ir::BlockArg::Value),
                &mut dfg.value_lists,
            );
            dfg.insts[term]
                .branch_destination_mut(&mut dfg.jump_tables, &mut dfg.exception_tables)[k] = call;
        }
    }
    // The bypassed blocks no branch targets any more go (and then perhaps
    // the ones only they targeted).
    let mut refs: SecondaryMap<ir::Block, u32> = SecondaryMap::new();
    for &b in &blocks {
        if let Some(term) = func.layout.last_inst(b) {
            for d in func.dfg.insts[term]
                .branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables)
            {
                refs[d.block(&func.dfg.value_lists)] += 1;
            }
        }
    }
    let mut work: Vec<ir::Block> = blocks
        .iter()
        .copied()
        .filter(|b| forward[*b].is_some() && refs[*b] == 0)
        .collect();
    while let Some(b) = work.pop() {
        let jump = func.layout.first_inst(b).expect("a forwarding block jumps");
        let t = func.dfg.insts[jump]
            .branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables)[0]
            .block(&func.dfg.value_lists);
        refs[t] -= 1;
        if refs[t] == 0 && forward[t].is_some() && t != b {
            work.push(t);
        }
        func.layout.remove_inst(jump);
        func.layout.remove_block(b);
    }
}

/// Removes constants, compares and the other pure operations nothing uses
/// (the lowering makes some for paths it then folds away, a branch made a
/// jump leaves its compare, a threaded Boolean its `select`), so that a
/// listing shows only what the code computes. An operation whose last user
/// goes is looked at again.
#[inline(never)]
pub(crate) fn drop_dead_constants(func: &mut ir::Function) {
    let pure = |op: Opcode| {
        matches!(
            op,
            Opcode::Iconst
                | Opcode::Icmp
                | Opcode::Select
                | Opcode::Band
                | Opcode::Bor
                | Opcode::Bxor
                | Opcode::Iadd
                | Opcode::Isub
                | Opcode::Ishl
                | Opcode::Sshr
                | Opcode::Ushr
        )
    };
    let mut uses: SecondaryMap<ir::Value, u32> = SecondaryMap::with_capacity(func.dfg.num_values());
    let mut work = Vec::new();
    for b in func.layout.blocks() {
        for i in func.layout.block_insts(b) {
            for v in func.dfg.inst_values(i) {
                uses[func.dfg.resolve_aliases(v)] += 1;
            }
            if pure(func.dfg.insts[i].opcode()) {
                work.push(i);
            }
        }
    }
    let mut removed: SecondaryMap<ir::Inst, bool> = SecondaryMap::new();
    while let Some(i) = work.pop() {
        if removed[i] || func.dfg.inst_results(i).iter().any(|r| uses[*r] > 0) {
            continue;
        }
        removed[i] = true;
        let args: Vec<ir::Value> = func.dfg.inst_values(i).collect();
        for v in args {
            let v = func.dfg.resolve_aliases(v);
            uses[v] -= 1;
            if let Some(def) = func.dfg.value_def(v).inst() {
                if uses[v] == 0 && pure(func.dfg.insts[def].opcode()) {
                    work.push(def);
                }
            }
        }
        func.layout.remove_inst(i);
    }
}

/// Drops the block parameters nothing reads (a join whose value the code
/// after it never uses, say an inlined `set:` answering its receiver to a
/// statement), with the arguments every branch passes them: the block may
/// then only jump on, and go ([`thread_jumps`]). A parameter read only as
/// an argument for another dropped one counts as unread.
#[inline(never)]
pub(crate) fn drop_unused_params(func: &mut ir::Function) -> bool {
    let Some(entry) = func.layout.entry_block() else {
        return false;
    };
    let blocks: Vec<ir::Block> = func.layout.blocks().collect();
    let mut read: SecondaryMap<ir::Value, bool> =
        SecondaryMap::with_capacity(func.dfg.num_values());
    // Per parameter, the values its edges pass it.
    let mut incoming: SecondaryMap<ir::Value, Vec<ir::Value>> = SecondaryMap::new();
    let mut work: Vec<ir::Value> = Vec::new();
    let mark =
        |read: &mut SecondaryMap<ir::Value, bool>, v: ir::Value, work: &mut Vec<ir::Value>| {
            if !read[v] {
                read[v] = true;
                work.push(v);
            }
        };
    for &b in &blocks {
        for i in func.layout.block_insts(b) {
            let data = &func.dfg.insts[i];
            for v in data.arguments(&func.dfg.value_lists) {
                mark(&mut read, func.dfg.resolve_aliases(*v), &mut work);
            }
            for d in data.branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables) {
                let t = d.block(&func.dfg.value_lists);
                let params = func.dfg.block_params(t);
                for (p, a) in params.iter().zip(d.args(&func.dfg.value_lists)) {
                    match a.as_value() {
                        Some(v) => incoming[*p].push(func.dfg.resolve_aliases(v)),
                        // Not a plain value (a call's result): keep it.
                        None => mark(&mut read, *p, &mut work),
                    }
                }
            }
        }
    }
    for p in func.dfg.block_params(entry) {
        mark(&mut read, *p, &mut work);
    }
    // A parameter read makes what its edges pass it read.
    while let Some(v) = work.pop() {
        for a in std::mem::take(&mut incoming[v]) {
            mark(&mut read, a, &mut work);
        }
    }
    let mut drops: SecondaryMap<ir::Block, Vec<usize>> = SecondaryMap::new();
    let mut any = false;
    for &b in &blocks {
        for (i, p) in func.dfg.block_params(b).iter().enumerate() {
            if !read[*p] {
                drops[b].push(i);
                any = true;
            }
        }
    }
    if !any {
        return false;
    }
    remove_edge_args(func, &blocks, |t| drops[t].clone());
    for &b in &blocks {
        let params = func.dfg.block_params(b).to_vec();
        for &i in drops[b].iter().rev() {
            func.dfg.remove_block_param(params[i]);
        }
    }
    true
}

/// A block that only tests whether value `v` is constant `k`: iconsts, the
/// compare, and `brif` to `yes` or `no` with no arguments.
fn equality_test(
    func: &ir::Function,
    b: ir::Block,
) -> Option<(ir::Value, i64, ir::Block, ir::Block)> {
    let term = func.layout.last_inst(b)?;
    let ir::InstructionData::Brif { arg, blocks, .. } = func.dfg.insts[term] else {
        return None;
    };
    if blocks.iter().any(|d| d.len(&func.dfg.value_lists) != 0) {
        return None;
    }
    let cmp = func.dfg.value_def(func.dfg.resolve_aliases(arg)).inst()?;
    let (v, k) = match func.dfg.insts[cmp] {
        ir::InstructionData::IntCompare {
            opcode: Opcode::Icmp,
            cond: ir::condcodes::IntCC::Equal,
            args: [x, y],
        } => match (iconst_of(func, x), iconst_of(func, y)) {
            (None, Some(k)) => (x, k),
            (Some(k), None) => (y, k),
            _ => return None,
        },
        _ => return None,
    };
    let only_test = func
        .layout
        .block_insts(b)
        .all(|i| i == term || i == cmp || func.dfg.insts[i].opcode() == Opcode::Iconst);
    if !only_test || func.layout.inst_block(cmp) != Some(b) {
        return None;
    }
    let (yes, no) = (
        blocks[0].block(&func.dfg.value_lists),
        blocks[1].block(&func.dfg.value_lists),
    );
    Some((func.dfg.resolve_aliases(v), k, yes, no))
}

/// Sends a jump that passes a Boolean of known origin to a block that only
/// branches on it straight to where it leads. The lowering of `ifTrue:`,
/// `whileTrue:` and their kind tests the receiver against `true`, then
/// `false`, then calls the fallback (`branch_boolean`); a compare it
/// inlined makes the receiver with `select c, true, false`, joined with the
/// slow path's answer. Such a join (`J(p): p = true? T : N`, `N: p =
/// false? F : O`) is taken apart per edge: an edge passing `select c, true,
/// false` becomes `brif c, T, F`, one passing a constant Boolean a jump to
/// its side; the slow path's edge still tests. Only where nothing after
/// `T` or `F` reads what `J` or `N` define (they are reached only through
/// `J` now, apart from `O`, which only `N` enters). Answers whether it sent
/// any.
#[inline(never)]
pub(crate) fn thread_boolean_branches(func: &mut ir::Function) -> bool {
    use cranelift_codegen::ir::InstBuilder;
    let entry = func.layout.entry_block();
    // The shape alone first: most rounds find none, and need no graph.
    let shaped = |func: &ir::Function, j: ir::Block| {
        if Some(j) == entry || func.dfg.num_block_params(j) != 1 {
            return false;
        }
        let p = func.dfg.block_params(j)[0];
        matches!(equality_test(func, j), Some((v, _, _, n))
            if v == p && n != j && matches!(equality_test(func, n), Some((w, ..)) if w == p))
    };
    if !func.layout.blocks().any(|j| shaped(func, j)) {
        return false;
    }
    let cfg = cranelift_codegen::flowgraph::ControlFlowGraph::with_function(func);
    // Per candidate join: (J, T, F, true, false).
    let mut joins: Vec<(ir::Block, ir::Block, ir::Block, i64, i64)> = Vec::new();
    let mut owner: SecondaryMap<ir::Block, Option<u32>> = SecondaryMap::new();
    let mut allowed: Vec<[ir::Block; 3]> = Vec::new();
    for j in func.layout.blocks() {
        if Some(j) == entry || func.dfg.num_block_params(j) != 1 {
            continue;
        }
        let p = func.dfg.block_params(j)[0];
        let Some((v, k1, t, n)) = equality_test(func, j) else {
            continue;
        };
        if v != p || n == j || cfg.pred_iter(n).count() != 1 || func.dfg.num_block_params(n) != 0 {
            continue;
        }
        let Some((w, k2, f, o)) = equality_test(func, n) else {
            continue;
        };
        if w != p
            || k1 == k2
            || [t, f, o].contains(&j)
            || [t, f].contains(&n)
            || cfg.pred_iter(o).count() != 1
        {
            continue;
        }
        let idx = joins.len() as u32;
        owner[j] = Some(idx);
        owner[n] = Some(idx);
        joins.push((j, t, f, k1, k2));
        allowed.push([j, n, o]);
    }
    if joins.is_empty() {
        return false;
    }
    // A join is off if a value defined in J or N is read outside J, N and O.
    let mut ok = vec![true; joins.len()];
    let mut defined_in: SecondaryMap<ir::Value, Option<u32>> = SecondaryMap::new();
    for b in func.layout.blocks() {
        let Some(idx) = owner[b] else { continue };
        for p in func.dfg.block_params(b) {
            defined_in[*p] = Some(idx);
        }
        for i in func.layout.block_insts(b) {
            for r in func.dfg.inst_results(i) {
                defined_in[*r] = Some(idx);
            }
        }
    }
    for b in func.layout.blocks() {
        for i in func.layout.block_insts(b) {
            for v in func.dfg.inst_values(i) {
                if let Some(idx) = defined_in[func.dfg.resolve_aliases(v)] {
                    if !allowed[idx as usize].contains(&b) {
                        ok[idx as usize] = false;
                    }
                }
            }
        }
    }
    let mut sent = false;
    for (idx, &(j, t, f, k1, k2)) in joins.iter().enumerate() {
        if !ok[idx] {
            continue;
        }
        let preds: Vec<ir::Inst> = cfg.pred_iter(j).map(|p| p.inst).collect();
        for inst in preds {
            if func.dfg.insts[inst].opcode() != Opcode::Jump {
                continue;
            }
            let dest = func.dfg.insts[inst]
                .branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables)[0];
            let Some(a) = dest
                .args(&func.dfg.value_lists)
                .next()
                .and_then(|a| a.as_value())
            else {
                continue;
            };
            let a = func.dfg.resolve_aliases(a);
            if let Some(k) = iconst_of(func, a) {
                let to = if k == k1 {
                    t
                } else if k == k2 {
                    f
                } else {
                    continue;
                };
                func.replace(inst).jump(to, &[]);
                sent = true;
                continue;
            }
            let Some(def) = func.dfg.value_def(a).inst() else {
                continue;
            };
            let ir::InstructionData::Ternary {
                opcode: Opcode::Select,
                args: [c, x, y],
            } = func.dfg.insts[def]
            else {
                continue;
            };
            let (yes, no) = match (iconst_of(func, x), iconst_of(func, y)) {
                (Some(x), Some(y)) if x == k1 && y == k2 => (t, f),
                (Some(x), Some(y)) if x == k2 && y == k1 => (f, t),
                _ => continue,
            };
            func.replace(inst).brif(c, yes, &[], no, &[]);
            sent = true;
        }
    }
    sent
}

/// Reads a field the block just wrote or read as the value written or read
/// (`field := field + 1. field := field + 1` reads `field` once): within a
/// block, a load from the same address value and offset as an earlier
/// store or load, with no store and no call between, is that value. Any
/// store may write anything (two addresses may be the same object), so it
/// forgets all but itself; any call may move or change every object. Loads
/// from constant addresses (the unit's validity word, a global's cell, the
/// VM block) stay: they are the tests other passes look for.
#[inline(never)]
pub(crate) fn forward_stores(func: &mut ir::Function) {
    let mut known: Vec<(ir::Value, i32, ir::Value)> = Vec::new();
    let mut gone = Vec::new();
    let constant = |func: &ir::Function, v: ir::Value| {
        func.dfg
            .value_def(v)
            .inst()
            .is_some_and(|i| func.dfg.insts[i].opcode() == Opcode::Iconst)
    };
    for b in func.layout.blocks() {
        known.clear();
        for i in func.layout.block_insts(b) {
            match func.dfg.insts[i] {
                ir::InstructionData::Load {
                    opcode: Opcode::Load,
                    arg,
                    offset,
                    ..
                } => {
                    let addr = func.dfg.resolve_aliases(arg);
                    let off: i32 = offset.into();
                    let r = func.dfg.first_result(i);
                    if constant(func, addr) {
                        continue;
                    }
                    let ty = func.dfg.value_type(r);
                    match known
                        .iter()
                        .find(|k| k.0 == addr && k.1 == off && func.dfg.value_type(k.2) == ty)
                    {
                        Some(k) => gone.push((i, k.2)),
                        None => known.push((addr, off, r)),
                    }
                }
                ir::InstructionData::Store {
                    opcode: Opcode::Store,
                    args: [value, addr],
                    offset,
                    ..
                } => {
                    known.clear();
                    let addr = func.dfg.resolve_aliases(addr);
                    if !constant(func, addr) {
                        known.push((addr, offset.into(), func.dfg.resolve_aliases(value)));
                    }
                }
                data => {
                    let op = data.opcode();
                    if op.is_call() || op.can_store() {
                        known.clear();
                    }
                }
            }
        }
    }
    for (i, v) in gone {
        let r = func.dfg.first_result(i);
        func.dfg.detach_inst_results(i);
        func.layout.remove_inst(i);
        func.dfg.change_to_alias(r, v);
    }
}

/// Makes constants where they are used. A read in a cold block of a
/// constant made in a hot one gets its own copy just before it (constants
/// are free to repeat), so a constant that only a cold path needs no longer
/// sits in the hot path. Then a constant of a hot block that only one other
/// hot block reads moves there, before its first read: it is not held in a
/// register, or spilled, from where the lowering happened to make it (a
/// literal receiver evaluated before the send that is its argument) to
/// where it is read, so two ways of writing the same computation get the
/// same code. Cold marks must be complete (`propagate_cold`).
#[inline(never)]
pub(crate) fn sink_constants(func: &mut ir::Function) {
    // Constants of hot blocks, the only ones a read can be far from.
    let mut consts: SecondaryMap<ir::Value, Option<(ir::Inst, ir::Type, i64)>> =
        SecondaryMap::new();
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
                consts[v] = Some((i, func.dfg.value_type(v), imm.bits()));
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
                if let Some((_, ty, imm)) = consts[v] {
                    if !far.iter().any(|f| f.0 == v) {
                        far.push((v, ty, imm));
                    }
                }
            }
            for &(v, ty, imm) in &far {
                read_own_copy(func, i, v, ty, imm);
            }
        }
    }
    // Where the hot constants are read: the one block and its first read
    // there, or none when more than one block (or the home block) reads it.
    #[derive(Clone, Copy, Default)]
    enum Reads {
        #[default]
        Unread,
        One(ir::Block, ir::Inst),
        Many,
    }
    let mut reads: SecondaryMap<ir::Value, Reads> = SecondaryMap::new();
    for b in func.layout.blocks() {
        if func.layout.is_cold(b) {
            continue;
        }
        for i in func.layout.block_insts(b) {
            for v in func.dfg.inst_values(i) {
                let v = func.dfg.resolve_aliases(v);
                let Some((home, ..)) = consts[v] else {
                    continue;
                };
                reads[v] = match reads[v] {
                    _ if func.layout.inst_block(home) == Some(b) => Reads::Many,
                    Reads::Unread => Reads::One(b, i),
                    Reads::One(rb, ri) if rb == b => Reads::One(rb, ri),
                    _ => Reads::Many,
                };
            }
        }
    }
    let moves: Vec<(ir::Inst, ir::Inst)> = reads
        .iter()
        .filter_map(|(v, r)| match (*r, consts[v]) {
            (Reads::One(_, first), Some((home, ..))) => Some((home, first)),
            _ => None,
        })
        .collect();
    for (home, first) in moves {
        func.layout.remove_inst(home);
        func.layout.insert_inst(home, first);
    }
}

/// Makes instruction `i` read `copy` instead of `v`.
fn read_value(func: &mut ir::Function, i: ir::Inst, v: ir::Value, copy: ir::Value) {
    let dfg = &mut func.dfg;
    let named: Vec<ir::Value> = dfg
        .inst_values(i)
        .filter(|x| dfg.resolve_aliases(*x) == v)
        .collect();
    dfg.map_inst_values(i, |x| if named.contains(&x) { copy } else { x });
}

/// Makes instruction `i` read a copy of constant `v` (`iconst.ty imm`)
/// made just before it, instead of `v` itself.
pub(crate) fn read_own_copy(
    func: &mut ir::Function,
    i: ir::Inst,
    v: ir::Value,
    ty: ir::Type,
    imm: i64,
) -> ir::Value {
    use cranelift_codegen::cursor::{Cursor, FuncCursor};
    use cranelift_codegen::ir::InstBuilder;
    let copy = FuncCursor::new(func).at_inst(i).ins().iconst(ty, imm);
    read_value(func, i, v, copy);
    copy
}

/// Joins each block to its predecessor where that predecessor ends in a
/// jump to it and is its only one (`A: ...; jump B(x)` and `B(p): ...`):
/// B's parameters become the values passed and its instructions continue
/// A. Only blocks of the same temperature join, and chains join into their
/// first block.
#[inline(never)]
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

/// Makes a jump of each branch whose condition compares two constants
/// (`brif (icmp cc k1, k2)`): the lowering folds what it knows where it
/// lowers a node, but a value it only learns is constant once a join has
/// a single predecessor (a send whose guarded target answered a constant,
/// say `#once = #once` inlined) reaches the branch as that join's
/// parameter. Run after the joins are resolved ([`merge_straight_blocks`]);
/// the branch not taken is left without predecessors, and Cranelift drops
/// its code. Answers whether it folded any.
#[inline(never)]
pub(crate) fn fold_constant_branches(func: &mut ir::Function) -> bool {
    let mut folded = false;
    let blocks: Vec<ir::Block> = func.layout.blocks().collect();
    for b in blocks {
        let Some(term) = func.layout.last_inst(b) else {
            continue;
        };
        let ir::InstructionData::Brif { arg, blocks, .. } = func.dfg.insts[term] else {
            continue;
        };
        let arg = func.dfg.resolve_aliases(arg);
        let Some(def) = func.dfg.value_def(arg).inst() else {
            continue;
        };
        let taken = match func.dfg.insts[def] {
            ir::InstructionData::IntCompare {
                opcode: Opcode::Icmp,
                cond,
                args: [x, y],
            } => match (iconst_of(func, x), iconst_of(func, y)) {
                (Some(x), Some(y)) => compare(cond, x, y),
                _ => continue,
            },
            _ => match iconst_of(func, arg) {
                Some(k) => k != 0,
                None => continue,
            },
        };
        let call = blocks[if taken { 0 } else { 1 }];
        let dest = call.block(&func.dfg.value_lists);
        let args: Vec<ir::BlockArg> = call.args(&func.dfg.value_lists).collect();
        use cranelift_codegen::ir::InstBuilder;
        func.replace(term).jump(dest, &args);
        folded = true;
    }
    folded
}

/// `x cc y` on 64-bit integers.
fn compare(cc: ir::condcodes::IntCC, x: i64, y: i64) -> bool {
    use ir::condcodes::IntCC::*;
    let (ux, uy) = (x as u64, y as u64);
    match cc {
        Equal => x == y,
        NotEqual => x != y,
        SignedLessThan => x < y,
        SignedGreaterThanOrEqual => x >= y,
        SignedGreaterThan => x > y,
        SignedLessThanOrEqual => x <= y,
        UnsignedLessThan => ux < uy,
        UnsignedGreaterThanOrEqual => ux >= uy,
        UnsignedGreaterThan => ux > uy,
        UnsignedLessThanOrEqual => ux <= uy,
    }
}

/// Replaces each block parameter that receives one and the same value on
/// every edge from a reachable block (itself aside) by that value. The
/// lowering seals blocks late, so the SSA construction gives a block a
/// parameter for a variable wherever a predecessor is a block the lowering
/// had folded away and left without predecessors (its placeholder value
/// differs); such edges never run. The value reaches the block on every
/// path, so its definition dominates it. Iterated: one removal can make
/// another parameter single-valued.
#[inline(never)]
pub(crate) fn drop_single_value_params(func: &mut ir::Function) {
    use cranelift_codegen::entity::SecondaryMap;
    let Some(entry) = func.layout.entry_block() else {
        return;
    };
    let live = reachable(func, entry);
    // Per parameter: whether an edge was seen, and the one value passed
    // (None once two differ).
    #[derive(Clone, Copy, Default)]
    enum Incoming {
        #[default]
        Unseen,
        One(ir::Value),
        Several,
    }
    let blocks: Vec<ir::Block> = func.layout.blocks().collect();
    let mut dropped = false;
    loop {
        let mut seen: SecondaryMap<ir::Value, Incoming> =
            SecondaryMap::with_capacity(func.dfg.num_values());
        for &b in &blocks {
            if !live[b] {
                continue;
            }
            let Some(term) = func.layout.last_inst(b) else {
                continue;
            };
            for d in func.dfg.insts[term]
                .branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables)
            {
                let t = d.block(&func.dfg.value_lists);
                let params = func.dfg.block_params(t);
                for (p, a) in params.iter().zip(d.args(&func.dfg.value_lists)) {
                    let Some(v) = a.as_value().map(|v| func.dfg.resolve_aliases(v)) else {
                        seen[*p] = Incoming::Several;
                        continue;
                    };
                    if v == *p {
                        continue;
                    }
                    seen[*p] = match seen[*p] {
                        Incoming::Unseen => Incoming::One(v),
                        Incoming::One(w) if w == v => Incoming::One(v),
                        _ => Incoming::Several,
                    };
                }
            }
        }
        // The parameters to drop, by block (indices ascending).
        let mut drops: SecondaryMap<ir::Block, Vec<(usize, ir::Value)>> = SecondaryMap::new();
        let mut any = false;
        for &b in &blocks {
            if !live[b] || b == entry {
                continue;
            }
            for (i, p) in func.dfg.block_params(b).iter().enumerate() {
                if let Incoming::One(v) = seen[*p] {
                    drops[b].push((i, v));
                    any = true;
                }
            }
        }
        if !any {
            break;
        }
        dropped = true;
        // Every edge (live or not) loses those arguments, then the blocks
        // their parameters, last first so that indices stay valid.
        remove_edge_args(func, &blocks, |t| drops[t].iter().map(|d| d.0).collect());
        for &b in &blocks {
            let params = func.dfg.block_params(b).to_vec();
            for &(i, v) in drops[b].iter().rev() {
                func.dfg.remove_block_param(params[i]);
                func.dfg.change_to_alias(params[i], v);
            }
        }
    }
    // The dropped parameters are aliases of their values now.
    if dropped {
        func.dfg.resolve_all_aliases();
    }
}

/// Removes from every branch in `blocks` the arguments at the indices
/// `dropped` names for its destination (ascending), last first so that
/// indices stay valid.
fn remove_edge_args(
    func: &mut ir::Function,
    blocks: &[ir::Block],
    dropped: impl Fn(ir::Block) -> Vec<usize>,
) {
    for &pred in blocks {
        let Some(term) = func.layout.last_inst(pred) else {
            continue;
        };
        let dfg = &mut func.dfg;
        for d in
            dfg.insts[term].branch_destination_mut(&mut dfg.jump_tables, &mut dfg.exception_tables)
        {
            let t = d.block(&dfg.value_lists);
            for &i in dropped(t).iter().rev() {
                d.remove(i, &mut dfg.value_lists);
            }
        }
    }
}

/// Computes the integer operations whose operands are all constants (the
/// lowering folds what it sees, but a join with a single value, resolved
/// by [`drop_single_value_params`], can make more operands constant), each
/// replaced by its result as a constant. Layout order is a valid order for
/// one pass only where definitions come first; iterated until nothing
/// changes.
#[inline(never)]
pub(crate) fn fold_constants(func: &mut ir::Function) {
    use cranelift_codegen::ir::InstBuilder;
    loop {
        let mut changed = false;
        let insts: Vec<ir::Inst> = func
            .layout
            .blocks()
            .flat_map(|b| func.layout.block_insts(b))
            .collect();
        for i in insts {
            let data = func.dfg.insts[i];
            let folded = match data {
                ir::InstructionData::Binary {
                    opcode:
                        op @ (Opcode::SaddOverflow | Opcode::SsubOverflow | Opcode::SmulOverflow),
                    args: [x, y],
                } => {
                    let (Some(x), Some(y)) = (iconst_of(func, x), iconst_of(func, y)) else {
                        continue;
                    };
                    if func.dfg.value_type(func.dfg.first_result(i)) != ir::types::I64 {
                        continue;
                    }
                    let (r, overflow) = match op {
                        Opcode::SaddOverflow => x.overflowing_add(y),
                        Opcode::SsubOverflow => x.overflowing_sub(y),
                        _ => x.overflowing_mul(y),
                    };
                    fold_overflowing(func, i, r, overflow);
                    changed = true;
                    continue;
                }
                ir::InstructionData::Binary {
                    opcode,
                    args: [x, y],
                } => {
                    let (Some(x), Some(y)) = (iconst_of(func, x), iconst_of(func, y)) else {
                        continue;
                    };
                    binary(opcode, x, y)
                }
                ir::InstructionData::IntCompare {
                    opcode: Opcode::Icmp,
                    cond,
                    args: [x, y],
                } => {
                    let (Some(x), Some(y)) = (iconst_of(func, x), iconst_of(func, y)) else {
                        continue;
                    };
                    Some(compare(cond, x, y) as i64)
                }
                _ => None,
            };
            let Some(k) = folded else {
                continue;
            };
            let ty = func.dfg.value_type(func.dfg.first_result(i));
            // Only the types the lowering computes in.
            if ty != ir::types::I64 && ty != ir::types::I8 {
                continue;
            }
            func.replace(i)
                .iconst(ty, if ty == ir::types::I8 { k & 0xff } else { k });
            changed = true;
        }
        if !changed {
            break;
        }
    }
}

/// Replaces an arithmetic operation with an overflow flag whose operands
/// are constants (`1 + 2` with a global folded to 1) by its two constant
/// results, so that the branch on the flag folds.
fn fold_overflowing(func: &mut ir::Function, i: ir::Inst, r: i64, overflow: bool) {
    use cranelift_codegen::cursor::Cursor;
    use cranelift_codegen::ir::InstBuilder;
    let results = func.dfg.inst_results(i).to_vec();
    let (value, flag) = (results[0], results[1]);
    let flag_ty = func.dfg.value_type(flag);
    let mut cursor = cranelift_codegen::cursor::FuncCursor::new(func).at_inst(i);
    let v = cursor.ins().iconst(ir::types::I64, r);
    let f = cursor.ins().iconst(flag_ty, overflow as i64);
    func.dfg.detach_inst_results(i);
    func.layout.remove_inst(i);
    func.dfg.change_to_alias(value, v);
    func.dfg.change_to_alias(flag, f);
}

/// `x op y` on 64-bit integers, for the operations the lowering emits
/// whose result is one word (no overflow flag).
fn binary(op: Opcode, x: i64, y: i64) -> Option<i64> {
    Some(match op {
        Opcode::Iadd => x.wrapping_add(y),
        Opcode::Isub => x.wrapping_sub(y),
        Opcode::Imul => x.wrapping_mul(y),
        Opcode::Band => x & y,
        Opcode::Bor => x | y,
        Opcode::Bxor => x ^ y,
        Opcode::Ishl => x.wrapping_shl((y & 63) as u32),
        Opcode::Sshr => x.wrapping_shr((y & 63) as u32),
        Opcode::Ushr => ((x as u64).wrapping_shr((y & 63) as u32)) as i64,
        _ => return None,
    })
}

/// The blocks reachable from `entry`.
fn reachable(func: &ir::Function, entry: ir::Block) -> SecondaryMap<ir::Block, bool> {
    let mut live: SecondaryMap<ir::Block, bool> = SecondaryMap::new();
    let mut work = vec![entry];
    live[entry] = true;
    while let Some(b) = work.pop() {
        let Some(term) = func.layout.last_inst(b) else {
            continue;
        };
        for d in func.dfg.insts[term]
            .branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables)
        {
            let t = d.block(&func.dfg.value_lists);
            if !live[t] {
                live[t] = true;
                work.push(t);
            }
        }
    }
    live
}

/// Removes the blocks no path from the entry reaches (paths the lowering
/// folded away, branches made jumps), as Cranelift would, but before the
/// passes that count uses: what only dead code used goes too.
pub(crate) fn drop_unreachable(func: &mut ir::Function) {
    let Some(entry) = func.layout.entry_block() else {
        return;
    };
    let live = reachable(func, entry);
    let dead: Vec<ir::Block> = func.layout.blocks().filter(|b| !live[*b]).collect();
    for b in dead {
        while let Some(i) = func.layout.first_inst(b) {
            func.layout.remove_inst(i);
        }
        func.layout.remove_block(b);
    }
}

/// The constant `v` is, if an `iconst` defines it.
fn iconst_of(func: &ir::Function, v: ir::Value) -> Option<i64> {
    let v = func.dfg.resolve_aliases(v);
    match func.dfg.insts[func.dfg.value_def(v).inst()?] {
        ir::InstructionData::UnaryImm {
            opcode: Opcode::Iconst,
            imm,
        } => Some(imm.bits()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{frontend, one_arg_function, verified};
    use super::*;
    use cranelift_codegen::ir::{types::I64, InstBuilder};
    use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};

    /// `entry(x): jump B(x); B(p): jump C; C: loop reading p; exit: return p`:
    /// B only jumps, but it is the only way into the loop that reads its
    /// parameter, so it must stay (its target C has another way in, the
    /// back edge, which B dominates too).
    fn join_into_loop() -> (ir::Function, ir::Block) {
        let mut func = one_arg_function();
        let mut ctx = FunctionBuilderContext::new();
        let mut b = FunctionBuilder::new(&mut func, &mut ctx);
        let (entry, join, head, latch, exit) = (
            b.create_block(),
            b.create_block(),
            b.create_block(),
            b.create_block(),
            b.create_block(),
        );
        b.append_block_params_for_function_params(entry);
        let p = b.append_block_param(join, I64);
        b.switch_to_block(entry);
        let x = b.block_params(entry)[0];
        b.ins().jump(join, &[x.into()]);
        b.switch_to_block(join);
        b.ins().jump(head, &[]);
        b.switch_to_block(head);
        let v = b.ins().iadd_imm_s(p, 1);
        b.ins().brif(v, latch, &[], exit, &[]);
        b.switch_to_block(latch);
        b.ins().jump(head, &[]);
        b.switch_to_block(exit);
        b.ins().return_(&[p]);
        b.seal_all_blocks();
        b.finalize(frontend());
        (func, join)
    }

    #[test]
    fn a_block_whose_parameter_is_read_past_its_jump_stays() {
        let (mut func, join) = join_into_loop();
        verified(&func);
        thread_jumps(&mut func);
        verified(&func);
        assert!(func.layout.is_block_inserted(join), "{}", func.display());
    }

    #[test]
    fn a_block_that_only_passes_values_on_is_bypassed() {
        // entry(x): jump B(x); B(p): jump C(p, 7); C(a, b): return a + b.
        let mut func = one_arg_function();
        let mut ctx = FunctionBuilderContext::new();
        let mut b = FunctionBuilder::new(&mut func, &mut ctx);
        let (entry, fwd, end) = (b.create_block(), b.create_block(), b.create_block());
        b.append_block_params_for_function_params(entry);
        let p = b.append_block_param(fwd, I64);
        let (a1, a2) = (
            b.append_block_param(end, I64),
            b.append_block_param(end, I64),
        );
        b.switch_to_block(entry);
        let x = b.block_params(entry)[0];
        b.ins().jump(fwd, &[x.into()]);
        b.switch_to_block(fwd);
        let seven = b.ins().iconst(I64, 7);
        b.ins().jump(end, &[p.into(), seven.into()]);
        b.switch_to_block(end);
        let s = b.ins().iadd(a1, a2);
        b.ins().return_(&[s]);
        b.seal_all_blocks();
        b.finalize(frontend());
        // The constant makes `fwd` more than a jump: it stays.
        let mut kept = func.clone();
        thread_jumps(&mut kept);
        verified(&kept);
        assert_eq!(kept.layout.blocks().count(), 3);
        // Made outside it, the block is a jump only and goes.
        let k = func.layout.first_inst(fwd).unwrap();
        func.layout.remove_inst(k);
        let first = func.layout.first_inst(entry).unwrap();
        func.layout.insert_inst(k, first);
        thread_jumps(&mut func);
        verified(&func);
        assert_eq!(func.layout.blocks().count(), 2);
    }
}
