//! Step time of one decode or prefill step of a transformer on a partitioned cluster.
//!
//! The cluster runs `tp x pp x ep` chips: `pp` pipeline stages of `tp x ep` chips each. Dense
//! weights (attention, embeddings, dense and shared FFNs) are sharded over `tp` and replicated
//! over `ep`; routed experts are sharded over `tp x ep`; the batch is split over `ep` for
//! attention. A step processes `n` new tokens for each of `batch` sequences that already hold
//! `context` cached tokens (decode: `n = 1`; speculative verification: `gamma + 1`; prefill: the
//! prompt).
//!
//! With `pp > 1` the batch is cut into `m = min(batch, pp)` microbatches kept in flight, so each
//! stage reads its weights once per microbatch. One stage's time for one microbatch is the sum
//! over its operators of per-operator rooflines ([`crate::step`]) plus (or overlapped with) its
//! collectives; a token's latency sums the `pp` stages and the `pp - 1` point-to-point hops,
//! while throughput is `batch x n / latency` (the stages work on different microbatches at once).
//!
//! Routed experts read per MoE layer: the expected number of distinct experts the microbatch's
//! `T` tokens touch under uniform top-k routing, `E (1 - (1 - k/E)^T)`.

use crate::collectives::{all_reduce_time, cost as collective_cost, Algorithm, Collective, Link};
use crate::error::{non_negative, positive, Error, Result};
use crate::par::fill_columns;
pub use crate::step::Profile;
use crate::step::{
    gemm_compute_s, op_time, ELEMENTWISE_D_MODEL, ELEMENTWISE_FFN, KERNELS_COLLECTIVE, KERNELS_DENSE_LAYER,
    KERNELS_MOE_EXTRA,
};

/// Element counts of a model, independent of dtypes and partitioning (from `brickwall.Model`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelCosts {
    /// Transformer layers.
    pub layers: f64,
    /// Layers whose FFN is a routed MoE.
    pub moe_layers: f64,
    /// Routed experts per MoE layer (0 for dense models).
    pub experts: f64,
    /// Experts each token is routed to.
    pub top_k: f64,
    /// Parameters outside the routed experts (embeddings, attention, dense/shared FFN, norms, head).
    pub dense_params: f64,
    /// Parameters of one routed expert in one layer.
    pub expert_params_per_layer: f64,
    /// Parameters in matrix products per token (2 FLOP each).
    pub matmul_params_active: f64,
    /// FLOP per new token per attended token, all layers.
    pub attn_flops_per_context_token: f64,
    /// KV-cache elements per token, all layers.
    pub kv_elements_per_token: f64,
    /// Distinct KV heads (1 for MQA and MLA's shared latent).
    pub kv_heads: f64,
    /// Hidden size (elements of one token's activation).
    pub d_model: f64,
    /// Widest FFN intermediate size (activation working set).
    pub ffn_width: f64,
}

/// How the model is laid out and stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Tensor-parallel degree.
    pub tp: f64,
    /// Pipeline-parallel stages.
    pub pp: f64,
    /// Expert-parallel degree.
    pub ep: f64,
    /// Bytes per weight element.
    pub weight_bytes: f64,
    /// Bytes per KV-cache element.
    pub kv_bytes: f64,
    /// Bytes per activation element (what collectives carry).
    pub act_bytes: f64,
    /// Shard the KV cache over the batch across `tp` (Pope et al.) instead of over heads.
    pub kv_batch_sharded: bool,
    /// Overlap communication with compute and memory traffic.
    pub overlap: bool,
    /// Distinct experts a microbatch reads per MoE layer; NaN for the uniform-routing
    /// expectation `E (1 - (1 - k/E)^T)` (a Monte Carlo quantile otherwise).
    pub touched_experts: f64,
    /// Busiest expert-parallel device's routed load over the mean (>= 1): its expert FLOPs set
    /// the stage's compute time.
    pub expert_imbalance: f64,
    /// The tensor-parallel all-reduce's algorithm ([`Algorithm::Auto`]: the fastest per message
    /// inside the scale-up domain, the ring over a scale-out network).
    pub all_reduce: Algorithm,
}

/// One chip and its links, with achievable fractions already applied by the caller or not.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chip {
    /// Device memory, bytes.
    pub memory: f64,
    /// Peak memory bandwidth, bytes/s.
    pub memory_bandwidth: f64,
    /// Dense peak FLOP/s in the compute dtype.
    pub peak_flops: f64,
    /// Fast fabric per chip per direction.
    pub scale_up: Link,
    /// Chips sharing the fast fabric.
    pub scale_up_domain: f64,
    /// Network between fabrics per chip per direction (`bandwidth_bytes_s = 0` if none).
    pub scale_out: Link,
    /// USD per chip-second (0 when unknown).
    pub price_per_s: f64,
    /// Achievable fraction of peak FLOP/s.
    pub eff_flops: f64,
    /// Achievable fraction of memory bandwidth.
    pub eff_memory: f64,
    /// Achievable fraction of link bandwidth.
    pub eff_network: f64,
    /// Shape efficiency and per-kernel floors ([`Profile`]).
    pub profile: Profile,
}

/// Where a step's time goes. Times are seconds of one full step (all stages), memory bytes per chip.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Step {
    /// Seconds from the step's start to its `n` new tokens for a sequence (sums the stages).
    pub latency: f64,
    /// Weight-read time, all stages.
    pub t_weights: f64,
    /// KV-cache read time, all stages.
    pub t_kv: f64,
    /// Compute time, all stages.
    pub t_compute: f64,
    /// Communication time (collectives + pipeline hops), all stages.
    pub t_comm: f64,
    /// New tokens per second, all sequences.
    pub tokens_per_s: f64,
    /// Model FLOP/s over the cluster's peak.
    pub mfu: f64,
    /// Weight bytes per chip.
    pub mem_weights: f64,
    /// KV-cache bytes per chip.
    pub mem_kv: f64,
    /// Activation working-set bytes per chip (approximate).
    pub mem_act: f64,
    /// USD per new token (0 when the price is unknown).
    pub cost_per_token: f64,
    /// 0 weights, 1 KV cache, 2 compute, 3 communication: the largest term of a stage.
    pub bound: u8,
    /// Weights + KV + activations fit in device memory.
    pub fits: bool,
    /// Per-operator seconds, all stages, each the slower of its compute and memory time: dense
    /// GEMMs (attention projections, dense and shared FFN, router, LM head) ...
    pub t_dense_gemm: f64,
    /// ... routed-expert GEMMs ...
    pub t_expert_gemm: f64,
    /// ... attention (KV-cache read or attention FLOPs) ...
    pub t_attention: f64,
    /// ... elementwise operators (norms, residual adds, rotary, activation) ...
    pub t_elementwise: f64,
    /// ... and the per-kernel floor. With communication they add up to `latency` (without
    /// overlap).
    pub t_floor: f64,
}

/// Names of the entries of [`Step::to_row`] and the columns of [`StepModel::evaluate_table`].
pub const STEP_COLUMNS: [&str; 18] = [
    "latency",
    "t_weights",
    "t_kv",
    "t_compute",
    "t_comm",
    "tokens_per_s",
    "mfu",
    "mem_weights",
    "mem_kv",
    "mem_act",
    "cost_per_token",
    "bound",
    "fits",
    "t_dense_gemm",
    "t_expert_gemm",
    "t_attention",
    "t_elementwise",
    "t_floor",
];

