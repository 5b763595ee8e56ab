//! Dispatch-chain tracing and statistics.
//!
//! Every transition of a chain (its first entry, growth, going generic, and
//! invalidation) is one `tracing` event at target `metasom::dispatch`, level
//! TRACE, with the fields `site` (`Class>>#selector` of the method holding the
//! send), `pos` (line:col of the selector), `kind` (`send`, `dnu`, `perform`),
//! `selector`, `key` (the receiver class, or the performed selector), `depth`
//! (entries after the transition) and `state`. Building an event happens only
//! on the cold specialization path and only when a subscriber wants it.
//!
//! The VM also keeps the list of send sites that ever specialized, for the
//! `--dispatch-stats` summary printed at exit.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::dispatch::{ChainState, DispatchChain};
use crate::nodes::SendNode;
use crate::symbols::SymbolId;
use crate::value::Value;
use crate::vm::Vm;

/// Whether dispatch events are wanted by the installed subscriber.
#[inline]
pub fn enabled() -> bool {
    tracing::enabled!(target: "metasom::dispatch", tracing::Level::TRACE)
}

fn state_name(chain: &DispatchChain) -> &'static str {
    match chain.state() {
        ChainState::Uninitialized => "uninitialized",
        ChainState::Monomorphic => "monomorphic",
        ChainState::Polymorphic => "polymorphic",
        ChainState::Generic => "generic",
    }
}

/// Reports a transition of a class-keyed chain.
#[allow(clippy::too_many_arguments, reason = "one argument per event field")]
pub fn chain_event(
    vm: &Vm,
    site: &str,
    pos: (u32, u32),
    kind: &str,
    selector: SymbolId,
    key_class: Value,
    chain: &DispatchChain,
    transition: &str,
) {
    if !enabled() {
        return;
    }
    tracing::trace!(
        target: "metasom::dispatch",
        site,
        pos = %format_args!("{}:{}", pos.0, pos.1),
        kind,
        selector = vm.symbols.text(selector),
        key = vm.class_name(key_class),
        depth = chain.chain_len(),
        state = state_name(chain),
        "{transition}"
    );
}

/// Reports a transition of a perform site's selector-keyed level.
pub fn perform_event(
    vm: &Vm,
    site: &str,
    pos: (u32, u32),
    selector: SymbolId,
    depth: usize,
    generic: bool,
) {
    if !enabled() {
        return;
    }
    tracing::trace!(
        target: "metasom::dispatch",
        site,
        pos = %format_args!("{}:{}", pos.0, pos.1),
        kind = "perform",
        selector = "perform:",
        key = %format_args!("#{}", vm.symbols.text(selector)),
        depth,
        state = if generic { "generic" } else if depth == 1 { "monomorphic" } else { "polymorphic" },
        "{}",
        if generic { "generic" } else { "cached" }
    );
}

/// The name of a domain key for traces: `standard` or the domain's class.
fn domain_name(vm: &Vm, key: Value) -> String {
    if key.is_ptr() {
        format!("a {}", vm.class_name_of(key))
    } else {
        "standard".to_string()
    }
}

/// Reports a transition of a domain-keyed chain (kind `domain`): `key` is the
/// domain, `selector` the handler, and the message says whether the entry runs
/// the standard operation or calls a customised handler.
pub fn domain_event(
    vm: &Vm,
    chain: &crate::nodes::DomainChain,
    key: Value,
    customised: bool,
    generic: bool,
) {
    if !enabled() {
        return;
    }
    let (site, pos) = chain.site();
    tracing::trace!(
        target: "metasom::dispatch",
        site,
        pos = %format_args!("{}:{}", pos.0, pos.1),
        kind = "domain",
        selector = chain.handler().selector(),
        key = %domain_name(vm, key),
        depth = chain.chain_len(),
        state = chain.state_name(),
        "{}",
        if generic {
            "generic"
        } else if customised {
            "cached handler"
        } else {
            "cached standard"
        }
    );
}

/// Reports entries of a domain-keyed chain dropped because `class` changed a
/// handler.
pub fn domain_invalidated(
    vm: &Vm,
    chain: &crate::nodes::DomainChain,
    class: Value,
    dropped: usize,
) {
    if !enabled() {
        return;
    }
    let (site, pos) = chain.site();
    tracing::trace!(
        target: "metasom::dispatch",
        site,
        pos = %format_args!("{}:{}", pos.0, pos.1),
        kind = "domain",
        selector = chain.handler().selector(),
        key = vm.class_name(class),
        depth = chain.chain_len(),
        state = chain.state_name(),
        dropped,
        "invalidated"
    );
}

/// Reports an object changing owner: the domain-keyed entries of its old
/// owner stop matching it at their next guard.
pub fn domain_owner_event(vm: &Vm, obj: Value, new_owner: Value) {
    if !enabled() {
        return;
    }
    tracing::trace!(
        target: "metasom::dispatch",
        site = "Mirror>>#setDomainOf:to:",
        pos = "0:0",
        kind = "domain",
        selector = "setDomainOf:to:",
        key = %domain_name(vm, new_owner),
        depth = 0usize,
        state = "owner",
        "{} changed owner",
        vm.class_name_of(obj)
    );
}

impl Vm {
    /// Records a send site that specialized, for statistics.
    pub fn register_site(&mut self, site: &SendNode) {
        self.sites.push(site);
    }

    /// The `--dispatch-stats` report: sites by kind and state, and the
    /// deepest chains.
    pub fn dispatch_stats(&self) -> String {
        let mut by_state: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
        let mut deepest: Vec<(usize, String)> = Vec::new();
        for &s in &self.sites {
            // SAFETY: sites live in leaked AST nodes.
            let site = unsafe { &*s };
            let (kind, chain_state, depth) = {
                let entries = site.perform.entries();
                if !entries.is_empty() || site.perform.is_generic() {
                    let st = if site.perform.is_generic() {
                        ChainState::Generic
                    } else if entries.len() == 1 {
                        ChainState::Monomorphic
                    } else {
                        ChainState::Polymorphic
                    };
                    ("perform", st, entries.len())
                } else {
                    ("send", site.chain.state(), site.chain.chain_len())
                }
            };
            let idx = match chain_state {
                ChainState::Uninitialized => 0,
                ChainState::Monomorphic => 1,
                ChainState::Polymorphic => 2,
                ChainState::Generic => 3,
            };
            by_state.entry(kind).or_default()[idx] += 1;
            if depth > 1 || chain_state == ChainState::Generic {
                deepest.push((
                    if chain_state == ChainState::Generic {
                        usize::MAX
                    } else {
                        depth
                    },
                    format!(
                        "{} {}:{} #{}",
                        site.site,
                        site.pos.0,
                        site.pos.1,
                        self.symbols.text(site.selector)
                    ),
                ));
            }
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "dispatch statistics: {} specialized send sites",
            self.sites.len()
        );
        let _ = writeln!(
            out,
            "{:<10} {:>14} {:>12} {:>12} {:>8}",
            "kind", "invalidated", "monomorphic", "polymorphic", "generic"
        );
        for (kind, c) in &by_state {
            let _ = writeln!(
                out,
                "{:<10} {:>14} {:>12} {:>12} {:>8}",
                kind, c[0], c[1], c[2], c[3]
            );
        }
        deepest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        if !deepest.is_empty() {
            let _ = writeln!(out, "deepest chains:");
            for (d, what) in deepest.iter().take(10) {
                let depth = if *d == usize::MAX {
                    "generic".to_string()
                } else {
                    d.to_string()
                };
                let _ = writeln!(out, "  {depth:>8}  {what}");
            }
        }
        out
    }
}
