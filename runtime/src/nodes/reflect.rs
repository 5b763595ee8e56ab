//! Dispatch chains for the reflective primitives other than `perform:`:
//! `instVarAt:`, `instVarAt:put:`, `instVarNamed:`, `System>>global:`,
//! `System>>global:put:` and `respondsTo:`.
//!
//! A send site whose target is one of these primitives caches, per key, what
//! the primitive would compute from scratch:
//! - field access: (receiver shape, index or name) → the field slot, so the
//!   access is the ordinary field read or write of that slot, used only when
//!   the receiver has that slot (checked on the object itself: the chain
//!   here keys on the shape but reads no body on its strength);
//! - globals: the name → the global's cell, so the access is a cell load or
//!   store like a global read node's;
//! - `respondsTo:`: (receiver shape, selector) → the answer, registered as a
//!   dependent of the selector so a method change invalidates exactly it.
//!
//! Keys are compared by identity, so a name or selector argument is keyed
//! as its interned Symbol: a String is collected and its address reused by
//! another String, and must never be a key itself.
//!
//! States: uninitialized → cached (up to [`REFLECT_CACHE_LIMIT`] keys) →
//! generic (the primitive's own computation on every call). A `respondsTo:`
//! site registers as a dependent once per selector, for at most
//! [`REFLECT_CACHE_LIMIT`] selectors; meeting more makes it generic, so the
//! registry does not grow with calls.

use std::cell::Cell;

use crate::interpreter::Unwind;
use crate::nodes::GlobalCell;
use crate::object::{self, Kind, Shape};
use crate::symbols::SymbolId;
use crate::value::Value;
use crate::vm::{Dependent, Vm, VmResult};

/// Keys one reflective site caches before it goes generic.
pub const REFLECT_CACHE_LIMIT: usize = 6;

/// Which reflective primitive a method is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reflective {
    /// `perform:` and its variants.
    Perform(crate::nodes::PerformKind),
    /// `Object>>instVarAt:`
    InstVarAt,
    /// `Object>>instVarAt:put:`
    InstVarAtPut,
    /// `Object>>instVarNamed:`
    InstVarNamed,
    /// `System>>global:`
    Global,
    /// `System>>global:put:`
    GlobalPut,
    /// `Object>>respondsTo:`
    RespondsTo,
}

impl Reflective {
    /// The reflective kind of `class>>selector`, if it is one.
    pub fn of(class: &str, selector: &str) -> Option<Reflective> {
        Some(match (class, selector) {
            ("Object", s) if s.starts_with("perform:") => {
                Reflective::Perform(crate::nodes::PerformKind {
                    with_array: s.contains("withArguments:"),
                    in_superclass: s.contains("inSuperclass:"),
                })
            }
            ("Object", "instVarAt:") => Reflective::InstVarAt,
            ("Object", "instVarAt:put:") => Reflective::InstVarAtPut,
            ("Object", "instVarNamed:") => Reflective::InstVarNamed,
            ("Object", "respondsTo:") => Reflective::RespondsTo,
            ("System", "global:") => Reflective::Global,
            ("System", "global:put:") => Reflective::GlobalPut,
            _ => return None,
        })
    }
}

