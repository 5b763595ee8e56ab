//! Identity hashes do not depend on addresses: a program that prints the
//! hashes of new objects, and the order of a Hashtable keyed by them, prints
//! the same in every run and with `--gc-stress` (which moves every allocation
//! to other addresses).

use std::path::PathBuf;
use std::process::Command;

fn run(extra: &[&str]) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_som"))
        .current_dir(&root)
        .args(extra)
        .args(["-cp", "smalltalk-src/core", "tests/hash/PrintHashes.som"])
        .output()
        .expect("run som");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn hashes_are_the_same_in_every_run_and_mode() {
    let first = run(&[]);
    assert_eq!(first.lines().count(), 43, "{first}");
    assert_eq!(run(&[]), first, "second plain run");
    assert_eq!(run(&["--gc-stress"]), first, "--gc-stress run");
}
