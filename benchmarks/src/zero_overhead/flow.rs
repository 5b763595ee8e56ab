//! Machine registers named by the data that flows through them.
//!
//! Two loops that execute the same instructions on the same data are the
//! same code, whichever registers the allocator picked; and the allocator's
//! picks for a hot loop depend on the whole function, cold paths included.
//! So the hot loop's machine code is compared with every register operand
//! replaced by **the definitions that reach it**: a write of a register is
//! the next definition `%dN` (numbered in listing order), a read names the
//! set of definitions that reach it along the loop's edges (`%d3`, or
//! `%{%in0,%d7}` at a merge), a register whose value comes from outside the
//! loop (or from a cold path rejoining it) is `%inN`, numbered by register
//! in order of appearance. An instruction that reads and writes its
//! destination (`addq $2, %r4`) shows both (`%d3=>%d7`). The width an
//! operand uses stays (`%d7.b`).
//!
//! Invariant: equal renamed texts mean the same instruction sequence in
//! which every explicit register read is reached by the same definitions
//! (by position) or the same outside value. Registers an instruction uses
//! implicitly (`cqo`, `idiv`) are fixed by the instruction set and so the
//! same on both sides; they are not modelled. An instruction not known to
//! write its destination without reading it is taken to read it too, which
//! can only make two loops differ, never make them equal.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{tokens, Block};

/// What reaches a read: the value a register (by its index) had where the
/// loop was entered, or a definition (its number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Def {
    In(usize),
    At(usize),
}

/// A register operand of an instruction: the register (its number in the
/// listing's naming), its width suffix, and where it sits in the line.
struct Operand {
    reg: String,
    width: &'static str,
    start: usize,
    end: usize,
    /// Written by the instruction.
    written: bool,
    /// Read by the instruction (a written operand of a read-modify-write).
    read: bool,
}

