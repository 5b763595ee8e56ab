//! Build script of the `som` binary.
//!
//! - Embeds the SOM libraries shipped with metasom (`smalltalk-src/core` and
//!   `smalltalk-src/omop`) into the binary, so that an installed or moved `som`
//!   does not depend on the checkout it was built from. It writes
//!   `$OUT_DIR/libraries.rs`, one `include_str!` per class file, and asks
//!   cargo to rerun when a library directory changes.
//! - Sets `cfg(som_home)` when `SOM_HOME` is set at build time: the tests that
//!   run SOM-st/SOM's suites are `#[ignore]`d with a reason without it, so an
//!   unset `SOM_HOME` shows up as ignored tests, never as passed ones.

use std::fmt::Write as _;
use std::path::Path;

fn library(out: &mut String, konst: &str, dir: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let abs = root.join(dir);
    println!("cargo::rerun-if-changed={}", abs.display());
    let mut classes: Vec<(String, String)> = std::fs::read_dir(&abs)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", abs.display()))
        .filter_map(|e| {
            let path = e.ok()?.path();
            let name = path
                .file_name()?
                .to_str()?
                .strip_suffix(".som")?
                .to_string();
            Some((name, path.display().to_string()))
        })
        .collect();
    // Sorted, so the generated file (and the binary) is reproducible.
    classes.sort();
    writeln!(
        out,
        "/// `{dir}`, embedded.\npub static {konst}: som_runtime::EmbeddedLibrary = som_runtime::EmbeddedLibrary {{\n    dir: {dir:?},\n    classes: &["
    )
    .unwrap();
    for (name, path) in classes {
        writeln!(out, "        ({name:?}, include_str!({path:?})),").unwrap();
    }
    writeln!(out, "    ],\n}};").unwrap();
}

fn main() {
    let mut out = String::new();
    library(&mut out, "CORE", "smalltalk-src/core");
    library(&mut out, "OMOP", "smalltalk-src/omop");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("libraries.rs");
    std::fs::write(dest, out).unwrap();

    println!("cargo::rustc-check-cfg=cfg(som_home)");
    println!("cargo::rerun-if-env-changed=SOM_HOME");
    if std::env::var_os("SOM_HOME").is_some() {
        println!("cargo::rustc-cfg=som_home");
    }
}
