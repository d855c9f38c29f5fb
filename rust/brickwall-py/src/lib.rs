//! The `brickwall._core` extension: converts Python inputs, releases the GIL, delegates to
//! `brickwall-core`, and maps its errors. No formulas live here.

mod collectives;
mod errors;
mod pipeline;
mod run;

use pyo3::prelude::*;

#[pymodule]
mod _core {
    #[pymodule_export]
    use crate::collectives::{collective_times, hierarchical_all_reduce_times};
    #[pymodule_export]
    use crate::pipeline::{pipeline_balance_layers, pipeline_bubble_fractions, pipeline_simulate};
}
