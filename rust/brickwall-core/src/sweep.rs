//! Parameter sweeps of the step roofline: one [`Evaluator`] of the grid engine ([`crate::grid`]),
//! which enumerates the grid by index in chunks on rayon; rows are filtered by constraints and
//! reduced by a streaming [`Reducer`].
//!
//! The grid is `deployments x batch x context`, in that mixed-radix order (context fastest):
//! index `i` is deployment `i / (B C)`, batch `(i / C) % B`, context `i % C`. A deployment is a
//! [`StepModel`] the caller built for one (hardware, tp, pp, ep, dtypes) combination it found
//! valid; the grid is never materialised, and memory is O(kept rows x chunks in flight).
//!
//! A row is exactly [`StepModel::evaluate`]: decode evaluates `(batch, context, new_tokens)`,
//! prefill evaluates `(batch, 0, prompt)` with the context axis as the prompt length. Within a
//! chunk, decode hoists everything that does not depend on the context out of the inner loop
//! ([`StepModel::prepare`]), which is bit-identical to evaluating each point.
//!
//! Memory grows with batch and context, and in decode the step time grows with the context, so a
//! sweep skips what it can prove without changing any result: batches larger than the largest
//! whose smallest context fits, a batch's contexts past the first that does not fit, and (Pareto,
//! see [`Sweep::new`]) the rows its smallest fitting context beats, which are counted as feasible
//! by their memory check alone.
//!
//! Metrics (SI, per row): `cost` USD per 10^6 new tokens, `latency` seconds per token (decode:
//! step / new tokens; prefill: the step, i.e. time to first token), `tokens_per_s_per_user`
//! (new tokens / step), `tokens_per_s` (all sequences), `chips`, `mfu`.
//!
//! The engine hands the sweep one line per (deployment, batch): its contexts. The skips above
//! live in that line: a batch past the deployment's largest fitting one skips the rest of the
//! deployment ([`Line::skip_rest_of`]), a whole line walks its contexts in ascending order and
//! stops at the first that does not fit. Results never depend on the thread count (see
//! [`crate::grid`]).

use crate::control::Control;
use crate::error::{Error, Result};
use crate::grid::{self, Evaluator, Grid, Line, Outcome, Walk};
use crate::par::fill_columns;
use crate::pareto::{Keep, Reducer, Row, Sense};
use crate::roofline::{Prepared, Step, StepModel, Terms, STEP_COLUMNS};

/// Columns [`Sweep::table`] adds after [`STEP_COLUMNS`]: cost (USD per 10^6 new tokens), latency
/// per token and per-user tokens/s, as [`Metrics`] defines them.
pub const METRIC_COLUMNS: [&str; 3] = ["cost", "token_latency", "tokens_per_s_per_user"];

/// Columns [`Sweep::table`] adds last: the row's deployment, batch and context positions on the
/// grid's axes (exact as floats: axes are far shorter than 2^53).
pub const POSITION_COLUMNS: [&str; 3] = ["deployment", "batch_index", "context_index"];

/// Columns of [`Sweep::table`].
pub const TABLE_WIDTH: usize = STEP_COLUMNS.len() + METRIC_COLUMNS.len() + POSITION_COLUMNS.len();

/// What a row can be judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    /// USD per 10^6 new tokens.
    Cost,
    /// Seconds per token for a user (decode) or to the first token (prefill).
    Latency,
    /// New tokens per second per sequence.
    TokensPerSPerUser,
    /// New tokens per second, all sequences.
    TokensPerS,
    /// Chips in the deployment.
    Chips,
    /// Model FLOP utilisation.
    Mfu,
}

impl Objective {
    /// Parse `cost`, `latency`, `tokens_per_s_per_user`, `tokens_per_s`, `chips`, `mfu`.
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "cost" => Self::Cost,
            "latency" => Self::Latency,
            "tokens_per_s_per_user" => Self::TokensPerSPerUser,
            "tokens_per_s" => Self::TokensPerS,
            "chips" => Self::Chips,
            "mfu" => Self::Mfu,
            _ => {
                return Err(Error::invalid(
                    "objective",
                    name,
                    "one of cost, latency, tokens_per_s_per_user, tokens_per_s, chips, mfu",
                ))
            }
        })
    }

    /// Whether, in decode, this objective judged with `sense` never improves as the context
    /// grows: the step time never decreases with the context, so cost and latency never
    /// decrease and tokens/s never increase; chips do not change; MFU can go either way.
    fn never_improves_with_context(self, sense: Sense) -> bool {
        match self {
            Self::Cost | Self::Latency => sense == Sense::Min,
            Self::TokensPerSPerUser | Self::TokensPerS => sense == Sense::Max,
            Self::Chips => true,
            Self::Mfu => false,
        }
    }
}

