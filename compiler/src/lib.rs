//! metasom compiler crate.
//!
//! - [`frontend`]: SOM source to the runtime's AST (lexer, parser, lowering),
//!   implementing `som_runtime::hooks::Frontend`.
//!
//! - [`jit`]: the Cranelift tier, implementing `som_runtime::tier::Tier`.

#![deny(missing_docs)]

pub mod frontend;
pub mod jit;

pub use frontend::SomFrontend;
