//! Plan search: the grid engine ([`crate::grid`]) over training plans for a model, a chip, a GPU
//! count and a global batch.
//!
//! The grid is `layouts x microbatch x schedule x recompute x zero x sequence_parallel x offload`
//! (offload fastest), enumerated as `layouts x microbatch x choices`, the last axis the flattened
//! `schedule x recompute x zero x sequence_parallel x offload` (the same indices): a line of the
//! grid engine is one `(layout, microbatch)`, whose stage forward every choice shares. A layout is
//! a `(tp, pp, dp, ep, cp, precision)` with `tp x cp x pp x dp` the GPU count whose links exist
//! ([`Layout::new`]; layouts the chip cannot run, such as fp8 without an fp8 peak, are dropped); [`Search::new`] builds one step model per layout, and
//! a point is [`Layout::evaluate`] of its plan - the same call a single plan makes, so a search
//! row and a point estimate never disagree. Points whose plan does not validate (divisibility,
//! microbatches per pipeline) or, when asked, does not fit in device memory are skipped and not
//! counted as feasible.

use super::plan::{Precision, Recompute, TrainingPlan};
use super::stages::{stages, Stage};
use super::step::{check_offload, Layout, TrainingChip, TrainingModel, TrainingStep};
use crate::control::Control;
use crate::error::{Error, Result};
use crate::grid::{self, Evaluator, Grid, Line, Outcome};
use crate::pareto::{Keep, Reducer, Sense};
use crate::pipeline::Schedule;

/// What a plan can be judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    /// Seconds per step (min).
    StepTime,
    /// Memory per GPU (min).
    Memory,
    /// Device memory left (max).
    Headroom,
    /// Model FLOP utilisation (max).
    Mfu,
    /// USD per step (min).
    Cost,
}

impl Objective {
    /// Parse `step_time`, `memory`, `headroom`, `mfu`, `cost`.
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "step_time" => Self::StepTime,
            "memory" => Self::Memory,
            "headroom" => Self::Headroom,
            "mfu" => Self::Mfu,
            "cost" => Self::Cost,
            _ => {
                return Err(Error::invalid(
                    "objective",
                    name,
                    "one of step_time, memory, headroom, mfu, cost",
                ))
            }
        })
    }

    /// The objective's value in minimisation form.
    #[inline(always)]
    fn key(self, s: &TrainingStep) -> f64 {
        match self {
            Self::StepTime => s.step_time,
            Self::Memory => s.memory.total,
            Self::Headroom => Sense::Max.key(s.headroom),
            Self::Mfu => Sense::Max.key(s.mfu),
            Self::Cost => s.cost_per_step,
        }
    }

    /// Whether larger is better.
    pub fn sense(self) -> Sense {
        match self {
            Self::Headroom | Self::Mfu => Sense::Max,
            _ => Sense::Min,
        }
    }
}

/// The axes of a search (every list non-empty).
#[derive(Debug, Clone, PartialEq)]
pub struct Axes {
    /// Tensor-parallel degrees to try.
    pub tp: Vec<u64>,
    /// Pipeline degrees.
    pub pp: Vec<u64>,
    /// Expert-parallel degrees.
    pub ep: Vec<u64>,
    /// Sequences per microbatch.
    pub microbatch: Vec<u64>,
    /// `(schedule, chunks)` pairs.
    pub schedule: Vec<(Schedule, u64)>,
    /// Recomputation choices.
    pub recompute: Vec<Recompute>,
    /// ZeRO stages.
    pub zero: Vec<u8>,
    /// Sequence parallelism off / on.
    pub sequence_parallel: Vec<bool>,
    /// Context-parallel degrees.
    pub cp: Vec<u64>,
    /// GEMM precisions.
    pub precision: Vec<Precision>,
    /// Optimizer offload off / on.
    pub offload: Vec<bool>,
}