/// Decode or prefill.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// Each sequence adds `new_tokens` tokens after `context` cached ones.
    Decode {
        /// New tokens per sequence per step (1; `gamma + 1` for speculative verification).
        new_tokens: f64,
    },
    /// The context axis is the prompt length; nothing cached before it.
    Prefill,
}

impl Phase {
    /// Parse `"decode"` (with its new tokens per sequence) or `"prefill"`.
    pub fn parse(name: &str, new_tokens: f64) -> Result<Self> {
        match name {
            "decode" => Ok(Phase::Decode { new_tokens }),
            "prefill" => Ok(Phase::Prefill),
            _ => Err(Error::invalid("phase", name, "decode or prefill")),
        }
    }
}

/// Row filters. Deployment-level rules (divisibility, chips, scale-up domain) are the caller's:
/// it passes only deployments that satisfy them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Constraints {
    /// Require weights + KV cache + activations to fit in device memory.
    pub fits: bool,
    /// Largest per-token latency, seconds (`inf` for none).
    pub max_latency: f64,
    /// Smallest per-user tokens/s (0 for none).
    pub min_tokens_per_s_per_user: f64,
}

impl Default for Constraints {
    fn default() -> Self {
        Self { fits: true, max_latency: f64::INFINITY, min_tokens_per_s_per_user: 0.0 }
    }
}

/// A validated sweep.
#[derive(Debug, Clone)]
pub struct Sweep {
    models: Vec<StepModel>,
    batch: Vec<f64>,
    context: Vec<f64>,
    phase: Phase,
    constraints: Constraints,
    objectives: Vec<(Objective, Sense)>,
    keep: Keep,
    /// `deployments x batch x context`, context fastest.
    grid: Grid,
    /// Context positions by ascending value (ties by position). Memory grows with the context,
    /// so a batch's contexts in this order stop at the first that does not fit.
    ctx_order: Vec<usize>,
    /// Per deployment, the largest batch whose smallest context fits (all when `fits` is not
    /// required). Memory grows with the batch too: larger batches are skipped unevaluated.
    max_batch: Vec<f64>,
    /// The batch axis ascends: past `max_batch`, the rest of a deployment is skipped at once.
    batch_sorted: bool,
    /// Only a batch's smallest feasible context can be on the frontier: see [`Sweep::new`].
    dominated: bool,
}

/// Every metric of a row (see the module docs), in [`Objective`] order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    /// USD per 10^6 new tokens.
    pub cost: f64,
    /// Seconds per token.
    pub latency: f64,
    /// New tokens/s per sequence.
    pub tokens_per_s_per_user: f64,
    /// New tokens/s, all sequences.
    pub tokens_per_s: f64,
    /// Chips.
    pub chips: f64,
    /// Model FLOP utilisation.
    pub mfu: f64,
}

impl Metrics {
    /// The value of one objective.
    pub fn get(&self, o: Objective) -> f64 {
        match o {
            Objective::Cost => self.cost,
            Objective::Latency => self.latency,
            Objective::TokensPerSPerUser => self.tokens_per_s_per_user,
            Objective::TokensPerS => self.tokens_per_s,
            Objective::Chips => self.chips,
            Objective::Mfu => self.mfu,
        }
    }
}

