//! The zero-overhead proof: the hot loop of a reflective or enforced
//! benchmark compiles to the same code as the hot loop of its direct twin.
//!
//! `som --print-ir='Class>>#selector'` prints, for every compilation of
//! that unit, a normalized optimized-CLIF listing and a normalized
//! machine-code listing. From the last compilation of each side of a pair
//! (both run in the same tier mode, by default the VM's own, `--jit=on`)
//! this module extracts **the hot loop**: the blocks on a cycle
//! through the loop header (the largest cycle of non-cold blocks picks the
//! header), of which only the hot (non-cold) ones are kept. It normalizes
//! them again, now for the loop alone: values, blocks, stack slots,
//! signatures and machine registers renumbered in order of appearance,
//! embedded constants renamed consistently by kind (`shape#0`, `unit#1`...),
//! stack-frame offsets renamed (`slot#0`), source positions masked
//! (`pos#_`), runtime functions kept by name; nothing else is erased. Then
//! it compares the two texts line by line.
//!
//! A loop is *not comparable* when it is empty or when one of its hot
//! blocks calls (a runtime entry or anything else) or allocates (an inline
//! bump allocation, `heap#`, or an `rt_new...` entry): such code cannot be
//! the code of a direct loop, whatever it is compared with.
//!
//! The machine-code listing does not mark cold blocks, and Cranelift emits
//! (and lists) the hot blocks of its lowered order first, then the cold
//! ones. The lowered order is rebuilt here from the CLIF listing as
//! Cranelift 0.135 builds it (`machinst/blockorder.rs`: the reverse
//! post-order of a depth-first walk that takes the first successor first,
//! with a block for every critical edge, cold when its successor is), which
//! gives every listed machine block its CLIF block and so its temperature;
//! the rebuilt order is checked against the jumps of the listing, and a
//! mismatch makes the loop not comparable rather than wrong.

mod flow;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One compilation printed by `--print-ir`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    /// The unit's name (`AddBenchmark>>#benchmark`, `[] in X>>#benchmark`).
    pub unit: String,
    /// CLIF instructions of the whole unit, as the header reports them.
    pub clif_insts: usize,
    /// Bytes of machine code of the whole unit, as the header reports them.
    pub code_bytes: usize,
    /// The optimized CLIF (`function ... { ... }`).
    pub clif: String,
    /// The machine code.
    pub code: String,
}

/// Splits the stderr of a `--print-ir` run into its listings, in order.
pub fn listings(stderr: &str) -> Vec<Listing> {
    let mut out = Vec::new();
    let mut lines = stderr.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(head) = line.strip_prefix("; unit ") else {
            continue;
        };
        let (unit, clif_insts, code_bytes) = parse_head(head);
        let mut clif = String::new();
        let mut code = String::new();
        let mut section = 0;
        while let Some(&l) = lines.peek() {
            if l.starts_with("; unit ") {
                break;
            }
            lines.next();
            match l {
                "; optimized CLIF" => section = 1,
                "; machine code" => section = 2,
                _ if section == 1 => {
                    clif.push_str(l);
                    clif.push('\n');
                }
                // Machine code runs to the first line that is neither an
                // instruction nor a block label (other output on stderr).
                _ if section == 2 => {
                    if l.starts_with("  ") || is_code_label(l) {
                        code.push_str(l);
                        code.push('\n');
                    } else {
                        section = 3;
                    }
                }
                _ => {}
            }
        }
        out.push(Listing {
            unit,
            clif_insts,
            code_bytes,
            clif,
            code,
        });
    }
    out
}

/// `Name (N CLIF instructions, M bytes of code)`.
fn parse_head(head: &str) -> (String, usize, usize) {
    let Some(open) = head.rfind(" (") else {
        return (head.to_string(), 0, 0);
    };
    let nums: Vec<usize> = head[open..]
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect();
    (
        head[..open].to_string(),
        nums.first().copied().unwrap_or(0),
        nums.get(1).copied().unwrap_or(0),
    )
}

fn is_code_label(l: &str) -> bool {
    l.strip_prefix("block")
        .and_then(|r| r.strip_suffix(':'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Why a loop cannot stand for zero overhead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotComparable(pub String);

impl fmt::Display for NotComparable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not comparable: {}", self.0)
    }
}

impl std::error::Error for NotComparable {}

fn refuse<T>(msg: impl Into<String>) -> Result<T, NotComparable> {
    Err(NotComparable(msg.into()))
}

/// A basic block of a listing.
#[derive(Clone, Debug)]
struct Block {
    /// Its name in the listing (`block7`).
    name: String,
    /// The header line as printed.
    header: String,
    cold: bool,
    /// Instruction lines, as printed.
    lines: Vec<String>,
    /// Successors, as block names, in the terminator's order.
    succs: Vec<String>,
}

/// The blocks of a CLIF listing in layout order.
fn clif_blocks(clif: &str) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    for line in clif.lines() {
        if line.starts_with("block") {
            let name: String = line
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            let after_params = line.rsplit(')').next().unwrap_or(line);
            let cold = after_params.contains(" cold") || line.ends_with(" cold:");
            blocks.push(Block {
                name,
                header: line.to_string(),
                cold,
                lines: Vec::new(),
                succs: Vec::new(),
            });
        } else if let Some(b) = blocks.last_mut() {
            let t = line.trim();
            if !t.is_empty() && t != "}" {
                b.lines.push(line.to_string());
            }
        }
    }
    for b in &mut blocks {
        if let Some(last) = b.lines.last() {
            let code = last.split(';').next().unwrap_or("");
            b.succs = tokens(code)
                .into_iter()
                .filter(|t| is_numbered(t, "block"))
                .collect();
            // A block ending in a trap is cold for Cranelift too.
            if code.trim_start().starts_with("trap") {
                b.cold = true;
            }
        }
    }
    blocks
}

