//! Bootstrap, class definition and class loading.
//!
//! Bootstrap creates the core classes and their metaclasses by hand (they must
//! exist before any source can be loaded: every object needs a shape, and the
//! metaclass hierarchy is circular), creates nil, true, false and `system`, and
//! then loads each core class's source from the class path into the existing
//! class object, so class identity never changes.
//!
//! Metaclass invariants: `X class superclass == X superclass class`,
//! `Object class superclass == Class`, every metaclass is an instance of
//! `Metaclass`, and `Metaclass class class == Metaclass`.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use indexmap::IndexMap;

use crate::class::ClassData;
use crate::error::{LoadError, SomError};
use crate::hooks::{ClassDef, Frontend, MethodDef};
use crate::interpreter::{Args, Unwind};
use crate::method::{MethodData, MethodKind, PrimFn};
use crate::object::{self, Kind};
use crate::symbols::SymbolId;
use crate::value::Value;
use crate::vm::{Vm, VmResult};

/// Core classes in bootstrap order, with their superclass names.
const CORE: [(&str, Option<&str>); 19] = [
    ("Object", None),
    ("Class", Some("Object")),
    ("Metaclass", Some("Class")),
    ("Nil", Some("Object")),
    ("Array", Some("Object")),
    ("Method", Some("Object")),
    ("Primitive", Some("Object")),
    ("String", Some("Object")),
    ("Symbol", Some("String")),
    ("Integer", Some("Object")),
    ("Double", Some("Object")),
    ("Block", Some("Object")),
    ("Block1", Some("Block")),
    ("Block2", Some("Block")),
    ("Block3", Some("Block")),
    ("Boolean", Some("Object")),
    ("True", Some("Boolean")),
    ("False", Some("Boolean")),
    ("System", Some("Object")),
];

/// How a run of the VM ended.
#[derive(Debug)]
pub enum Outcome {
    /// Normal completion or `system exit: n`.
    Exit(i32),
    /// A SOM-level error (already carrying its backtrace).
    Error(SomError),
}

impl Vm {
    /// Sets the front end used to load classes.
    pub fn set_frontend(&mut self, fe: Rc<dyn Frontend>) {
        self.frontend = Some(fe);
    }