impl Sweep {
    /// Validate a sweep. Fails on empty axes, bad batch/context values, a grid over 2^63
    /// points, bad constraints, or `keep = All(limit)` on a grid larger than `limit`.
    pub fn new(
        models: Vec<StepModel>,
        batch: Vec<f64>,
        context: Vec<f64>,
        phase: Phase,
        constraints: Constraints,
        objectives: Vec<(Objective, Sense)>,
        keep: Keep,
    ) -> Result<Self> {
        let grid =
            Grid::new(&[("deployments", models.len()), ("batch", batch.len()), ("context", context.len())])?;
        let len = grid.len();
        if let Some(i) = batch.iter().position(|b| !(b.is_finite() && *b >= 1.0)) {
            return Err(Error::invalid(format!("batch[{i}]"), batch[i], "a finite number >= 1"));
        }
        let min_context = if phase == Phase::Prefill { 1.0 } else { 0.0 };
        if let Some(i) = context.iter().position(|c| !(c.is_finite() && *c >= min_context)) {
            let what = if phase == Phase::Prefill { "a prompt length >= 1" } else { "a finite number >= 0" };
            return Err(Error::invalid(format!("context[{i}]"), context[i], what));
        }
        if let Phase::Decode { new_tokens } = phase {
            if !(new_tokens.is_finite() && new_tokens >= 1.0) {
                return Err(Error::invalid("new_tokens", new_tokens, "a finite number >= 1"));
            }
        }
        let c = constraints;
        if c.max_latency.is_nan() || c.max_latency <= 0.0 {
            return Err(Error::invalid("max_latency", c.max_latency, "a number > 0 (seconds)"));
        }
        if !(c.min_tokens_per_s_per_user.is_finite() && c.min_tokens_per_s_per_user >= 0.0) {
            return Err(Error::invalid(
                "min_tokens_per_s_per_user",
                c.min_tokens_per_s_per_user,
                "a finite number >= 0",
            ));
        }
        Reducer::new(keep, objectives.len())?;
        if let Keep::All(limit) = keep {
            if len > limit as u64 {
                return Err(Error::TooLarge {
                    what: "keep=\"all\"".into(),
                    detail: format!(
                        "the grid has {len} points, over the limit of {limit} rows; keep the Pareto frontier or the top k instead"
                    ),
                });
            }
        }
        let mut ctx_order: Vec<usize> = (0..context.len()).collect();
        ctx_order.sort_by(|&a, &b| context[a].total_cmp(&context[b]).then(a.cmp(&b)));
        let mut sorted = batch.clone();
        sorted.sort_by(f64::total_cmp);
        let batch_sorted = batch.is_sorted();
        // In decode, a larger context only adds KV reads and attention FLOPs, and float rounding
        // is monotone too (see `Objective::never_improves_with_context`). With an ascending
        // context axis (index order = context order) and no row filter, every row of a
        // (deployment, batch) after its smallest fitting context is beaten by that row, so a
        // Pareto sweep counts those rows by their memory check alone.
        let dominated = keep == Keep::Pareto
            && matches!(phase, Phase::Decode { .. })
            && context.is_sorted()
            && objectives.iter().all(|(o, sense)| o.never_improves_with_context(*sense))
            && constraints.max_latency == f64::INFINITY
            && constraints.min_tokens_per_s_per_user == 0.0;
        let mut s = Self {
            models,
            batch,
            context,
            phase,
            constraints,
            objectives,
            keep,
            grid,
            ctx_order,
            max_batch: Vec::new(),
            batch_sorted,
            dominated,
        };
        let smallest = s.context[s.ctx_order[0]];
        s.max_batch = s
            .models
            .iter()
            .map(|sm| {
                if !constraints.fits {
                    return f64::INFINITY;
                }
                let k = sorted.partition_point(|&b| s.prepare(sm, b, smallest).fits(s.cached(smallest)));
                if k == 0 {
                    f64::NEG_INFINITY
                } else {
                    sorted[k - 1]
                }
            })
            .collect();
        Ok(s)
    }

