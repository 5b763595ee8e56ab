//! Dispatch-chain tracing and statistics.
//!
//! Every transition of a chain (its first entry, growth, going generic, and
//! invalidation) is one `tracing` event at target `metasom::dispatch`, level
//! TRACE, with the fields `site` (`Class>>#selector` of the method holding the
//! send), `pos` (`file:line:col` of the selector), `kind` (`send`, `primitive`,
//! `dnu`, `perform`, `field`, `global`, `respondsTo`, `domain`),
//! `selector`, `key` (the receiver class, or the performed selector), `depth`
//! (entries after the transition) and `state`. Building an event happens only
//! on the cold specialization path and only when a subscriber wants it.
//!
//! The VM also keeps the list of sites that ever specialized (each recorded
//! once), for the `--dispatch-stats` summary printed at exit: chains by kind
//! and state, the size of the dependency registry, the deepest chains.

use std::fmt::Write;

use crate::dispatch::{ChainState, DispatchChain};
use crate::nodes::SendNode;
use crate::symbols::SymbolId;
use crate::value::Value;
use crate::vm::Vm;

/// Where a cache lives: the method holding the site and that method's source
/// file. One per lowered method, leaked like the AST that points to it; its
/// `Display` is the method (`Class>>#selector`).
#[derive(Debug)]
pub struct Site {
    /// `Class>>#selector` of the method holding the site.
    pub method: &'static str,
    /// The source file of that method, as diagnostics name it.
    pub file: &'static str,
}

impl Site {
    /// A site for `method` in `file`, leaked (sites live as long as the AST).
    pub fn leak(method: String, file: String) -> &'static Site {
        Box::leak(Box::new(Site {
            method: Box::leak(method.into_boxed_str()),
            file: Box::leak(file.into_boxed_str()),
        }))
    }

    /// A site for caches that have no source position (primitives, tests).
    pub const NONE: &'static Site = &Site {
        method: "?",
        file: "?",
    };

    /// `file:line:col` of a position in this site's method.
    pub fn at(&self, pos: (u32, u32)) -> String {
        format!("{}:{}:{}", self.file, pos.0, pos.1)
    }
}

impl std::fmt::Display for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.method)
    }
}

/// Whether dispatch events are wanted by the installed subscriber.
#[inline]
pub fn enabled() -> bool {
    tracing::enabled!(target: "metasom::dispatch", tracing::Level::TRACE)
}

/// Whether tier events (compilations, invalidations) are wanted.
#[inline]
pub fn jit_enabled() -> bool {
    tracing::enabled!(target: "metasom::jit", tracing::Level::TRACE)
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
    site: &Site,
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
        site = site.method,
        pos = %format_args!("{}:{}:{}", site.file, pos.0, pos.1),
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
    site: &Site,
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
        site = site.method,
        pos = %format_args!("{}:{}:{}", site.file, pos.0, pos.1),
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
        site = site.method,
        pos = %format_args!("{}:{}:{}", site.file, pos.0, pos.1),
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
        site = site.method,
        pos = %format_args!("{}:{}:{}", site.file, pos.0, pos.1),
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

/// A site the VM remembers for `--dispatch-stats` (all live in leaked AST
/// nodes, like the chains registered for invalidation).
#[derive(Clone, Copy)]
pub enum Recorded {
    /// A send site: its class-keyed chain and its perform and reflective
    /// levels.
    Send(*const SendNode),
    /// A send in an enforced body: its class-keyed chain.
    Enforced(*const crate::nodes::EnforcedSendNode),
    /// A domain-keyed chain of an enforced operation.
    Domain(*const crate::nodes::DomainChain),
}

/// The chain kinds `--dispatch-stats` counts, in report order.
const KINDS: [&str; 8] = [
    "send",
    "perform",
    "dnu",
    "field",
    "global",
    "respondsTo",
    "primitive",
    "domain",
];

fn state_index(s: ChainState) -> usize {
    match s {
        ChainState::Uninitialized => 0,
        ChainState::Monomorphic => 1,
        ChainState::Polymorphic => 2,
        ChainState::Generic => 3,
    }
}

fn state_of(generic: bool, len: usize) -> ChainState {
    match (generic, len) {
        (true, _) => ChainState::Generic,
        (false, 0) => ChainState::Uninitialized,
        (false, 1) => ChainState::Monomorphic,
        _ => ChainState::Polymorphic,
    }
}

/// The kind of a class-keyed chain: `dnu` when it holds a handler,
/// `primitive` when all its targets are primitives, `send` otherwise.
fn chain_kind(chain: &DispatchChain) -> &'static str {
    let entries = chain.entries();
    if entries
        .iter()
        .any(|e| matches!(e.target, crate::dispatch::Target::Dnu(_)))
    {
        "dnu"
    } else if !entries.is_empty()
        && entries
            .iter()
            .all(|e| matches!(e.target, crate::dispatch::Target::Method(m) if m.is_primitive()))
    {
        "primitive"
    } else {
        "send"
    }
}

impl Vm {
    /// Records a send site that specialized, for statistics.
    pub fn register_site(&mut self, site: &SendNode) {
        self.sites.push(Recorded::Send(site));
    }

    /// Records another specialized site (enforced send or domain chain), for
    /// statistics.
    pub fn record_site(&mut self, site: Recorded) {
        self.sites.push(site);
    }

