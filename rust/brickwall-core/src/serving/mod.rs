//! Serving under traffic: a discrete-event simulator of one replica batching requests
//! iteration by iteration, each iteration priced by the step model.
//!
//! A request arrives with `input` prompt tokens and asks for `output` tokens. The replica runs
//! iterations back to back; an iteration processes, for each scheduled request, a run of `c`
//! new tokens after the `p` it has already cached (a prefill chunk, or `c = 1` to decode). Its
//! time is [`IterationCost::seconds`] of the iteration's [`Mix`] - the step model, never a
//! formula of this module. When a request's cached tokens catch up with its tokens
//! (prompt + generated) it samples the next token; the first one is its time to first token.
//!
//! The scheduler is vLLM's (v1) iteration-level loop, with three policies ([`Policy`]): static
//! batching admits a new batch only when the last one has finished and reserves KV blocks for
//! every request's full length; continuous batching (Orca, vLLM) admits whole prompts into the
//! running batch every iteration; chunked prefill (Sarathi) splits prompts to fill a token
//! budget. The KV cache is paged: blocks of `block_size` tokens out of the memory the weights
//! and activations leave ([`kv_blocks`]). A running request that needs a block when none is
//! free preempts the most recently admitted one, which loses its cache and recomputes it later
//! (prompt + generated tokens) - no request is ever lost.
//!
//! Three concerns, one file each: `workload` (seeded arrivals and lengths), `sim` (the
//! scheduler and event loop) and the pricing here. Everything depends only on (inputs, seed).

mod cluster;
mod search;
mod sim;
mod workload;

pub use cluster::{simulate_disaggregated, simulate_pool, Pool, Router};
pub use search::{percentile, search, Candidate, SearchScheduler, Slo, Status, Verdict};
pub use sim::{
    simulate, Arrivals, Iterations, Policy, Preemption, Replica, Request, Requests, Scheduler, Served,
    Speculation, MAX_DRAFT,
};
pub use workload::{arrivals, lengths, lengths_empirical, ArrivalProcess, Lengths};

use crate::collectives::{time as collective_time, Collective, Link};
use crate::error::{non_negative, positive, Error, Result};
pub use crate::roofline::Mix;
use crate::roofline::{Chip, Latency, ModelCosts, Plan, StepModel};

/// Add a run of `c` new tokens of a sequence that holds `p` cached ones to `mix` (a new token
/// at 0-based position `i` attends `i + 1` positions: the run attends `c p + c (c + 1) / 2`).
#[inline(always)]
pub fn add_run(mix: &mut Mix, p: u64, c: u64) {
    let (p, c) = (p as f64, c as f64);
    mix.sequences += 1.0;
    mix.tokens += c;
    mix.attended += c * p + 0.5 * c * (c + 1.0);
    mix.kv_read += p + c;
}

/// An empty iteration, to add runs to.
pub const NO_WORK: Mix = Mix { sequences: 0.0, tokens: 0.0, attended: 0.0, kv_read: 0.0 };

/// What the simulator asks of a step model: the seconds of one iteration.
pub trait IterationCost {
    /// Seconds of an iteration processing `mix` (finite, > 0).
    fn seconds(&self, mix: &Mix) -> f64;
    /// [`seconds`](Self::seconds), given `memo`: one per replica, kept between its iterations,
    /// for what the cost can reuse while the mix's sequences and tokens stay the same.
    #[inline]
    fn seconds_memo(&self, mix: &Mix, _memo: &mut Memo) -> f64 {
        self.seconds(mix)
    }
    /// Seconds of one step of a speculative draft model over `mix` (one token per drafting
    /// sequence); 0 when drafts are free (no draft model: n-gram or prompt-lookup drafting).
    fn draft_seconds(&self, _mix: &Mix) -> f64 {
        0.0
    }
    /// Seconds to move the KV cache of `tokens` tokens between device and host memory, one way.
    fn swap_seconds(&self, tokens: u64) -> f64;
    /// Pipeline stages of a replica: that many iterations can be in flight at once (see
    /// `cluster`'s engines).
    fn pipeline_depth(&self) -> u64 {
        1
    }
}

/// What [`IterationCost::seconds_memo`] keeps: the step model's [`Latency`] of the last mix's
/// sequences and tokens.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memo {
    key: (f64, f64),
    latency: Option<Latency>,
}