/// The blocks of a machine-code listing in printed order; a block's
/// successors are the labels of its last instruction.
fn code_blocks(code: &str) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    for line in code.lines() {
        if is_code_label(line) {
            blocks.push(Block {
                name: line.trim_end_matches(':').to_string(),
                header: line.to_string(),
                cold: false,
                lines: Vec::new(),
                succs: Vec::new(),
            });
        } else if let Some(b) = blocks.last_mut() {
            if !line.trim().is_empty() {
                b.lines.push(line.to_string());
            }
        }
        // Lines before the first label are the prologue.
    }
    for b in &mut blocks {
        if let Some(last) = b.lines.last() {
            b.succs = tokens(last)
                .into_iter()
                .filter(|t| is_numbered(t, "label"))
                .collect();
        }
    }
    blocks
}

fn is_numbered(t: &str, prefix: &str) -> bool {
    t.strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn number(t: &str, prefix: &str) -> Option<usize> {
    t.strip_prefix(prefix)?.parse().ok()
}

/// The word-like tokens of a line (`v12`, `block3`, `shape#0`, `%r5`,
/// `rt_send`, `0x9c41`, `-1`).
fn tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for ch in line.chars() {
        if is_token_char(ch) {
            cur.push(ch);
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn is_token_char(ch: char) -> bool {
    ch.is_ascii_alphanumeric() || matches!(ch, '_' | '%' | '$' | '#' | '-')
}

/// Cranelift's lowered block order, rebuilt from CLIF blocks: for each
/// lowered block, the CLIF block it comes from (for a critical-edge block,
/// the edge's successor), whether it is cold, and its successors as
/// lowered indices.
struct Lowered {
    origin: Vec<usize>,
    cold: Vec<bool>,
    succs: Vec<Vec<usize>>,
}

fn lowered_order(blocks: &[Block]) -> Result<Lowered, NotComparable> {
    let index: HashMap<&str, usize> = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| (b.name.as_str(), i))
        .collect();
    let mut succs: Vec<Vec<usize>> = Vec::with_capacity(blocks.len());
    for b in blocks {
        let mut s = Vec::new();
        for n in &b.succs {
            match index.get(n.as_str()) {
                Some(&i) => s.push(i),
                None => return refuse(format!("CLIF jumps to unknown {n}")),
            }
        }
        succs.push(s);
    }
    let n = blocks.len();
    let mut in_count = vec![0usize; n];
    for s in &succs {
        for &t in s {
            in_count[t] += 1;
        }
    }
    // Depth-first, first successor first (Cranelift pushes them reversed
    // on its stack), post-order on exit.
    enum Ev {
        Enter(usize),
        Exit(usize),
    }
    let mut visited = vec![false; n];
    let mut post = Vec::new();
    let mut stack = vec![Ev::Enter(0)];
    while let Some(ev) = stack.pop() {
        match ev {
            Ev::Enter(b) => {
                if visited[b] {
                    continue;
                }
                visited[b] = true;
                stack.push(Ev::Exit(b));
                for &s in succs[b].iter().rev() {
                    if !visited[s] {
                        stack.push(Ev::Enter(s));
                    }
                }
            }
            Ev::Exit(b) => post.push(b),
        }
    }
    // Lowered blocks: each CLIF block in reverse post-order, followed by
    // one block per critical edge leaving it.
    #[derive(Clone, Copy, PartialEq, Eq, Hash)]
    enum Lb {
        Orig(usize),
        Edge(usize, usize),
    }
    let mut order: Vec<Lb> = Vec::new();
    let mut succ_lb: Vec<Vec<Lb>> = succs
        .iter()
        .map(|s| s.iter().map(|&t| Lb::Orig(t)).collect())
        .collect();
    for &b in post.iter().rev() {
        order.push(Lb::Orig(b));
        if succs[b].len() > 1 {
            for (k, &s) in succs[b].iter().enumerate() {
                if in_count[s] > 1 {
                    succ_lb[b][k] = Lb::Edge(b, k);
                    order.push(Lb::Edge(b, k));
                }
            }
        }
    }
    let at: HashMap<Lb, usize> = order.iter().enumerate().map(|(i, &l)| (l, i)).collect();
    let mut low = Lowered {
        origin: Vec::new(),
        cold: Vec::new(),
        succs: Vec::new(),
    };
    for &l in &order {
        match l {
            Lb::Orig(b) => {
                low.origin.push(b);
                low.cold.push(blocks[b].cold);
                low.succs.push(succ_lb[b].iter().map(|x| at[x]).collect());
            }
            Lb::Edge(b, k) => {
                let s = succs[b][k];
                low.origin.push(s);
                low.cold.push(blocks[s].cold);
                low.succs.push(vec![at[&Lb::Orig(s)]]);
            }
        }
    }
    Ok(low)
}

/// Marks the machine-code blocks cold or hot and names each by its
/// lowered index (`block<index>`, as its labels call it). Cranelift lists
/// the hot lowered blocks in order, then the cold ones.
fn place_code_blocks(clif: &[Block], code: &mut [Block]) -> Result<(), NotComparable> {
    let low = lowered_order(clif)?;
    if low.origin.len() != code.len() {
        return refuse(format!(
            "the machine code has {} blocks, the CLIF lowers to {}",
            code.len(),
            low.origin.len()
        ));
    }
    let emitted: Vec<usize> = (0..low.origin.len())
        .filter(|&i| !low.cold[i])
        .chain((0..low.origin.len()).filter(|&i| low.cold[i]))
        .collect();
    for (b, &i) in code.iter_mut().zip(&emitted) {
        let mut got: Vec<usize> = b.succs.iter().filter_map(|s| number(s, "label")).collect();
        let mut want = low.succs[i].clone();
        got.sort_unstable();
        want.sort_unstable();
        if got != want {
            return refuse(format!(
                "machine block {} (lowered {i}, from CLIF {}) jumps to {:?}, the CLIF to {:?}",
                b.name, clif[low.origin[i]].name, got, want
            ));
        }
        b.cold = low.cold[i];
        b.name = format!("label{i}");
    }
    Ok(())
}

/// The indices of the hot loop's blocks (in `blocks` order): the largest
/// cycle of hot blocks picks the header (its block entered from outside);
/// the loop is every block on a cycle through the header, of which the hot
/// ones are kept.
fn hot_loop_blocks(blocks: &[Block]) -> Result<Vec<usize>, NotComparable> {
    let index: HashMap<&str, usize> = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| (b.name.as_str(), i))
        .collect();
    let n = blocks.len();
    let succs: Vec<Vec<usize>> = blocks
        .iter()
        .map(|b| {
            b.succs
                .iter()
                .filter_map(|s| index.get(s.as_str()).copied())
                .collect()
        })
        .collect();
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, s) in succs.iter().enumerate() {
        for &t in s {
            preds[t].push(i);
        }
    }
    let hot = |i: usize| !blocks[i].cold;
    let comps = sccs(n, &|i| {
        if hot(i) {
            succs[i].iter().copied().filter(|&t| hot(t)).collect()
        } else {
            Vec::new()
        }
    });
    let cyclic = |c: &Vec<usize>| c.len() > 1 || (hot(c[0]) && succs[c[0]].contains(&c[0]));
    let Some(comp) = comps
        .iter()
        .filter(|c| hot(c[0]) && cyclic(c))
        .max_by_key(|c| (c.len(), std::cmp::Reverse(*c.iter().min().unwrap())))
    else {
        return refuse("no loop of hot blocks");
    };
    let members: HashSet<usize> = comp.iter().copied().collect();
    let header = comp
        .iter()
        .copied()
        .filter(|&b| preds[b].iter().any(|p| !members.contains(p)))
        .min()
        .unwrap_or_else(|| *comp.iter().min().unwrap());
    let from = reach(header, &succs);
    let to = reach(header, &preds);
    Ok((0..n).filter(|&i| from[i] && to[i] && hot(i)).collect())
}

