//! metasom compiler crate.
//!
//! - [`frontend`]: SOM source to the runtime's AST (lexer, parser, lowering),
//!   implementing `som_runtime::hooks::Frontend`.
//!
//! The Cranelift tier (`jit`) will live here too, behind a cargo feature, so the
//! interpreter and its tests build without Cranelift.

#![deny(missing_docs)]

pub mod frontend;

pub use frontend::SomFrontend;
