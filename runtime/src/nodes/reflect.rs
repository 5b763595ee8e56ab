//! Dispatch chains for the reflective primitives other than `perform:`:
//! `instVarAt:`, `instVarAt:put:`, `instVarNamed:`, `System>>global:`,
//! `System>>global:put:` and `respondsTo:`.
//!
//! A send site whose target is one of these primitives caches, per key, what
//! the primitive would compute from scratch:
//! - field access: (receiver shape, index or name) → the field slot, so the
//!   access is the ordinary field read or write of that slot;
//! - globals: the name → the global's cell, so the access is a cell load or
//!   store like a global read node's;
//! - `respondsTo:`: (receiver shape, selector) → the answer, registered as a
//!   dependent of the selector so a method change invalidates exactly it.
//!
//! States: uninitialized → cached (up to [`REFLECT_CACHE_LIMIT`] keys) →
//! generic (the primitive's own computation on every call).

use std::cell::Cell;

use crate::interpreter::Unwind;
use crate::nodes::GlobalCell;
use crate::object::{self, Kind, Shape};
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
    site: Cell<Option<(&'static str, (u32, u32))>>,
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
    pub fn set_site(&self, site: &'static str, pos: (u32, u32)) {
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
            let kind_name = match kind {
                Reflective::Global | Reflective::GlobalPut => "global",
                Reflective::RespondsTo => "respondsTo",
                _ => "field",
            };
            let key = match entry.resolved {
                Resolved::Field(i) => format!("field {}", i + 1),
                Resolved::Cell(c) => format!("#{}", vm.symbols.text(c.name)),
                Resolved::Answer(a) => format!("{a}"),
            };
            tracing::trace!(
                target: "metasom::dispatch",
                site,
                pos = %format_args!("{}:{}", pos.0, pos.1),
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
        let key = vm.stack_at(base + 1);
        match kind {
            Reflective::InstVarAt | Reflective::InstVarAtPut | Reflective::InstVarNamed => {
                let shape = vm.shape_of(rcvr);
                let slot = match self.find(shape, key) {
                    Some(Resolved::Field(i)) => i,
                    _ => {
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
                let slots = field_slots(rcvr).expect("a cached shape has fields");
                if kind == Reflective::InstVarAtPut {
                    let v = vm.stack_at(base + 2);
                    slots[slot] = v;
                    Ok(v)
                } else {
                    Ok(slots[slot])
                }
            }
            Reflective::Global | Reflective::GlobalPut => {
                let cell = match self.find(std::ptr::null(), key) {
                    Some(Resolved::Cell(c)) => c,
                    _ => {
                        let name = crate::primitives::symbol_arg(vm, "System>>#global:", key)?;
                        let c = vm.global_cell(name);
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
                    cell.value.set(v);
                    Ok(v)
                } else {
                    let v = cell.value.get();
                    Ok(if v == Value::ZERO { vm.nil } else { v })
                }
            }
            Reflective::RespondsTo => {
                let shape = vm.shape_of(rcvr);
                let answer = match self.find(shape, key) {
                    Some(Resolved::Answer(a)) => a,
                    _ => {
                        let sel = crate::primitives::symbol_arg(vm, "Object>>#respondsTo:", key)?;
                        let class = vm.class_of(rcvr);
                        let a = vm.lookup(class, sel).is_some();
                        vm.register_dependent(sel, Dependent::Reflect(self));
                        self.add(
                            vm,
                            kind,
                            ReflectEntry {
                                shape,
                                key,
                                resolved: Resolved::Answer(a),
                            },
                        );
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
            _ => Err(Unwind::error(format!(
                "Object>>#instVarNamed:: {} has no field named {}",
                vm.class_name(class),
                vm.symbols.text(sel)
            ))),
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
        Err(Unwind::error(format!(
            "{prim}: field index {i} out of range (the object has {n} field(s))"
        )))
    }
}