/// A validated plan search.
#[derive(Debug, Clone)]
pub struct Search {
    layouts: Vec<Layout>,
    shape: Vec<(u64, u64, u64, u64, u64, Precision)>,
    axes: Axes,
    model: TrainingModel,
    global_batch: u64,
    seq_len: u64,
    require_fits: bool,
    objectives: Vec<Objective>,
    keep: Keep,
    grid: Grid,
    /// `schedule x recompute x zero x sequence_parallel x offload` positions, offload fastest.
    choices: Vec<[usize; 5]>,
}

impl Search {
    /// Build every layout of `gpus` chips from the axes (those whose links do not exist are
    /// dropped; none left is an error) and validate the rest.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model: TrainingModel,
        chip: TrainingChip,
        gpus: u64,
        global_batch: u64,
        seq_len: u64,
        axes: Axes,
        require_fits: bool,
        objectives: Vec<Objective>,
        keep: Keep,
    ) -> Result<Self> {
        if gpus == 0 {
            return Err(Error::invalid("gpus", gpus, "an integer >= 1"));
        }
        for (f, n) in [
            ("tp", axes.tp.len()),
            ("pp", axes.pp.len()),
            ("ep", axes.ep.len()),
            ("microbatch", axes.microbatch.len()),
            ("schedule", axes.schedule.len()),
            ("recompute", axes.recompute.len()),
            ("zero", axes.zero.len()),
            ("sequence_parallel", axes.sequence_parallel.len()),
            ("cp", axes.cp.len()),
            ("precision", axes.precision.len()),
            ("offload", axes.offload.len()),
        ] {
            if n == 0 {
                return Err(Error::invalid(format!("len({f})"), 0, ">= 1 choice"));
            }
        }
        if objectives.is_empty() || objectives.len() > 3 {
            return Err(Error::invalid("objectives", objectives.len(), "1 to 3 objectives"));
        }
        Reducer::new(keep, objectives.len())?;
        check_offload(axes.offload.contains(&true), &chip)?;
        let mut layouts = Vec::new();
        let mut shape = Vec::new();
        let mut first_error = None;
        // The stage split depends on pp only: one balance_layers per pp.
        let mut splits: Vec<(u64, Vec<Stage>)> = Vec::new();
        for &tp in &axes.tp {
            for &pp in &axes.pp {
                for &cp in &axes.cp {
                    let Some(tpc) = tp.checked_mul(pp).and_then(|x| x.checked_mul(cp)) else { continue };
                    if tpc == 0 || gpus % tpc != 0 {
                        continue;
                    }
                    let dp = gpus / tpc;
                    for &ep in &axes.ep {
                        if ep == 0 || dp % ep != 0 {
                            continue;
                        }
                        for &precision in &axes.precision {
                            let split = match splits.iter().find(|(p, _)| *p == pp) {
                                Some((_, s)) => s.clone(),
                                None => {
                                    let s = stages(&model, pp);
                                    splits.push((pp, s.clone()));
                                    s
                                }
                            };
                            match Layout::with_stages(&model, &chip, tp, pp, dp, ep, cp, precision, split) {
                                Ok(l) => {
                                    layouts.push(l);
                                    shape.push((tp, pp, dp, ep, cp, precision));
                                }
                                Err(e) => {
                                    first_error.get_or_insert(e);
                                }
                            }
                        }
                    }
                }
            }
        }
        if layouts.is_empty() {
            return Err(first_error.unwrap_or_else(|| {
                Error::invalid(
                    "gpus",
                    gpus,
                    "a count that some tp x cp x pp (x ep dividing dp) of the axes divides",
                )
            }));
        }
        // The product of the four choice axes, checked by the grid itself first.
        Grid::new(&[
            ("layout", layouts.len()),
            ("microbatch", axes.microbatch.len()),
            ("schedule", axes.schedule.len()),
            ("recompute", axes.recompute.len()),
            ("zero", axes.zero.len()),
            ("sequence_parallel", axes.sequence_parallel.len()),
            ("offload", axes.offload.len()),
        ])?;
        let mut choices = Vec::new();
        for a in 0..axes.schedule.len() {
            for b in 0..axes.recompute.len() {
                for c in 0..axes.zero.len() {
                    for d in 0..axes.sequence_parallel.len() {
                        for e in 0..axes.offload.len() {
                            choices.push([a, b, c, d, e]);
                        }
                    }
                }
            }
        }
        let grid = Grid::new(&[
            ("layout", layouts.len()),
            ("microbatch", axes.microbatch.len()),
            ("choice", choices.len()),
        ])?;
        Ok(Self {
            layouts,
            shape,
            axes,
            model,
            global_batch,
            seq_len,
            require_fits,
            objectives,
            keep,
            grid,
            choices,
        })
    }

    /// Points in the grid.
    pub fn len(&self) -> u64 {
        self.grid.len()
    }

    /// Whether the grid is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.grid.is_empty()
    }

    /// The plan at grid index `i` (not validated) and its layout.
    pub fn plan(&self, i: u64) -> (TrainingPlan, &Layout) {
        let mut pos = Vec::with_capacity(3);
        self.grid.locate(i, &mut pos);
        (self.plan_at(pos[0], pos[1], pos[2]), &self.layouts[pos[0]])
    }

    #[inline(always)]
    fn plan_at(&self, layout: usize, microbatch: usize, choice: usize) -> TrainingPlan {
        let (tp, pp, dp, ep, cp, precision) = self.shape[layout];
        let a = &self.axes;
        let [sc, rc, z, sp, off] = self.choices[choice];
        let (schedule, chunks) = a.schedule[sc];
        TrainingPlan {
            tp,
            pp,
            dp,
            ep,
            cp,
            precision,
            offload: a.offload[off],
            sequence_parallel: a.sequence_parallel[sp],
            schedule,
            chunks,
            microbatch: a.microbatch[microbatch],
            global_batch: self.global_batch,
            seq_len: self.seq_len,
            recompute: a.recompute[rc],
            zero: a.zero[z],
        }
    }

    /// The step of grid point `i`, or the reason its plan is invalid.
    pub fn row(&self, i: u64) -> Result<(TrainingPlan, TrainingStep)> {
        self.grid.check_range(i, i + 1)?;
        let (plan, layout) = self.plan(i);
        plan.validate(&self.model.costs, self.model.heads)?;
        Ok((plan, layout.evaluate(&plan)))
    }

    /// The senses of the objectives, in order.
    pub fn senses(&self) -> Vec<Sense> {
        self.objectives.iter().map(|o| o.sense()).collect()
    }

    /// Evaluate grid points `[lo, hi)` on the grid engine, checking `control` between chunks.
    pub fn run(&self, lo: u64, hi: u64, control: &Control) -> Result<Outcome> {
        grid::run(self, lo, hi, control)
    }
}

