//! Cancellation and progress for long kernels.
//!
//! A kernel checks [`Control::checkpoint`] between fixed-size chunks; the caller (the Python
//! binding's main thread) cancels on Ctrl-C and reads progress without locking.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Shared between a running kernel and whoever waits on it.
#[derive(Debug, Default)]
pub struct Control {
    cancelled: AtomicBool,
    done: AtomicU64,
}

impl Control {
    /// A fresh control: not cancelled, nothing done.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask the kernel to stop at its next checkpoint.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Record `units` more units of work done and fail if cancelled.
    pub fn checkpoint(&self, units: u64) -> Result<()> {
        self.done.fetch_add(units, Ordering::Relaxed);
        if self.is_cancelled() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }

    /// Units of work done so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }
}