impl Step {
    /// The step as one row of [`STEP_COLUMNS`].
    pub fn to_row(&self) -> [f64; 18] {
        [
            self.latency,
            self.t_weights,
            self.t_kv,
            self.t_compute,
            self.t_comm,
            self.tokens_per_s,
            self.mfu,
            self.mem_weights,
            self.mem_kv,
            self.mem_act,
            self.cost_per_token,
            f64::from(self.bound),
            f64::from(u8::from(self.fits)),
            self.t_dense_gemm,
            self.t_expert_gemm,
            self.t_attention,
            self.t_elementwise,
            self.t_floor,
        ]
    }
}

/// One iteration of a serving engine: prefill chunks and decode tokens of several sequences
/// processed together ([`StepModel::evaluate_mixed`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mix {
    /// Sequences in the iteration (each prefilling a chunk or decoding).
    pub sequences: f64,
    /// New tokens processed: the chunks' lengths plus one per decoding sequence.
    pub tokens: f64,
    /// `(new token, position)` pairs attention computes: a chunk of `c` tokens after `p` cached
    /// ones attends `c p + c (c + 1) / 2`.
    pub attended: f64,
    /// KV-cache entries read: each sequence's cached plus new tokens.
    pub kv_read: f64,
}

impl Mix {
    /// `batch` sequences of `n` new tokens after `context` cached ones: the step
    /// [`StepModel::evaluate`] prices.
    pub fn uniform(batch: f64, context: f64, n: f64) -> Self {
        Mix {
            sequences: batch,
            tokens: batch * n,
            attended: batch * (n * context + 0.5 * n * (n + 1.0)),
            kv_read: batch * (context + n),
        }
    }

    /// Validate: at least one sequence and one token per sequence; every new token attends at
    /// least itself and is cached, so `attended` and `kv_read` are at least `tokens`; all at
    /// most 2^63 ([`MAX_COUNT`]; `attended` its square).
    pub fn check(&self) -> Result<()> {
        let at_least = |field: &str, x: f64, low: f64, high: f64| {
            if x.is_finite() && x >= low && x <= high {
                Ok(())
            } else {
                Err(Error::invalid(field, x, format!("a number in [{low}, {high:e}]")))
            }
        };
        at_least("sequences", self.sequences, 1.0, MAX_COUNT)?;
        at_least("tokens", self.tokens, self.sequences, MAX_COUNT)?;
        at_least("attended", self.attended, self.tokens, MAX_COUNT * MAX_COUNT)?;
        at_least("kv_read", self.kv_read, self.tokens, MAX_COUNT)?;
        Ok(())
    }
}

/// The tensor-parallel all-reduce's algorithm: as asked inside the scale-up domain; over a
/// scale-out network `Auto` is the ring, and the peer-access algorithms are refused.
fn tp_all_reduce_algorithm(asked: Algorithm, in_domain: bool) -> Result<Algorithm> {
    match (asked, in_domain) {
        (_, true) | (Algorithm::Ring | Algorithm::Tree, false) => Ok(asked),
        (Algorithm::Auto, false) => Ok(Algorithm::Ring),
        (_, false) => Err(Error::invalid(
            "all_reduce",
            asked.name(),
            "ring, tree or auto when tp exceeds the scale-up domain (one-shot and two-shot need peer access)",
        )),
    }
}

/// The largest batch, context or token count a step takes (2^63, the Python API's integer cap):
/// beyond it products of counts could overflow to infinity.
pub const MAX_COUNT: f64 = 9.223_372_036_854_776e18;

fn check_workload(batch: &[f64], context: &[f64], n: &[f64]) -> Result<()> {
    crate::error::same_len("context", context.len(), batch.len())?;
    crate::error::same_len("n", n.len(), batch.len())?;
    let within = |x: f64, low: f64| x.is_finite() && x >= low && x <= MAX_COUNT;
    if let Some(i) = batch.iter().position(|b| !within(*b, 1.0)) {
        return Err(Error::invalid(format!("batch[{i}]"), batch[i], "a number in [1, 2^63]"));
    }
    if let Some(i) = context.iter().position(|c| !within(*c, 0.0)) {
        return Err(Error::invalid(format!("context[{i}]"), context[i], "a number in [0, 2^63]"));
    }
    if let Some(i) = n.iter().position(|x| !within(*x, 1.0)) {
        return Err(Error::invalid(format!("n[{i}]"), n[i], "a number in [1, 2^63]"));
    }
    Ok(())
}

/// A model on a plan on a chip, with everything that does not depend on (batch, context, n)
/// computed once: the hot loop of a sweep is [`StepModel::evaluate`].
#[derive(Debug, Clone)]
pub struct StepModel {
    m: ModelCosts,
    p: Plan,
    chips: f64,
    /// ln(1 - k/E): touched experts are E (1 - exp(T ln(1 - k/E))).
    ln_miss: f64,
    inv_mem_bw: f64,
    /// Seconds of compute per FLOP of a microbatch, per stage chip.
    sec_per_flop: f64,
    dense_bytes_chip: f64,
    expert_bytes_chip_per_touched: f64,
    weights_chip: f64,
    kv_bytes_chip_per_token: f64,
    /// The tensor-parallel group's link and the all-reduce algorithm it runs.
    tp_link: Link,
    tp_algorithm: Algorithm,
    /// All-reduces per stage (two per layer) and their bytes per microbatch token.
    tp_all_reduces: f64,
    tp_bytes_per_token: f64,
    /// Per-stage all-to-all time (dispatch + combine per MoE layer).
    ep_fixed: f64,
    ep_per_token: f64,
    /// Pipeline hop = fixed + per_token x microbatch tokens.
    hop_fixed: f64,
    hop_per_token: f64,
    act_per_token_chip: f64,
    /// Extra expert FLOPs per token the busiest device does beyond the mean.
    straggler_flops_per_token: f64,
    /// Dense (non-routed) matmul FLOPs per token.
    dense_flops_per_token: f64,
    /// Routed-expert matmul FLOPs per token (mean device).
    expert_flops_per_token: f64,
    profile: Profile,
    /// Elementwise-operator seconds per microbatch token of one stage.
    elem_s_per_token: f64,
    /// Kernel-overhead seconds of one stage.
    overhead_s: f64,
    inv_peak_cluster: f64,
    price_cluster_per_s: f64,
    memory: f64,
}

fn at_least_one(field: &str, x: f64) -> Result<f64> {
    if x.is_finite() && x >= 1.0 {
        Ok(x)
    } else {
        Err(Error::invalid(field, x, "a finite number >= 1"))
    }
}

fn fraction(field: &str, x: f64) -> Result<f64> {
    if x.is_finite() && x > 0.0 && x <= 1.0 {
        Ok(x)
    } else {
        Err(Error::invalid(field, x, "a fraction in (0, 1]"))
    }
}

/// The link a group of `span` consecutive chips talks over.
fn link_for(span: f64, chip: &Chip, field: &str) -> Result<Link> {
    let l = if span <= chip.scale_up_domain { chip.scale_up } else { chip.scale_out };
    if l.bandwidth_bytes_s > 0.0 || span <= 1.0 {
        Ok(Link {
            latency_s: l.latency_s,
            bandwidth_bytes_s: l.bandwidth_bytes_s.max(f64::MIN_POSITIVE) * chip.eff_network,
        })
    } else {
        Err(Error::invalid(
            field,
            span,
            format!(
                "<= the scale-up domain ({}) on hardware without a known scale-out bandwidth",
                chip.scale_up_domain
            ),
        ))
    }
}

