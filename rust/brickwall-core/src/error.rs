//! The one error type of the core. Every variant names what was wrong so the Python layer can
//! raise a precise exception; nothing in the core panics on bad input.

use thiserror::Error;

/// Why a core call refused its input or stopped early.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// An input value is out of its domain.
    #[error("{field} = {value}: expected {expected}")]
    Invalid {
        /// The input's name as the user sees it (e.g. `bytes[3]`).
        field: String,
        /// The offending value, formatted.
        value: String,
        /// The accepted range, in words.
        expected: String,
    },
    /// A request whose size would exhaust memory or overflow a counter.
    #[error("{what} is too large: {detail}")]
    TooLarge {
        /// What is too large.
        what: String,
        /// Why, and what to do instead.
        detail: String,
    },
    /// The caller cancelled the work (Ctrl-C) before it finished.
    #[error("interrupted")]
    Interrupted,
}

/// Result alias used throughout the core.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(field: impl Into<String>, value: impl ToString, expected: impl Into<String>) -> Self {
        Error::Invalid { field: field.into(), value: value.to_string(), expected: expected.into() }
    }
}

/// Fails unless `x` is finite and `>= 0`.
pub fn non_negative(field: &str, x: f64) -> Result<f64> {
    if x.is_finite() && x >= 0.0 {
        Ok(x)
    } else {
        Err(Error::invalid(field, x, "a finite number >= 0"))
    }
}

/// Fails unless `x` is finite and `> 0`.
pub fn positive(field: &str, x: f64) -> Result<f64> {
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err(Error::invalid(field, x, "a finite number > 0"))
    }
}

/// Fails unless two arrays have the same length.
pub fn same_len(field: &str, got: usize, want: usize) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(Error::invalid(format!("len({field})"), got, format!("{want} (the length of the other inputs)")))
    }
}