    /// The step of `batch` at context-axis value `x`: decode prepares `(batch, new_tokens)` and
    /// reads `x` cached tokens ([`Sweep::cached`]); prefill prepares `(batch, x)` with none.
    #[inline(always)]
    fn prepare<'a>(&self, sm: &'a StepModel, batch: f64, x: f64) -> Prepared<'a> {
        match self.phase {
            Phase::Decode { new_tokens } => sm.prepare(batch, new_tokens),
            Phase::Prefill => sm.prepare(batch, x),
        }
    }

    /// Cached tokens per sequence at context-axis value `x`.
    #[inline(always)]
    fn cached(&self, x: f64) -> f64 {
        match self.phase {
            Phase::Decode { .. } => x,
            Phase::Prefill => 0.0,
        }
    }

    /// Grid points.
    pub fn len(&self) -> u64 {
        self.grid.len()
    }

    /// Whether the grid is empty (never: [`Sweep::new`] refuses empty axes).
    pub fn is_empty(&self) -> bool {
        self.grid.is_empty()
    }

    /// `(deployment, batch, context)` positions of grid index `i`.
    #[inline]
    pub fn locate(&self, i: u64) -> (usize, usize, usize) {
        let g = &self.grid;
        (g.position(i, 0), g.position(i, 1), g.position(i, 2))
    }

    /// The value of objective `o` of a step (see the module docs for units). The one place a
    /// metric is computed: sweeps read only the metrics they filter or rank by.
    #[inline(always)]
    fn metric(&self, o: Objective, p: &Prepared, t: &Terms, chips: f64) -> f64 {
        match o {
            Objective::Cost => p.cost_per_token(t.latency) * 1e6,
            Objective::Latency => match self.phase {
                // Decode judges the time per new token; `x / 1` is `x`, without the division.
                Phase::Decode { new_tokens } if new_tokens != 1.0 => t.latency / new_tokens,
                _ => t.latency,
            },
            Objective::Chips => chips,
            o => Self::rate(o, p, t),
        }
    }

    /// The metrics that divide by the step time. Out of line on purpose: inlined, the compiler
    /// computes every arm of [`Sweep::metric`]'s match for every row, and pays their divisions
    /// even in sweeps that rank only by cost and latency.
    #[inline(never)]
    fn rate(o: Objective, p: &Prepared, t: &Terms) -> f64 {
        match o {
            Objective::TokensPerSPerUser => p.n() / t.latency,
            Objective::TokensPerS => p.tokens_per_s(t.latency),
            _ => p.mfu(t),
        }
    }

    /// The step and metrics of grid index `i`.
    pub fn row(&self, i: u64) -> Result<(Step, Metrics)> {
        if i >= self.len() {
            return Err(Error::invalid("index", i, format!("< the grid's {} points", self.len())));
        }
        let (m, b, c) = self.locate(i);
        let sm = &self.models[m];
        let x = self.context[c];
        let p = self.prepare(sm, self.batch[b], x);
        let t = p.terms(self.cached(x));
        let get = |o| self.metric(o, &p, &t, sm.chips());
        let metrics = Metrics {
            cost: get(Objective::Cost),
            latency: get(Objective::Latency),
            tokens_per_s_per_user: get(Objective::TokensPerSPerUser),
            tokens_per_s: get(Objective::TokensPerS),
            chips: get(Objective::Chips),
            mfu: get(Objective::Mfu),
        };
        Ok((p.at(self.cached(x)), metrics))
    }

    /// The rows of grid indices `index` into `out`, a column-major table (see [`fill_columns`])
    /// of [`STEP_COLUMNS`], [`METRIC_COLUMNS`] and [`POSITION_COLUMNS`].
    pub fn table(&self, index: &[u64], out: &mut [f64]) -> Result<()> {
        if let Some(&i) = index.iter().find(|&&i| i >= self.len()) {
            return Err(Error::invalid("index", i, format!("< the grid's {} points", self.len())));
        }
        crate::error::same_len("out", out.len(), index.len() * TABLE_WIDTH)?;
        fill_columns(out, index.len(), |j| {
            let i = index[j];
            let (step, x) = self.row(i).expect("checked");
            let (m, b, c) = self.locate(i);
            let mut row = [0.0; TABLE_WIDTH];
            row[..STEP_COLUMNS.len()].copy_from_slice(&step.to_row());
            row[STEP_COLUMNS.len()..].copy_from_slice(&[
                x.cost,
                x.latency,
                x.tokens_per_s_per_user,
                m as f64,
                b as f64,
                c as f64,
            ]);
            row
        });
        Ok(())
    }

    /// Objective values of kept rows in natural form, row-major `rows x objectives`.
    pub fn objective_values(&self, rows: &[Row]) -> Vec<f64> {
        let mut out = Vec::with_capacity(rows.len() * self.objectives.len());
        for r in rows {
            for (j, (_, sense)) in self.objectives.iter().enumerate() {
                out.push(sense.key(r.v[j]));
            }
        }
        out
    }

    /// The objectives' senses.
    pub fn senses(&self) -> Vec<Sense> {
        self.objectives.iter().map(|o| o.1).collect()
    }

    /// Filter one row that fits (or need not) and push it; 1 if feasible.
    #[inline(always)]
    fn offer<const D: usize, const FILTER: bool>(
        &self,
        objectives: &[(Objective, Sense); D],
        r: &mut Reducer,
        p: &Prepared,
        t: &Terms,
        chips: f64,
        index: u64,
    ) -> u64 {
        let c = &self.constraints;
        if FILTER
            && c.max_latency < f64::INFINITY
            && self.metric(Objective::Latency, p, t, chips) > c.max_latency
        {
            return 0;
        }
        if FILTER
            && c.min_tokens_per_s_per_user > 0.0
            && self.metric(Objective::TokensPerSPerUser, p, t, chips) < c.min_tokens_per_s_per_user
        {
            return 0;
        }
        let mut v = [0.0; 3];
        for (x, (o, sense)) in v.iter_mut().zip(objectives) {
            *x = sense.key(self.metric(*o, p, t, chips));
        }
        u64::from(r.push(v, index))
    }

    /// Offer the contexts at `positions` of one batch, whose first grid index is `base`; returns
    /// how many were feasible. With `ascending` (positions in [`Sweep::ctx_order`]) the first
    /// context that does not fit ends the batch: no larger one does.
    #[inline(always)]
    fn offer_batch<const D: usize, const FILTER: bool>(
        &self,
        r: &mut Reducer,
        sm: &StepModel,
        batch: f64,
        positions: impl Iterator<Item = usize>,
        ascending: bool,
        base: u64,
    ) -> u64 {
        let objectives: &[(Objective, Sense); D] = self.objectives[..D].try_into().expect("D objectives");
        let fits = self.constraints.fits;
        let chips = sm.chips();
        let mut feasible = 0;
        match self.phase {
            Phase::Decode { new_tokens } => {
                let p = sm.prepare(batch, new_tokens);
                let mut offered = false;
                for k in positions {
                    let context = self.context[k];
                    if fits && !p.fits(context) {
                        if ascending {
                            break;
                        }
                        continue;
                    }
                    if offered && ascending && self.dominated {
                        // The row offered at this batch's smallest context beats this one.
                        feasible += 1;
                        continue;
                    }
                    feasible +=
                        self.offer::<D, FILTER>(objectives, r, &p, &p.terms(context), chips, base + k as u64);
                    offered = true;
                }
            }
            Phase::Prefill => {
                for k in positions {
                    let p = sm.prepare(batch, self.context[k]);
                    if fits && !p.fits(0.0) {
                        if ascending {
                            break;
                        }
                        continue;
                    }
                    feasible +=
                        self.offer::<D, FILTER>(objectives, r, &p, &p.terms(0.0), chips, base + k as u64);
                }
            }
        }
        feasible
    }

    /// Evaluate grid points `[lo, hi)` on the grid engine ([`grid::run`]), checking `control`
    /// after each chunk.
    pub fn run(&self, lo: u64, hi: u64, control: &Control) -> Result<Outcome> {
        grid::run(&Lines(self), lo, hi, control)
    }
}

