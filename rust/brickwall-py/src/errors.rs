//! Core errors become the exceptions of `brickwall.errors`, defined once in Python so that each
//! can derive from both `BrickwallError` and the matching builtin.

use brickwall_core::Error;
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;

/// Wrapper that lets `?` turn a core error into a Python exception (the orphan rule forbids
/// `impl From<Error> for PyErr` here).
pub struct CoreError(pub Error);

impl From<Error> for CoreError {
    fn from(e: Error) -> Self {
        CoreError(e)
    }
}

fn raise(class: &str, message: String) -> PyErr {
    Python::attach(|py| match py.import("brickwall.errors").and_then(|m| m.getattr(class)) {
        Ok(cls) => {
            PyErr::from_type(cls.cast_into().expect("brickwall.errors holds exception classes"), message)
        }
        Err(e) => e,
    })
}

impl From<CoreError> for PyErr {
    fn from(e: CoreError) -> Self {
        match e.0 {
            Error::Invalid { .. } => raise("ValidationError", e.0.to_string()),
            Error::TooLarge { .. } => raise("TooLargeError", e.0.to_string()),
            Error::Interrupted => PyKeyboardInterrupt::new_err("interrupted"),
        }
    }
}

/// Convert a core result.
pub fn core<T>(r: brickwall_core::Result<T>) -> PyResult<T> {
    r.map_err(|e| CoreError(e).into())
}

/// A panic inside a worker thread (a bug, never expected) surfaces as RuntimeError.
pub fn panicked() -> PyErr {
    PyRuntimeError::new_err("brickwall internal error: a kernel panicked; please report this input")
}
