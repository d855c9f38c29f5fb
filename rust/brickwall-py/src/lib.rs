//! The `brickwall._core` extension: converts Python inputs, releases the GIL, delegates to
//! `brickwall-core`, and maps its errors. No formulas live here.

mod collectives;
mod convert;
mod errors;
mod pipeline;
mod roofline;
mod routing;
mod run;
mod speculative;
mod sweep;

use pyo3::prelude::*;

#[pymodule]
mod _core {
    #[pymodule_export]
    use crate::collectives::{collective_times, hierarchical_all_reduce_times};
    #[pymodule_export]
    use crate::pipeline::{pipeline_balance_layers, pipeline_bubble_fractions, pipeline_simulate};
    #[pymodule_export]
    use crate::roofline::{
        roofline_columns, roofline_crossover_batch, roofline_links_available, roofline_quantile_plan,
        roofline_steps, roofline_steps_at_quantile, roofline_touched_experts,
    };
    #[pymodule_export]
    use crate::routing::{
        route_histograms, routing_balanced_load, routing_chunk_trials, routing_default_trials,
        routing_expected_drops, routing_expected_touched, routing_histogram_quantile,
        routing_inclusion_probabilities, routing_load_pmf, routing_max_load_cdf, routing_mean_from_cdf,
    };
    #[pymodule_export]
    use crate::speculative::{acceptance, acceptance_from_logits, lenient, simulate, tree_expected_tokens};
    #[pymodule_export]
    use crate::sweep::{pareto_reduce, sweep_columns, sweep_rows, sweep_run};
}