/// What a cached key resolved to.
#[derive(Clone, Copy)]
pub enum Resolved {
    /// A field slot (0-based) of objects of the cached shape.
    Field(usize),
    /// A global's cell.
    Cell(&'static GlobalCell),
    /// The answer of `respondsTo:`.
    Answer(bool),
}

/// One cached key.
#[derive(Clone, Copy)]
pub struct ReflectEntry {
    /// Receiver shape (null when the key does not depend on the receiver).
    pub shape: *const Shape,
    /// The index, name or selector argument.
    pub key: Value,
    /// What it resolved to.
    pub resolved: Resolved,
}

/// The reflective cache of one send site.
#[derive(Default)]
pub struct ReflectCache {
    entries: [Cell<Option<ReflectEntry>>; REFLECT_CACHE_LIMIT],
    len: Cell<u8>,
    generic: Cell<bool>,
    /// The owning send site (`Class>>#selector`, line:col), for traces.
    site: Cell<Option<(&'static crate::trace::Site, (u32, u32))>>,
    /// The selectors this site is registered under (`respondsTo:`).
    depends: Registered,
    /// The primitive this site runs, once it ran (for statistics).
    kind: Cell<Option<Reflective>>,
}

/// The selectors a `respondsTo:` site registered as a dependent of: at most
/// [`REFLECT_CACHE_LIMIT`], each once.
#[derive(Default)]
struct Registered {
    selectors: [Cell<Option<SymbolId>>; REFLECT_CACHE_LIMIT],
    len: Cell<u8>,
}

fn field_slots<'a>(v: Value) -> Option<&'a mut [Value]> {
    if v.is_ptr() && matches!(object::kind_of(v), Kind::Object | Kind::Class) {
        Some(object::slots(v))
    } else {
        None
    }
}

impl ReflectCache {
    /// Names the send site owning this cache, for traces.
    pub fn set_site(&self, site: &'static crate::trace::Site, pos: (u32, u32)) {
        self.site.set(Some((site, pos)));
    }

    /// The cached entries (for statistics and tests).
    pub fn entries(&self) -> Vec<ReflectEntry> {
        self.entries[..self.len.get() as usize]
            .iter()
            .filter_map(Cell::get)
            .collect()
    }

    /// Whether the site went generic.
    pub fn is_generic(&self) -> bool {
        self.generic.get()
    }

    /// The chain kind of this site as traces and statistics name it
    /// (`field`, `global`, `respondsTo`), once it ran.
    pub fn kind_name(&self) -> Option<&'static str> {
        self.kind.get().map(kind_name)
    }

    #[inline(always)]
    fn find(&self, shape: *const Shape, key: Value) -> Option<Resolved> {
        for e in &self.entries[..self.len.get() as usize] {
            if let Some(e) = e.get() {
                if std::ptr::eq(e.shape, shape) && e.key == key {
                    return Some(e.resolved);
                }
            }
        }
        None
    }

    fn add(&self, vm: &Vm, kind: Reflective, entry: ReflectEntry) {
        self.kind.set(Some(kind));
        if self.generic.get() {
            return;
        }
        let n = self.len.get() as usize;
        let generic = n >= REFLECT_CACHE_LIMIT;
        if generic {
            self.generic.set(true);
            self.len.set(0);
        } else {
            self.entries[n].set(Some(entry));
            self.len.set(n as u8 + 1);
        }
        if let (Some((site, pos)), true) = (self.site.get(), crate::trace::enabled()) {
            let kind_name = kind_name(kind);
            let key = match entry.resolved {
                Resolved::Field(i) => format!("field {}", i + 1),
                Resolved::Cell(c) => format!("#{}", vm.symbols.text(c.name)),
                Resolved::Answer(a) => format!("{a}"),
            };
            tracing::trace!(
                target: "metasom::dispatch",
                site = site.method,
                pos = %format_args!("{}:{}:{}", site.file, pos.0, pos.1),
                kind = kind_name,
                key,
                depth = self.len.get(),
                state = if generic {
                    "generic"
                } else if n == 0 {
                    "monomorphic"
                } else {
                    "polymorphic"
                },
                "{}",
                if generic { "generic" } else { "cached" }
            );
        }
    }

    /// Drops the entries whose (shape, key) `stale` selects (for
    /// `respondsTo:`).
    pub fn invalidate(&self, mut stale: impl FnMut(*const Shape, Value) -> bool) -> usize {
        let n = self.len.get() as usize;
        let mut kept = 0;
        for i in 0..n {
            let e = self.entries[i].get();
            match e {
                Some(e) if !stale(e.shape, e.key) => {
                    self.entries[kept].set(Some(e));
                    kept += 1;
                }
                _ => {}
            }
        }
        self.len.set(kept as u8);
        n - kept
    }