impl StepModel {
    /// Validate and precompute.
    pub fn new(m: ModelCosts, p: Plan, chip: Chip) -> Result<Self> {
        let profile = chip.profile;
        for (f, x) in [("layers", m.layers), ("d_model", m.d_model), ("kv_heads", m.kv_heads)] {
            at_least_one(f, x)?;
        }
        for (f, x) in [
            ("moe_layers", m.moe_layers),
            ("experts", m.experts),
            ("top_k", m.top_k),
            ("dense_params", m.dense_params),
            ("expert_params_per_layer", m.expert_params_per_layer),
            ("matmul_params_active", m.matmul_params_active),
            ("attn_flops_per_context_token", m.attn_flops_per_context_token),
            ("kv_elements_per_token", m.kv_elements_per_token),
            ("ffn_width", m.ffn_width),
        ] {
            non_negative(f, x)?;
        }
        if m.top_k > m.experts {
            return Err(Error::invalid("top_k", m.top_k, format!("<= experts = {}", m.experts)));
        }
        for (f, x) in [("tp", p.tp), ("pp", p.pp), ("ep", p.ep)] {
            at_least_one(f, x)?;
        }
        for (f, x) in [("weight_bytes", p.weight_bytes), ("kv_bytes", p.kv_bytes), ("act_bytes", p.act_bytes)]
        {
            positive(f, x)?;
        }
        if !(p.touched_experts.is_nan() || (0.0..=m.experts).contains(&p.touched_experts)) {
            return Err(Error::invalid(
                "touched_experts",
                p.touched_experts,
                format!("NaN or in [0, {}]", m.experts),
            ));
        }
        if !(p.expert_imbalance.is_finite() && p.expert_imbalance >= 1.0) {
            return Err(Error::invalid("expert_imbalance", p.expert_imbalance, "a finite number >= 1"));
        }
        positive("memory", chip.memory)?;
        positive("memory_bandwidth", chip.memory_bandwidth)?;
        positive("peak_flops", chip.peak_flops)?;
        at_least_one("scale_up_domain", chip.scale_up_domain)?;
        non_negative("price_per_s", chip.price_per_s)?;
        let eff_f = fraction("efficiency.flops", chip.eff_flops)?;
        let eff_m = fraction("efficiency.memory", chip.eff_memory)?;
        fraction("efficiency.network", chip.eff_network)?;
        // Rates so small that a step's time overflows are not chips: at least one byte or FLOP
        // per second achieved, finite latencies.
        at_least_one("efficiency.flops x peak_flops", chip.eff_flops * chip.peak_flops)?;
        at_least_one("efficiency.memory x memory_bandwidth", eff_m * chip.memory_bandwidth)?;
        at_least_one(
            "efficiency.network x scale_up_bandwidth",
            chip.eff_network * chip.scale_up.bandwidth_bytes_s,
        )?;
        non_negative("scale_up_latency", chip.scale_up.latency_s)?;
        non_negative("scale_out_latency", chip.scale_out.latency_s)?;
        non_negative("scale_out_bandwidth", chip.scale_out.bandwidth_bytes_s)?;
        if chip.scale_out.bandwidth_bytes_s > 0.0 {
            at_least_one(
                "efficiency.network x scale_out_bandwidth",
                chip.eff_network * chip.scale_out.bandwidth_bytes_s,
            )?;
        }
        let chips = p.tp * p.pp * p.ep;
        let [tp_link, ep_link, pp_link] = plan_links(p.tp, p.pp, p.ep, &chip)?;
        let kv_shard = if p.kv_batch_sharded { p.tp } else { p.tp.min(m.kv_heads) };
        let dense_bytes_chip = m.dense_params * p.weight_bytes / (p.pp * p.tp);
        let expert_bytes_chip_per_touched =
            m.moe_layers * m.expert_params_per_layer * p.weight_bytes / (p.pp * p.tp * p.ep);
        let act = m.d_model * p.act_bytes;
        let tp_algorithm = tp_all_reduce_algorithm(p.all_reduce, p.tp <= chip.scale_up_domain)?;
        let (a2a_fixed, a2a_per_byte) = collective_cost(Collective::AllToAll, p.ep, ep_link);
        let (hop_fixed, hop_per_byte) =
            if p.pp > 1.0 { collective_cost(Collective::PointToPoint, 2.0, pp_link) } else { (0.0, 0.0) };
        let layers_stage = m.layers / p.pp;
        let moe_stage = m.moe_layers / p.pp;
        profile.check()?;
        let inv_mem_bw = 1.0 / (chip.memory_bandwidth * eff_m);
        let expert_flops_per_token = 2.0 * m.top_k * m.moe_layers * m.expert_params_per_layer;
        let dense_flops_per_token = 2.0 * m.matmul_params_active - expert_flops_per_token;
        if dense_flops_per_token < 0.0 {
            return Err(Error::invalid(
                "matmul_params_active",
                m.matmul_params_active,
                format!(">= the active routed-expert params ({})", expert_flops_per_token / 2.0),
            ));
        }
        let elem_bytes_per_token = if profile.elementwise {
            layers_stage
                * (ELEMENTWISE_D_MODEL * m.d_model + ELEMENTWISE_FFN * m.ffn_width / p.tp)
                * p.act_bytes
                / p.ep
        } else {
            0.0
        };
        Ok(Self {
            m,
            p,
            chips,
            ln_miss: ln_miss(m.experts, m.top_k),
            inv_mem_bw,
            sec_per_flop: 1.0 / ((p.pp * p.tp * p.ep) * (chip.peak_flops * eff_f)),
            dense_bytes_chip,
            expert_bytes_chip_per_touched,
            weights_chip: dense_bytes_chip + expert_bytes_chip_per_touched * m.experts,
            kv_bytes_chip_per_token: m.kv_elements_per_token * p.kv_bytes / (p.pp * kv_shard * p.ep),
            tp_link,
            tp_algorithm,
            tp_all_reduces: layers_stage * 2.0,
            tp_bytes_per_token: act / p.ep,
            ep_fixed: moe_stage * 2.0 * a2a_fixed,
            ep_per_token: moe_stage * 2.0 * a2a_per_byte * m.top_k * act / p.ep,
            hop_fixed,
            hop_per_token: hop_per_byte * act / (p.tp * p.ep),
            act_per_token_chip: (4.0 * m.d_model + 2.0 * m.ffn_width / p.tp) * p.act_bytes / p.ep,
            straggler_flops_per_token: (p.expert_imbalance - 1.0)
                * 2.0
                * m.top_k
                * m.moe_layers
                * m.expert_params_per_layer,
            dense_flops_per_token,
            expert_flops_per_token,
            profile,
            elem_s_per_token: elem_bytes_per_token * inv_mem_bw,
            overhead_s: (layers_stage * KERNELS_DENSE_LAYER
                + moe_stage * KERNELS_MOE_EXTRA
                + if p.tp > 1.0 { layers_stage * KERNELS_COLLECTIVE } else { 0.0 }
                + if p.ep > 1.0 { moe_stage * KERNELS_COLLECTIVE } else { 0.0 })
                * profile.kernel_overhead_s,
            inv_peak_cluster: 1.0 / (chips * chip.peak_flops),
            price_cluster_per_s: chips * chip.price_per_s,
            memory: chip.memory,
        })
    }