impl Evaluator for Search {
    fn grid(&self) -> &Grid {
        &self.grid
    }

    fn reducer(&self) -> Reducer {
        Reducer::new(self.keep, self.objectives.len()).expect("validated in Search::new")
    }

    fn line(&self, outer: &[usize], lo: usize, hi: usize, base: u64, r: &mut Reducer) -> Line {
        let (l, mb) = (outer[0], outer[1]);
        let (costs, heads) = (&self.model.costs, self.model.heads);
        // Everything but the choices is the line's: checked and priced once.
        if !self.plan_at(l, mb, lo).layout_valid(costs, heads) {
            return Line { feasible: 0, skip_rest_of: None };
        }
        let layout = &self.layouts[l];
        let fwd = layout.forward(self.axes.microbatch[mb], self.seq_len);
        let mut feasible = 0;
        for c in lo..hi {
            let plan = self.plan_at(l, mb, c);
            if !plan.schedule_valid(costs) {
                continue;
            }
            let s = layout.evaluate_with(&plan, &fwd);
            if self.require_fits && !s.fits {
                continue;
            }
            let mut v = [0.0; 3];
            for (slot, o) in v.iter_mut().zip(&self.objectives) {
                *slot = o.key(&s);
            }
            if r.push(v, base + c as u64) {
                feasible += 1;
            }
        }
        Line { feasible, skip_rest_of: None }
    }
}