    /// Runs the reflective primitive `kind` with receiver and arguments at
    /// `vm.stack[base..]`, through this site's cache.
    pub fn run(&self, vm: &mut Vm, kind: Reflective, base: usize) -> VmResult {
        let rcvr = vm.stack_at(base);
        let key = cache_key(vm, kind, vm.stack_at(base + 1))?;
        match kind {
            Reflective::InstVarAt | Reflective::InstVarAtPut | Reflective::InstVarNamed => {
                let shape = vm.shape_of(rcvr);
                // The shape says nothing about the body's layout (one class
                // can have instances of two layouts), so a hit is used only
                // when the receiver really has that field; anything else is
                // a miss, and the miss reports the error.
                let hit = match self.find(shape, key) {
                    Some(Resolved::Field(i)) => {
                        field_slots(rcvr).filter(|s| i < s.len()).map(|_| i)
                    }
                    _ => None,
                };
                let slot = match hit {
                    Some(i) => {
                        if vm.verify_caches {
                            crate::verify::field(vm, self.site(), kind, rcvr, key, i);
                        }
                        i
                    }
                    None => {
                        let i = field_of(vm, kind, rcvr, key)?;
                        self.add(
                            vm,
                            kind,
                            ReflectEntry {
                                shape,
                                key,
                                resolved: Resolved::Field(i),
                            },
                        );
                        i
                    }
                };
                let Some(field) = field_slots(rcvr).and_then(|s| s.get_mut(slot)) else {
                    // `field_of` validated the slot against this receiver.
                    unreachable!("a validated field slot exists");
                };
                if kind == Reflective::InstVarAtPut {
                    let v = vm.stack_at(base + 2);
                    *field = v;
                    Ok(v)
                } else {
                    Ok(*field)
                }
            }
            Reflective::Global | Reflective::GlobalPut => {
                let cell = match self.find(std::ptr::null(), key) {
                    Some(Resolved::Cell(c)) => {
                        if vm.verify_caches {
                            crate::verify::global(vm, self.site(), key, c);
                        }
                        c
                    }
                    _ => {
                        let c = vm.global_cell(vm.symbol_id(key));
                        self.add(
                            vm,
                            kind,
                            ReflectEntry {
                                shape: std::ptr::null(),
                                key,
                                resolved: Resolved::Cell(c),
                            },
                        );
                        c
                    }
                };
                if kind == Reflective::GlobalPut {
                    let v = vm.stack_at(base + 2);
                    vm.write_global(cell, v);
                    Ok(v)
                } else {
                    let v = cell.value.get();
                    Ok(if v == Value::ZERO { vm.nil } else { v })
                }
            }
            Reflective::RespondsTo => {
                let shape = vm.shape_of(rcvr);
                let sel = vm.symbol_id(key);
                let answer = match self.find(shape, key) {
                    Some(Resolved::Answer(a)) => {
                        if vm.verify_caches {
                            crate::verify::responds_to(vm, self.site(), rcvr, sel, a);
                        }
                        a
                    }
                    _ => {
                        let class = vm.class_of(rcvr);
                        let a = vm.lookup(class, sel).is_some();
                        // The answer may be cached only while a method
                        // change of `sel` can reach it.
                        self.kind.set(Some(kind));
                        if self.depend_on(vm, sel) {
                            self.add(
                                vm,
                                kind,
                                ReflectEntry {
                                    shape,
                                    key,
                                    resolved: Resolved::Answer(a),
                                },
                            );
                        }
                        a
                    }
                };
                Ok(vm.boolean(answer))
            }
            Reflective::Perform(_) => {
                Err(Unwind::error("perform: is not a field or global access"))
            }
        }
    }

