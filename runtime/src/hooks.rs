//! Traits the runtime defines and other crates implement.
//!
//! The runtime never depends on the compiler or the OMOP crate; instead it
//! calls them through these traits, which keeps the crate graph acyclic:
//! `compiler` and `omop` depend on `runtime`, and the `som` binary wires them.

use std::path::Path;

use crate::method::{MethodData, SourceLoc};
use crate::value::Value;
use crate::vm::Vm;

/// A method of a class definition.
pub enum MethodDef {
    /// A method with a SOM body, already lowered.
    Ast(&'static MethodData),
    /// A method declared `= primitive`; bound by class name and selector.
    Primitive {
        /// The selector.
        signature: String,
        /// Number of arguments.
        num_args: usize,
        /// Definition site.
        source: SourceLoc,
        /// Declared `= unenforced primitive`: never reified.
        unenforced: bool,
    },
}

/// A class as the front end delivers it.
pub struct ClassDef {
    /// Class name.
    pub name: String,
    /// Superclass object (nil for `Object = nil (...)`).
    pub superclass: Value,
    /// Instance fields declared by this class (not inherited ones).
    pub instance_fields: Vec<String>,
    /// Instance-side methods in source order.
    pub instance_methods: Vec<MethodDef>,
    /// Class-side fields declared by this class.
    pub class_fields: Vec<String>,
    /// Class-side methods in source order.
    pub class_methods: Vec<MethodDef>,
}

/// The source front end: turns a class file into a [`ClassDef`].
pub trait Frontend {
    /// Parses and lowers `source` (read from `path`). Superclasses are loaded
    /// through `vm` as needed. Errors are `file:line:col: message`.
    fn compile_class(&self, vm: &mut Vm, path: &Path, source: &str) -> Result<ClassDef, String>;

    /// Compiles one method (`pattern = ( body )`) for `class`; for run-time
    /// method definition.
    fn compile_method(&self, vm: &mut Vm, class: Value, source: &str) -> Result<MethodDef, String>;
}