fn reach(start: usize, edges: &[Vec<usize>]) -> Vec<bool> {
    let mut seen = vec![false; edges.len()];
    let mut work = vec![start];
    seen[start] = true;
    while let Some(b) = work.pop() {
        for &s in &edges[b] {
            if !seen[s] {
                seen[s] = true;
                work.push(s);
            }
        }
    }
    seen
}

/// Strongly connected components (Kosaraju, iterative).
fn sccs(n: usize, succ: &dyn Fn(usize) -> Vec<usize>) -> Vec<Vec<usize>> {
    let adj: Vec<Vec<usize>> = (0..n).map(succ).collect();
    let mut radj: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, s) in adj.iter().enumerate() {
        for &t in s {
            radj[t].push(i);
        }
    }
    let mut seen = vec![false; n];
    let mut finish = Vec::with_capacity(n);
    for root in 0..n {
        if seen[root] {
            continue;
        }
        seen[root] = true;
        let mut stack = vec![(root, 0usize)];
        while let Some(&mut (b, ref mut k)) = stack.last_mut() {
            if *k < adj[b].len() {
                let t = adj[b][*k];
                *k += 1;
                if !seen[t] {
                    seen[t] = true;
                    stack.push((t, 0));
                }
            } else {
                finish.push(b);
                stack.pop();
            }
        }
    }
    let mut comp = vec![usize::MAX; n];
    let mut out = Vec::new();
    for &root in finish.iter().rev() {
        if comp[root] != usize::MAX {
            continue;
        }
        let id = out.len();
        let mut members = vec![root];
        comp[root] = id;
        let mut work = vec![root];
        while let Some(b) = work.pop() {
            for &p in &radj[b] {
                if comp[p] == usize::MAX {
                    comp[p] = id;
                    members.push(p);
                    work.push(p);
                }
            }
        }
        members.sort_unstable();
        out.push(members);
    }
    out
}

/// Renames tokens of one family in order of first appearance.
#[derive(Default)]
struct Renamer(HashMap<String, usize>);

impl Renamer {
    fn get(&mut self, key: &str) -> usize {
        let n = self.0.len();
        *self.0.entry(key.to_string()).or_insert(n)
    }
}

/// The loop's own normalization, shared by CLIF and machine code.
#[derive(Default)]
struct Normalizer {
    values: Renamer,
    blocks: Renamer,
    slots: Renamer,
    sigs: Renamer,
    funcs: Renamer,
    regs: Renamer,
    frame: Renamer,
    consts: BTreeMap<String, Renamer>,
}