/// The step model as an [`IterationCost`].
#[derive(Debug, Clone)]
pub struct StepCost {
    sm: StepModel,
    memory: f64,
    price_per_s: f64,
    /// The scale-out link per chip at its achievable bandwidth (zero bandwidth: none).
    scale_out: Link,
    /// KV-cache bytes per token per chip.
    kv_per_token: f64,
    /// Achievable fraction of link bandwidth.
    eff_network: f64,
    /// Device-host bandwidth per chip per direction, bytes/s (0: none, swapping is an error).
    host_bandwidth: f64,
    /// The speculative draft model on the same plan and chips, if any.
    draft: Option<StepModel>,
}

impl StepCost {
    /// Validate the model, plan and chip (as [`StepModel::new`]).
    pub fn new(m: ModelCosts, p: Plan, chip: Chip) -> Result<Self> {
        let sm = StepModel::new(m, p, chip)?;
        let scale_out = Link {
            latency_s: chip.scale_out.latency_s,
            bandwidth_bytes_s: chip.scale_out.bandwidth_bytes_s * chip.eff_network,
        };
        Ok(Self {
            price_per_s: chip.price_per_s * sm.chips(),
            kv_per_token: sm.evaluate(1.0, 0.0, 1.0).mem_kv,
            sm,
            memory: chip.memory,
            scale_out,
            eff_network: chip.eff_network,
            host_bandwidth: 0.0,
            draft: None,
        })
    }

    /// With a device-host link of `bandwidth` bytes/s per chip per direction (PCIe), the path
    /// of swap preemption: every chip moves its shard of a sequence's cache at once.
    pub fn with_host_bandwidth(mut self, bandwidth: f64) -> Result<Self> {
        self.host_bandwidth = positive("host_bandwidth", bandwidth)? * self.eff_network;
        Ok(self)
    }

    /// With a speculative draft model `draft` laid out on the same plan and chips: its steps
    /// are priced by its own step model.
    pub fn with_draft(mut self, draft: ModelCosts, p: Plan, chip: Chip) -> Result<Self> {
        self.draft = Some(StepModel::new(draft, p, chip)?);
        Ok(self)
    }

    /// Seconds to move the KV cache of `tokens` tokens from a replica to another of the same
    /// plan over the scale-out network: every chip sends its shard to its peer at once, a
    /// point-to-point transfer priced by the collectives kernel (disaggregated prefill/decode).
    pub fn kv_transfer_seconds(&self, tokens: &[u64]) -> Result<Vec<f64>> {
        if self.scale_out.bandwidth_bytes_s <= 0.0 {
            return Err(Error::invalid(
                "scale_out_bandwidth",
                0,
                "a scale-out network to carry the KV cache between prefill and decode replicas",
            ));
        }
        let per_token = self.kv_per_token;
        Ok(tokens
            .iter()
            .map(|&t| collective_time(Collective::PointToPoint, t as f64 * per_token, 2.0, self.scale_out))
            .collect())
    }

    /// USD per second of the whole replica (every chip; 0 when the price is unknown).
    pub fn price_per_s(&self) -> f64 {
        self.price_per_s
    }

    /// The step model.
    pub fn step_model(&self) -> &StepModel {
        &self.sm
    }

    /// Seconds of each iteration of equal-length arrays of mixes, validated.
    pub fn seconds_many(
        &self,
        sequences: &[f64],
        tokens: &[f64],
        attended: &[f64],
        kv_read: &[f64],
    ) -> Result<Vec<f64>> {
        let n = sequences.len();
        crate::error::same_len("tokens", tokens.len(), n)?;
        crate::error::same_len("attended", attended.len(), n)?;
        crate::error::same_len("kv_read", kv_read.len(), n)?;
        (0..n)
            .map(|i| {
                let mix = Mix {
                    sequences: sequences[i],
                    tokens: tokens[i],
                    attended: attended[i],
                    kv_read: kv_read[i],
                };
                check_mix(i, &mix)?;
                Ok(self.seconds(&mix))
            })
            .collect()
    }
}

fn check_mix(i: usize, m: &Mix) -> Result<()> {
    let ok = |x: f64, lo: f64| x.is_finite() && x >= lo;
    if !ok(m.sequences, 1.0) {
        return Err(Error::invalid(format!("sequences[{i}]"), m.sequences, "a finite number >= 1"));
    }
    if !ok(m.tokens, m.sequences) {
        return Err(Error::invalid(
            format!("tokens[{i}]"),
            m.tokens,
            format!(">= sequences = {}", m.sequences),
        ));
    }
    if !ok(m.attended, m.tokens) {
        return Err(Error::invalid(
            format!("attended[{i}]"),
            m.attended,
            format!(">= tokens = {}", m.tokens),
        ));
    }
    if !ok(m.kv_read, m.sequences) {
        return Err(Error::invalid(
            format!("kv_read[{i}]"),
            m.kv_read,
            format!(">= sequences = {}", m.sequences),
        ));
    }
    Ok(())
}