    /// Distinct experts `T` tokens touch in one MoE layer: the plan's fixed value, else the
    /// uniform top-k expectation `E (1 - (1 - k/E)^T)`.
    #[inline]
    pub fn touched_experts(&self, tokens: f64) -> f64 {
        if !self.p.touched_experts.is_nan() {
            self.p.touched_experts
        } else {
            touched_given_ln_miss(self.m.experts, self.ln_miss, tokens)
        }
    }

    /// One step for `batch` sequences with `context` cached tokens each, `n` new tokens each.
    /// Inputs are trusted here; [`StepModel::evaluate_many`] validates.
    #[inline]
    pub fn evaluate(&self, batch: f64, context: f64, n: f64) -> Step {
        self.prepare(batch, n).at(context)
    }

    /// Everything of a step that does not depend on `context`, for sweeps that hold `(batch, n)`
    /// fixed over many contexts. `prepare(b, n).at(c)` is [`evaluate`](Self::evaluate)`(b, c, n)`
    /// bit for bit: the split only moves whole subexpressions, never reassociates.
    #[inline]
    pub fn prepare(&self, batch: f64, n: f64) -> Prepared<'_> {
        let (micro, b, tokens) = self.microbatch(batch, n);
        self.prepare_tokens(micro, tokens, batch * n, batch, b, n)
    }

    /// An iteration mixing prefill chunks and decode tokens ([`Mix`]), priced by the same
    /// operators as [`evaluate`](Self::evaluate): its sequences are cut into `min(sequences, pp)`
    /// microbatches, each carrying an equal share of the tokens, attended pairs and cache reads.
    /// `evaluate(b, c, n)` is the mix of `b` sequences of `n` tokens after `c` cached ones (see
    /// [`Mix::uniform`]). Inputs are trusted here; [`Mix::check`] validates.
    #[inline]
    pub fn evaluate_mixed(&self, mix: Mix) -> Step {
        let pre = self.prepare_micro(mix.sequences, mix.tokens, mix.sequences.min(self.p.pp));
        let t = pre.terms_at(mix.attended / pre.micro, mix.kv_read / pre.micro);
        pre.assemble(&t, mix.kv_read * self.kv_bytes_chip_per_token)
    }

    /// A mix run as one microbatch through all `pp` stages: a serving engine's iteration when
    /// `pp` engines keep the pipeline full, each with its own batch (vLLM's virtual engines),
    /// instead of one batch cut into `pp` microbatches. The same as
    /// [`evaluate_mixed`](Self::evaluate_mixed) at `pp = 1`.
    #[inline]
    pub fn evaluate_microbatch(&self, mix: Mix) -> Step {
        let pre = self.prepare_micro(mix.sequences, mix.tokens, 1.0);
        let t = pre.terms_at(mix.attended, mix.kv_read);
        pre.assemble(&t, mix.kv_read * self.kv_bytes_chip_per_token)
    }

    /// [`Latency`] of the mixes of `sequences` sequences and `tokens` new tokens run as one
    /// microbatch: what a caller pricing many such mixes (the serving simulator) keeps; its
    /// [`Latency::mixed`] is [`evaluate_microbatch`](Self::evaluate_microbatch)'s latency bit for
    /// bit.
    #[inline]
    pub fn microbatch_latency(&self, sequences: f64, tokens: f64) -> Latency {
        self.prepare_micro(sequences, tokens, 1.0).latency_part()
    }

    /// [`Prepared`] of a mix: `micro` microbatches with an equal share of the tokens.
    #[inline(always)]
    fn prepare_micro(&self, sequences: f64, tokens: f64, micro: f64) -> Prepared<'_> {
        self.prepare_tokens(micro, tokens / micro, tokens, sequences, 0.0, 0.0)
    }

    /// [`Prepared`] for `batch` sequences in `micro` microbatches of `tokens` new tokens each
    /// (`total` in all); `b` sequences of `n` tokens per microbatch when the step is uniform
    /// (for [`Prepared::at`]; 0 for a mix).
    #[inline(always)]
    fn prepare_tokens(
        &self,
        micro: f64,
        tokens: f64,
        total: f64,
        batch: f64,
        b: f64,
        n: f64,
    ) -> Prepared<'_> {
        let (m, p) = (&self.m, &self.p);
        let touched = self.touched_experts(tokens);
        let t_dense_w = self.dense_bytes_chip * self.inv_mem_bw;
        let t_expert_w = self.expert_bytes_chip_per_touched * touched * self.inv_mem_bw;
        let m_half = self.profile.gemm_m_half;
        let t_dense_c =
            gemm_compute_s(tokens * self.dense_flops_per_token, tokens / p.ep, m_half, self.sec_per_flop);
        let expert_rows = if touched > 0.0 { tokens * m.top_k / touched } else { f64::INFINITY };
        let t_expert_c = gemm_compute_s(
            tokens * self.expert_flops_per_token + tokens * self.straggler_flops_per_token,
            expert_rows,
            m_half,
            self.sec_per_flop,
        );
        // GEMM operators by the resource that binds each (for the step's `bound`).
        let (mut gemm_c, mut gemm_w) = (0.0, 0.0);
        for (c, w) in [(t_dense_c, t_dense_w), (t_expert_c, t_expert_w)] {
            if c >= w {
                gemm_c += c;
            } else {
                gemm_w += w;
            }
        }
        let t_elem = tokens * self.elem_s_per_token;
        let (t_dense, t_expert) = (op_time(t_dense_c, t_dense_w), op_time(t_expert_c, t_expert_w));
        let mut t_comm = 0.0;
        if p.tp > 1.0 {
            let bytes = self.tp_bytes_per_token * tokens;
            t_comm += self.tp_all_reduces * all_reduce_time(bytes, p.tp, self.tp_link, self.tp_algorithm);
        }
        if p.ep > 1.0 && m.moe_layers > 0.0 {
            t_comm += self.ep_fixed + self.ep_per_token * tokens;
        }
        Prepared {
            sm: self,
            batch,
            total,
            n,
            micro,
            b,
            t_w: t_dense_w + t_expert_w,
            t_gemm_c: t_dense_c + t_expert_c,
            t_dense,
            t_expert,
            t_gemm: t_dense + t_expert,
            gemm_c,
            gemm_w,
            t_elem,
            t_fixed: t_elem + self.overhead_s,
            flops_tokens: tokens * 2.0 * m.matmul_params_active,
            n_self: 0.5 * n * (n + 1.0),
            t_comm,
            hop: self.hop_fixed + self.hop_per_token * tokens,
            mem_act: tokens * self.act_per_token_chip,
            cost_per_latency: self.price_cluster_per_s / total,
        }
    }

    /// `(microbatches, sequences per microbatch, tokens per microbatch)`.
    #[inline(always)]
    pub fn microbatch(&self, batch: f64, n: f64) -> (f64, f64, f64) {
        let micro = batch.min(self.p.pp);
        let b = batch / micro;
        (micro, b, b * n)
    }

    /// KV-cache bytes per chip ([`Step::mem_kv`]).
    #[inline(always)]
    fn mem_kv(&self, batch: f64, context: f64, n: f64) -> f64 {
        batch * (context + n) * self.kv_bytes_chip_per_token
    }

    #[inline(always)]
    fn fits_bytes(&self, mem_kv: f64, mem_act: f64) -> bool {
        self.weights_chip + mem_kv + mem_act <= self.memory
    }

    /// [`Step::fits`] of `evaluate(batch, context, n)` without the rest of the step. Memory only
    /// grows with the context, so a sweep skips every larger context of a batch whose smallest
    /// does not fit.
    #[inline]
    pub fn fits(&self, batch: f64, context: f64, n: f64) -> bool {
        let (_, _, tokens) = self.microbatch(batch, n);
        self.fits_bytes(self.mem_kv(batch, context, n), tokens * self.act_per_token_chip)
    }

    /// [`evaluate`](Self::evaluate) over equal-length arrays, validated; rows in input order.
    pub fn evaluate_many(&self, batch: &[f64], context: &[f64], n: &[f64]) -> Result<Vec<Step>> {
        check_workload(batch, context, n)?;
        Ok(batch.iter().zip(context).zip(n).map(|((&b, &c), &k)| self.evaluate(b, c, k)).collect())
    }

    /// [`evaluate`](Self::evaluate) over equal-length arrays into `out`, a column-major table of
    /// [`STEP_COLUMNS`] (`bound` and `fits` as 0/1 floats; see [`crate::par::fill_columns`]).
    pub fn evaluate_table(&self, batch: &[f64], context: &[f64], n: &[f64], out: &mut [f64]) -> Result<()> {
        check_workload(batch, context, n)?;
        crate::error::same_len("out", out.len(), batch.len() * STEP_COLUMNS.len())?;
        fill_columns(out, batch.len(), |j| self.evaluate(batch[j], context[j], n[j]).to_row());
        Ok(())
    }

    /// Chips in the deployment.
    pub fn chips(&self) -> f64 {
        self.chips
    }

    /// The plan it prices.
    pub fn plan(&self) -> &Plan {
        &self.p
    }
}