    /// Creates the core classes and objects and loads the core library.
    pub fn bootstrap(&mut self) -> Result<(), LoadError> {
        let mut made: Vec<(Value, Value)> = Vec::new();
        for (name, _) in CORE {
            let class = self.raw_class(name, false);
            let meta = self.raw_class(&format!("{name} class"), true);
            made.push((class, meta));
        }
        let get = |n: &str| made[CORE.iter().position(|(c, _)| *c == n).unwrap()];
        self.classes = crate::vm::CoreClasses {
            object: get("Object").0,
            class: get("Class").0,
            metaclass: get("Metaclass").0,
            nil: get("Nil").0,
            array: get("Array").0,
            method: get("Method").0,
            primitive: get("Primitive").0,
            string: get("String").0,
            symbol: get("Symbol").0,
            integer: get("Integer").0,
            double: get("Double").0,
            block: get("Block").0,
            block1: get("Block1").0,
            block2: get("Block2").0,
            block3: get("Block3").0,
            boolean: get("Boolean").0,
            true_: get("True").0,
            false_: get("False").0,
            system: get("System").0,
        };
        // Shapes: instances, class objects (instances of their metaclass) and
        // metaclass objects (instances of Metaclass). A core class's usual
        // instances have the layout the VM makes them with; the others are
        // plain objects, without fields until the class file says more.
        let c = &self.classes;
        let layouts = [
            (c.array, Kind::Array),
            (c.string, Kind::String),
            (c.symbol, Kind::Symbol),
            (c.integer, Kind::BigInt),
            (c.double, Kind::Double),
            (c.block1, Kind::Block),
            (c.block2, Kind::Block),
            (c.block3, Kind::Block),
            (c.method, Kind::Method),
            (c.primitive, Kind::Method),
            (c.metaclass, Kind::Class),
        ];
        for &(class, meta) in &made {
            let kind = layouts
                .iter()
                .find(|(c, _)| *c == class)
                .map_or(Kind::Object, |(_, k)| *k);
            let s = self.shape_for(class, Value::ZERO, kind, 0);
            self.class_data(class).shape.set(s);
            let ms = self.shape_for(meta, Value::ZERO, Kind::Class, 0);
            self.class_data(meta).shape.set(ms);
            object::header(class).shape = ms;
        }
        let meta_instance_shape = self.instance_shape(self.classes.metaclass);
        for &(_, meta) in &made {
            object::header(meta).shape = meta_instance_shape;
        }
        self.int_shape = self.instance_shape(self.classes.integer);
        self.int_header.shape = self.int_shape;
        self.double_shape = self.instance_shape(self.classes.double);
        self.context_shape = self.shape_for(self.classes.object, Value::ZERO, Kind::Context, 0);
        // Before any class file loads: literal arrays in the core library
        // are Arrays made with this shape.
        self.array_shape = self.instance_shape(self.classes.array);
        // Symbols interned before Symbol existed get their shape now.
        let sym_shape = self.instance_shape(self.classes.symbol);
        for i in 0..self.symbols.len() {
            object::header(self.symbols.object(SymbolId(i as u32))).shape = sym_shape;
        }
        // nil first: every later slot is initialised with it.
        let nil_shape = self.instance_shape(self.classes.nil);
        self.nil = self.allocate(Kind::Object, 0, nil_shape);
        self.make_permanent(self.nil);
        let nil = self.nil;
        for (i, (_, sup)) in CORE.iter().enumerate() {
            let (class, meta) = made[i];
            let (sc, smc) = match sup {
                Some(s) => get(s),
                None => (nil, self.classes.class),
            };
            self.class_data(class).superclass.set(sc);
            self.class_data(meta).superclass.set(smc);
        }
        self.true_ = self.new_instance(self.classes.true_);
        self.make_permanent(self.true_);
        self.false_ = self.new_instance(self.classes.false_);
        self.make_permanent(self.false_);
        self.system = self.new_instance(self.classes.system);
        self.make_permanent(self.system);
        for (name, v) in [
            ("nil", self.nil),
            ("true", self.true_),
            ("false", self.false_),
            ("system", self.system),
        ] {
            let id = self.intern(name);
            self.set_global(id, v);
        }
        for (i, (name, _)) in CORE.iter().enumerate() {
            let id = self.intern(name);
            self.set_global(id, made[i].0);
        }
        self.well_known = crate::vm::WellKnown {
            dnu: self.intern("doesNotUnderstand:arguments:"),
            unknown_global: self.intern("unknownGlobal:"),
            escaped_block: self.intern("escapedBlock:"),
            initialize: self.intern("initialize:"),
            value: self.intern("value"),
            value_1: self.intern("value:"),
            value_2: self.intern("value:with:"),
            perform_with_arguments: self.intern("perform:withArguments:"),
        };
        crate::primitives::install(self);
        for (name, _) in CORE {
            let id = self.intern(name);
            match self.load_class_file(id)? {
                Some(_) => {}
                None => return Err(LoadError::NotFound(name.to_string())),
            }
        }
        self.install_hidden_performs();
        self.bootstrapped = true;
        self.integer_intact = true;
        self.double_intact = true;
        self.array_intact = true;
        self.block_intact = true;
        self.boolean_intact = true;
        Ok(())
    }

    fn raw_class(&mut self, name: &str, is_metaclass: bool) -> Value {
        let name = self.intern(name);
        let data = Box::leak(Box::new(ClassData {
            name,
            superclass: Cell::new(Value::ZERO),
            instance_fields: RefCell::new(Vec::new()),
            methods: RefCell::new(IndexMap::new()),
            is_metaclass,
            shape: Cell::new(std::ptr::null()),
            version: Cell::new(0),
        }));
        let v = self.allocate(Kind::Class, 0, std::ptr::null());
        // SAFETY: a Class body starts with its data pointer.
        unsafe { *object::body_ptr::<*mut ClassData>(v) = data };
        self.make_permanent(v)
    }

    /// Registers a primitive implementation for `class_name>>selector`
    /// (`Foo class` for the class side).
    pub fn register_primitive(&mut self, class_name: &str, selector: &str, f: PrimFn) {
        self.primitives
            .insert((class_name.to_string(), selector.to_string()), f);
    }