    /// Registers this site as a dependent of `sel`, once per selector and
    /// for at most [`REFLECT_CACHE_LIMIT`] selectors over the site's life;
    /// answers whether the site may cache an answer for `sel`. A site that
    /// meets more selectors goes generic, so a generic `respondsTo:` site
    /// costs the registry nothing however many selectors it sees.
    #[cold]
    fn depend_on(&self, vm: &mut Vm, sel: SymbolId) -> bool {
        if self.generic.get() {
            return false;
        }
        let n = self.depends.len.get() as usize;
        if self.depends.selectors[..n]
            .iter()
            .any(|s| s.get() == Some(sel))
        {
            return true;
        }
        if n >= REFLECT_CACHE_LIMIT {
            self.generic.set(true);
            self.len.set(0);
            return false;
        }
        self.depends.selectors[n].set(Some(sel));
        self.depends.len.set(n as u8 + 1);
        vm.register_dependent(sel, Dependent::Reflect(self));
        true
    }

    /// The owning site and position (unknown for caches without one).
    fn site(&self) -> (&'static crate::trace::Site, (u32, u32)) {
        self.site
            .get()
            .unwrap_or((crate::trace::Site::NONE, (0, 0)))
    }
}

fn kind_name(kind: Reflective) -> &'static str {
    match kind {
        Reflective::Global | Reflective::GlobalPut => "global",
        Reflective::RespondsTo => "respondsTo",
        _ => "field",
    }
}

/// The cache key of the index, name or selector argument: an index as it
/// is, a name as its interned Symbol. Keys are compared by identity, and only
/// Symbols (permanent) and small integers keep their identity: a String is
/// collected and its address reused by another String, so it is never a key
/// itself.
#[inline(always)]
fn cache_key(vm: &mut Vm, kind: Reflective, arg: Value) -> Result<Value, Unwind> {
    let prim = match kind {
        Reflective::InstVarNamed => "Object>>#instVarNamed:",
        Reflective::Global => "System>>#global:",
        Reflective::GlobalPut => "System>>#global:put:",
        Reflective::RespondsTo => "Object>>#respondsTo:",
        _ => return Ok(arg),
    };
    if crate::interpreter::is_kind(arg, Kind::Symbol) {
        return Ok(arg);
    }
    let sel = crate::primitives::symbol_arg(vm, prim, arg)?;
    Ok(vm.symbol_value(sel))
}

/// The 0-based field `key` designates in `rcvr`, validated.
pub fn field_of(vm: &mut Vm, kind: Reflective, rcvr: Value, key: Value) -> Result<usize, Unwind> {
    let n = field_slots(rcvr).map_or(0, |s| s.len());
    if kind == Reflective::InstVarNamed {
        let sel = crate::primitives::symbol_arg(vm, "Object>>#instVarNamed:", key)?;
        let class = vm.class_of(rcvr);
        let pos = vm
            .class_data(class)
            .instance_fields
            .borrow()
            .iter()
            .position(|f| *f == sel);
        return match pos {
            Some(i) if i < n => Ok(i),
            _ => Err(Unwind::error_as(
                crate::error::ErrorClass::ArgumentError,
                format!(
                    "Object>>#instVarNamed:: {} has no field named {}",
                    vm.class_name(class),
                    vm.symbols.text(sel)
                ),
            )),
        };
    }
    let prim = if kind == Reflective::InstVarAt {
        "Object>>#instVarAt:"
    } else {
        "Object>>#instVarAt:put:"
    };
    let i = crate::primitives::int_arg(vm, prim, key)?;
    if i >= 1 && (i as usize) <= n {
        Ok(i as usize - 1)
    } else {
        Err(Unwind::error_as(
            crate::error::ErrorClass::IndexOutOfBounds,
            format!("{prim}: field index {i} out of range (the object has {n} field(s))"),
        ))
    }
}
