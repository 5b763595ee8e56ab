//! Property tests: the front end never panics, whatever it is given, and
//! every rejection carries a position inside the input.

use proptest::prelude::*;
use som_compiler::frontend::{lexer, parser};

/// Fragments that make up plausible-looking (and often malformed) SOM.
const FRAGMENTS: &[&str] = &[
    "Foo",
    "=",
    "(",
    ")",
    "[",
    "]",
    "|",
    "||",
    ":",
    ":=",
    "^",
    ".",
    "#",
    "#(",
    "----",
    "x",
    "y",
    "self",
    "super",
    "nil",
    "at:",
    "put:",
    "ifTrue:",
    "whileTrue:",
    "primitive",
    "+",
    "-",
    "--",
    "->",
    "<=",
    "42",
    "-7",
    "3.14",
    "1.",
    "'str'",
    "'",
    "\"c\"",
    "\"",
    "#sym",
    "#at:put:",
    "#+",
    "#'s s'",
    "\\",
    "\n",
    " ",
    "value",
    "[:a | a]",
    "[:a :b |",
    "$",
];

fn within(src: &str, d: &lexer::Diagnostic) -> bool {
    let lines = src.split('\n').count() as u32;
    d.pos.line >= 1 && d.pos.line <= lines.max(1) && d.pos.col >= 1
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let src = String::from_utf8_lossy(&bytes).to_string();
        if let Err(d) = parser::parse_class(&src) {
            prop_assert!(within(&src, &d), "{:?} outside {:?}", d, src);
        }
        let _ = parser::parse_method(&src);
    }

    #[test]
    fn random_token_soup_never_panics(picks in proptest::collection::vec(0..FRAGMENTS.len(), 0..80)) {
        let src: String = picks.iter().map(|i| FRAGMENTS[*i]).collect::<Vec<_>>().join(" ");
        let wrapped = format!("Foo = ( run = ( {src} ) )");
        for s in [&src, &wrapped] {
            if let Err(d) = parser::parse_class(s) {
                prop_assert!(within(s, &d), "{:?} outside {:?}", d, s);
            }
        }
    }
}