    /// The `--dispatch-stats` report: chains by kind (send, perform, dnu,
    /// field, global, respondsTo, primitive, domain) and state, and the
    /// deepest send chains.
    pub fn dispatch_stats(&self) -> String {
        let mut counts = [[0usize; 4]; KINDS.len()];
        let mut count = |kind: &str, st: ChainState| {
            let k = KINDS.iter().position(|n| *n == kind).unwrap_or(0);
            counts[k][state_index(st)] += 1;
        };
        let mut deepest: Vec<(usize, String)> = Vec::new();
        let mut send_sites = 0;
        let report = self.tier_report();
        let compiled = |s: usize| {
            report
                .as_ref()
                .is_some_and(|r| r.compiled_sites.contains(&s))
        };
        let mut compiled_sites = 0;
        for &rec in &self.sites {
            match rec {
                Recorded::Send(s) => {
                    // SAFETY: sites live in leaked AST nodes.
                    let site = unsafe { &*s };
                    send_sites += 1;
                    let in_code = compiled(s as usize);
                    compiled_sites += in_code as usize;
                    count(chain_kind(&site.chain), site.chain.state());
                    let entries = site.perform.entries();
                    if !entries.is_empty() || site.perform.is_generic() {
                        count(
                            "perform",
                            state_of(site.perform.is_generic(), entries.len()),
                        );
                        for e in &entries {
                            count(chain_kind(&e.chain), e.chain.state());
                        }
                    }
                    if let Some(kind) = site.reflect.kind_name() {
                        let n = site.reflect.entries().len();
                        count(kind, state_of(site.reflect.is_generic(), n));
                    }
                    let st = site.chain.state();
                    let depth = site.chain.chain_len();
                    if depth > 1 || st == ChainState::Generic {
                        deepest.push((
                            if st == ChainState::Generic {
                                usize::MAX
                            } else {
                                depth
                            },
                            format!(
                                "{} {} #{}{}",
                                site.site,
                                site.site.at(site.pos),
                                self.symbols.text(site.selector),
                                if in_code { " (compiled)" } else { "" }
                            ),
                        ));
                    }
                }
                Recorded::Enforced(s) => {
                    // SAFETY: as above.
                    let site = unsafe { &*s };
                    send_sites += 1;
                    count(chain_kind(&site.chain), site.chain.state());
                }
                Recorded::Domain(d) => {
                    // SAFETY: as above.
                    let chain = unsafe { &*d };
                    count("domain", state_of(chain.is_generic(), chain.chain_len()));
                }
            }
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "dispatch statistics: {send_sites} specialized send sites, {} registered dependents",
            self.dependent_count()
        );
        let _ = writeln!(
            out,
            "{:<10} {:>14} {:>12} {:>12} {:>8}",
            "kind", "invalidated", "monomorphic", "polymorphic", "generic"
        );
        for (kind, c) in KINDS.iter().zip(&counts) {
            let _ = writeln!(
                out,
                "{:<10} {:>14} {:>12} {:>12} {:>8}",
                kind, c[0], c[1], c[2], c[3]
            );
        }
        if let Some(r) = &report {
            let _ = writeln!(
                out,
                "compiled tier: {} compilations in {:.1} ms, {} units live ({} bytes of code); {compiled_sites} of the {send_sites} send sites are in compiled code",
                r.compilations,
                r.compile_micros as f64 / 1000.0,
                r.live_units,
                r.live_bytes
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

/// The `tracing` types the launcher's JSON formatter names (it does not
/// depend on `tracing` itself).
pub use tracing::{Event, Subscriber};

/// A `tracing` event as one line of JSON (`som --trace-format=json`): `seq`
/// (the event's number, a logical clock: stable from run to run), `t_us`
/// (microseconds since the first event; wall clock), `cat` (`dispatch` or
/// `jit`, from the target), `event` (the message: `cached`, `generic`,
/// `invalidated`, `compiled`, ...), then every field of the event, numbers
/// as numbers; a `pos` of `file:line:col` is also given as `file`, `line`
/// and `col`. Written with `serde_json`, in this order.
pub fn event_json(seq: u64, t_us: u64, event: &tracing::Event<'_>) -> String {
    use serde_json::{Map, Value};
    let target = event.metadata().target();
    let cat = target.strip_prefix("metasom::").unwrap_or(target);
    let mut fields = JsonFields(Vec::new());
    event.record(&mut fields);
    let mut out = Map::new();
    out.insert("seq".into(), seq.into());
    out.insert("t_us".into(), t_us.into());
    out.insert("cat".into(), cat.into());
    // The message first, as `event`.
    if let Some(k) = fields.0.iter().position(|(n, _)| *n == "message") {
        let (_, v) = fields.0.remove(k);
        out.insert("event".into(), v);
    }
    for (name, value) in fields.0 {
        let pos = match (&value, name) {
            (Value::String(p), "pos") => split_pos(p),
            _ => None,
        };
        out.insert(name.into(), value);
        if let Some((file, line, col)) = pos {
            out.insert("file".into(), file.into());
            out.insert("line".into(), line.into());
            out.insert("col".into(), col.into());
        }
    }
    Value::Object(out).to_string()
}

/// `file:line:col` split into its parts.
fn split_pos(pos: &str) -> Option<(String, u32, u32)> {
    let mut parts = pos.rsplitn(3, ':');
    let col = parts.next()?.parse().ok()?;
    let line = parts.next()?.parse().ok()?;
    Some((parts.next()?.to_string(), line, col))
}

/// The fields of an event, as JSON values in the order recorded.
struct JsonFields(Vec<(&'static str, serde_json::Value)>);

impl tracing::field::Visit for JsonFields {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.push((field.name(), value.into()));
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.0.push((field.name(), value.into()));
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.0.push((field.name(), value.into()));
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        // Not finite: null (JSON has no NaN).
        self.0.push((field.name(), value.into()));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push((field.name(), value.into()));
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name(), format!("{value:?}").into()));
    }
}
