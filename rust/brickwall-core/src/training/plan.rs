//! A training plan (how `gpus = tp x cp x pp x dp` chips train one model) and its validation.

use crate::error::{Error, Result};
use crate::pipeline::Schedule;
use crate::roofline::ModelCosts;

/// What the backward recomputes instead of storing (Korthikanti et al. 2022).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Recompute {
    /// Store every activation.
    None,
    /// Recompute the core attention (`softmax(QK^T) V` and its dropout) only.
    Selective,
    /// Store each layer's input only and recompute the whole layer's forward.
    Full,
}

impl Recompute {
    /// The names accepted by [`Recompute::parse`], in order of increasing recomputation.
    pub const NAMES: [&'static str; 3] = ["none", "selective", "full"];

    /// Parse `none`, `selective` or `full`.
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "none" => Self::None,
            "selective" => Self::Selective,
            "full" => Self::Full,
            _ => return Err(Error::invalid("recompute", name, "one of none, selective, full")),
        })
    }

    /// The user-facing name.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// The precision of a plan's GEMMs.
///
/// `Fp8` follows NVIDIA Transformer Engine's recipe: the linear layers' GEMMs run in fp8 (the
/// chip's fp8 dense peak), attention's `softmax(QK^T) V`, norms and the rest stay in bf16;
/// weights are kept in bf16 with an fp8 copy cast for the GEMMs (+1 byte per parameter), and
/// the fp32 master weights and Adam moments are unchanged (TE docs, "Using FP8 with Transformer
/// Engine": "the master weights ... are kept in higher precision").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Every operator in bf16.
    Bf16,
    /// GEMMs in fp8, the rest in bf16.
    Fp8,
}

impl Precision {
    /// Parse `bf16` or `fp8`.
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "bf16" => Self::Bf16,
            "fp8" => Self::Fp8,
            _ => return Err(Error::invalid("precision", name, "one of bf16, fp8")),
        })
    }

    /// The user-facing name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bf16 => "bf16",
            Self::Fp8 => "fp8",
        }
    }
}

/// The schedules a training plan can use (forward-only and ZB-H2 are not training plans here:
/// ZB-H2 has no closed form, which the plan search needs).
pub const SCHEDULES: [&str; 4] = ["gpipe", "1f1b", "interleaved-1f1b", "zb-h1"];

/// A training plan. Mixed-precision Adam throughout: 16-bit weights and gradients, fp32 master
/// weights and two fp32 moments (see [`crate::training::memory`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainingPlan {
    /// Tensor-parallel degree.
    pub tp: u64,
    /// Pipeline stages.
    pub pp: u64,
    /// Data-parallel degree (replicas of a `tp x cp x pp` model). Expert parallelism runs inside
    /// it.
    pub dp: u64,
    /// Context-parallel degree: each sequence is split over `cp` ranks, attention runs as a ring
    /// (Megatron's context parallelism; Llama 3's CP). 1 = off.
    pub cp: u64,
    /// Expert-parallel degree: routed experts are sharded over `ep` of the `dp` replicas.
    pub ep: u64,
    /// Megatron's sequence parallelism: norms and dropouts split over the `tp` ranks.
    pub sequence_parallel: bool,
    /// Pipeline schedule (one of [`SCHEDULES`]).
    pub schedule: Schedule,
    /// Model chunks per device (interleaved 1F1B only; 1 otherwise).
    pub chunks: u64,
    /// Sequences per microbatch.
    pub microbatch: u64,
    /// Sequences per optimizer step, all replicas.
    pub global_batch: u64,
    /// Tokens per sequence.
    pub seq_len: u64,
    /// Activation recomputation.
    pub recompute: Recompute,
    /// ZeRO stage 0-3 (Rajbhandari et al. 2020): 1 shards optimizer states over `dp`, 2 also
    /// gradients, 3 also weights.
    pub zero: u8,
    /// GEMM precision.
    pub precision: Precision,
    /// Optimizer states offloaded to host memory (streamed over the host link each step).
    pub offload: bool,
}

fn divides(field: &str, value: u64, of: u64, what: &str) -> Result<()> {
    if value >= 1 && of % value == 0 {
        Ok(())
    } else {
        Err(Error::invalid(field, value, format!("a divisor of {what} = {of}")))
    }
}