impl Normalizer {
    fn token(&mut self, t: &str) -> String {
        if let Some((kind, n)) = t.split_once('#') {
            if kind == "pos" {
                return "pos#_".into();
            }
            if !kind.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
                let i = self.consts.entry(kind.to_string()).or_default().get(n);
                return format!("{kind}#{i}");
            }
            return t.to_string();
        }
        if let Some((reg, width)) = flow::register(t) {
            // `%r` or `%x`, renumbered, with the width the operand uses.
            let i = self.regs.get(&reg);
            return format!("{}{i}{width}", &reg[..2]);
        }
        // Blocks and the labels that name them share one numbering.
        if let Some(n) = number(t, "label") {
            return format!("label{}", self.blocks.get(&n.to_string()));
        }
        for (prefix, renamer) in [
            ("v", &mut self.values),
            ("block", &mut self.blocks),
            ("ss", &mut self.slots),
            ("sig", &mut self.sigs),
            ("fn", &mut self.funcs),
        ] {
            if let Some(n) = number(t, prefix) {
                let i = renamer.get(&n.to_string());
                return format!("{prefix}{i}");
            }
        }
        t.to_string()
    }

    fn line(&mut self, line: &str) -> String {
        // Stack-frame offsets (`<offset:1>+0xd0`) depend on the frame the
        // cold code needs: renamed consistently, as slots.
        let mut line = line.to_string();
        while let Some(start) = line.find("<offset:") {
            let rest = &line[start..];
            let Some(close) = rest.find('>') else { break };
            let mut end = close + 1;
            let tail = &rest[end..];
            if let Some(off) = tail.strip_prefix('+') {
                let len = off
                    .find(|c: char| !(c.is_ascii_hexdigit() || c == 'x'))
                    .unwrap_or(off.len());
                end += 1 + len;
            }
            let key = rest[..end].to_string();
            let i = self.frame.get(&key);
            line.replace_range(start..start + end, &format!("slot#{i}"));
        }
        map_tokens(&line, |t| self.token(t)).trim_end().to_string()
    }
}

/// The hot loop of one listing, normalized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HotLoop {
    /// The unit it comes from.
    pub unit: String,
    /// Normalized CLIF of the loop's hot blocks (headers and instructions).
    pub clif: Vec<String>,
    /// Normalized machine code of the loop's hot blocks, each register
    /// operand named by the definitions that reach it (`flow`).
    pub code: Vec<String>,
    /// The same machine code with registers renamed consistently by
    /// register (the allocator's choices kept).
    pub code_registers: Vec<String>,
    /// CLIF instructions in the loop's hot blocks.
    pub clif_insts: usize,
    /// Machine instructions in the loop's hot blocks (pseudo-instructions
    /// `unwind`/`uninit` not counted).
    pub code_insts: usize,
    /// Hot blocks of the loop, CLIF.
    pub clif_blocks: usize,
    /// Bytes of machine code of the whole unit (the listing does not give
    /// the loop's own).
    pub unit_bytes: usize,
}

/// Extracts and normalizes the hot loop of a listing, refusing loops that
/// are empty, call or allocate.
pub fn hot_loop(listing: &Listing) -> Result<HotLoop, NotComparable> {
    let clif = clif_blocks(&listing.clif);
    if clif.is_empty() {
        return refuse(format!("{}: no CLIF blocks", listing.unit));
    }
    let clif_loop = hot_loop_blocks(&clif)
        .map_err(|e| NotComparable(format!("{}: CLIF: {}", listing.unit, e.0)))?;
    let mut code = code_blocks(&listing.code);
    place_code_blocks(&clif, &mut code)
        .map_err(|e| NotComparable(format!("{}: {}", listing.unit, e.0)))?;
    let code_loop = hot_loop_blocks(&code)
        .map_err(|e| NotComparable(format!("{}: machine code: {}", listing.unit, e.0)))?;
    let mut clif_insts = 0;
    for &i in &clif_loop {
        for l in &clif[i].lines {
            clif_insts += 1;
            let code = l.split(';').next().unwrap_or("");
            let toks = tokens(code);
            if toks.iter().any(|t| {
                matches!(
                    t.as_str(),
                    "call"
                        | "call_indirect"
                        | "return_call"
                        | "return_call_indirect"
                        | "try_call"
                        | "try_call_indirect"
                )
            }) {
                return refuse(format!(
                    "{}: hot block {} calls: {}",
                    listing.unit,
                    clif[i].name,
                    l.trim()
                ));
            }
            if let Some(t) = toks.iter().find(|t| is_allocation(t)) {
                return refuse(format!(
                    "{}: hot block {} allocates ({t}): {}",
                    listing.unit,
                    clif[i].name,
                    l.trim()
                ));
            }
        }
    }
    if clif_insts == 0 {
        return refuse(format!("{}: the hot loop is empty", listing.unit));
    }
    let mut code_insts = 0;
    for &i in &code_loop {
        for l in &code[i].lines {
            let t = l.trim_start();
            if t.starts_with("unwind") || t.starts_with("uninit") {
                continue;
            }
            code_insts += 1;
            let toks = tokens(t);
            if toks.first().is_some_and(|m| m.starts_with("call")) {
                return refuse(format!("{}: hot machine code calls: {t}", listing.unit));
            }
            if let Some(x) = toks.iter().find(|x| is_allocation(x)) {
                return refuse(format!(
                    "{}: hot machine code allocates ({x}): {t}",
                    listing.unit
                ));
            }
        }
    }
    if code_insts == 0 {
        return refuse(format!(
            "{}: the hot loop's machine code is empty",
            listing.unit
        ));
    }
    let mut norm = Normalizer::default();
    let mut clif_text = Vec::new();
    for &i in &clif_loop {
        clif_text.push(norm.line(&clif[i].header));
        for l in &clif[i].lines {
            clif_text.push(norm.line(l));
        }
    }
    let mut norm = Normalizer::default();
    let mut code_registers = Vec::new();
    for &i in &code_loop {
        code_registers.push(format!("{}:", norm.line(&code[i].name)).replace("label", "block"));
        for l in &code[i].lines {
            code_registers.push(norm.line(l));
        }
    }
    let flowing = flow::rename(&code, &code_loop);
    let mut norm = Normalizer::default();
    let mut code_text = Vec::new();
    for (&i, lines) in code_loop.iter().zip(&flowing) {
        code_text.push(format!("{}:", norm.line(&code[i].name)).replace("label", "block"));
        for l in lines {
            code_text.push(norm.line(l));
        }
    }
    Ok(HotLoop {
        unit: listing.unit.clone(),
        clif: clif_text,
        code: code_text,
        code_registers,
        clif_insts,
        code_insts,
        clif_blocks: clif_loop.len(),
        unit_bytes: listing.code_bytes,
    })
}

