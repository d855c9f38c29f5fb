//! The one place that releases the GIL and honours Ctrl-C.
//!
//! [`detach`] runs a short kernel without the GIL. [`interruptible`] runs a long one on a worker
//! thread while the calling thread wakes every few milliseconds to check Python signals (only the
//! main thread sees Ctrl-C) and to report progress; on a signal it cancels the kernel through
//! its [`Control`] and re-raises.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use brickwall_core::{Control, Result};
use numpy::ndarray::{Dimension, IntoDimension};
use numpy::{Element, IntoPyArray, PyArray, PyArray1, PyArrayMethods};
use pyo3::prelude::*;

use crate::errors::{core, panicked};

const POLL: Duration = Duration::from_millis(20);

/// Load numpy's C API now, at import, with no signal pending. The `numpy` crate loads it on
/// first use by importing a numpy module, which runs Python code, and panics if that fails; a
/// Ctrl-C pending at that moment (e.g. one that arrived during the first long kernel) used to
/// surface as a `PanicException` instead of a `KeyboardInterrupt`.
pub fn load_numpy(py: Python<'_>) -> PyResult<()> {
    py.import("numpy")?;
    py.check_signals()?;
    Vec::<f64>::new().into_pyarray(py);
    Ok(())
}

/// `v` as a numpy array, after raising any signal that came in while it was computed (so a
/// Ctrl-C is a clean `KeyboardInterrupt`, never an error inside the conversion).
pub fn to_numpy<T: Element>(py: Python<'_>, v: Vec<T>) -> PyResult<Bound<'_, PyArray1<T>>> {
    py.check_signals()?;
    Ok(v.into_pyarray(py))
}

/// Run `f` with the GIL released.
pub fn detach<T: Send>(py: Python<'_>, f: impl FnOnce() -> Result<T> + Send) -> PyResult<T> {
    core(py.detach(f))
}

/// A zeroed numpy array of shape `dims` that `fill` writes in column-major order (a table's
/// columns each one contiguous array; see `brickwall_core::par::fill_columns`), with the
/// GIL released. numpy allocates it rather than Rust: it asks for transparent huge pages on
/// large arrays, so first touching a 100 MB result costs a few hundred page faults instead of
/// tens of thousands, which on a virtual machine is most of the time of a fast kernel.
pub fn detach_into<'py, D: Dimension>(
    py: Python<'py>,
    dims: impl IntoDimension<Dim = D>,
    fill: impl FnOnce(&mut [f64]) -> Result<()> + Send,
) -> PyResult<Bound<'py, PyArray<f64, D>>> {
    let table = PyArray::<f64, D>::zeros(py, dims, true);
    {
        let mut rw = table.readwrite();
        let out = rw.as_slice_mut().map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        detach(py, || fill(out))?;
    }
    Ok(table)
}

/// Run `f` on a worker thread, polling for Ctrl-C and calling `progress(done)` between polls.
pub fn interruptible<T: Send>(
    py: Python<'_>,
    progress: Option<&Bound<'_, PyAny>>,
    f: impl FnOnce(&Control) -> Result<T> + Send,
) -> PyResult<T> {
    let control = Control::new();
    let control = &control;
    // Set by the worker before it wakes the caller: `is_finished()` can still be false right
    // after the unpark (the thread has not exited yet), which cost a whole POLL per call.
    let returned = AtomicBool::new(false);
    let returned = &returned;
    std::thread::scope(|s| {
        let caller = std::thread::current();
        let worker = s.spawn(move || {
            let out = f(control);
            returned.store(true, Ordering::Release);
            caller.unpark();
            out
        });
        let join = |w: std::thread::ScopedJoinHandle<'_, Result<T>>| py.detach(|| w.join());
        loop {
            let finished = py.detach(|| {
                if !returned.load(Ordering::Acquire) {
                    std::thread::park_timeout(POLL);
                }
                returned.load(Ordering::Acquire) || worker.is_finished()
            });
            if finished {
                break;
            }
            let polled = py.check_signals().and_then(|()| match progress {
                Some(cb) => cb.call1((control.done(),)).map(|_| ()),
                None => Ok(()),
            });
            if let Err(e) = polled {
                control.cancel();
                let _ = join(worker);
                return Err(e);
            }
        }
        let out = join(worker).map_err(|_| panicked())?;
        if let Some(cb) = progress {
            cb.call1((control.done(),))?;
        }
        core(out)
    })
}