/// A count from a float field of the model, exact.
fn count(x: f64) -> Option<u64> {
    (x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x < 9e15).then_some(x as u64)
}

impl TrainingPlan {
    /// Chips: `tp x cp x pp x dp`.
    pub fn gpus(&self) -> u64 {
        self.tp * self.cp * self.pp * self.dp
    }

    /// Microbatches each pipeline runs per step: `global_batch / (dp x microbatch)`.
    pub fn microbatches(&self) -> u64 {
        self.global_batch / (self.dp * self.microbatch)
    }

    /// Whether [`TrainingPlan::validate`] passes, without building its error: the plan search's
    /// hot path, where most grid points are invalid. The conjunction of
    /// [`TrainingPlan::layout_valid`] and [`TrainingPlan::schedule_valid`].
    #[inline]
    pub fn is_valid(&self, m: &ModelCosts, heads: f64) -> bool {
        self.layout_valid(m, heads) && self.schedule_valid(m)
    }

    /// The conditions that depend only on the layout, the microbatch and the batch (not on the
    /// schedule, chunks, recomputation, ZeRO stage or sequence parallelism).
    #[inline]
    pub fn layout_valid(&self, m: &ModelCosts, heads: f64) -> bool {
        let (tp, pp, dp, ep, mb, cp) = (self.tp, self.pp, self.dp, self.ep, self.microbatch, self.cp);
        if tp == 0
            || pp == 0
            || dp == 0
            || ep == 0
            || cp == 0
            || mb == 0
            || self.global_batch == 0
            || self.seq_len == 0
        {
            return false;
        }
        let gpus = tp.checked_mul(pp).and_then(|x| x.checked_mul(dp)).and_then(|x| x.checked_mul(cp));
        if gpus.is_none_or(|g| g > 1 << 40) {
            return false;
        }
        if cp > 1 && self.seq_len % (2 * cp) != 0 {
            return false;
        }
        let (Some(heads), Some(layers)) = (count(heads), count(m.layers)) else { return false };
        if heads == 0 || layers == 0 || heads % tp != 0 || pp > layers || dp % ep != 0 {
            return false;
        }
        if ep > 1 && count(m.experts).is_none_or(|e| e == 0 || e % ep != 0) {
            return false;
        }
        let per_step = dp.saturating_mul(mb);
        self.global_batch % per_step == 0 && self.global_batch / per_step <= u32::MAX as u64
    }

    /// The conditions on the schedule, chunks and ZeRO stage, given
    /// [`TrainingPlan::layout_valid`].
    #[inline]
    pub fn schedule_valid(&self, m: &ModelCosts) -> bool {
        let (pp, v) = (self.pp, self.chunks);
        if v == 0 || self.zero > 3 || matches!(self.schedule, Schedule::ZbH2 | Schedule::Forward) {
            return false;
        }
        let interleaved = self.schedule == Schedule::Interleaved;
        if interleaved != (v >= 2) {
            return false;
        }
        if interleaved {
            let layers = m.layers as u64;
            let n = self.global_batch / (self.dp * self.microbatch);
            return pp >= 2 && layers % pp.saturating_mul(v) == 0 && n % pp == 0;
        }
        self.schedule != Schedule::ZbH1 || self.global_batch / (self.dp * self.microbatch) >= pp
    }