fn is_allocation(t: &str) -> bool {
    t.starts_with("heap#") || t.starts_with("rt_new") || t.starts_with("rt_alloc")
}

/// The comparison of two hot loops.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// The baseline's loop.
    pub base: HotLoop,
    /// The reflective or enforced loop.
    pub meta: HotLoop,
    /// Unified diff of the CLIF, `None` when identical.
    pub clif_diff: Option<String>,
    /// Unified diff of the machine code, registers named by the data that
    /// flows through them, `None` when identical.
    pub code_diff: Option<String>,
    /// Whether the machine code is identical with the registers as
    /// allocated too (renamed consistently, register by register).
    pub same_registers: bool,
}

impl Comparison {
    /// Both listings identical.
    pub fn identical(&self) -> bool {
        self.clif_diff.is_none() && self.code_diff.is_none()
    }
}

/// Compares the hot loops of two listings (`base` is the direct code).
pub fn compare(base: &Listing, meta: &Listing) -> Result<Comparison, NotComparable> {
    let b = hot_loop(base)?;
    let m = hot_loop(meta)?;
    let names = (format!("{} (base)", b.unit), format!("{} (meta)", m.unit));
    let clif_diff = readable_diff(&b.clif, &m.clif, &names.0, &names.1);
    let code_diff = readable_diff(&b.code, &m.code, &names.0, &names.1);
    let same_registers = b.code_registers == m.code_registers;
    Ok(Comparison {
        same_registers,
        base: b,
        meta: m,
        clif_diff,
        code_diff,
    })
}

/// A renamed name: its family and number.
type Name = (String, usize);

/// The family of a renamed token (`v`, `block`, `%r`, `shape#`...) and its
/// number, or `None` for a token kept as it is.
fn family(t: &str) -> Option<(String, usize)> {
    if let Some((kind, n)) = t.split_once('#') {
        return n.parse().ok().map(|n| (format!("{kind}#"), n));
    }
    for prefix in [
        "v", "block", "label", "ss", "sig", "fn", "%r", "%x", "%d", "%in",
    ] {
        if let Some(n) = number(t, prefix) {
            let fam = if prefix == "label" { "block" } else { prefix };
            return Some((fam.to_string(), n));
        }
    }
    None
}

/// Rewrites a line token by token.
fn map_tokens(line: &str, mut f: impl FnMut(&str) -> String) -> String {
    let mut out = String::new();
    let mut cur = String::new();
    for ch in line.chars() {
        if is_token_char(ch) {
            cur.push(ch);
        } else {
            if !cur.is_empty() {
                out.push_str(&f(&cur));
                cur.clear();
            }
            out.push(ch);
        }
    }
    if !cur.is_empty() {
        out.push_str(&f(&cur));
    }
    out
}

/// A diff meant to be read: one extra value early in a loop renumbers
/// every later one, so a plain diff of two normalized loops shows every
/// line after the first difference. Here the lines are first aligned with
/// their numbers masked; the aligned lines whose names correspond
/// consistently (a bijection per family, built in order) give the meta
/// side's names in the base's numbering, new ones numbered past the base's;
/// the meta loop so renamed is then diffed against the base. A line whose
/// names do not correspond (another value flows there) still shows.
pub fn readable_diff(a: &[String], b: &[String], name_a: &str, name_b: &str) -> Option<String> {
    if a == b {
        return None;
    }
    let mask = |l: &String| {
        map_tokens(l, |t| match family(t) {
            Some((fam, _)) => fam,
            None => t.to_string(),
        })
    };
    let (ma, mb): (Vec<String>, Vec<String>) =
        (a.iter().map(mask).collect(), b.iter().map(mask).collect());
    let ops = edit_script(&ma, &mb);
    // How often each base name stands where each meta name stands, in
    // aligned lines (strong votes) and in replaced lines paired by position
    // (weak votes: a run of removed lines followed by as many added ones);
    // the most frequent correspondences win (first seen first among
    // equals), one meta name per base name.
    let mut pairs: Vec<(usize, usize, bool)> = Vec::new();
    let mut k = 0;
    while k < ops.len() {
        if ops[k].0 == ' ' {
            pairs.push((ops[k].1, ops[k].2, true));
            k += 1;
            continue;
        }
        let start = k;
        while k < ops.len() && ops[k].0 == '-' {
            k += 1;
        }
        let mid = k;
        while k < ops.len() && ops[k].0 == '+' {
            k += 1;
        }
        if k == start {
            k += 1;
            continue;
        }
        for (r, ad) in ops[start..mid].iter().zip(&ops[mid..k]) {
            pairs.push((r.1, ad.2, false));
        }
    }
    // (base name, meta number) -> (strong votes, weak votes, first seen).
    let mut votes: HashMap<(Name, usize), (usize, usize, usize)> = HashMap::new();
    let mut seen = 0;
    for (i, j, strong) in pairs {
        let ta: Vec<(String, usize)> = tokens(&a[i]).iter().filter_map(|t| family(t)).collect();
        let tb: Vec<(String, usize)> = tokens(&b[j]).iter().filter_map(|t| family(t)).collect();
        for ((fa, na), (fb, nb)) in ta.into_iter().zip(tb) {
            if fa == fb {
                seen += 1;
                let e = votes.entry(((fa, na), nb)).or_insert((0, 0, seen));
                if strong {
                    e.0 += 1;
                } else {
                    e.1 += 1;
                }
            }
        }
    }
    let mut ranked: Vec<_> = votes.into_iter().collect();
    ranked.sort_by(|x, y| {
        (y.1 .0, y.1 .1)
            .cmp(&(x.1 .0, x.1 .1))
            .then(x.1 .2.cmp(&y.1 .2))
    });
    let mut b_to_a: HashMap<(String, usize), usize> = HashMap::new();
    let mut a_taken: HashSet<(String, usize)> = HashSet::new();
    for (((fam, na), nb), _) in ranked {
        let kb = (fam.clone(), nb);
        if !b_to_a.contains_key(&kb) && a_taken.insert((fam, na)) {
            b_to_a.insert(kb, na);
        }
    }
    // Fresh numbers for the meta side's own names, past the base's.
    let mut next: HashMap<String, usize> = HashMap::new();
    for l in a {
        for (fam, n) in tokens(l).iter().filter_map(|t| family(t)) {
            let e = next.entry(fam).or_insert(0);
            *e = (*e).max(n + 1);
        }
    }
    let renamed: Vec<String> = b
        .iter()
        .map(|l| {
            map_tokens(l, |t| {
                let Some((fam, n)) = family(t) else {
                    return t.to_string();
                };
                let key = (fam.clone(), n);
                let m = match b_to_a.get(&key) {
                    Some(&m) => m,
                    None => {
                        let e = next.entry(fam.clone()).or_insert(0);
                        let m = *e;
                        *e += 1;
                        b_to_a.insert(key, m);
                        m
                    }
                };
                let prefix = t.trim_end_matches(|c: char| c.is_ascii_digit());
                format!("{prefix}{m}")
            })
        })
        .collect();
    unified_diff(a, &renamed, name_a, name_b).or_else(|| {
        Some(format!(
            "--- {name_a}\n+++ {name_b}\n(the same lines once the names of {name_b} are matched to those of {name_a}; they differ only in numbering)\n"
        ))
    })
}