/// A sweep as the grid engine's [`Evaluator`]. A line is one (deployment, batch) over contexts.
struct Lines<'a>(&'a Sweep);

impl Evaluator for Lines<'_> {
    fn grid(&self) -> &Grid {
        &self.0.grid
    }

    fn reducer(&self) -> Reducer {
        Reducer::new(self.0.keep, self.0.objectives.len()).expect("validated")
    }

    fn line(&self, outer: &[usize], lo: usize, hi: usize, base: u64, r: &mut Reducer) -> Line {
        let s = self.0;
        let (m, bi) = (outer[0], outer[1]);
        match (s.objectives.len(), s.filtered()) {
            (1, false) => s.line::<1, false>(m, bi, lo, hi, base, r),
            (2, false) => s.line::<2, false>(m, bi, lo, hi, base, r),
            (_, false) => s.line::<3, false>(m, bi, lo, hi, base, r),
            (1, true) => s.line::<1, true>(m, bi, lo, hi, base, r),
            (2, true) => s.line::<2, true>(m, bi, lo, hi, base, r),
            (_, true) => s.line::<3, true>(m, bi, lo, hi, base, r),
        }
    }

    fn fold(&self, walk: &mut Walk<'_>, r: &mut Reducer) -> u64 {
        let s = self.0;
        let (lo, hi) = walk.range();
        match (s.objectives.len(), s.filtered()) {
            (1, false) => s.fold::<1, false>(lo, hi, r),
            (2, false) => s.fold::<2, false>(lo, hi, r),
            (_, false) => s.fold::<3, false>(lo, hi, r),
            (1, true) => s.fold::<1, true>(lo, hi, r),
            (2, true) => s.fold::<2, true>(lo, hi, r),
            (_, true) => s.fold::<3, true>(lo, hi, r),
        }
    }
}

impl Sweep {
    /// Whether rows are filtered by latency or per-user rate (else only by memory).
    fn filtered(&self) -> bool {
        let c = &self.constraints;
        c.max_latency < f64::INFINITY || c.min_tokens_per_s_per_user > 0.0
    }

    /// [`Evaluator::fold`] over points `[lo, hi)`: the engine's line-by-line walk with
    /// [`Sweep::line`]'s skips, the positions kept in three counters, and the objective count
    /// and filter as constants (the per-row objective loop unrolls; an unfiltered sweep computes
    /// no metric it does not rank by). Lines have a few contexts each: on a top-10 sweep the
    /// generic walk ([`Walk::next_line`]) and a chunk loop compiled once per constant pair inside
    /// the engine each cost ~10% (measured in one binary, alternating with the loop before the
    /// engine). A test checks that both folds give the same rows and counts.
    fn fold<const D: usize, const FILTER: bool>(&self, lo: u64, hi: u64, r: &mut Reducer) -> u64 {
        let (mut m, mut bi, mut ci) = self.locate(lo);
        let (nb, nc) = (self.batch.len(), self.context.len());
        let mut feasible = 0u64;
        let mut i = lo;
        while i < hi {
            // `Sweep::line` inlined by hand: called here, its `Line` result cost ~8%.
            let sm = &self.models[m];
            let batch = self.batch[bi];
            let end = nc.min(ci + (hi - i) as usize);
            if batch > self.max_batch[m] {
                if self.batch_sorted {
                    // The rest of this deployment (`skip_rest_of: Some(0)`).
                    i = ((m as u64 + 1) * (nb * nc) as u64).min(hi);
                    (m, bi, ci) = (m + 1, 0, 0);
                    continue;
                }
            } else if ci == 0 && end == nc {
                feasible +=
                    self.offer_batch::<D, FILTER>(r, sm, batch, self.ctx_order.iter().copied(), true, i);
            } else {
                feasible += self.offer_batch::<D, FILTER>(r, sm, batch, ci..end, false, i - ci as u64);
            }
            i += (end - ci) as u64;
            ci = 0;
            bi += 1;
            if bi == nb {
                bi = 0;
                m += 1;
            }
        }
        feasible
    }

