//! Property test of the whole loading pipeline (parse, lower, define): random
//! token soup inside a class either loads or is rejected with a
//! `file:line:col:` diagnostic; it never panics the VM.

mod common;

use proptest::prelude::*;

const FRAGMENTS: &[&str] = &[
    "x",
    "y",
    "self",
    "super",
    "nil",
    "true",
    "at:",
    "put:",
    "ifTrue:",
    "ifFalse:",
    "whileTrue:",
    "to:",
    "do:",
    "and:",
    "+",
    "-",
    "42",
    "3.5",
    "'s'",
    "#s",
    "#(1 2)",
    "[",
    "]",
    "[:a |",
    "(",
    ")",
    ":=",
    "^",
    ".",
    "|",
    "value",
    "foo",
    "Foo",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(80))]

    #[test]
    fn loading_random_methods_never_panics(picks in proptest::collection::vec(0..FRAGMENTS.len(), 0..40)) {
        let body: String = picks.iter().map(|i| FRAGMENTS[*i]).collect::<Vec<_>>().join(" ");
        let src = format!("Soup = ( | x | run = ( | y | {body} ) )");
        let mut vm = common::vm_with(&[("Soup", &src)], &[]);
        let id = vm.intern("Soup");
        match vm.try_load_class(id) {
            Ok(Some(_)) => {}
            Ok(None) => prop_assert!(false, "class file not found"),
            Err(som_runtime::Unwind::ERROR) => {
                let e = som_runtime::interpreter::take_error();
                prop_assert!(e.message.contains("Soup.som:1:"), "{}", e.message)
            }
            Err(_) => prop_assert!(false, "unexpected unwind"),
        }
    }
}