    /// Check the plan against the model (`heads` attention heads): every degree >= 1, `seq_len` a
    /// multiple of `2 cp` when `cp > 1`, `tp`
    /// divides the heads, `pp` is at most the layers (interleaving: `pp x chunks` divides them), `ep` both `dp` and the experts, `dp x
    /// microbatch` the global batch; interleaving needs `chunks > 1` and a multiple of `pp`
    /// microbatches; ZB-H1 at least `pp` microbatches. Errors name the field.
    pub fn validate(&self, m: &ModelCosts, heads: f64) -> Result<()> {
        for (f, x) in [
            ("tp", self.tp),
            ("pp", self.pp),
            ("dp", self.dp),
            ("ep", self.ep),
            ("cp", self.cp),
            ("chunks", self.chunks),
            ("microbatch", self.microbatch),
            ("global_batch", self.global_batch),
            ("seq_len", self.seq_len),
        ] {
            if x == 0 {
                return Err(Error::invalid(f, x, "an integer >= 1"));
            }
        }
        let gpus = self
            .tp
            .checked_mul(self.pp)
            .and_then(|x| x.checked_mul(self.dp))
            .and_then(|x| x.checked_mul(self.cp));
        if gpus.is_none_or(|g| g > 1 << 40) {
            return Err(Error::invalid("tp x cp x pp x dp", "overflow", "at most 2^40 chips"));
        }
        // Megatron splits each sequence into 2 cp chunks, rank i holding chunks i and 2cp-1-i, so
        // every rank gets the same share of the causal attention.
        if self.cp > 1 && self.seq_len % (2 * self.cp) != 0 {
            return Err(Error::invalid(
                "seq_len",
                self.seq_len,
                format!(
                    "a multiple of 2 x cp = {} (the load-balanced ring splits it into 2 cp chunks)",
                    2 * self.cp
                ),
            ));
        }
        if self.zero > 3 {
            return Err(Error::invalid("zero", self.zero, "a ZeRO stage 0, 1, 2 or 3"));
        }
        if !SCHEDULES.contains(&self.schedule.name()) {
            return Err(Error::invalid(
                "schedule",
                self.schedule.name(),
                format!("one of {}", SCHEDULES.join(", ")),
            ));
        }
        let heads = count(heads)
            .filter(|h| *h >= 1)
            .ok_or_else(|| Error::invalid("heads", heads, "an integer >= 1"))?;
        let layers = count(m.layers)
            .filter(|l| *l >= 1)
            .ok_or_else(|| Error::invalid("layers", m.layers, "an integer >= 1"))?;
        divides("tp", self.tp, heads, "the attention heads")?;
        let interleaved = self.schedule == Schedule::Interleaved;
        if interleaved && self.chunks < 2 {
            return Err(Error::invalid("chunks", self.chunks, ">= 2 for interleaved-1f1b"));
        }
        if interleaved && self.pp < 2 {
            return Err(Error::invalid(
                "pp",
                self.pp,
                ">= 2 for interleaved-1f1b (one stage has nothing to interleave)",
            ));
        }
        if !interleaved && self.chunks != 1 {
            return Err(Error::invalid(
                "chunks",
                self.chunks,
                format!("1 for schedule {} (only interleaved-1f1b uses chunks)", self.schedule.name()),
            ));
        }
        if self.pp > layers {
            return Err(Error::invalid("pp", self.pp, format!("at most the layers = {layers}")));
        }
        let stages = self.pp.saturating_mul(self.chunks);
        if interleaved && layers % stages != 0 {
            return Err(Error::invalid("pp x chunks", stages, format!("a divisor of the layers = {layers}")));
        }
        divides("ep", self.ep, self.dp, "dp")?;
        if self.ep > 1 {
            let experts = count(m.experts).unwrap_or(0);
            if experts == 0 || experts % self.ep != 0 {
                return Err(Error::invalid(
                    "ep",
                    self.ep,
                    format!("a divisor of the routed experts = {experts}"),
                ));
            }
        }
        let per_step = self.dp.saturating_mul(self.microbatch);
        if self.global_batch % per_step != 0 {
            return Err(Error::invalid(
                "global_batch",
                self.global_batch,
                format!("a multiple of dp x microbatch = {per_step} sequences"),
            ));
        }
        let mb = self.microbatches();
        if interleaved && mb % self.pp != 0 {
            return Err(Error::invalid(
                "global_batch",
                self.global_batch,
                format!(
                    "microbatches per pipeline ({mb}) a multiple of pp = {} for interleaved-1f1b",
                    self.pp
                ),
            ));
        }
        if self.schedule == Schedule::ZbH1 && mb < self.pp {
            return Err(Error::invalid(
                "global_batch",
                self.global_batch,
                format!("microbatches per pipeline ({mb}) >= pp = {} for zb-h1", self.pp),
            ));
        }
        if mb > u32::MAX as u64 {
            return Err(Error::invalid(
                "global_batch",
                self.global_batch,
                "at most 2^32 microbatches per pipeline",
            ));
        }
        Ok(())
    }
}