    /// One line: contexts `lo..hi` of deployment `m` at batch position `bi`, whose context
    /// position 0 is point `base`.
    #[inline(always)]
    fn line<const D: usize, const FILTER: bool>(
        &self,
        m: usize,
        bi: usize,
        lo: usize,
        hi: usize,
        base: u64,
        r: &mut Reducer,
    ) -> Line {
        let batch = self.batch[bi];
        if batch > self.max_batch[m] {
            // No context of this batch fits; with an ascending batch axis no later batch of this
            // deployment fits either.
            return Line { feasible: 0, skip_rest_of: self.batch_sorted.then_some(0) };
        }
        let sm = &self.models[m];
        let feasible = if lo == 0 && hi == self.context.len() {
            self.offer_batch::<D, FILTER>(r, sm, batch, self.ctx_order.iter().copied(), true, base)
        } else {
            self.offer_batch::<D, FILTER>(r, sm, batch, lo..hi, false, base)
        };
        Line { feasible, skip_rest_of: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectives::Link;
    use crate::roofline::{test_plan, Chip, ModelCosts};
    use proptest::prelude::*;

    fn model() -> ModelCosts {
        ModelCosts {
            layers: 32.0,
            moe_layers: 32.0,
            experts: 8.0,
            top_k: 2.0,
            dense_params: 1.5e9,
            expert_params_per_layer: 1.8e8,
            matmul_params_active: 1.3e10,
            attn_flops_per_context_token: 32.0 * 4.0 * 4096.0,
            kv_elements_per_token: 32.0 * 2.0 * 1024.0,
            kv_heads: 8.0,
            d_model: 4096.0,
            ffn_width: 2.0 * 14336.0,
        }
    }

    fn chip() -> Chip {
        Chip {
            memory: 80e9,
            memory_bandwidth: 3.35e12,
            peak_flops: 989e12,
            scale_up: Link { latency_s: 2e-6, bandwidth_bytes_s: 450e9 },
            scale_up_domain: 8.0,
            scale_out: Link { latency_s: 5e-6, bandwidth_bytes_s: 50e9 },
            price_per_s: 2.0 / 3600.0,
            eff_flops: 0.7,
            eff_memory: 0.8,
            eff_network: 0.75,
            profile: crate::step::Profile::DEFAULT,
        }
    }

    fn models() -> Vec<StepModel> {
        let mut out = Vec::new();
        for tp in [1.0, 2.0, 4.0, 8.0] {
            for pp in [1.0, 2.0, 4.0] {
                for ep in [1.0, 2.0] {
                    let plan = test_plan(tp, pp, ep);
                    out.push(StepModel::new(model(), plan, chip()).unwrap());
                }
            }
        }
        out
    }

    fn sweep(phase: Phase, keep: Keep, objectives: Vec<(Objective, Sense)>, c: Constraints) -> Sweep {
        let batch: Vec<f64> = (0..40).map(|i| f64::from(1 + 7 * i)).collect();
        let context: Vec<f64> = (0..30).map(|i| f64::from(1 + 301 * i)).collect();
        Sweep::new(models(), batch, context, phase, c, objectives, keep).unwrap()
    }

    /// The definition, point by point with `evaluate` and a quadratic frontier: (kept, feasible).
    fn naive(s: &Sweep) -> (Vec<u64>, u64) {
        let mut pts: Vec<(u64, [f64; 3])> = Vec::new();
        for i in 0..s.len() {
            let (step, x) = s.row(i).unwrap();
            let c = s.constraints;
            if (c.fits && !step.fits)
                || x.latency > c.max_latency
                || x.tokens_per_s_per_user < c.min_tokens_per_s_per_user
            {
                continue;
            }
            let mut v = [0.0; 3];
            for (j, (o, sense)) in s.objectives.iter().enumerate() {
                v[j] = sense.key(x.get(*o));
            }
            pts.push((i, v));
        }
        let d = s.objectives.len();
        let dominates =
            |a: &[f64; 3], b: &[f64; 3]| (0..d).all(|j| a[j] <= b[j]) && (0..d).any(|j| a[j] < b[j]);
        let kept = pts
            .iter()
            .filter(|(i, v)| !pts.iter().any(|(k, w)| dominates(w, v) || (w == v && k < i)))
            .map(|p| p.0)
            .collect();
        (kept, pts.len() as u64)
    }

    #[test]
    fn frontier_matches_definition_2d_and_3d() {
        let filtered = Constraints { max_latency: 0.2, ..Constraints::default() };
        let objective_sets = [
            vec![(Objective::Cost, Sense::Min), (Objective::Latency, Sense::Min)],
            vec![(Objective::TokensPerSPerUser, Sense::Max), (Objective::Cost, Sense::Min)],
            vec![(Objective::Latency, Sense::Max), (Objective::Cost, Sense::Min)],
            vec![
                (Objective::TokensPerS, Sense::Max),
                (Objective::Chips, Sense::Min),
                (Objective::Mfu, Sense::Max),
            ],
        ];
        for objectives in objective_sets {
            for phase in [Phase::Decode { new_tokens: 1.0 }, Phase::Prefill] {
                // Unfiltered decode sweeps skip the rows a smaller context beats (`dominated`).
                for c in [filtered, Constraints::default()] {
                    let s = sweep(phase, Keep::Pareto, objectives.clone(), c);
                    let out = s.run(0, s.len(), &Control::new()).unwrap();
                    let got: Vec<u64> = out.reducer.into_rows().iter().map(|r| r.index).collect();
                    let (want, feasible) = naive(&s);
                    assert!(!got.is_empty());
                    assert_eq!(got, want);
                    assert_eq!(out.feasible, feasible);
                }
            }
        }
    }

    /// The sweep through the engine's generic line-by-line fold (only [`Evaluator::line`]).
    struct ByLine<'a>(Lines<'a>);

    impl Evaluator for ByLine<'_> {
        fn grid(&self) -> &Grid {
            self.0.grid()
        }
        fn reducer(&self) -> Reducer {
            self.0.reducer()
        }
        fn line(&self, outer: &[usize], lo: usize, hi: usize, base: u64, r: &mut Reducer) -> Line {
            self.0.line(outer, lo, hi, base, r)
        }
    }