    /// Declares the primitive `class_name>>selector` transparent to the OMOP:
    /// it runs other code (which is itself subject to enforcement) and is never
    /// reified through `requestExecutionOfPrimitive:with:on:`.
    pub fn register_transparent(&mut self, class_name: &str, selector: &str) {
        self.transparent
            .insert((class_name.to_string(), selector.to_string()));
    }

    /// Loads (if needed) and answers the class named `name`, or None when no
    /// class file exists. Compile errors are SOM-level errors.
    pub fn try_load_class(&mut self, name: SymbolId) -> Result<Option<Value>, Unwind> {
        if let Some(v) = self.global(name) {
            return Ok(Some(v));
        }
        self.load_class_file(name).map_err(|e| match e {
            LoadError::Compile(msg) => Unwind::raise(SomError::new(msg)),
            other => Unwind::error(other.to_string()),
        })
    }

    /// Finds `<name>.som` on the class path (directories only).
    pub fn find_class_file(&self, name: &str) -> Option<PathBuf> {
        self.classpath
            .iter()
            .map(|d| d.join(format!("{name}.som")))
            .find(|p| p.is_file())
    }

    /// The source of class `name` in the embedded libraries, with the path it
    /// is reported under.
    fn find_embedded_class(&self, name: &str) -> Option<(PathBuf, &'static str)> {
        self.embedded.iter().find_map(|lib| {
            let (_, source) = lib.classes.iter().find(|(n, _)| *n == name)?;
            Some((Path::new(lib.dir).join(format!("{name}.som")), *source))
        })
    }

    /// Where classes are looked for, in order, for messages that must say
    /// where the VM looked.
    pub fn class_search_path(&self) -> String {
        let mut places: Vec<String> = self
            .classpath
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        places.extend(
            self.embedded
                .iter()
                .map(|l| format!("{} (embedded)", l.dir)),
        );
        places.join(", ")
    }

    /// Loads the class `name` from the class path, or else from the embedded
    /// libraries, and defines it. Answers None if neither has it.
    pub fn load_class_file(&mut self, name: SymbolId) -> Result<Option<Value>, LoadError> {
        let text = self.symbols.text(name).to_string();
        if let Some(path) = self.find_class_file(&text) {
            return self.load_class_from_path(&path, Some(&text)).map(Some);
        }
        let Some((path, source)) = self.find_embedded_class(&text) else {
            return Ok(None);
        };
        self.load_class_from_source(&path, source, Some(&text))
            .map(Some)
    }

