//! Errors of the runtime crate.
//!
//! Three levels are kept apart:
//! - VM bugs are `debug_assert!`/`unreachable!` and never reach users as errors;
//! - [`SomError`] is a failure of the SOM program (a primitive given a bad
//!   argument, a stack overflow, an unhandled `doesNotUnderstand:` in a class
//!   without a handler); it carries a SOM-level backtrace and ends the program
//!   with a non-zero exit status;
//! - [`LoadError`] is a failure to find, read or compile a class.
//!
//! A [`SomError`] may name the core-library exception class it stands for
//! ([`ErrorClass`]). When the core library defines that class and an
//! `on:do:` handler takes it, the error is signalled as that exception at the
//! innermost send it reaches, before any activation is unwound; otherwise it
//! ends the program exactly as an unclassed error does.

use thiserror::Error;

/// The core library's `Error` subclasses that runtime errors are signalled
/// as (see `smalltalk-src/core/README.md`). A library without the class
/// (SOM-st/SOM's `Smalltalk/`) keeps the error fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// An index outside the receiver's bounds (`at:`, `charAt:`...).
    IndexOutOfBounds,
    /// Integer division or modulo by zero.
    ZeroDivide,
    /// A primitive given an argument of the wrong class or out of its range.
    ArgumentError,
    /// Any other error of the program: a message to an object whose class
    /// has no `doesNotUnderstand:arguments:`, a primitive this VM lacks.
    Error,
}

impl ErrorClass {
    /// The name of the core-library class.
    pub fn class_name(self) -> &'static str {
        match self {
            ErrorClass::IndexOutOfBounds => "IndexOutOfBounds",
            ErrorClass::ZeroDivide => "ZeroDivide",
            ErrorClass::ArgumentError => "ArgumentError",
            ErrorClass::Error => "Error",
        }
    }
}

/// A SOM-level runtime error with its backtrace (innermost frame first).
#[derive(Debug, Clone)]
pub struct SomError {
    /// What went wrong, in SOM terms.
    pub message: String,
    /// One line per SOM activation the error unwound, innermost first, up
    /// to [`crate::vm::MAX_BACKTRACE_LINES`].
    pub backtrace: Vec<String>,
    /// Activations unwound beyond those.
    pub elided: usize,
    /// The exception class this error is signalled as when a handler wants
    /// it; cleared once that was decided.
    pub class: Option<ErrorClass>,
    /// Line and column of the send that failed in the activation the error
    /// is leaving; taken when that activation's backtrace line is written.
    pub pos: Option<(u32, u32)>,
}

impl SomError {
    /// A new error without backtrace.
    pub fn new(message: impl Into<String>) -> SomError {
        SomError {
            message: message.into(),
            backtrace: Vec::new(),
            elided: 0,
            class: None,
            pos: None,
        }
    }

    /// Renders the message and backtrace as printed on stderr: the one
    /// format of every runtime error.
    pub fn render(&self) -> String {
        let mut s = format!("ERROR: {}\n", self.message);
        if !self.backtrace.is_empty() {
            s.push_str(&render_backtrace(&self.backtrace, self.elided));
        }
        s
    }
}

/// The backtrace block shared by errors and `System>>printStackTrace`: a
/// header, one indented line per activation (innermost first), and a count
/// of the activations left out.
pub fn render_backtrace(lines: &[String], elided: usize) -> String {
    let mut s = String::from("SOM backtrace (innermost first):\n");
    for line in lines {
        s.push_str("    ");
        s.push_str(line);
        s.push('\n');
    }
    if elided > 0 {
        s.push_str(&format!("    ... {elided} more\n"));
    }
    s
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