/// A [`StepModel`] at a fixed `(batch, n)`: see [`StepModel::prepare`].
#[derive(Debug, Clone, Copy)]
pub struct Prepared<'a> {
    sm: &'a StepModel,
    batch: f64,
    /// New tokens of the step, all microbatches.
    total: f64,
    n: f64,
    micro: f64,
    b: f64,
    t_w: f64,
    /// Compute seconds of the GEMM operators (shape efficiency included).
    t_gemm_c: f64,
    /// Dense and routed-expert GEMM operator times, and their sum.
    t_dense: f64,
    t_expert: f64,
    t_gemm: f64,
    /// GEMM operator time bound by compute / by the weight read.
    gemm_c: f64,
    gemm_w: f64,
    /// Elementwise operators, and those plus kernel overheads, of one stage.
    t_elem: f64,
    t_fixed: f64,
    flops_tokens: f64,
    n_self: f64,
    t_comm: f64,
    hop: f64,
    mem_act: f64,
    /// USD per new token per second of step: the cluster's price over `batch x n`.
    cost_per_latency: f64,
}

/// A step's latency as a function of its attention work, the sequences and new tokens fixed:
/// the part of a [`Prepared`] step that [`Terms::latency`] reads, owned, so that a caller can
/// keep it between steps ([`StepModel::microbatch_latency`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    micro: f64,
    kv_bytes_chip_per_token: f64,
    inv_mem_bw: f64,
    attn_flops_per_context_token: f64,
    sec_per_flop: f64,
    pp: f64,
    overlap: bool,
    t_gemm: f64,
    t_fixed: f64,
    t_comm: f64,
    hop: f64,
}

/// Attention's share of one stage of a step, and the step's latency.
struct Attention {
    t_kv: f64,
    flops: f64,
    t_c: f64,
    t_ops: f64,
    latency: f64,
}

impl Latency {
    /// One stage's attention for a microbatch attending `attended` (token, position) pairs and
    /// reading `kv_tokens` cached tokens' entries; the step's latency with it.
    #[inline(always)]
    fn attention(&self, attended: f64, kv_tokens: f64) -> Attention {
        let pp = self.pp;
        let t_kv = kv_tokens * self.kv_bytes_chip_per_token * self.inv_mem_bw;
        let flops = attended * self.attn_flops_per_context_token;
        let t_c = flops * self.sec_per_flop;
        let t_ops = self.t_gemm + op_time(t_c, t_kv) + self.t_fixed;
        let stage = if self.overlap { t_ops.max(self.t_comm) } else { t_ops + self.t_comm };
        let latency = pp * stage + (pp - 1.0) * self.hop;
        Attention { t_kv, flops, t_c, t_ops, latency }
    }

    /// Seconds of the mix that attends `attended` pairs and reads `kv_read` cached tokens'
    /// entries in all ([`Mix`]), for a latency from [`StepModel::microbatch_latency`].
    #[inline(always)]
    pub fn mixed(&self, attended: f64, kv_read: f64) -> f64 {
        // One microbatch (pp = 1, or a lone sequence): x / 1 is x, without the divisions.
        if self.micro == 1.0 {
            return self.attention(attended, kv_read).latency;
        }
        self.attention(attended / self.micro, kv_read / self.micro).latency
    }
}

/// The context-dependent terms of one stage of a [`Prepared`] step, before the [`Step`] is
/// assembled: what a sweep needs to judge a row without paying for every column.
#[derive(Debug, Clone, Copy)]
pub struct Terms {
    /// KV-cache read time of one stage.
    pub t_kv: f64,
    /// FLOPs of one microbatch on one stage's share of the model.
    pub flops_micro: f64,
    /// Compute time of one stage.
    pub t_c: f64,
    /// Memory time of one stage (weights + KV cache).
    pub t_mem: f64,
    /// Attention's compute seconds of one stage.
    pub t_attn_c: f64,
    /// Sum of the stage's operator times (everything but communication).
    pub t_ops: f64,
    /// [`Step::latency`].
    pub latency: f64,
}

