//! The `brickwall._core` extension: converts Python inputs, releases the GIL, delegates to
//! `brickwall-core`, and maps its errors. No formulas live here.

mod collectives;
mod convert;
mod errors;
mod pipeline;
mod roofline;
mod routing;
mod run;
mod serving;
mod serving_cluster;
mod speculative;
mod sweep;
mod training;

use pyo3::prelude::*;

#[pymodule]
mod _core {
    #[pymodule_export]
    use crate::collectives::{
        collectives_all_reduce_algorithms, collectives_all_reduce_choices, collectives_all_reduce_times,
        collectives_hierarchical_all_reduce_times, collectives_times,
    };
    #[pymodule_export]
    use crate::pipeline::{pipeline_balance_layers, pipeline_bubble_fractions, pipeline_simulate};
    #[pymodule_export]
    use crate::roofline::{
        roofline_columns, roofline_crossover_batch, roofline_links_available, roofline_model,
        roofline_quantile_plan, roofline_steps, roofline_steps_at_quantile, roofline_touched_experts,
        RooflineModel,
    };
    #[pymodule_export]
    use crate::routing::{
        routing_balanced_load, routing_chunk_trials, routing_default_trials, routing_expected_drops,
        routing_expected_touched, routing_histogram_quantile, routing_histograms,
        routing_inclusion_probabilities, routing_load_pmf, routing_max_load_cdf, routing_mean_from_cdf,
    };
    #[pymodule_export]
    use crate::serving::{
        serving_arrivals, serving_iteration_seconds, serving_kv_blocks, serving_kv_transfer_seconds,
        serving_lengths, serving_swap_seconds,
    };
    #[pymodule_export]
    use crate::serving_cluster::{serving_lengths_empirical, serving_search, serving_simulate_pool};
    #[pymodule_export]
    use crate::speculative::{
        speculative_acceptance, speculative_acceptance_from_logits, speculative_lenient,
        speculative_simulate, speculative_tree_expected_tokens,
    };
    #[pymodule_export]
    use crate::sweep::{sweep_columns, sweep_pareto_reduce, sweep_rows, sweep_run};
    #[pymodule_export]
    use crate::training::{
        training_checkpoint_intervals, training_columns, training_expected_wall, training_search,
        training_simulate_failures, training_step,
    };

    // Load numpy's C API at import, where a failure is a clean ImportError (see run.rs).
    #[pymodule_init]
    fn init(m: &pyo3::Bound<'_, pyo3::types::PyModule>) -> pyo3::PyResult<()> {
        crate::run::load_numpy(m.py())
    }
}
