//! SOM-st/SOM's own suites, run from an external checkout named by `SOM_HOME`
//! (SOM-st/SOM at commit a721b4ff). Without it (at build time) the tests are
//! ignored, with the reason, never counted as passed.
//!
//! - the unit TestSuite (`TestHarness.som`) with SOM's core library and with
//!   ours: 221 of 221 tests must pass;
//! - the unit TestSuite again under `--gc-stress`, with both libraries, and
//!   with the compiled tier forced on (`--jit=eager`), alone and under
//!   `--gc-stress`;
//! - the BasicInterpreterTests table (SOM-st/SOM
//!   `TestSuite/BasicInterpreterTests`), through the public API, again with
//!   both core libraries;
//! - every Are-We-Fast-Yet benchmark (`Examples/AreWeFastYet`) runs one
//!   iteration to a verified result, with the tier off, on (the default) and
//!   eager.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;

use som_compiler::SomFrontend;
use som_runtime::object::{self, Kind};
use som_runtime::{Value, Vm};

/// Why the tests of this file are ignored: `build.rs` sets `cfg(som_home)`
/// only when `SOM_HOME` is set at build time.
macro_rules! needs_som_home {
    ($item:item) => {
        #[test]
        #[cfg_attr(
            not(som_home),
            ignore = "SOM_HOME is not set: point it at a SOM-st/SOM checkout at a721b4ff (see README.md)"
        )]
        $item
    };
}

/// The checkout named by `SOM_HOME`; set at build time (see
/// [`needs_som_home`]), so it must be set when the tests run too.
fn som_home() -> PathBuf {
    let home = std::env::var_os("SOM_HOME")
        .map(PathBuf::from)
        .expect("SOM_HOME was set when the tests were built but is not set now");
    assert!(
        home.join("TestSuite/TestHarness.som").is_file(),
        "SOM_HOME={} is not a SOM-st/SOM checkout",
        home.display()
    );
    home
}