    #[test]
    fn own_fold_equals_the_engines_line_by_line_fold() {
        let ascending: Vec<f64> = (0..40).map(|i| f64::from(1 + 97 * i)).collect();
        let descending: Vec<f64> = ascending.iter().rev().copied().collect();
        let context: Vec<f64> = (0..30).map(|i| f64::from(1 + 1201 * i)).collect();
        let filtered = Constraints { max_latency: 0.2, ..Constraints::default() };
        for batch in [ascending, descending] {
            for (keep, objectives) in [
                (Keep::Pareto, vec![(Objective::Cost, Sense::Min), (Objective::Latency, Sense::Min)]),
                (Keep::Top(5), vec![(Objective::TokensPerS, Sense::Max)]),
            ] {
                for c in [Constraints::default(), filtered] {
                    let phase = Phase::Decode { new_tokens: 1.0 };
                    let s = Sweep::new(
                        models(),
                        batch.clone(),
                        context.clone(),
                        phase,
                        c,
                        objectives.clone(),
                        keep,
                    )
                    .unwrap();
                    for (lo, hi) in [(0, s.len()), (17, s.len() - 29)] {
                        let own = s.run(lo, hi, &Control::new()).unwrap();
                        let by_line = grid::run(&ByLine(Lines(&s)), lo, hi, &Control::new()).unwrap();
                        assert_eq!((own.evaluated, own.feasible), (by_line.evaluated, by_line.feasible));
                        assert!(own.feasible > 0);
                        assert_eq!(own.reducer.into_ranked(), by_line.reducer.into_ranked());
                    }
                }
            }
        }
    }

    #[test]
    fn unsorted_axes_match_the_definition() {
        // Descending axes: no whole-deployment skip, no dominated-context skip, contexts visited
        // out of index order.
        let batch: Vec<f64> = (0..40).rev().map(|i| f64::from(1 + 97 * i)).collect();
        let context: Vec<f64> = (0..30).rev().map(|i| f64::from(1 + 1201 * i)).collect();
        let objectives = vec![(Objective::Cost, Sense::Min), (Objective::Latency, Sense::Min)];
        for phase in [Phase::Decode { new_tokens: 1.0 }, Phase::Prefill] {
            let s = Sweep::new(
                models(),
                batch.clone(),
                context.clone(),
                phase,
                Constraints::default(),
                objectives.clone(),
                Keep::Pareto,
            )
            .unwrap();
            let out = s.run(0, s.len(), &Control::new()).unwrap();
            let (want, feasible) = naive(&s);
            assert!(feasible > 0 && feasible < s.len());
            assert_eq!(out.reducer.into_rows().iter().map(|r| r.index).collect::<Vec<_>>(), want);
            assert_eq!(out.feasible, feasible);
        }
    }