/// A register token of a normalized listing (`%r4`, `%r4d`, `%x1`): its
/// register and width suffix.
pub(super) fn register(tok: &str) -> Option<(String, &'static str)> {
    if let Some(n) = tok.strip_prefix("%x") {
        return (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .then(|| (tok.to_string(), ""));
    }
    let n = tok.strip_prefix("%r")?;
    let digits = n.find(|c: char| !c.is_ascii_digit()).unwrap_or(n.len());
    if digits == 0 {
        return None;
    }
    let width = match &n[digits..] {
        "" => "",
        "d" => "d",
        "w" => "w",
        "b" => "b",
        _ => return None,
    };
    Some((format!("%r{}", &n[..digits]), width))
}

/// How an instruction treats a register as its destination (the last
/// operand, when that is a register).
#[derive(Clone, Copy, PartialEq, Eq)]
enum DestUse {
    /// Only read (`cmp`, `test`, jumps, pushes).
    Read,
    /// Written without being read (`mov`, `lea`, `set`, three-operand forms).
    Write,
    /// Read, then written (`add`, `cmov`, and anything not known).
    ReadWrite,
}

fn dest_use(mnemonic: &str, operands: &[&str]) -> DestUse {
    const READ_ONLY: [&str; 7] = ["cmp", "test", "ucomis", "comis", "bt", "j", "push"];
    const WRITE_ONLY: [&str; 11] = [
        "mov", "lea", "set", "cvt", "pop", "lzcnt", "tzcnt", "popcnt", "bsf", "bsr", "uninit",
    ];
    if READ_ONLY.iter().any(|p| mnemonic.starts_with(p)) {
        return DestUse::Read;
    }
    // A scalar move between two vector registers keeps the upper lane of
    // its destination.
    if (mnemonic == "movsd" || mnemonic == "movss")
        && operands.len() == 2
        && operands.iter().all(|o| o.starts_with("%x"))
    {
        return DestUse::ReadWrite;
    }
    if WRITE_ONLY.iter().any(|p| mnemonic.starts_with(p)) {
        return DestUse::Write;
    }
    // The zeroing idiom reads nothing.
    if operands.len() == 2
        && operands[0] == operands[1]
        && ["xor", "sub", "pxor"]
            .iter()
            .any(|p| mnemonic.starts_with(p))
    {
        return DestUse::Write;
    }
    // Three-operand forms write a destination they do not read.
    if operands.len() >= 3 && (mnemonic.starts_with("imul") || mnemonic.starts_with('v')) {
        return DestUse::Write;
    }
    DestUse::ReadWrite
}

/// Splits the operands of an AT&T line at the commas outside parentheses.
fn split_operands(rest: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, ch) in rest.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(rest[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = rest[start..].trim();
    if !last.is_empty() {
        out.push(last);
    }
    out
}

/// The register operands of one instruction line, in order.
fn operands(line: &str) -> Vec<Operand> {
    let code = line.split(';').next().unwrap_or("");
    let trimmed = code.trim_start();
    let indent = code.len() - trimmed.len();
    let mnemonic_len = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
    let mnemonic = &trimmed[..mnemonic_len];
    let rest_start = indent + mnemonic_len;
    let rest = &code[rest_start..];
    let ops = split_operands(rest);
    let how = dest_use(mnemonic, &ops);
    // The destination: the last operand, when it is a bare register.
    let dest = ops.last().and_then(|o| register(o).map(|_| *o));
    let dest_at = dest.and_then(|d| rest.rfind(d).map(|i| rest_start + i));
    let mut out = Vec::new();
    let mut i = rest_start;
    for tok in tokens(rest) {
        let Some(at) = code[i..].find(tok.as_str()).map(|p| p + i) else {
            break;
        };
        i = at + tok.len();
        let Some((reg, width)) = register(&tok) else {
            continue;
        };
        let is_dest = Some(at) == dest_at;
        let (written, read) = match (is_dest, how) {
            (true, DestUse::Write) => (true, false),
            (true, DestUse::ReadWrite) => (true, true),
            _ => (false, true),
        };
        out.push(Operand {
            reg,
            width,
            start: at,
            end: at + tok.len(),
            written,
            read,
        });
    }
    out
}

/// The definitions reaching each register.
type State = BTreeMap<String, BTreeSet<Def>>;

/// Renames the registers of the loop's blocks (`blocks[i]` for `i` in
/// `in_loop`, in that order) by the definitions that reach them. Every
/// block of `blocks` counts as a predecessor (a block outside the loop, or
/// a cold one, brings in the outside values). Answers the loop's lines,
/// block by block.
pub(super) fn rename(blocks: &[Block], in_loop: &[usize]) -> Vec<Vec<String>> {
    let pos: HashMap<usize, usize> = in_loop.iter().enumerate().map(|(p, &b)| (b, p)).collect();
    let by_name: HashMap<&str, usize> = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| (b.name.as_str(), i))
        .collect();
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); in_loop.len()];
    let mut from_outside = vec![false; in_loop.len()];
    for (i, b) in blocks.iter().enumerate() {
        for s in &b.succs {
            let Some(&t) = by_name.get(s.as_str()) else {
                continue;
            };
            let Some(&tp) = pos.get(&t) else { continue };
            match pos.get(&i) {
                Some(&ip) => preds[tp].push(ip),
                None => from_outside[tp] = true,
            }
        }
    }
    // The header, and any block nothing in the listing jumps to, is entered
    // from outside.
    if let Some(f) = from_outside.first_mut() {
        *f = true;
    }
    for (p, preds) in preds.iter().enumerate() {
        if preds.is_empty() {
            from_outside[p] = true;
        }
    }

    // Number instructions and collect operands.
    let mut ops: Vec<Vec<Vec<Operand>>> = Vec::new();
    let mut def_at: Vec<Vec<Option<usize>>> = Vec::new();
    let mut in_names: HashMap<String, usize> = HashMap::new();
    let mut defs = 0usize;
    for &b in in_loop {
        let mut block_ops = Vec::new();
        let mut block_defs = Vec::new();
        for line in &blocks[b].lines {
            let o = operands(line);
            for op in &o {
                let n = in_names.len();
                in_names.entry(op.reg.clone()).or_insert(n);
            }
            if o.iter().any(|op| op.written) {
                block_defs.push(Some(defs));
                defs += 1;
            } else {
                block_defs.push(None);
            }
            block_ops.push(o);
        }
        ops.push(block_ops);
        def_at.push(block_defs);
    }
    let outside: State = in_names
        .iter()
        .map(|(r, &n)| (r.clone(), BTreeSet::from([Def::In(n)])))
        .collect();

    let transfer = |p: usize, mut st: State| -> State {
        for (o, d) in ops[p].iter().zip(&def_at[p]) {
            if let Some(d) = d {
                for op in o.iter().filter(|op| op.written) {
                    st.insert(op.reg.clone(), BTreeSet::from([Def::At(*d)]));
                }
            }
        }
        st
    };
    let mut out_state: Vec<Option<State>> = vec![None; in_loop.len()];
    let entry = |p: usize, out_state: &[Option<State>]| -> State {
        let mut st = if from_outside[p] {
            outside.clone()
        } else {
            State::new()
        };
        for &q in &preds[p] {
            if let Some(o) = &out_state[q] {
                for (r, ds) in o {
                    st.entry(r.clone()).or_default().extend(ds.iter().copied());
                }
            }
        }
        st
    };
    let mut changed = true;
    while changed {
        changed = false;
        for p in 0..in_loop.len() {
            let o = transfer(p, entry(p, &out_state));
            if out_state[p].as_ref() != Some(&o) {
                out_state[p] = Some(o);
                changed = true;
            }
        }
    }

    // Outside values are numbered as reads meet them (numbering every
    // register on sight would count one the allocator reused for a
    // definition and not another it took fresh). A read has at most one
    // (its register's), and `In` sorts first.
    let mut printed_in: HashMap<usize, usize> = HashMap::new();
    let mut name = |ds: &BTreeSet<Def>| -> String {
        let parts: Vec<String> = ds
            .iter()
            .map(|d| match d {
                Def::In(r) => {
                    let k = printed_in.len();
                    format!("%in{}", printed_in.entry(*r).or_insert(k))
                }
                Def::At(n) => format!("%d{n}"),
            })
            .collect();
        match parts.len() {
            1 => parts.into_iter().next().unwrap_or_default(),
            _ => format!("%{{{}}}", parts.join(",")),
        }
    };
    let mut out = Vec::new();
    for (p, &b) in in_loop.iter().enumerate() {
        let mut st = entry(p, &out_state);
        let mut lines = Vec::new();
        for ((line, o), d) in blocks[b].lines.iter().zip(&ops[p]).zip(&def_at[p]) {
            let mut text = String::new();
            let mut last = 0;
            for op in o {
                text.push_str(&line[last..op.start]);
                // Only reads are named: a register written without being
                // read must not number its outside value.
                let mut read = || {
                    st.get(&op.reg)
                        .map(&mut name)
                        .unwrap_or_else(|| "%?".into())
                };
                let mut renamed = match (op.read, op.written, d) {
                    (true, true, Some(d)) => format!("{}=>%d{d}", read()),
                    (false, true, Some(d)) => format!("%d{d}"),
                    _ => read(),
                };
                if !op.width.is_empty() {
                    renamed.push('.');
                    renamed.push_str(op.width);
                }
                text.push_str(&renamed);
                last = op.end;
            }
            text.push_str(&line[last..]);
            lines.push(text);
            if let Some(d) = d {
                for op in o.iter().filter(|op| op.written) {
                    st.insert(op.reg.clone(), BTreeSet::from([Def::At(*d)]));
                }
            }
        }
        out.push(lines);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(name: &str, lines: &[&str], succs: &[&str]) -> Block {
        Block {
            name: name.into(),
            header: format!("{name}:"),
            cold: false,
            lines: lines.iter().map(|l| l.to_string()).collect(),
            succs: succs.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A loop: entry, header (counter in one register), body, back edge.
    fn counting_loop(counter: &str, temp: &str) -> Vec<Block> {
        vec![
            block("label0", &["  xorq %r9, %r9", "  jmp label1"], &["label1"]),
            block(
                "label1",
                &[
                    &format!("  cmpq $0x64, {counter}"),
                    "  jnb label3; j label2",
                ],
                &["label3", "label2"],
            ),
            block(
                "label2",
                &[
                    &format!("  movq 0x10(%r5), {temp}"),
                    &format!("  addq {temp}, {counter}"),
                    &format!("  sete {temp}b"),
                    "  jmp label1",
                ],
                &["label1"],
            ),
            block("label3", &["  retq"], &[]),
        ]
    }

    fn renamed(blocks: &[Block]) -> Vec<Vec<String>> {
        rename(blocks, &[1, 2])
    }

    #[test]
    fn reads_name_their_reaching_definitions() {
        let r = renamed(&counting_loop("%r1", "%r2"));
        assert_eq!(
            r,
            vec![
                vec![
                    "  cmpq $0x64, %{%in0,%d1}".to_string(),
                    "  jnb label3; j label2".to_string()
                ],
                vec![
                    "  movq 0x10(%in1), %d0".to_string(),
                    "  addq %d0, %{%in0,%d1}=>%d1".to_string(),
                    "  sete %d2.b".to_string(),
                    "  jmp label1".to_string(),
                ]
            ]
        );
    }

    #[test]
    fn other_registers_with_the_same_flow_are_the_same() {
        assert_eq!(
            renamed(&counting_loop("%r1", "%r2")),
            renamed(&counting_loop("%r7", "%r3"))
        );
    }

    #[test]
    fn a_value_from_another_definition_is_different() {
        // The add reads the register the load did not write.
        let mut other = counting_loop("%r1", "%r2");
        other[2].lines[1] = "  addq %r3, %r1".into();
        assert_ne!(renamed(&counting_loop("%r1", "%r2")), renamed(&other));
        // A write on the back edge that reaches the header's read in one
        // loop and not in the other.
        let mut a = counting_loop("%r1", "%r2");
        a[2].lines.insert(3, "  movq $0x1, %r1".into());
        let mut b = counting_loop("%r1", "%r2");
        b[2].lines.insert(3, "  movq $0x1, %r4".into());
        assert_ne!(renamed(&a), renamed(&b));
    }

    #[test]
    fn a_register_reused_for_a_definition_numbers_no_outside_value() {
        // The exit block loads into a register the body read from outside
        // (%r9) or into a fresh one (%r6), then reads %r8 from outside:
        // the same code, whose %r8 must get the same outside number.
        let with_temp = |temp: &str| {
            let mut blocks = counting_loop("%r1", "%r2");
            blocks[2].lines.insert(0, "  movq %r9, 0x18(%r3)".into());
            blocks[3].lines = vec![
                format!("  movq 0x10(%r3), {temp}"),
                "  movq %r8, 0x20(%r3)".into(),
                "  retq".into(),
            ];
            rename(&blocks, &[1, 2, 3])
        };
        assert_eq!(with_temp("%r9"), with_temp("%r6"));
        assert_eq!(with_temp("%r9")[2][1], "  movq %in4, 0x20(%in2)");
    }

    #[test]
    fn unknown_instructions_read_their_destination() {
        let mut a = counting_loop("%r1", "%r2");
        a[2].lines[2] = "  frobq %r2".into();
        let mut b = counting_loop("%r1", "%r2");
        b[2].lines[2] = "  frobq %r5".into();
        // %r2 holds the load, %r5 an outside value.
        assert_ne!(renamed(&a), renamed(&b));
    }
}