impl Prepared<'_> {
    /// New tokens per sequence.
    #[inline(always)]
    pub fn n(&self) -> f64 {
        self.n
    }

    /// The step's terms with `context` cached tokens per sequence.
    #[inline(always)]
    pub fn terms(&self, context: f64) -> Terms {
        let (n, b) = (self.n, self.b);
        self.terms_at(b * (n * context + self.n_self), b * (context + n))
    }

    /// The step's terms for a microbatch whose new tokens attend `attended` (token, position)
    /// pairs in all and which reads `kv_tokens` cached tokens' KV entries.
    #[inline(always)]
    pub fn terms_at(&self, attended: f64, kv_tokens: f64) -> Terms {
        let a = self.latency_part().attention(attended, kv_tokens);
        Terms {
            t_kv: a.t_kv,
            flops_micro: self.flops_tokens + a.flops,
            t_c: self.t_gemm_c + a.t_c,
            t_mem: self.t_w + a.t_kv,
            t_attn_c: a.t_c,
            t_ops: a.t_ops,
            latency: a.latency,
        }
    }

    /// What the latency needs of this step, owned.
    #[inline(always)]
    fn latency_part(&self) -> Latency {
        let sm = self.sm;
        Latency {
            micro: self.micro,
            kv_bytes_chip_per_token: sm.kv_bytes_chip_per_token,
            inv_mem_bw: sm.inv_mem_bw,
            attn_flops_per_context_token: sm.m.attn_flops_per_context_token,
            sec_per_flop: sm.sec_per_flop,
            pp: sm.p.pp,
            overlap: sm.p.overlap,
            t_gemm: self.t_gemm,
            t_fixed: self.t_fixed,
            t_comm: self.t_comm,
            hop: self.hop,
        }
    }

    /// [`Step::cost_per_token`] of a step of `latency` seconds: a product, so a sweep judging
    /// cost pays no division.
    #[inline(always)]
    pub fn cost_per_token(&self, latency: f64) -> f64 {
        self.cost_per_latency * latency
    }

    /// [`Step::tokens_per_s`].
    #[inline(always)]
    pub fn tokens_per_s(&self, latency: f64) -> f64 {
        self.total / latency
    }

    /// [`Step::mfu`].
    #[inline(always)]
    pub fn mfu(&self, t: &Terms) -> f64 {
        self.micro * t.flops_micro / t.latency * self.sm.inv_peak_cluster
    }

    /// The step with `context` cached tokens per sequence.
    #[inline(always)]
    pub fn at(&self, context: f64) -> Step {
        self.assemble(&self.terms(context), self.mem_kv(context))
    }

    /// The step of terms `t` holding `mem_kv` bytes of KV cache per chip.
    #[inline(always)]
    fn assemble(&self, t: &Terms, mem_kv: f64) -> Step {
        let (pp, t_comm) = (self.sm.p.pp, self.t_comm);
        // The resource whose operators take the most time (attention counts as KV-bound when
        // its cache read outweighs its compute).
        let (mut on_c, on_w, mut on_kv) = (self.gemm_c, self.gemm_w, 0.0);
        if t.t_attn_c >= t.t_kv {
            on_c += t.t_attn_c;
        } else {
            on_kv += t.t_kv;
        }
        let bound = if t_comm > t.t_ops {
            3
        } else if on_c >= on_w.max(on_kv) {
            2
        } else if on_kv > on_w {
            1
        } else {
            0
        };
        Step {
            latency: t.latency,
            t_weights: pp * self.t_w,
            t_kv: pp * t.t_kv,
            t_compute: pp * t.t_c,
            t_comm: pp * t_comm + (pp - 1.0) * self.hop,
            tokens_per_s: self.tokens_per_s(t.latency),
            mfu: self.mfu(t),
            mem_weights: self.sm.weights_chip,
            mem_kv,
            mem_act: self.mem_act,
            cost_per_token: self.cost_per_token(t.latency),
            bound,
            fits: self.fits_with(mem_kv),
            t_dense_gemm: pp * self.t_dense,
            t_expert_gemm: pp * self.t_expert,
            t_attention: pp * op_time(t.t_attn_c, t.t_kv),
            t_elementwise: pp * self.t_elem,
            t_floor: pp * self.sm.overhead_s,
        }
    }

    /// KV-cache bytes per chip with `context` cached tokens per sequence.
    #[inline(always)]
    pub fn mem_kv(&self, context: f64) -> f64 {
        self.sm.mem_kv(self.batch, context, self.n)
    }

    /// Whether the step fits with `mem_kv` bytes of KV cache per chip ([`Step::fits`]).
    #[inline(always)]
    pub fn fits_with(&self, mem_kv: f64) -> bool {
        self.sm.fits_bytes(mem_kv, self.mem_act)
    }

    /// Whether the step with `context` cached tokens fits ([`Step::fits`]).
    #[inline(always)]
    pub fn fits(&self, context: f64) -> bool {
        self.fits_with(self.mem_kv(context))
    }
}

/// `ln(1 - k/E)`, the log-probability that a token misses a given expert (0 without experts).
fn ln_miss(experts: f64, top_k: f64) -> f64 {
    if experts > 0.0 {
        (1.0 - top_k / experts).ln()
    } else {
        0.0
    }
}

/// `E (1 - exp(T ln_miss))`: see [`expected_touched_experts`].
#[inline(always)]
fn touched_given_ln_miss(experts: f64, ln_miss: f64, tokens: f64) -> f64 {
    if experts == 0.0 {
        return 0.0;
    }
    let x = tokens * ln_miss;
    // Below -38, exp(x) < 2^-54 and 1 - exp(x) rounds to exactly 1: skip the exp (the common
    // case at large batch), bit-identical.
    experts * if x < -38.0 { 1.0 } else { 1.0 - x.exp() }
}

/// Expected distinct experts that `tokens` tokens touch when each picks `top_k` of `experts`
/// uniformly: `E (1 - (1 - k/E)^T)`. The one implementation of the formula: the step model reads
/// it, and with `experts = 1, top_k = pi` it is one expert's chance `1 - (1 - pi)^T` of being
/// touched (`routing_exact` sums those for skewed popularity).
pub fn expected_touched_experts(experts: f64, top_k: f64, tokens: f64) -> Result<f64> {
    non_negative("experts", experts)?;
    if !(top_k.is_finite() && top_k >= 0.0 && top_k <= experts) {
        return Err(Error::invalid("top_k", top_k, format!("a number in [0, experts = {experts}]")));
    }
    non_negative("tokens", tokens)?;
    Ok(touched_given_ln_miss(experts, ln_miss(experts, top_k), tokens))
}

/// The links of a plan's three groups, `[tensor-parallel, expert-parallel (tp x ep), pipeline
/// hop]`: a group within the scale-up domain talks over the fast fabric, a larger one over the
/// scale-out network, which must then exist. The step model fails exactly when this does, so a
/// sweep can skip such plans up front.
pub fn plan_links(tp: f64, pp: f64, ep: f64, chip: &Chip) -> Result<[Link; 3]> {
    let chips = tp * pp * ep;
    Ok([
        link_for(tp, chip, "tp")?,
        link_for(tp * ep, chip, "tp x ep")?,
        link_for(if pp > 1.0 { chips } else { 1.0 }, chip, "tp x ep x pp")?,
    ])
}

/// The batch above which a dense decode step turns compute-bound when weight reads dominate
/// memory traffic: `peak / bandwidth x bytes per weight / 2` (2 FLOP per weight per token; 208
/// for an A100 at 16-bit, kipply's number).
pub fn crossover_batch(peak_flops: f64, memory_bandwidth: f64, weight_bytes: f64) -> Result<f64> {
    positive("peak_flops", peak_flops)?;
    positive("memory_bandwidth", memory_bandwidth)?;
    positive("weight_bytes", weight_bytes)?;
    Ok(peak_flops / memory_bandwidth * weight_bytes / 2.0)
}

