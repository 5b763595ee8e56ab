//! The SOM source front end: lexer, parser and lowering to the runtime AST.
//!
//! [`SomFrontend`] implements the runtime's [`Frontend`] trait. Every error it
//! reports is `file:line:col: message`, and no input, however malformed, makes
//! it panic (see the property tests in `compiler/tests`).

pub mod lexer;
pub mod lower;
pub mod parser;

use std::path::Path;
use std::rc::Rc;

use som_runtime::hooks::{ClassDef, Frontend, MethodDef};
use som_runtime::method::SourceLoc;
use som_runtime::{Unwind, Value, Vm};

use lexer::Pos;
use lower::ClassContext;
use parser::{ClassAst, MethodAst, MethodBody};

/// The front end used by the `som` binary.
#[derive(Default)]
pub struct SomFrontend;

fn diag(file: &str, pos: Pos, msg: impl Into<String>) -> String {
    format!("{file}:{}:{}: {}", pos.line, pos.col, msg.into())
}

fn check_fields(
    file: &str,
    inherited: &[String],
    own: &[(String, Pos)],
    side: &str,
) -> Result<(), String> {
    for (i, (f, pos)) in own.iter().enumerate() {
        if matches!(f.as_str(), "self" | "super" | "nil" | "true" | "false") {
            return Err(diag(
                file,
                *pos,
                format!("'{f}' is reserved and cannot name a field"),
            ));
        }
        if inherited.contains(f) || own[..i].iter().any(|(g, _)| g == f) {
            return Err(diag(
                file,
                *pos,
                format!("{side} field '{f}' is already declared"),
            ));
        }
    }
    Ok(())
}

fn method_def(vm: &mut Vm, ctx: &Rc<ClassContext>, m: &MethodAst) -> Result<MethodDef, String> {
    let t0 = std::time::Instant::now();
    let r = match &m.body {
        MethodBody::Primitive => Ok(MethodDef::Primitive {
            signature: m.selector.clone(),
            num_args: m.params.len(),
            unenforced: m.unenforced,
            source: SourceLoc {
                file: ctx.file.clone(),
                line: m.pos.line,
                col: m.pos.col,
                site: "",
            },
        }),
        MethodBody::Code(body) => lower::lower_method(vm, ctx.clone(), m, body)
            .map(MethodDef::Ast)
            .map_err(|d| d.render(&ctx.file)),
    };
    vm.compile_time += t0.elapsed();
    r
}

impl SomFrontend {
    fn superclass(&self, vm: &mut Vm, file: &str, ast: &ClassAst) -> Result<Value, String> {
        let (name, pos) = match &ast.superclass {
            Some((n, p)) => (n.as_str(), *p),
            None => ("Object", ast.pos),
        };
        if name == "nil" {
            return Ok(vm.nil);
        }
        if name == ast.name {
            return Err(diag(
                file,
                pos,
                format!("class {name} cannot be its own superclass"),
            ));
        }
        let id = vm.intern(name);
        match vm.try_load_class(id) {
            Ok(Some(c)) if vm.is_class(c) => Ok(c),
            Ok(Some(_)) => Err(diag(
                file,
                pos,
                format!("superclass '{name}' is not a class"),
            )),
            Ok(None) => Err(diag(
                file,
                pos,
                format!("superclass '{name}' not found on the class path"),
            )),
            Err(Unwind::ERROR) => Err(som_runtime::interpreter::take_error().message),
            Err(_) => Err(diag(
                file,
                pos,
                format!("loading superclass '{name}' failed"),
            )),
        }
    }
}

impl Frontend for SomFrontend {
    fn compile_class(&self, vm: &mut Vm, path: &Path, source: &str) -> Result<ClassDef, String> {
        let file = path.display().to_string();
        let ast = parser::parse_class_guarded(source, vm.native_stack_limit())
            .map_err(|d| d.render(&file))?;
        let superclass = self.superclass(vm, &file, &ast)?;
        let nil = vm.nil;
        let mut fields = vm.instance_field_names(superclass);
        check_fields(&file, &fields, &ast.instance_fields, "instance")?;
        fields.extend(ast.instance_fields.iter().map(|(f, _)| f.clone()));
        let meta_super = if superclass == nil {
            vm.classes.class
        } else {
            vm.class_of(superclass)
        };
        let mut class_fields = vm.instance_field_names(meta_super);
        check_fields(&file, &class_fields, &ast.class_fields, "class-side")?;
        class_fields.extend(ast.class_fields.iter().map(|(f, _)| f.clone()));
        let inst_ctx = Rc::new(ClassContext {
            class_name: ast.name.clone(),
            fields,
            super_lookup: superclass,
            file: file.clone(),
        });
        let class_ctx = Rc::new(ClassContext {
            class_name: format!("{} class", ast.name),
            fields: class_fields,
            super_lookup: meta_super,
            file: file.clone(),
        });
        let mut instance_methods = Vec::new();
        for m in &ast.instance_methods {
            instance_methods.push(method_def(vm, &inst_ctx, m)?);
        }
        let mut class_methods = Vec::new();
        for m in &ast.class_methods {
            class_methods.push(method_def(vm, &class_ctx, m)?);
        }
        Ok(ClassDef {
            name: ast.name,
            superclass,
            instance_fields: ast.instance_fields.into_iter().map(|(f, _)| f).collect(),
            instance_methods,
            class_fields: ast.class_fields.into_iter().map(|(f, _)| f).collect(),
            class_methods,
        })
    }

    fn compile_method(&self, vm: &mut Vm, class: Value, source: &str) -> Result<MethodDef, String> {
        let file = format!("<{} compile:>", vm.class_name(class));
        let m = parser::parse_method_guarded(source, vm.native_stack_limit())
            .map_err(|d| d.render(&file))?;
        let superclass = vm.class_data(class).superclass.get();
        let ctx = Rc::new(ClassContext {
            class_name: vm.class_name(class).to_string(),
            fields: vm.instance_field_names(class),
            super_lookup: superclass,
            file,
        });
        method_def(vm, &ctx, &m)
    }
}