/// The edit script of two texts by longest common subsequence: (tag,
/// index in `a`, index in `b`), tag ' ' (kept), '-' or '+'.
fn edit_script(a: &[String], b: &[String]) -> Vec<(char, usize, usize)> {
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[at(i, j)] = if a[i] == b[j] {
                lcs[at(i + 1, j + 1)] + 1
            } else {
                lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
            };
        }
    }
    let mut ops = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', i, j));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[at(i + 1, j)] >= lcs[at(i, j + 1)]) {
            ops.push(('-', i, j));
            i += 1;
        } else {
            ops.push(('+', i, j));
            j += 1;
        }
    }
    ops
}

/// A unified diff (3 lines of context) of two texts, `None` when equal.
pub fn unified_diff(a: &[String], b: &[String], name_a: &str, name_b: &str) -> Option<String> {
    if a == b {
        return None;
    }
    let ops = edit_script(a, b);
    const CONTEXT: usize = 3;
    let mut out = format!("--- {name_a}\n+++ {name_b}\n");
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(CONTEXT);
        let mut end = changed[k];
        while k < changed.len() && changed[k] <= end + 2 * CONTEXT + 1 {
            end = changed[k];
            k += 1;
        }
        let end = (end + CONTEXT + 1).min(ops.len());
        let hunk = &ops[start..end];
        let a_start = hunk[0].1;
        let b_start = hunk[0].2;
        let a_len = hunk.iter().filter(|o| o.0 != '+').count();
        let b_len = hunk.iter().filter(|o| o.0 != '-').count();
        out.push_str(&format!(
            "@@ -{},{a_len} +{},{b_len} @@\n",
            a_start + 1,
            b_start + 1
        ));
        for &(tag, i, j) in hunk {
            let line = if tag == '+' { &b[j] } else { &a[i] };
            out.push(tag);
            out.push_str(line);
            out.push('\n');
        }
    }
    Some(out)
}

/// One side of a pair: a benchmark run by `benchmarks/harness/Harness.som`
/// from a directory of benchmarks, and the unit holding its loop.
#[derive(Clone, Debug)]
pub struct Side {
    /// The benchmark class (`DirectAdd`).
    pub bench: String,
    /// The unit to list (`AddBenchmark>>#benchmark`).
    pub unit: String,
    /// Class-path directories, relative to the workspace root, before the
    /// core library.
    pub dirs: Vec<String>,
}

impl Side {
    /// A reflection benchmark (`benchmarks/reflection`); its loop is
    /// `AddBenchmark>>#benchmark` with `step` inlined.
    pub fn reflection(bench: &str) -> Side {
        Side {
            bench: bench.into(),
            unit: "AddBenchmark>>#benchmark".into(),
            dirs: vec!["benchmarks/reflection".into()],
        }
    }

    /// A plain OMOP micro benchmark (`benchmarks/omop`): its loop is its
    /// `benchmark` method.
    pub fn omop_plain(bench: &str) -> Side {
        Side {
            bench: bench.into(),
            unit: format!("{bench}>>#benchmark"),
            dirs: vec!["benchmarks/omop".into()],
        }
    }

    /// An enforced OMOP micro benchmark: its loop is the block run through
    /// `Mirror evaluate:enforcedIn:`.
    pub fn omop_enforced(bench: &str) -> Side {
        Side {
            bench: bench.into(),
            unit: format!("[] in {bench}>>#benchmark"),
            dirs: vec!["benchmarks/omop".into()],
        }
    }
}

/// A pair whose hot loops must be identical.
#[derive(Clone, Debug)]
pub struct Pair {
    /// The reflective or enforced benchmark's name, reported for the pair.
    pub name: &'static str,
    /// The direct code.
    pub base: Side,
    /// The code that must cost nothing more.
    pub meta: Side,
}