impl IterationCost for StepCost {
    /// The step model's mix run as one microbatch ([`StepModel::evaluate_microbatch`]): at
    /// `pp > 1` a replica's engines each send their own batch down the pipeline (`cluster`).
    #[inline]
    fn seconds(&self, mix: &Mix) -> f64 {
        self.sm.evaluate_microbatch(*mix).latency
    }

    /// The same seconds, the step's token-dependent part computed once per (sequences, tokens).
    #[inline(always)]
    fn seconds_memo(&self, mix: &Mix, memo: &mut Memo) -> f64 {
        let key = (mix.sequences, mix.tokens);
        let latency = match memo.latency {
            Some(l) if memo.key == key => l,
            _ => {
                let l = self.sm.microbatch_latency(mix.sequences, mix.tokens);
                *memo = Memo { key, latency: Some(l) };
                l
            }
        };
        latency.mixed(mix.attended, mix.kv_read)
    }

    /// The draft model's mix as one microbatch (0 without one).
    fn draft_seconds(&self, mix: &Mix) -> f64 {
        self.draft.as_ref().map_or(0.0, |d| d.evaluate_microbatch(*mix).latency)
    }

    /// The cache's bytes per chip over the host link (infinite without one: validated before).
    fn swap_seconds(&self, tokens: u64) -> f64 {
        tokens as f64 * self.kv_per_token / self.host_bandwidth
    }

    /// The plan's `pp` (an integer: the step model checked it).
    fn pipeline_depth(&self) -> u64 {
        self.sm.plan().pp as u64
    }
}

