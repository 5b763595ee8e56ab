//! Normalized listings of compiled units (`som --print-ir`), made to be
//! diffed: two compilations of equivalent code print the same text.
//!
//! Normalization renumbers CLIF values (`v7` → `v0`, in order of first
//! appearance) and blocks, renames registers of the machine-code listing
//! consistently by the physical register, keeping the width an instruction
//! uses (`%rax` → `%r0`, then `%eax` → `%r0d`, `%al` → `%r0b`; `%xmm3` →
//! `%x0`), and replaces every address the lowering
//! embedded by its kind and a number in order of appearance (`shape#0`,
//! `method#1`...) or, for a runtime entry point, its name (`rt_send`).
//! Nothing else is erased.

use std::collections::HashMap;

use super::entry::Entry;

/// The addresses a compilation embedded, with their kinds (kept only when
/// the compilation is listed: noting every address costs compile time).
#[derive(Default)]
pub(crate) struct Constants {
    kinds: HashMap<u64, &'static str>,
    kept: bool,
}

impl Constants {
    /// A table that keeps what it is told when `kept`.
    pub fn new(kept: bool) -> Constants {
        Constants {
            kinds: HashMap::new(),
            kept,
        }
    }

    /// Notes that `value` is an address of this kind.
    pub fn note(&mut self, value: u64, kind: &'static str) {
        if self.kept {
            self.kinds.entry(value).or_insert(kind);
        }
    }
}

/// Renames tokens consistently: the n-th distinct token seen gets number n.
struct Renamer {
    prefix: &'static str,
    seen: HashMap<String, usize>,
}

impl Renamer {
    fn new(prefix: &'static str) -> Renamer {
        Renamer {
            prefix,
            seen: HashMap::new(),
        }
    }

    fn name(&mut self, tok: &str) -> String {
        let n = self.seen.len();
        let i = *self.seen.entry(tok.to_string()).or_insert(n);
        format!("{}{i}", self.prefix)
    }
}

/// A general-purpose register as Cranelift's x64 listing names it: its
/// hardware number and the width suffix the normalized name keeps (`""`
/// for 64 bits, `d`, `w`, `b`).
fn gpr(tok: &str) -> Option<(u8, &'static str)> {
    const LEGACY: [&str; 8] = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"];
    let name = tok.strip_prefix('%')?;
    if let Some(n) = name.strip_prefix('r') {
        // %r8 .. %r15 with an optional width suffix.
        let digits = n.find(|c: char| !c.is_ascii_digit()).unwrap_or(n.len());
        if digits > 0 {
            let hw: u8 = n[..digits].parse().ok()?;
            let width = match &n[digits..] {
                "" => "",
                "d" => "d",
                "w" => "w",
                "b" => "b",
                _ => return None,
            };
            return (8..16).contains(&hw).then_some((hw, width));
        }
        // %rax .. %rdi
        return LEGACY.iter().position(|l| *l == n).map(|i| (i as u8, ""));
    }
    if let Some(n) = name.strip_prefix('e') {
        return LEGACY.iter().position(|l| *l == n).map(|i| (i as u8, "d"));
    }
    if let Some(i) = LEGACY.iter().position(|l| *l == name) {
        return Some((i as u8, "w"));
    }
    const BYTE: [&str; 8] = ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil"];
    BYTE.iter().position(|l| *l == name).map(|i| (i as u8, "b"))
}

fn parse_number(tok: &str) -> Option<u64> {
    let t = tok.trim_start_matches('$').replace('_', "");
    if let Some(h) = t.strip_prefix("0x") {
        return u64::from_str_radix(h, 16).ok();
    }
    if let Some(d) = t.strip_prefix('-') {
        return d.parse::<i64>().ok().map(|v| (-v) as u64);
    }
    t.parse::<u64>().ok()
}

