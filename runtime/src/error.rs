//! Errors of the runtime crate.
//!
//! Three levels are kept apart:
//! - VM bugs are `debug_assert!`/`unreachable!` and never reach users as errors;
//! - [`SomError`] is a failure of the SOM program (a primitive given a bad
//!   argument, a stack overflow, an unhandled `doesNotUnderstand:` in a class
//!   without a handler); it carries a SOM-level backtrace and ends the program
//!   with a non-zero exit status;
//! - [`LoadError`] is a failure to find, read or compile a class.

use thiserror::Error;

/// A SOM-level runtime error with its backtrace (innermost frame first).
#[derive(Debug, Clone)]
pub struct SomError {
    /// What went wrong, in SOM terms.
    pub message: String,
    /// One line per SOM activation the error unwound, innermost first.
    pub backtrace: Vec<String>,
}

impl SomError {
    /// A new error without backtrace.
    pub fn new(message: impl Into<String>) -> SomError {
        SomError {
            message: message.into(),
            backtrace: Vec::new(),
        }
    }

    /// Renders the message and backtrace as printed on stderr.
    pub fn render(&self) -> String {
        let mut s = format!("ERROR: {}\n", self.message);
        if !self.backtrace.is_empty() {
            s.push_str("SOM backtrace (innermost first):\n");
            for line in &self.backtrace {
                s.push_str("    ");
                s.push_str(line);
                s.push('\n');
            }
        }
        s
    }
}

/// Failure to load a class.
#[derive(Debug, Error)]
pub enum LoadError {
    /// No class file of that name on the class path.
    #[error("class '{0}' not found on the class path")]
    NotFound(String),
    /// The file exists but could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// Path of the file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The source has a syntax or semantic error (`file:line:col: message`).
    #[error("{0}")]
    Compile(String),
    /// The class cannot be defined (e.g. cyclic superclass chain).
    #[error("{0}")]
    Definition(String),
}
