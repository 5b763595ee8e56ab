//! The `som` command line: usage, option errors, missing files and classes,
//! the embedded libraries, and exit statuses (SOM's startup conventions:
//! class `Main` of the main file is sent `run:` or `run`).

mod common;

use std::process::{Command, Output};

use common::scratch_dir;

fn som(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_som"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("run som")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

#[test]
fn help_prints_usage_and_succeeds() {
    let o = som(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stdout).contains("usage: som"));
}

#[test]
fn no_program_is_a_usage_error() {
    let o = som(&[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("no program given"));
}

#[test]
fn unknown_option_is_a_usage_error() {
    let o = som(&["--frobnicate", "x.som"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("unknown option '--frobnicate'"));
}

#[test]
fn classpath_option_needs_a_value() {
    let o = som(&["-cp"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("-cp needs a list of directories"));
}

#[test]
fn missing_program_file_is_reported() {
    let o = som(&["-cp", "smalltalk-src/core", "no/such/Program.som"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("cannot find 'no/such/Program.som'"));
}

#[test]
fn missing_core_library_is_reported() {
    let dir = scratch_dir("cli");
    // A class path with an Object.som that is not a core library at all.
    std::fs::write(dir.join("Object.som"), "Object = nil ( )").unwrap();
    std::fs::write(dir.join("Main.som"), "Main = ( run = ( ) )").unwrap();
    let o = som(&[
        "-cp",
        dir.path().to_str().unwrap(),
        dir.join("Main.som").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains("cannot load the core library"), "{err}");
    // ... and says where it looked.
    assert!(
        err.contains(&format!("looked in: {}", dir.path().display())),
        "{err}"
    );
}

#[test]
fn options_stop_at_the_program_and_arguments_reach_it() {
    let o = som(&[
        "-cp",
        "smalltalk-src/core",
        "smalltalk-src/examples/Echo.som",
        "--help",
        "-cp",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o.stdout);
    assert!(out.contains("1: --help") && out.contains("2: -cp"), "{out}");
}

#[test]
fn bundled_core_library_is_used_without_classpath() {
    let o = som(&["smalltalk-src/examples/Hello.som"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(text(&o.stdout), "Hello, World from SOM\n");
}

#[test]
fn main_class_without_run_method_is_a_som_error() {
    let dir = scratch_dir("cli-norun");
    std::fs::write(dir.join("NoRun.som"), "NoRun = ( )").unwrap();
    let o = som(&[
        "-cp",
        "smalltalk-src/core",
        dir.join("NoRun.som").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    // Like every runtime error: the error line and backtrace on stderr only.
    assert_eq!(text(&o.stdout), "");
    assert!(text(&o.stderr).starts_with(
        "ERROR: Method run not found in class NoRun\nSOM backtrace (innermost first):\n"
    ));
}

/// A copy of the binary far from the checkout, run from yet another
/// directory, still has its core and OMOP libraries: they are embedded.
#[test]
fn a_moved_binary_brings_its_libraries() {
    let bin_dir = scratch_dir("cli-installed");
    let prog_dir = scratch_dir("cli-prog");
    let som = bin_dir.join("som");
    std::fs::copy(env!("CARGO_BIN_EXE_som"), &som).unwrap();
    std::fs::write(
        prog_dir.join("Moved.som"),
        "Moved = ( run = ( | d | d := Domain new. ((Mirror domainOf: d) == nil) println. (3 + 4) println ) )",
    )
    .unwrap();
    // Another test's child, forked while the copy was open for writing,
    // can hold that descriptor for a moment: exec then fails with "text
    // file busy" until the child execs or exits, so that error is retried.
    let run = || {
        Command::new(&som)
            .current_dir(bin_dir.path())
            .arg(prog_dir.join("Moved.som"))
            .output()
    };
    let mut tries = 0;
    let o = loop {
        match run() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            r => break r.expect("run the copied som"),
        }
    };
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "false\n7\n");
}

#[test]
fn a_missing_classpath_entry_is_a_warning() {
    let o = som(&[
        "-cp",
        "no/such/dir:smalltalk-src/core",
        "smalltalk-src/examples/Hello.som",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(text(&o.stdout), "Hello, World from SOM\n");
    assert!(
        text(&o.stderr).contains("warning: class path entry 'no/such/dir' is not a directory"),
        "{}",
        text(&o.stderr)
    );
}

/// An allocation the system refuses (here: under a 1.5 GB address-space
/// limit, a 2 GB Array) ends the program with `som: out of memory` and status
/// 1, not an abort or a segfault.
#[test]
fn allocation_failure_is_a_clean_exit() {
    use std::os::unix::process::CommandExt;
    let dir = scratch_dir("cli");
    let file = dir.path().join("Hog.som");
    std::fs::write(
        &file,
        "Hog = ( run = ( | a | a := Array new: 268435456. a length println ) )",
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_som"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg(file.to_str().unwrap());
    // SAFETY: setrlimit is async-signal-safe; the closure touches nothing else.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 1500 << 20,
                rlim_max: 1500 << 20,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    let o = cmd.output().expect("run som");
    assert_eq!(o.status.code(), Some(1), "stderr: {}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("som: out of memory"),
        "{}",
        text(&o.stderr)
    );
}