/// Every pair of the proof: the reflection benchmarks against their direct
/// baselines, every OMOP micro benchmark against its plain twin, and the
/// dispatch loop enforced in the standard domain against the plain one.
pub fn pairs() -> Vec<Pair> {
    let r = |name: &'static str, base: &str| Pair {
        name,
        base: Side::reflection(base),
        meta: Side::reflection(name),
    };
    let o = |name: &'static str, base: &str| Pair {
        name,
        base: Side::omop_plain(base),
        meta: Side::omop_enforced(name),
    };
    vec![
        r("PerformAdd", "DirectAdd"),
        r("DnuAdd", "DirectAdd"),
        r("DnuPerformAdd", "DirectAdd"),
        r("ProxyAdd", "IndirectAdd"),
        o("AddDispatchEnforced", "AddDispatch"),
        o("FieldReadEnforced", "FieldRead"),
        o("AddFieldWriteEnforced", "AddFieldWrite"),
        o("GlobalReadEnforced", "GlobalRead"),
        o("ReqPrimEnforced", "ReqPrim"),
        o("DispatchStd", "AddDispatch"),
    ]
}

/// The tier mode the listings come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// `--jit=on`, the VM's default: a unit compiles after 1000 calls, a
    /// long loop in a method called less often compiles as an OSR unit.
    /// The harness runs 20 iterations of 5 benchmark calls.
    On,
    /// `--jit=eager`: every unit compiles at its first call and recompiles
    /// when a chain it was compiled from changes. The harness runs 3
    /// iterations of 5 calls.
    Eager,
}

impl Tier {
    /// The `som` flag.
    pub fn flag(self) -> &'static str {
        match self {
            Tier::On => "--jit=on",
            Tier::Eager => "--jit=eager",
        }
    }

    /// The harness's iterations and inner iterations.
    fn harness_args(self) -> [&'static str; 2] {
        match self {
            Tier::On => ["20", "5"],
            Tier::Eager => ["3", "5"],
        }
    }
}

/// The workspace root (the `som` binary runs from there).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `som <tier> --print-ir=<unit>` on `program` with `args` (class
/// path `dirs`, relative to the workspace root, then the core library) and
/// answers the listings of that unit.
pub fn print_ir(
    som: &Path,
    tier: Tier,
    unit: &str,
    dirs: &[String],
    program: &str,
    args: &[&str],
) -> Result<Vec<Listing>, String> {
    let mut cp: Vec<String> = dirs.to_vec();
    cp.push("smalltalk-src/core".into());
    let out = Command::new(som)
        .current_dir(workspace_root())
        .arg(tier.flag())
        .arg(format!("--print-ir={unit}"))
        .arg("-cp")
        .arg(cp.join(":"))
        .arg(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", som.display()))?;
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let tail: Vec<&str> = err
            .lines()
            .filter(|l| !l.starts_with("  ") && !l.starts_with(';') && !l.starts_with("block"))
            .take(5)
            .collect();
        return Err(format!(
            "{program} {args:?}: {}: {}",
            out.status,
            tail.join(" | ")
        ));
    }
    let all = listings(&err);
    if all.is_empty() {
        return Err(format!("{unit} was not compiled"));
    }
    Ok(all)
}

/// The last compilation of a side's unit, its benchmark run by the
/// harness in that tier mode.
pub fn last_listing(som: &Path, tier: Tier, side: &Side) -> Result<Listing, String> {
    let [iterations, inner] = tier.harness_args();
    let mut all = print_ir(
        som,
        tier,
        &side.unit,
        &side.dirs,
        "benchmarks/harness/Harness.som",
        &[&side.bench, iterations, inner],
    )?;
    Ok(all.pop().expect("print_ir answers at least one listing"))
}