    #[test]
    fn rows_equal_evaluate_and_split_ranges_merge_exactly() {
        let s = sweep(
            Phase::Decode { new_tokens: 2.0 },
            Keep::Pareto,
            vec![(Objective::Cost, Sense::Min), (Objective::TokensPerSPerUser, Sense::Max)],
            Constraints::default(),
        );
        let whole = s.run(0, s.len(), &Control::new()).unwrap();
        let mid = s.len() / 3 + 17;
        let a = s.run(0, mid, &Control::new()).unwrap();
        let b = s.run(mid, s.len(), &Control::new()).unwrap();
        assert_eq!(a.evaluated + b.evaluated, whole.evaluated);
        assert_eq!(a.feasible + b.feasible, whole.feasible);
        let merged = b.reducer.merge(a.reducer).unwrap().into_rows();
        assert_eq!(merged, whole.reducer.into_rows());
        for sm in &s.models {
            for &b in &s.batch {
                for &c in &s.context {
                    assert_eq!(sm.fits(b, c, 2.0), sm.evaluate(b, c, 2.0).fits);
                }
            }
        }
        let (m, bi, ci) = s.locate(12345);
        let (step, _) = s.row(12345).unwrap();
        assert_eq!(step, s.models[m].evaluate(s.batch[bi], s.context[ci], 2.0));
    }

    #[test]
    fn bad_input_and_cancellation() {
        let objs = vec![(Objective::Cost, Sense::Min), (Objective::Latency, Sense::Min)];
        let ph = Phase::Decode { new_tokens: 1.0 };
        let c = Constraints::default();
        assert!(Sweep::new(models(), vec![], vec![1.0], ph, c, objs.clone(), Keep::Pareto).is_err());
        assert!(Sweep::new(models(), vec![0.5], vec![1.0], ph, c, objs.clone(), Keep::Pareto).is_err());
        assert!(Sweep::new(models(), vec![1.0], vec![0.0], Phase::Prefill, c, objs.clone(), Keep::Pareto)
            .is_err());
        let bad = Constraints { max_latency: 0.0, ..c };
        assert!(Sweep::new(models(), vec![1.0], vec![1.0], ph, bad, objs.clone(), Keep::Pareto).is_err());
        assert!(
            Sweep::new(models(), vec![1.0; 10], vec![1.0; 10], ph, c, objs.clone(), Keep::All(50)).is_err()
        );
        assert!(Objective::parse("speed").is_err());
        let s = sweep(ph, Keep::Pareto, objs, c);
        let control = Control::new();
        control.cancel();
        assert_eq!(s.run(0, s.len(), &control).unwrap_err(), Error::Interrupted);
        assert!(s.run(5, 4, &Control::new()).is_err());
    }

    #[test]
    fn table_rows_are_steps_metrics_and_positions() {
        let s = sweep(
            Phase::Decode { new_tokens: 2.0 },
            Keep::Pareto,
            vec![(Objective::Cost, Sense::Min), (Objective::Latency, Sense::Min)],
            Constraints::default(),
        );
        let index = [0, 7, s.len() - 1, 12345];
        let mut table = vec![0.0; index.len() * TABLE_WIDTH];
        s.table(&index, &mut table).unwrap();
        for (j, &i) in index.iter().enumerate() {
            let (step, x) = s.row(i).unwrap();
            let (m, b, c) = s.locate(i);
            let row: Vec<f64> = (0..TABLE_WIDTH).map(|k| table[k * index.len() + j]).collect();
            assert_eq!(row[..STEP_COLUMNS.len()], step.to_row());
            let rest = [x.cost, x.latency, x.tokens_per_s_per_user, m as f64, b as f64, c as f64];
            assert_eq!(row[STEP_COLUMNS.len()..], rest);
        }
        assert!(s.table(&[s.len()], &mut [0.0; TABLE_WIDTH]).is_err());
        assert!(s.table(&[0], &mut [0.0; 3]).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn any_range_split_gives_the_same_frontier(cut in 0u64..36_000, k in 1usize..8) {
            let s = sweep(
                Phase::Decode { new_tokens: 1.0 },
                Keep::Pareto,
                vec![(Objective::Cost, Sense::Min), (Objective::Latency, Sense::Min)],
                Constraints::default(),
            );
            let cut = cut.min(s.len());
            let whole = s.run(0, s.len(), &Control::new()).unwrap().reducer.into_rows();
            let a = s.run(0, cut, &Control::new()).unwrap().reducer;
            let b = s.run(cut, s.len(), &Control::new()).unwrap().reducer;
            prop_assert_eq!(a.merge(b).unwrap().into_rows(), whole);
            let top = Sweep::new(s.models.clone(), s.batch.clone(), s.context.clone(), s.phase, s.constraints,
                                 vec![(Objective::Cost, Sense::Min)], Keep::Top(k)).unwrap();
            let rows = top.run(0, top.len(), &Control::new()).unwrap().reducer.into_rows();
            prop_assert_eq!(rows.len(), k);
        }
    }
}
