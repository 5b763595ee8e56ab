//! metasom runtime: the object model, heap and collector, the self-optimizing
//! AST interpreter with its dispatch chains, the primitives, and the VM.
//!
//! The runtime defines the traits other crates implement ([`hooks`]): the
//! source front end (in `som-compiler`) and, later, the JIT tier and OMOP
//! intercession. It depends on neither.

#![deny(missing_docs)]

pub mod class;
pub mod dispatch;
pub mod error;
pub mod heap;
pub mod hooks;
pub mod interpreter;
pub mod method;
pub mod nodes;
pub mod object;
pub mod omop;
pub mod primitives;
pub mod symbols;
pub mod tier;
pub mod trace;
pub mod universe;
pub mod value;
pub mod verify;
pub mod vm;

pub use error::{ErrorClass, LoadError, SomError};
pub use interpreter::Unwind;
pub use universe::{EmbeddedLibrary, Outcome};
pub use value::Value;
pub use vm::{Vm, VmResult};