/// Compiles both sides of a pair and compares their hot loops; the outer
/// error is a run that failed, the inner one a loop that is not comparable.
pub fn compare_pair(
    som: &Path,
    tier: Tier,
    pair: &Pair,
) -> Result<Result<Comparison, NotComparable>, String> {
    let base = last_listing(som, tier, &pair.base)?;
    let meta = last_listing(som, tier, &pair.meta)?;
    Ok(compare(&base, &meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic listing: entry, a loop header, a hot body with a cold
    /// slow path, and an exit.
    fn synthetic(body: &str, constant: &str) -> Listing {
        let clif = format!(
            "function u0:0(i64, i64) -> i64, i64 system_v {{
    sig0 = (i64) -> i64 system_v

block0(v0: i64, v1: i64):
    v2 = iconst.i64 {constant}
    jump block1(v2)

block1(v3: i64):
    v4 = icmp_imm sle v3, 100
    brif v4, block2, block3

block2:
{body}
    v5 = iconst.i64 shape#4
    v6 = iconst.i64 pos#9
    v7 = load.i64 notrap aligned v5
    brif v7, block4, block5

block5 cold:
    v8 = iconst.i64 rt_send
    v9 = call_indirect sig0, v8(v6)
    jump block4

block4:
    v10 = iadd_imm v3, 1
    jump block1(v10)

block3:
    return v3, v3
}}
"
        );
        // Reverse post-order (first successor first): block0, block1,
        // block3, block2, block5, block4; the edge block2 -> block4 is
        // critical (block2 branches, block4 is entered twice) and gets a
        // lowered block after block2. Lowered: 0 b0, 1 b1, 2 b3, 3 b2,
        // 4 edge, 5 b5 (cold), 6 b4; listed hot first, then the cold 5.
        let code = "  pushq %rbp
block0:
  movq %r0, %r1
  jmp     label1
block1:
  cmpq $0x64, %r1
  jle     label3; j label2
block2:
  retq
block3:
  movabsq shape#4, %r2
  testq %r2, %r2
  jnz     label4; j label5
block4:
  jmp     label6
block5:
  addq $0x1, %r1
  jmp     label1
block6:
  movabsq pos#9, %r3
  movabsq rt_send, %r4
  call    *%r4
  jmp     label6
"
        .to_string();
        Listing {
            unit: "T>>#loop".into(),
            clif_insts: 11,
            code_bytes: 64,
            clif,
            code,
        }
    }

    #[test]
    fn listings_are_split_with_their_headers() {
        let text = "hello\n; unit A>>#b (12 CLIF instructions, 340 bytes of code)\n; optimized CLIF\nfunction x {\n}\n; machine code\nblock0:\n  retq\nTRACE other\n; unit [] in A>>#b (3 CLIF instructions, 7 bytes of code)\n; optimized CLIF\n; machine code\n";
        let l = listings(text);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].unit, "A>>#b");
        assert_eq!((l[0].clif_insts, l[0].code_bytes), (12, 340));
        assert_eq!(l[0].clif, "function x {\n}\n");
        assert_eq!(l[0].code, "block0:\n  retq\n");
        assert_eq!(l[1].unit, "[] in A>>#b");
    }

    #[test]
    fn the_hot_loop_keeps_hot_blocks_on_the_cycle() {
        let l = synthetic("", "3");
        let h = hot_loop(&l).unwrap();
        let clif = h.clif.join("\n");
        assert!(clif.starts_with("block0(v0: i64):"), "{clif}");
        assert!(!clif.contains("cold"), "{clif}");
        assert!(!clif.contains("return"), "{clif}");
        assert!(clif.contains("shape#0"), "{clif}");
        assert!(clif.contains("pos#_"), "{clif}");
        assert_eq!(h.clif_blocks, 3);
        assert_eq!(h.clif_insts, 8);
        // Machine code: header, body, the critical edge, the latch.
        assert_eq!(h.code.iter().filter(|l| l.ends_with(':')).count(), 4);
        assert_eq!(h.code_insts, 8);
        assert!(!h.code.iter().any(|l| l.contains("call")), "{:?}", h.code);
    }

    #[test]
    fn renumbering_makes_equal_loops_identical() {
        let a = synthetic("", "3");
        // Same loop, other numbers: values shifted, other constant indices.
        let mut b = synthetic("", "3");
        b.clif = b
            .clif
            .replace("v10", "v40")
            .replace("v3", "v33")
            .replace("shape#4", "shape#1");
        b.code = b.code.replace("shape#4", "shape#7").replace("%r1", "%r9");
        let c = compare(&a, &b).unwrap();
        assert!(c.identical(), "{:?} {:?}", c.clif_diff, c.code_diff);
    }

    #[test]
    fn a_different_constant_is_a_difference() {
        let a = synthetic("    v20 = iconst.i64 3", "3");
        let b = synthetic("    v20 = iconst.i64 5", "3");
        let c = compare(&a, &b).unwrap();
        let d = c.clif_diff.expect("the CLIF differs");
        assert!(d.contains("-    v2 = iconst.i64 3"), "{d}");
        assert!(d.contains("+    v2 = iconst.i64 5"), "{d}");
        assert!(d.starts_with("--- T>>#loop (base)\n+++ T>>#loop (meta)\n@@ "));
    }

    #[test]
    fn a_hot_call_is_refused() {
        let l = synthetic("    v30 = call_indirect sig0, v2(v3)", "3");
        let e = hot_loop(&l).unwrap_err();
        assert!(e.to_string().starts_with("not comparable:"), "{e}");
        assert!(e.0.contains("calls"), "{e}");
    }

    #[test]
    fn a_hot_allocation_is_refused() {
        let l = synthetic("    v30 = iconst.i64 heap#0", "3");
        let e = hot_loop(&l).unwrap_err();
        assert!(e.0.contains("allocates"), "{e}");
    }

    #[test]
    fn a_function_without_a_loop_is_refused() {
        let l = Listing {
            unit: "T>>#flat".into(),
            clif_insts: 1,
            code_bytes: 1,
            clif: "function u0:0() system_v {\nblock0:\n    return\n}\n".into(),
            code: "block0:\n  retq\n".into(),
        };
        let e = hot_loop(&l).unwrap_err();
        assert!(e.0.contains("no loop"), "{e}");
    }

    #[test]
    fn a_loop_of_cold_blocks_only_is_empty() {
        let mut l = synthetic("", "3");
        l.clif = l
            .clif
            .replace("block1(v3: i64):", "block1(v3: i64) cold:")
            .replace("block2:", "block2 cold:")
            .replace("block4:", "block4 cold:");
        // Nothing hot is left on the cycle.
        assert!(hot_loop(&l).is_err());
    }

    #[test]
    fn machine_code_that_does_not_match_the_clif_is_refused() {
        let mut l = synthetic("", "3");
        l.code = l
            .code
            .replace("jmp     label6\nblock5", "jmp     label2\nblock5");
        let e = hot_loop(&l).unwrap_err();
        assert!(e.0.contains("jumps to"), "{e}");
    }

    #[test]
    fn diffs_show_context_and_hunks() {
        let a: Vec<String> = (0..20).map(|i| format!("l{i}")).collect();
        let mut b = a.clone();
        b[10] = "changed".into();
        let d = unified_diff(&a, &b, "a", "b").unwrap();
        assert_eq!(
            d,
            "--- a\n+++ b\n@@ -8,7 +8,7 @@\n l7\n l8\n l9\n-l10\n+changed\n l11\n l12\n l13\n"
        );
        assert!(unified_diff(&a, &a, "a", "b").is_none());
    }
}