    /// Loads and defines the class in `path`; checks that it is named
    /// `expected` when given.
    pub fn load_class_from_path(
        &mut self,
        path: &Path,
        expected: Option<&str>,
    ) -> Result<Value, LoadError> {
        let source = std::fs::read_to_string(path).map_err(|e| LoadError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        self.load_class_from_source(path, &source, expected)
    }

    /// Compiles and defines the class whose `source` is reported as coming
    /// from `path`; checks that it is named `expected` when given.
    pub fn load_class_from_source(
        &mut self,
        path: &Path,
        source: &str,
        expected: Option<&str>,
    ) -> Result<Value, LoadError> {
        let name_id = expected.map(|e| self.intern(e));
        if let Some(id) = name_id {
            if self.loading.contains(&id) {
                return Err(LoadError::Definition(format!(
                    "{}: class {} is its own superclass (cyclic superclass chain)",
                    path.display(),
                    expected.unwrap_or("?")
                )));
            }
            self.loading.push(id);
        }
        let fe = self.frontend.clone().expect("front end installed");
        let t0 = std::time::Instant::now();
        let result = fe.compile_class(self, path, source);
        self.compile_time += t0.elapsed();
        if name_id.is_some() {
            self.loading.pop();
        }
        let def = result.map_err(LoadError::Compile)?;
        if let Some(e) = expected {
            if def.name != e {
                return Err(LoadError::Compile(format!(
                    "{}:1:1: file defines class '{}' but is named '{}.som'",
                    path.display(),
                    def.name,
                    e
                )));
            }
        }
        self.define_class(def, &path.display().to_string())
    }

    /// Instance field names of `class`, inherited first.
    pub fn instance_field_names(&self, class: Value) -> Vec<String> {
        if !class.is_ptr() || class == self.nil {
            return Vec::new();
        }
        self.class_data(class)
            .instance_fields
            .borrow()
            .iter()
            .map(|s| self.symbols.text(*s).to_string())
            .collect()
    }

    /// Defines (or, for a bootstrapped core class, completes) a class.
    pub fn define_class(&mut self, def: ClassDef, file: &str) -> Result<Value, LoadError> {
        let name = self.intern(&def.name);
        let nil = self.nil;
        let superclass = def.superclass;
        let super_meta = if superclass == nil {
            self.classes.class
        } else {
            self.class_of(superclass)
        };
        let mut inst_fields: Vec<SymbolId> = if superclass == nil {
            Vec::new()
        } else {
            self.class_data(superclass).instance_fields.borrow().clone()
        };
        for f in &def.instance_fields {
            let id = self.intern(f);
            inst_fields.push(id);
        }
        let mut class_fields: Vec<SymbolId> =
            self.class_data(super_meta).instance_fields.borrow().clone();
        for f in &def.class_fields {
            let id = self.intern(f);
            class_fields.push(id);
        }
        let existing = self
            .global(name)
            .filter(|v| v.is_ptr() && object::kind_of(*v) == Kind::Class && self.is_core_class(*v));
        let fresh = existing.is_none();
        let class = match existing {
            Some(class) => {
                if !class_fields.is_empty() {
                    return Err(LoadError::Definition(format!(
                        "{file}: core class {} cannot declare class-side fields",
                        def.name
                    )));
                }
                class
            }
            None => {
                let meta_name = format!("{} class", def.name);
                let meta = self.raw_class(&meta_name, true);
                let meta_shape = self.instance_shape(self.classes.metaclass);
                object::header(meta).shape = meta_shape;
                let ms = self.shape_for(meta, Value::ZERO, Kind::Class, class_fields.len());
                self.class_data(meta).shape.set(ms);
                let data = Box::leak(Box::new(ClassData {
                    name,
                    superclass: Cell::new(superclass),
                    instance_fields: RefCell::new(Vec::new()),
                    methods: RefCell::new(IndexMap::new()),
                    is_metaclass: false,
                    shape: Cell::new(std::ptr::null()),
                    version: Cell::new(0),
                }));
                let class = self.allocate(Kind::Class, class_fields.len(), ms);
                // SAFETY: a Class body starts with its data pointer.
                unsafe { *object::body_ptr::<*mut ClassData>(class) = data };
                object::slots(class).fill(nil);
                self.make_permanent(class);
                class
            }
        };
        let meta = self.class_of(class);
        self.class_data(class).superclass.set(superclass);
        self.class_data(meta).superclass.set(super_meta);
        // Plain instances made from now on have these fields; a core
        // class's instances made before (nil, true...) keep the shape of
        // the layout they have.
        let old = object::shape_ref(self.class_data(class).shape.get());
        if old.is_none_or(|s| s.kind == Kind::Object) {
            let s = self.shape_for(class, Value::ZERO, Kind::Object, inst_fields.len());
            self.class_data(class).shape.set(s);
        }
        *self.class_data(class).instance_fields.borrow_mut() = inst_fields;
        *self.class_data(meta).instance_fields.borrow_mut() = class_fields;
        // A new class (and its metaclass) has no subclass and appears in no
        // chain and no compiled code yet: its methods change no lookup made
        // so far, so nothing is invalidated (compiled code depends on
        // selectors, not classes, and would be recompiled for nothing).
        self.defining_fresh = fresh;
        for m in def.instance_methods {
            self.install_method(class, m);
        }
        for m in def.class_methods {
            self.install_method(meta, m);
        }
        self.defining_fresh = false;
        if !fresh && self.bootstrapped {
            // Its instances may have another number of fields now: code
            // that allocates them inline (`new`) is compiled again.
            let new = self.intern("new");
            self.invalidate_lookups(class, new);
        }
        self.set_global(name, class);
        self.flush_lookup_cache();
        if def.name == "Domain" && !self.omop.domain_class.is_ptr() {
            self.note_domain_class(class);
        }
        Ok(class)
    }

    fn is_core_class(&self, v: Value) -> bool {
        let c = &self.classes;
        [
            c.object,
            c.class,
            c.metaclass,
            c.nil,
            c.array,
            c.method,
            c.primitive,
            c.string,
            c.symbol,
            c.integer,
            c.double,
            c.block,
            c.block1,
            c.block2,
            c.block3,
            c.boolean,
            c.true_,
            c.false_,
            c.system,
        ]
        .contains(&v)
    }

    /// Installs a method in `class`, replacing one with the same selector.
    pub fn install_method(&mut self, class: Value, def: MethodDef) -> &'static MethodData {
        let m: &'static MethodData = match def {
            MethodDef::Ast(m) => m,
            MethodDef::Primitive {
                signature,
                num_args,
                source,
                unenforced,
            } => {
                let class_name = self.class_name(class).to_string();
                let f = self
                    .primitives
                    .get(&(class_name, signature.clone()))
                    .copied()
                    .unwrap_or(missing_primitive as PrimFn);
                let sig = self.intern(&signature);
                // Primitives simple enough for a send to do in place.
                let trivial = match (self.class_name(class), signature.as_str()) {
                    ("Object", "==") => Some(crate::method::Trivial::Identity),
                    ("Object", "class") => Some(crate::method::Trivial::ClassOf),
                    ("String", "=") => Some(crate::method::Trivial::TextEquals),
                    ("Array class", "with:") => Some(crate::method::Trivial::ArrayWith),
                    _ => None,
                };
                MethodData {
                    signature: sig,
                    num_args,
                    kind: MethodKind::Primitive(f),
                    holder: Cell::new(Value::ZERO),
                    object: Cell::new(Value::ZERO),
                    source,
                    is_block: false,
                    trivial,
                    reflective: crate::nodes::Reflective::of(self.class_name(class), &signature),
                    unenforced,
                    transparent: self
                        .transparent
                        .contains(&(self.class_name(class).to_string(), signature.clone())),
                    enforced: Default::default(),
                }
                .leak()
            }
        };
        m.holder.set(class);
        // Sends compute core arithmetic, Array access and block evaluation in
        // place only while those classes keep the core library's methods.
        self.note_class_changed(class);
        let method_class = if m.is_primitive() {
            self.classes.primitive
        } else {
            self.classes.method
        };
        let shape = self.instance_shape(method_class);
        let obj = self.allocate(Kind::Method, 1, shape);
        // SAFETY: a Method body holds one MethodData pointer.
        unsafe { *object::body_ptr::<*const MethodData>(obj) = m };
        self.make_permanent(obj);
        m.object.set(obj);
        let data = self.class_data(class);
        let replaced = data.methods.borrow_mut().insert(m.signature, m);
        data.version.set(data.version.get() + 1);
        if let Some(old) = replaced {
            crate::tier::retire_method(self, old);
        }
        if self.bootstrapped && !self.defining_fresh {
            self.invalidate_lookups(class, m.signature);
        } else {
            self.flush_lookup_cache();
        }
        m
    }

    fn install_hidden_performs(&mut self) {
        for (sel, argc, f) in HIDDEN_PERFORMS {
            let signature = self.intern(sel);
            let m = MethodData {
                signature,
                num_args: argc,
                kind: MethodKind::Primitive(f),
                holder: Cell::new(self.classes.object),
                object: Cell::new(Value::ZERO),
                source: Default::default(),
                is_block: false,
                trivial: None,
                reflective: crate::nodes::Reflective::of("Object", sel),
                unenforced: false,
                transparent: true,
                enforced: Default::default(),
            }
            .leak();
            let shape = self.instance_shape(self.classes.primitive);
            let obj = self.allocate(Kind::Method, 1, shape);
            // SAFETY: a Method body holds one MethodData pointer.
            unsafe { *object::body_ptr::<*const MethodData>(obj) = m };
            self.make_permanent(obj);
            m.object.set(obj);
            self.hidden_methods.insert(signature, m);
        }
    }

    /// Removes `class>>selector`; answers the removed method, if any.
    pub fn remove_method(
        &mut self,
        class: Value,
        selector: SymbolId,
    ) -> Option<&'static MethodData> {
        let data = self.class_data(class);
        let removed = data.methods.borrow_mut().shift_remove(&selector)?;
        data.version.set(data.version.get() + 1);
        crate::tier::retire_method(self, removed);
        self.note_class_changed(class);
        self.invalidate_lookups(class, selector);
        Some(removed)
    }

    /// Clears the "core methods unchanged" flags a change to `class` voids.
    fn note_class_changed(&mut self, class: Value) {
        if !self.bootstrapped {
            return;
        }
        let c = self.classes;
        if class == c.integer {
            self.integer_intact = false;
        }
        if class == c.double {
            self.double_intact = false;
        }
        if class == c.array {
            self.array_intact = false;
        }
        if [c.block, c.block1, c.block2, c.block3].contains(&class) {
            self.block_intact = false;
        }
        if [c.boolean, c.true_, c.false_].contains(&class) {
            self.boolean_intact = false;
        }
    }

    /// Runs the program: sends `initialize:` with `args` (class name first) to
    /// `system`, as SOM's startup protocol prescribes.
    pub fn run_main(&mut self, args: &[String]) -> Outcome {
        let arr = self.new_array(args.len());
        let base = self.sp();
        let _ = self.push(arr);
        let mut r = Ok(arr);
        for (i, a) in args.iter().enumerate() {
            match self.new_string(a) {
                Ok(s) => object::slots(arr)[i] = s,
                Err(e) => r = Err(e),
            }
        }
        let sel = self.well_known.initialize;
        let r = r.and_then(|arr| self.send(self.system, sel, &[arr]));
        self.set_sp(base);
        self.finish(r.map(|_| ()))
    }

    /// Maps the result of running SOM code to an outcome.
    pub fn finish(&mut self, r: Result<(), Unwind>) -> Outcome {
        self.flush();
        match r {
            Ok(()) => Outcome::Exit(0),
            Err(Unwind::EXIT) => Outcome::Exit(self.exit_code),
            Err(Unwind::ERROR) => Outcome::Error(crate::interpreter::take_error()),
            Err(Unwind::RESTART) => Outcome::Error(SomError::new("restart outside of a method")),
            Err(Unwind::EXCEPTION) | Err(Unwind::RESUME) => Outcome::Error(SomError::new(
                "an exception handler's on:do: is no longer active",
            )),
            Err(Unwind::RETURN) | Err(Unwind::ESCAPED) => Outcome::Exit(0),
            Err(_) => Outcome::Error(SomError::new("non-local return without a home")),
        }
    }
}

