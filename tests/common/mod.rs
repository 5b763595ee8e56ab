//! Helpers for Rust-level tests: a VM with our core library and a scratch
//! directory of test classes.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use som_compiler::SomFrontend;
use som_runtime::{Value, Vm};

/// A fresh directory under the system temp dir, removed with everything in
/// it when the value is dropped (also when the test panics).
pub struct Scratch(PathBuf);

impl Scratch {
    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A file (or directory) name inside the directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh scratch directory; `tag` names it for a human looking at the temp
/// dir while the test runs.
pub fn scratch_dir(tag: &str) -> Scratch {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "metasom-test-{}-{}-{}",
        tag,
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// A VM together with the scratch directory its class path starts with; the
/// directory lives as long as the VM, which loads classes lazily from it.
pub struct TestVm {
    vm: Vm,
    _classes: Scratch,
}

impl std::ops::Deref for TestVm {
    type Target = Vm;
    fn deref(&self) -> &Vm {
        &self.vm
    }
}

impl std::ops::DerefMut for TestVm {
    fn deref_mut(&mut self) -> &mut Vm {
        &mut self.vm
    }
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A bootstrapped VM whose class path is `classes` (written to a scratch
/// directory) followed by `extra` directories and our core library.
pub fn vm_with(classes: &[(&str, &str)], extra: &[PathBuf]) -> TestVm {
    let dir = scratch_dir("classes");
    for (name, src) in classes {
        std::fs::write(dir.join(format!("{name}.som")), src).unwrap();
    }
    let mut cp = vec![dir.path().to_path_buf()];
    cp.extend(extra.iter().cloned());
    cp.push(root().join("smalltalk-src/core"));
    cp.push(root().join("smalltalk-src/omop"));
    let mut vm = Vm::new(cp, Rc::new(SomFrontend));
    som_omop::install(&mut vm);
    vm.bootstrap().expect("bootstrap");
    TestVm { vm, _classes: dir }
}

/// Loads class `name`.
pub fn class(vm: &mut Vm, name: &str) -> Value {
    let id = vm.intern(name);
    vm.try_load_class(id)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("class {name} not found"))
}

/// Sends a unary or keyword message.
pub fn send(vm: &mut Vm, rcvr: Value, sel: &str, args: &[Value]) -> Value {
    let id = vm.intern(sel);
    match vm.send(rcvr, id, args) {
        Ok(v) => v,
        Err(som_runtime::Unwind::ERROR) => {
            let e = som_runtime::interpreter::take_error();
            panic!("SOM error: {}", e.render())
        }
        Err(_) => panic!("unexpected unwind"),
    }
}