/// KV-cache blocks of `block_size` tokens that fit on every chip beside the weights and the
/// activations of an iteration of `max_tokens` new tokens: the step model's own memory
/// accounting (weights per chip, KV bytes per token per chip, activation bytes), not a second
/// one. A speculative draft model ([`StepCost::with_draft`]) adds its weights, and its cache to
/// every block (each sequence's tokens are cached by both); the two models run one after the
/// other, so the larger activations count. Errors when nothing is left for the cache.
pub fn kv_blocks(cost: &StepCost, block_size: u64, max_tokens: f64) -> Result<u64> {
    if block_size == 0 {
        return Err(Error::invalid("block_size", 0, "an integer >= 1"));
    }
    positive("max_batched_tokens", max_tokens)?;
    let (mut weights, mut act, mut per_token) = (0.0f64, 0.0f64, 0.0);
    for sm in std::iter::once(&cost.sm).chain(&cost.draft) {
        let one = sm.evaluate(1.0, 0.0, 1.0);
        weights += one.mem_weights;
        act = act.max(sm.evaluate(1.0, 0.0, max_tokens).mem_act);
        per_token += one.mem_kv;
    }
    let free = non_negative("memory", cost.memory)? - weights - act;
    if free <= 0.0 {
        let draft = if cost.draft.is_some() { " (the draft model's included)" } else { "" };
        return Err(Error::invalid(
            "memory",
            cost.memory,
            format!(
                "more than the weights ({weights:.4e} B) and activations ({act:.4e} B) per chip{draft}, to leave room for a KV cache"
            ),
        ));
    }
    let per_block = per_token * block_size as f64;
    // A model without a KV cache never runs out of blocks.
    Ok(if per_block > 0.0 { (free / per_block).floor().min(u32::MAX as f64) as u64 } else { u32::MAX as u64 })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn llama70b() -> ModelCosts {
        ModelCosts {
            layers: 80.0,
            moe_layers: 0.0,
            experts: 0.0,
            top_k: 0.0,
            dense_params: 70.6e9,
            expert_params_per_layer: 0.0,
            matmul_params_active: 68.5e9,
            attn_flops_per_context_token: 4.0 * 80.0 * 8192.0,
            kv_elements_per_token: 2.0 * 80.0 * 1024.0,
            kv_heads: 8.0,
            d_model: 8192.0,
            ffn_width: 28672.0,
        }
    }

    pub(crate) fn h100() -> Chip {
        Chip {
            memory: 80e9,
            memory_bandwidth: 3.35e12,
            peak_flops: 989e12,
            scale_up: Link { latency_s: 1e-6, bandwidth_bytes_s: 450e9 },
            scale_up_domain: 8.0,
            scale_out: Link { latency_s: 5e-6, bandwidth_bytes_s: 50e9 },
            price_per_s: 2.0 / 3600.0,
            eff_flops: 0.7,
            eff_memory: 0.8,
            eff_network: 0.8,
            profile: crate::step::Profile::DEFAULT,
        }
    }

    #[test]
    fn homogeneous_mixes_are_the_step_models_prefill_and_decode() {
        let cost = StepCost::new(llama70b(), crate::roofline::test_plan(8.0, 1.0, 1.0), h100()).unwrap();
        let mut prefill = NO_WORK;
        add_run(&mut prefill, 0, 2048);
        add_run(&mut prefill, 0, 2048);
        assert_eq!(prefill, Mix::uniform(2.0, 0.0, 2048.0));
        let want = cost.step_model().evaluate(2.0, 0.0, 2048.0).latency;
        assert!((cost.seconds(&prefill) - want).abs() <= 1e-12 * want);
        let mut decode = NO_WORK;
        for _ in 0..7 {
            add_run(&mut decode, 300, 1);
        }
        assert_eq!(decode, Mix::uniform(7.0, 300.0, 1.0));
        let want = cost.step_model().evaluate(7.0, 300.0, 1.0).latency;
        assert!((cost.seconds(&decode) - want).abs() <= 1e-12 * want);
    }

    proptest::proptest! {
        /// The memo changes no iteration's seconds, bit for bit, whatever the mixes before it.
        #[test]
        fn memoised_seconds_are_the_step_models(
            mixes in proptest::collection::vec((1u64..4, 0u64..3, 0u64..5000), 1..40),
            tp in proptest::sample::select(vec![1.0, 2.0, 8.0]),
            pp in proptest::sample::select(vec![1.0, 2.0, 4.0]),
        ) {
            let cost = StepCost::new(llama70b(), crate::roofline::test_plan(tp, pp, 1.0), h100()).unwrap();
            let mut memo = Memo::default();
            for (seqs, extra, ctx) in mixes {
                let mut mix = NO_WORK;
                for k in 0..seqs {
                    add_run(&mut mix, ctx + 7 * k, 1 + extra * k);
                }
                let (got, want) = (cost.seconds_memo(&mix, &mut memo), cost.seconds(&mix));
                proptest::prop_assert_eq!(got.to_bits(), want.to_bits());
            }
        }
    }

    #[test]
    fn kv_blocks_leave_room_for_weights_and_fail_without_it() {
        let cost = StepCost::new(llama70b(), crate::roofline::test_plan(8.0, 1.0, 1.0), h100()).unwrap();
        let blocks = kv_blocks(&cost, 16, 8192.0).unwrap();
        // 80 GB less ~17.6 GB of weights, 2 x 80 x 1024 x 2 B / 8 chips per token.
        let per_token = 2.0 * 80.0 * 1024.0 * 2.0 / 8.0;
        let approx = (80e9 - 70.6e9 * 2.0 / 8.0) / per_token / 16.0;
        assert!(blocks as f64 <= approx && blocks as f64 > 0.95 * approx, "{blocks} vs {approx}");
        let one_chip = StepCost::new(llama70b(), crate::roofline::test_plan(1.0, 1.0, 1.0), h100()).unwrap();
        assert!(
            matches!(kv_blocks(&one_chip, 16, 8192.0), Err(Error::Invalid { field, .. }) if field == "memory")
        );
        assert!(kv_blocks(&cost, 0, 8192.0).is_err());
        assert!(cost.seconds_many(&[1.0], &[0.5], &[1.0], &[1.0]).is_err());
        // 1000 tokens x 2 x 80 x 1024 x 2 B / 8 chips over 50 GB/s x 0.8, plus the latency.
        let t = cost.kv_transfer_seconds(&[1000]).unwrap()[0];
        assert!((t - (5e-6 + 1000.0 * 40960.0 / 40e9)).abs() < 1e-12, "{t}");
        // A draft model of 8B parameters and a quarter of the cache per token takes its weights
        // out of the free memory and its cache into every block.
        let draft = ModelCosts {
            layers: 32.0,
            dense_params: 8e9,
            matmul_params_active: 7e9,
            attn_flops_per_context_token: 4.0 * 32.0 * 4096.0,
            kv_elements_per_token: 2.0 * 32.0 * 1024.0,
            d_model: 4096.0,
            ffn_width: 14336.0,
            ..llama70b()
        };
        let plan = crate::roofline::test_plan(8.0, 1.0, 1.0);
        let with = cost.clone().with_draft(draft, plan, h100()).unwrap();
        let drafted = kv_blocks(&with, 16, 8192.0).unwrap();
        let approx = (80e9 - (70.6e9 + 8e9) * 2.0 / 8.0) / (per_token * 1.4) / 16.0;
        assert!(drafted as f64 <= approx && drafted as f64 > 0.95 * approx, "{drafted} vs {approx}");
    }
}