/// A 16-bit plan with the uniform-routing expectation, for tests of this and other modules.
#[cfg(test)]
pub(crate) fn test_plan(tp: f64, pp: f64, ep: f64) -> Plan {
    Plan {
        tp,
        pp,
        ep,
        weight_bytes: 2.0,
        kv_bytes: 2.0,
        act_bytes: 2.0,
        kv_batch_sharded: false,
        overlap: false,
        touched_experts: f64::NAN,
        expert_imbalance: 1.0,
        all_reduce: Algorithm::Auto,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn plan(tp: f64, pp: f64, ep: f64) -> Plan {
        test_plan(tp, pp, ep)
    }

    fn gpt4_like() -> ModelCosts {
        ModelCosts {
            layers: 120.0,
            moe_layers: 120.0,
            experts: 16.0,
            top_k: 2.0,
            dense_params: 58.7e9,
            expert_params_per_layer: 943.7e6,
            matmul_params_active: 284.4e9,
            attn_flops_per_context_token: 2.0 * 120.0 * 120.0 * 256.0,
            kv_elements_per_token: 120.0 * 256.0,
            kv_heads: 1.0,
            d_model: 15360.0,
            ffn_width: 61440.0,
        }
    }

    fn a100() -> Chip {
        Chip {
            memory: 80e9,
            memory_bandwidth: 2.039e12,
            peak_flops: 312e12,
            scale_up: Link { latency_s: 1e-6, bandwidth_bytes_s: 300e9 },
            scale_up_domain: 8.0,
            scale_out: Link { latency_s: 5e-6, bandwidth_bytes_s: 25e9 },
            price_per_s: 1.0 / 3600.0,
            eff_flops: 1.0,
            eff_memory: 1.0,
            eff_network: 1.0,
            profile: crate::step::Profile::DEFAULT,
        }
    }

    /// [`a100`] without shape effects, kernel floors or elementwise traffic.
    fn aggregate_chip() -> Chip {
        Chip { profile: Profile::AGGREGATE, ..a100() }
    }

    #[test]
    fn a_uniform_mix_is_the_uniform_step() {
        for (tp, pp) in [(1.0, 1.0), (8.0, 1.0), (2.0, 4.0)] {
            let sm = StepModel::new(gpt4_like(), plan(tp, pp, 1.0), a100()).unwrap();
            for (b, c, n) in [(1.0, 0.0, 1.0), (3.0, 100.0, 1.0), (64.0, 8192.0, 1.0), (5.0, 7.0, 300.0)] {
                let (s, x) = (sm.evaluate(b, c, n), sm.evaluate_mixed(Mix::uniform(b, c, n)));
                for (u, v) in s.to_row().iter().zip(x.to_row()) {
                    assert!((u - v).abs() <= 1e-12 * u.abs(), "{tp} {pp} {b} {c} {n}: {u} vs {v}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn the_operators_and_communication_add_up_to_the_latency(
            b in 1.0f64..4096.0, c in 0.0f64..1e5, n in 1.0f64..512.0,
            tp in prop::sample::select(vec![1.0, 2.0, 8.0]), pp in prop::sample::select(vec![1.0, 4.0]),
        ) {
            let s = StepModel::new(gpt4_like(), plan(tp, pp, 1.0), a100()).unwrap().evaluate(b, c, n);
            let ops = s.t_dense_gemm + s.t_expert_gemm + s.t_attention + s.t_elementwise + s.t_floor;
            prop_assert!((ops + s.t_comm - s.latency).abs() <= 1e-12 * s.latency);
        }
    }

    #[test]
    fn a_mixed_step_costs_at_least_its_decode_part() {
        let sm = StepModel::new(gpt4_like(), plan(8.0, 1.0, 1.0), a100()).unwrap();
        let decode = Mix::uniform(32.0, 2000.0, 1.0);
        let chunk = Mix::uniform(1.0, 0.0, 512.0);
        let both = Mix {
            sequences: decode.sequences + chunk.sequences,
            tokens: decode.tokens + chunk.tokens,
            attended: decode.attended + chunk.attended,
            kv_read: decode.kv_read + chunk.kv_read,
        };
        let t = sm.evaluate_mixed(both).latency;
        assert!(t > sm.evaluate_mixed(decode).latency && t > sm.evaluate_mixed(chunk).latency);
        // One pass reads the weights once: cheaper than the two steps apart.
        assert!(t < sm.evaluate_mixed(decode).latency + sm.evaluate_mixed(chunk).latency);
        assert!(both.check().is_ok());
        assert!(Mix { tokens: 10.0, ..both }.check().is_err());
        assert!(Mix { attended: f64::NAN, ..both }.check().is_err());
        assert!(Mix { sequences: 0.0, ..both }.check().is_err());
        assert!(Mix { kv_read: both.tokens - 1.0, ..both }.check().is_err());
        assert!(Mix { attended: both.tokens - 1.0, ..both }.check().is_err());
        assert!(Mix { kv_read: 1e300, ..both }.check().is_err());
    }

    #[test]
    fn the_tp_all_reduce_takes_the_fastest_algorithm_inside_the_domain() {
        let m = gpt4_like();
        let ring = Plan { all_reduce: Algorithm::Ring, ..plan(8.0, 1.0, 1.0) };
        let auto = StepModel::new(m, plan(8.0, 1.0, 1.0), a100()).unwrap().evaluate(1.0, 100.0, 1.0);
        let by_ring = StepModel::new(m, ring, a100()).unwrap().evaluate(1.0, 100.0, 1.0);
        // A batch-1 message is latency-bound: one-shot's single step beats the ring's 14.
        assert!(auto.t_comm < 0.2 * by_ring.t_comm);
        // A prefill's large message follows the bandwidth-optimal algorithms: within 2%.
        let (a, r) = (
            StepModel::new(m, plan(8.0, 1.0, 1.0), a100()).unwrap().evaluate(8.0, 0.0, 4096.0),
            StepModel::new(m, ring, a100()).unwrap().evaluate(8.0, 0.0, 4096.0),
        );
        assert!(a.t_comm <= r.t_comm && a.t_comm > 0.98 * r.t_comm);
        // Over the scale-out network the peer-access algorithms are refused, auto is the ring.
        let wide = Plan { all_reduce: Algorithm::OneShot, ..plan(16.0, 1.0, 1.0) };
        assert!(StepModel::new(m, wide, a100()).is_err());
        let wide_auto = StepModel::new(m, plan(16.0, 1.0, 1.0), a100()).unwrap().evaluate(1.0, 0.0, 1.0);
        let wide_ring =
            StepModel::new(m, Plan { all_reduce: Algorithm::Ring, ..plan(16.0, 1.0, 1.0) }, a100()).unwrap();
        assert_eq!(wide_auto.t_comm, wide_ring.evaluate(1.0, 0.0, 1.0).t_comm);
    }

    #[test]
    fn batch_one_dense_read_is_weights_over_bandwidth() {
        let mut m = gpt4_like();
        (m.moe_layers, m.experts, m.top_k, m.kv_elements_per_token) = (0.0, 0.0, 0.0, 0.0);
        m.attn_flops_per_context_token = 0.0;
        let s = StepModel::new(m, plan(1.0, 1.0, 1.0), aggregate_chip()).unwrap().evaluate(1.0, 0.0, 1.0);
        assert!((s.latency - m.dense_params * 2.0 / 2.039e12).abs() <= 1e-12 * s.latency);
        assert_eq!(s.bound, 0);
        // The default profile adds kernel floors and elementwise traffic, never removes time.
        let d = StepModel::new(m, plan(1.0, 1.0, 1.0), a100()).unwrap().evaluate(1.0, 0.0, 1.0);
        assert!(d.latency > s.latency);
    }

    /// Today's aggregate roofline of a one-stage step: `max(t_w + t_kv, t_c) + t_comm`.
    fn aggregate(s: &Step) -> f64 {
        (s.t_weights + s.t_kv).max(s.t_compute) + s.t_comm
    }

    #[test]
    fn with_one_operator_class_the_sum_of_maxima_is_the_aggregate_roofline() {
        // No attention term and no KV cache: the GEMMs are the only class.
        let mut m = gpt4_like();
        (m.attn_flops_per_context_token, m.kv_elements_per_token) = (0.0, 0.0);
        for (b, c, n) in [(1.0, 0.0, 1.0), (64.0, 100.0, 1.0), (4.0, 0.0, 4096.0)] {
            let s = StepModel::new(m, plan(8.0, 1.0, 1.0), aggregate_chip()).unwrap().evaluate(b, c, n);
            if m.experts == 0.0 || s.bound == 2 || s.t_compute < 1e-3 * s.t_weights {
                assert!((s.latency - aggregate(&s)).abs() <= 1e-12 * s.latency, "{b} {c} {n}");
            }
        }
        let mut dense = m;
        (dense.moe_layers, dense.experts, dense.top_k, dense.expert_params_per_layer) = (0.0, 0.0, 0.0, 0.0);
        dense.matmul_params_active = 100e9;
        for b in [1.0, 16.0, 256.0, 4096.0] {
            let s = StepModel::new(dense, plan(8.0, 1.0, 1.0), aggregate_chip())
                .unwrap()
                .evaluate(b, 1000.0, 1.0);
            assert!((s.latency - aggregate(&s)).abs() <= 1e-12 * s.latency, "{b}");
        }
    }

    proptest! {
        #[test]
        fn the_sum_of_maxima_bounds_the_aggregate_from_above(
            b in 1.0f64..4096.0, c in 0.0f64..1e5, n in 1.0f64..512.0,
        ) {
            let sm = StepModel::new(gpt4_like(), plan(8.0, 1.0, 1.0), aggregate_chip()).unwrap();
            let s = sm.evaluate(b, c, n);
            prop_assert!(s.latency >= aggregate(&s) * (1.0 - 1e-12));
            prop_assert!(s.latency <= (s.t_weights + s.t_kv + s.t_compute + s.t_comm) * (1.0 + 1e-12));
        }

        #[test]
        fn step_time_is_non_decreasing_in_batch_and_context(
            b in 1.0f64..4096.0, c in 0.0f64..1e5, n in 1.0f64..64.0, db in 0.0f64..100.0, dc in 0.0f64..1e4,
            tp in prop::sample::select(vec![1.0, 2.0, 8.0]), pp in prop::sample::select(vec![1.0, 4.0]),
        ) {
            let sm = StepModel::new(gpt4_like(), plan(tp, pp, 1.0), a100()).unwrap();
            let s = sm.evaluate(b, c, n).latency;
            prop_assert!(sm.evaluate(b, c + dc, n).latency >= s);
            // With pipelining, more sequences also split into more microbatches (up to pp).
            if pp == 1.0 || b >= pp {
                prop_assert!(sm.evaluate(b + db, c, n).latency >= s * (1.0 - 1e-12));
            }
        }
    }

    #[test]
    fn chips_whose_steps_would_overflow_are_errors() {
        let m = gpt4_like();
        for c in [
            Chip { eff_flops: 1e-320, ..a100() },
            Chip { eff_memory: 5e-324, ..a100() },
            Chip { peak_flops: 5e-324, ..a100() },
            Chip { scale_up: Link { latency_s: f64::NAN, bandwidth_bytes_s: 300e9 }, ..a100() },
            Chip { scale_up: Link { latency_s: -1.0, bandwidth_bytes_s: 300e9 }, ..a100() },
            Chip { scale_out: Link { latency_s: 5e-6, bandwidth_bytes_s: 1e-300 }, ..a100() },
        ] {
            assert!(StepModel::new(m, plan(8.0, 2.0, 1.0), c).is_err(), "{c:?}");
        }
        let sm = StepModel::new(m, plan(8.0, 1.0, 1.0), a100()).unwrap();
        assert!(sm.evaluate_many(&[1e300], &[0.0], &[1.0]).is_err());
        assert!(sm.evaluate_many(&[MAX_COUNT], &[MAX_COUNT], &[1.0]).unwrap()[0].latency.is_finite());
    }

    #[test]
    fn bad_plans_are_errors() {
        let m = gpt4_like();
        assert!(StepModel::new(m, plan(0.0, 1.0, 1.0), a100()).is_err());
        let mut p = plan(8.0, 1.0, 1.0);
        p.expert_imbalance = 0.5;
        assert!(StepModel::new(m, p, a100()).is_err());
        let mut c = a100();
        c.scale_out.bandwidth_bytes_s = 0.0;
        assert!(StepModel::new(m, plan(16.0, 1.0, 1.0), c).is_err());
        let sm = StepModel::new(m, plan(8.0, 1.0, 1.0), a100()).unwrap();
        let mut out = [0.0; STEP_COLUMNS.len()];
        assert!(sm.evaluate_table(&[0.5], &[1.0], &[1.0], &mut out).is_err());
        assert!(sm.evaluate_table(&[1.0], &[f64::NAN], &[1.0], &mut out).is_err());
        assert!(sm.evaluate_table(&[1.0], &[1.0], &[1.0], &mut out[1..]).is_err());
    }

    proptest! {
        #[test]
        fn table_prepare_and_fits_agree_with_evaluate(
            tp in prop::sample::select(vec![1.0, 2.0, 4.0, 8.0]),
            pp in 1.0f64..16.0,
            ep in prop::sample::select(vec![1.0, 2.0, 4.0]),
            rows in prop::collection::vec((1.0f64..1e4, 0.0f64..1e5, 1.0f64..64.0), 1..40),
        ) {
            let sm = StepModel::new(gpt4_like(), plan(tp, pp.floor(), ep), a100()).unwrap();
            let (b, c, n): (Vec<f64>, Vec<f64>, Vec<f64>) =
                (rows.iter().map(|r| r.0).collect(), rows.iter().map(|r| r.1).collect(), rows.iter().map(|r| r.2).collect());
            let mut table = vec![0.0; b.len() * STEP_COLUMNS.len()];
            sm.evaluate_table(&b, &c, &n, &mut table).unwrap();
            for (i, step) in sm.evaluate_many(&b, &c, &n).unwrap().iter().enumerate() {
                let row: Vec<f64> = (0..STEP_COLUMNS.len()).map(|j| table[j * b.len() + i]).collect();
                prop_assert_eq!(&row[..], &step.to_row()[..]);
                prop_assert_eq!(sm.prepare(b[i], n[i]).at(c[i]), *step);
                prop_assert_eq!(sm.fits(b[i], c[i], n[i]), step.fits);
                prop_assert!(step.mfu <= 1.0 + 1e-12 && step.latency.is_finite() && step.latency > 0.0);
            }
        }

        #[test]
        fn touched_experts_matches_the_naive_product(tokens in 1.0f64..5000.0) {
            let sm = StepModel::new(gpt4_like(), plan(8.0, 1.0, 1.0), a100()).unwrap();
            let naive = 16.0 * (1.0 - (1.0 - 2.0 / 16.0f64).powf(tokens));
            prop_assert!((sm.touched_experts(tokens) - naive).abs() <= 1e-12 * naive);
        }
    }
}