/// A class library compiled into the binary, searched after the class path's
/// directories, so that an installed or moved `som` binary still has its core
/// and OMOP libraries.
pub struct EmbeddedLibrary {
    /// The library's directory in the metasom repository (e.g.
    /// `smalltalk-src/core`); its classes are reported as `<dir>/<Name>.som`.
    pub dir: &'static str,
    /// (class name, source text) pairs.
    pub classes: &'static [(&'static str, &'static str)],
}

impl EmbeddedLibrary {
    /// Whether the library defines class `name`.
    pub fn has_class(&self, name: &str) -> bool {
        self.classes.iter().any(|(n, _)| *n == name)
    }
}

/// Perform primitives the VM provides although SOM's `Object.som` does not
/// declare them; they are found by lookup but not listed by `Class>>methods`
/// (which must keep `Object`'s 33 methods).
/// The `performEnforced:` family is hidden the same way: it runs the method
/// at base level in enforced execution, without asking the owner domain.
const HIDDEN_PERFORMS: [(&str, usize, PrimFn); 9] = [
    ("perform:with:", 2, crate::primitives::perform_primitive),
    (
        "perform:with:with:",
        3,
        crate::primitives::perform_primitive,
    ),
    (
        "perform:with:with:with:",
        4,
        crate::primitives::perform_primitive,
    ),
    ("performEnforced:", 1, crate::primitives::perform_enforced),
    (
        "performEnforced:with:",
        2,
        crate::primitives::perform_enforced,
    ),
    (
        "performEnforced:with:with:",
        3,
        crate::primitives::perform_enforced,
    ),
    (
        "performEnforced:withArguments:",
        2,
        crate::primitives::perform_enforced_with_arguments,
    ),
    (
        "performEnforced:inSuperclass:",
        2,
        crate::primitives::perform_enforced_in_superclass,
    ),
    (
        "performEnforced:withArguments:inSuperclass:",
        3,
        crate::primitives::perform_enforced_with_arguments_in_superclass,
    ),
];

fn missing_primitive(vm: &mut Vm, args: Args) -> VmResult {
    let _ = args;
    let _ = vm;
    Err(Unwind::error_as(
        crate::error::ErrorClass::Error,
        "a method declared as primitive has no implementation in this VM",
    ))
}