/// Normalizes a CLIF or machine-code listing.
pub(crate) fn normalize(text: &str, consts: &Constants) -> String {
    let mut values = Renamer::new("v");
    let mut blocks = Renamer::new("block");
    let mut regs = Renamer::new("%r");
    let mut xmms = Renamer::new("%x");
    let mut addrs: HashMap<u64, String> = HashMap::new();
    let mut counts: HashMap<&'static str, usize> = HashMap::new();
    let mut out = String::new();
    for line in text.lines() {
        let mut cur = String::new();
        let mut tok = String::new();
        let mut flush = |tok: &mut String, cur: &mut String| {
            if tok.is_empty() {
                return;
            }
            let t = std::mem::take(tok);
            let mapped = if t.len() > 1
                && t.starts_with('v')
                && t[1..].chars().all(|c| c.is_ascii_digit())
            {
                values.name(&t)
            } else if t.starts_with("block") && t[5..].chars().all(|c| c.is_ascii_digit()) {
                blocks.name(&t)
            } else if let Some((hw, width)) = gpr(&t) {
                // One name per physical register, whatever width reads it,
                // so a write of `%eax` and a read of `%rax` name the same.
                format!("{}{width}", regs.name(&hw.to_string()))
            } else if let Some(n) = t.strip_prefix("%xmm") {
                xmms.name(n)
            } else if t.starts_with('%') && t.len() > 1 {
                // Anything else (`%rip`) is not allocated: kept.
                t
            } else if let Some(n) = parse_number(&t) {
                if let Some(e) = Entry::at(n as usize) {
                    e.name().to_string()
                } else if let Some(kind) = consts.kinds.get(&n) {
                    addrs
                        .entry(n)
                        .or_insert_with(|| {
                            let c = counts.entry(kind).or_insert(0);
                            *c += 1;
                            format!("{kind}#{}", *c - 1)
                        })
                        .clone()
                } else {
                    t
                }
            } else {
                t
            };
            cur.push_str(&mapped);
        };
        for ch in line.chars() {
            if ch.is_ascii_alphanumeric() || ch == '_' || ch == '%' || ch == '$' || ch == '-' {
                tok.push(ch);
            } else {
                flush(&mut tok, &mut cur);
                cur.push(ch);
            }
        }
        flush(&mut tok, &mut cur);
        out.push_str(cur.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_blocks_registers_and_addresses_are_renamed_consistently() {
        let mut c = Constants::new(true);
        c.note(0x1234_5678, "shape");
        let a = "block3(v9: i64):\n  v12 = iconst.i64 0x1234_5678\n  brif v12, block3, block4\n  movq %rax, %rcx";
        let n = normalize(a, &c);
        assert_eq!(
            n,
            "block0(v0: i64):\n  v1 = iconst.i64 shape#0\n  brif v1, block0, block1\n  movq %r0, %r1\n"
        );
        let b = "block8(v2: i64):\n  v4 = iconst.i64 0x1234_5678\n  brif v4, block8, block9\n  movq %rdx, %rcx";
        assert_eq!(normalize(b, &c), n);
        let other = "block8(v2: i64):\n  v4 = iconst.i64 0x1234_5679\n  brif v4, block8, block9\n  movq %rdx, %rcx";
        assert_ne!(normalize(other, &c), n);
    }

    #[test]
    fn every_width_of_a_register_has_its_name() {
        let c = Constants::new(true);
        let code = "  movl $0x1, %r9d\n  addq %r9, %rax\n  sete %al\n  movzbl %al, %eax\n  movw %ax, %r9w\n  testb %r9b, %dil\n  movsd %xmm3, %xmm0\n  leaq 8(%rip), %rsp";
        assert_eq!(
            normalize(code, &c),
            "  movl $0x1, %r0d\n  addq %r0, %r1\n  sete %r1b\n  movzbl %r1b, %r1d\n  movw %r1w, %r0w\n  testb %r0b, %r2b\n  movsd %x0, %x1\n  leaq 8(%rip), %r3\n"
        );
    }
}