fn run_harness(classpath: &str, home: &Path, flags: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_som"))
        .args(flags)
        .arg("-cp")
        .arg(classpath)
        .arg(home.join("TestSuite/TestHarness.som"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "TestHarness failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Total number of tests:           221"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Number of successful tests:      221"),
        "{stdout}"
    );
}

needs_som_home! {
    fn test_suite_with_soms_core_library() {
        let home = som_home();
        run_harness(&home.join("Smalltalk").display().to_string(), &home, &[]);
    }
}

needs_som_home! {
    fn test_suite_with_our_core_library() {
        let home = som_home();
        run_harness(&our_test_classpath(&home), &home, &[]);
    }
}

needs_som_home! {
    fn test_suite_under_gc_stress() {
        let home = som_home();
        run_harness(&home.join("Smalltalk").display().to_string(), &home, &["--gc-stress"]);
        run_harness(&our_test_classpath(&home), &home, &["--gc-stress"]);
    }
}

needs_som_home! {
    fn test_suite_with_the_tier_forced_on() {
        let home = som_home();
        for flags in [&["--jit=eager"][..], &["--jit=eager", "--gc-stress"]] {
            run_harness(&home.join("Smalltalk").display().to_string(), &home, flags);
            run_harness(&our_test_classpath(&home), &home, flags);
        }
    }
}

fn our_test_classpath(home: &Path) -> String {
    format!(
        "{}:{}",
        common::root().join("smalltalk-src/core").display(),
        home.join("TestSuite").display()
    )
}

/// Every Are-We-Fast-Yet benchmark, one iteration at the size at which it
/// verifies its result (CD, Havlak, Mandelbrot and NBody verify only there).
const AWFY: &[(&str, &str, &[&str])] = &[
    ("DeltaBlue", "1000", &["DeltaBlue"]),
    ("Richards", "10", &["Richards"]),
    ("Json", "20", &["Json"]),
    ("CD", "250", &["CD"]),
    ("Havlak", "1500", &["Havlak"]),
    ("Bounce", "300", &[]),
    ("List", "300", &[]),
    ("Mandelbrot", "500", &[]),
    ("NBody", "250000", &["NBody"]),
    ("Permute", "300", &[]),
    ("Queens", "300", &[]),
    ("Sieve", "300", &[]),
    ("Storage", "300", &[]),
    ("Towers", "300", &[]),
];

needs_som_home! {
    fn every_awfy_benchmark_verifies() {
        let home = som_home();
        let dir = home.join("Examples/AreWeFastYet");
        let mut failures = Vec::new();
        for ((name, inner, dirs), mode) in AWFY
            .iter()
            .flat_map(|b| ["--jit=off", "--jit=on", "--jit=eager"].map(|m| (b, m)))
        {
            let mut cp = vec![dir.join("Core").display().to_string()];
            cp.extend(dirs.iter().map(|d| dir.join(d).display().to_string()));
            cp.push(common::root().join("smalltalk-src/core").display().to_string());
            let out = Command::new(env!("CARGO_BIN_EXE_som"))
                .arg(mode)
                .arg("-cp")
                .arg(cp.join(":"))
                .arg(dir.join("Harness.som"))
                .args([name, "1", inner])
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() || !stdout.contains(&format!("{name}: iterations=1")) {
                failures.push(format!(
                    "{name} ({mode}): {}\n{stdout}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

#[derive(Debug)]
enum Expect {
    Int(i64),
    Double(f64),
    Class(&'static str),
    Symbol(&'static str),
}

const BASIC: &[(&str, &str, Expect)] = &[
    ("MethodCall", "test", Expect::Int(42)),
    ("MethodCall", "test2", Expect::Int(42)),
    ("NonLocalReturn", "test1", Expect::Int(42)),
    ("NonLocalReturn", "test2", Expect::Int(43)),
    ("NonLocalReturn", "test3", Expect::Int(3)),
    ("NonLocalReturn", "test4", Expect::Int(42)),
    ("NonLocalReturn", "test5", Expect::Int(22)),
    ("Blocks", "testArg1", Expect::Int(42)),
    ("Blocks", "testArg2", Expect::Int(77)),
    ("Blocks", "testArgAndLocal", Expect::Int(8)),
    ("Blocks", "testArgAndContext", Expect::Int(8)),
    ("Blocks", "testEmptyZeroArg", Expect::Int(1)),
    ("Blocks", "testEmptyOneArg", Expect::Int(1)),
    ("Blocks", "testEmptyTwoArg", Expect::Int(1)),
    ("Return", "testReturnSelf", Expect::Class("Return")),
    (
        "Return",
        "testReturnSelfImplicitly",
        Expect::Class("Return"),
    ),
    ("Return", "testNoReturnReturnsSelf", Expect::Class("Return")),
    (
        "Return",
        "testBlockReturnsImplicitlyLastValue",
        Expect::Int(4),
    ),
    ("IfTrueIfFalse", "test", Expect::Int(42)),
    ("IfTrueIfFalse", "test2", Expect::Int(33)),
    ("IfTrueIfFalse", "test3", Expect::Int(4)),
    (
        "IfTrueIfFalse",
        "testIfTrueTrueResult",
        Expect::Class("Integer"),
    ),
    (
        "IfTrueIfFalse",
        "testIfTrueFalseResult",
        Expect::Class("Nil"),
    ),
    (
        "IfTrueIfFalse",
        "testIfFalseTrueResult",
        Expect::Class("Nil"),
    ),
    (
        "IfTrueIfFalse",
        "testIfFalseFalseResult",
        Expect::Class("Integer"),
    ),
    (
        "CompilerSimplification",
        "testReturnConstantSymbol",
        Expect::Symbol("constant"),
    ),
    (
        "CompilerSimplification",
        "testReturnConstantInt",
        Expect::Int(42),
    ),
    (
        "CompilerSimplification",
        "testReturnSelf",
        Expect::Class("CompilerSimplification"),
    ),
    (
        "CompilerSimplification",
        "testReturnSelfImplicitly",
        Expect::Class("CompilerSimplification"),
    ),
    (
        "CompilerSimplification",
        "testReturnArgumentN",
        Expect::Int(55),
    ),
    (
        "CompilerSimplification",
        "testReturnArgumentA",
        Expect::Int(44),
    ),
    (
        "CompilerSimplification",
        "testSetField",
        Expect::Symbol("foo"),
    ),
    ("CompilerSimplification", "testGetField", Expect::Int(40)),
    ("Hash", "testHash", Expect::Int(444)),
    ("Arrays", "testEmptyToInts", Expect::Int(3)),
    ("Arrays", "testPutAllInt", Expect::Int(5)),
    ("Arrays", "testPutAllNil", Expect::Class("Nil")),
    ("Arrays", "testPutAllBlock", Expect::Int(3)),
    ("Arrays", "testNewWithAll", Expect::Int(1)),
    ("BlockInlining", "testNoInlining", Expect::Int(1)),
    ("BlockInlining", "testOneLevelInlining", Expect::Int(1)),
    (
        "BlockInlining",
        "testOneLevelInliningWithLocalShadowTrue",
        Expect::Int(2),
    ),
    (
        "BlockInlining",
        "testOneLevelInliningWithLocalShadowFalse",
        Expect::Int(1),
    ),
    (
        "BlockInlining",
        "testShadowDoesntStoreWrongLocal",
        Expect::Int(33),
    ),
    (
        "BlockInlining",
        "testShadowDoesntReadUnrelated",
        Expect::Class("Nil"),
    ),
    ("BlockInlining", "testBlockNestedInIfTrue", Expect::Int(2)),
    ("BlockInlining", "testBlockNestedInIfFalse", Expect::Int(42)),
    ("BlockInlining", "testStackDisciplineTrue", Expect::Int(1)),
    ("BlockInlining", "testStackDisciplineFalse", Expect::Int(2)),
    (
        "BlockInlining",
        "testDeepNestedInlinedIfTrue",
        Expect::Int(3),
    ),
    (
        "BlockInlining",
        "testDeepNestedInlinedIfFalse",
        Expect::Int(42),
    ),
    (
        "BlockInlining",
        "testDeepNestedBlocksInInlinedIfTrue",
        Expect::Int(5),
    ),
    (
        "BlockInlining",
        "testDeepNestedBlocksInInlinedIfFalse",
        Expect::Int(43),
    ),
    ("BlockInlining", "testDeepDeepNestedTrue", Expect::Int(9)),
    ("BlockInlining", "testDeepDeepNestedFalse", Expect::Int(43)),
    ("BlockInlining", "testToDoNestDoNestIfTrue", Expect::Int(2)),
    (
        "NonLocalVars",
        "testWriteDifferentTypes",
        Expect::Double(3.75),
    ),
    ("ObjectCreation", "test", Expect::Int(1_000_000)),
    ("Regressions", "testSymbolEquality", Expect::Int(1)),
    ("Regressions", "testSymbolReferenceEquality", Expect::Int(1)),
    ("Regressions", "testUninitializedLocal", Expect::Int(1)),
    (
        "Regressions",
        "testUninitializedLocalInBlock",
        Expect::Int(1),
    ),
    ("BinaryOperation", "test", Expect::Int(11)),
    ("NumberOfTests", "numberOfTests", Expect::Int(65)),
];

fn check_basic(core: PathBuf, home: &Path) {
    let cp = vec![home.join("TestSuite/BasicInterpreterTests"), core];
    let mut vm = Vm::new(cp, Rc::new(SomFrontend));
    vm.bootstrap().unwrap();
    let mut failures = Vec::new();
    for (class_name, sel, expect) in BASIC {
        let class = common::class(&mut vm, class_name);
        let r = common::send(&mut vm, class, sel, &[]);
        let ok = match expect {
            Expect::Int(i) => r == Value::small(*i),
            Expect::Double(d) => {
                r.is_ptr() && object::kind_of(r) == Kind::Double && object::double_of(r) == *d
            }
            Expect::Class(c) => {
                vm.class_name(vm.class_of(r)) == *c || (vm.is_class(r) && vm.class_name(r) == *c)
            }
            Expect::Symbol(s) => {
                r.is_ptr() && object::kind_of(r) == Kind::Symbol && object::str_of(r) == *s
            }
        };
        if !ok {
            failures.push(format!(
                "{class_name}>>#{sel}: expected {expect:?}, got an instance of {}",
                vm.class_name_of(r)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

needs_som_home! {
    fn basic_interpreter_tests_with_soms_core_library() {
        let home = som_home();
        check_basic(home.join("Smalltalk"), &home);
    }
}

needs_som_home! {
    fn basic_interpreter_tests_with_our_core_library() {
        let home = som_home();
        check_basic(common::root().join("smalltalk-src/core"), &home);
    }
}

#[test]
fn basic_interpreter_table_matches_the_suites_own_count() {
    assert_eq!(
        BASIC.len() - 1,
        65 - 2,
        "65 tests, of which the two Self tests are compile errors"
    );
}

/// Runs `source` (class `name`) with SOM-st/SOM's own library; answers the
/// exit status, stdout and stderr.
fn run_with_soms_library(home: &Path, name: &str, source: &str) -> (i32, String, String) {
    let dir = common::scratch_dir("soms-library");
    let file = dir.join(format!("{name}.som"));
    std::fs::write(&file, source).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_som"))
        .arg("-cp")
        .arg(home.join("Smalltalk"))
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

needs_som_home! {
    /// SOM's library has no exception classes: a VM error stays fatal (the
    /// error line and backtrace on stderr, status 1) and an unknown message
    /// goes to SOM's own `doesNotUnderstand:arguments:` (its `error:` prints
    /// on stdout and exits 1), as before runtime errors became exceptions.
    fn runtime_errors_stay_fatal_with_soms_library() {
        let home = som_home();
        let (status, stdout, stderr) = run_with_soms_library(
            &home,
            "IndexError",
            "IndexError = ( run = ( 'x' println. #(1 2 3) at: 5 ) )\n",
        );
        assert_eq!(status, 1, "{stderr}");
        assert_eq!(stdout, "x\n");
        assert!(
            stderr.starts_with(
                "ERROR: Array>>#at:: index 5 out of bounds for Array of length 3\n\
                 SOM backtrace (innermost first):\n    IndexError>>#run ("
            ),
            "{stderr}"
        );
        assert!(stderr.contains("IndexError.som:1:46)\n"), "{stderr}");
        let (status, stdout, stderr) = run_with_soms_library(
            &home,
            "DnuError",
            "DnuError = ( run = ( 'x' println. 3 foo ) )\n",
        );
        assert_eq!(status, 1, "{stderr}");
        assert_eq!(stdout, "x\n\nERROR: Method foo not found in class Integer\n");
    }
}
