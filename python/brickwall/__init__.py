"""brickwall: what it costs to train and serve a dense or Mixture-of-Experts transformer on
given hardware, where the time goes, and which configuration is best.

>>> import brickwall as bw
>>> m = bw.model("gpt4-moe-1.8t")
>>> round(m.params.total / 1e12, 2), round(m.params.active / 1e9)
(1.87, 285)
"""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from . import errors, inference, moe, pipeline, serve, speculative
from .collectives import collective_time, hierarchical_all_reduce_time
from .deployment import Deployment
from .hardware import Efficiency, Hardware, hardware, hardware_names
from .inference import StepEstimate, StepTable, decode, prefill, steps
from .model import Model, ParamCounts, model, model_names
from .readers import from_hf_config
from .serve import Lengths, Scheduler, ServingResult, Speculation, Trace, Workload, simulate
from .sweep import Constraints, SweepResult, sweep
from .training import (
    Goodput,
    PlanSearch,
    TrainingPlan,
    TrainingRun,
    TrainingStep,
    chinchilla_tokens,
    goodput,
    plan_step,
    search_plans,
    training_run,
)

try:
    __version__ = _version("brickwall")
except _PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"
del _PackageNotFoundError, _version  # helpers, not API: dir(brickwall) is __all__ and submodules

__all__ = [
    "Deployment",
    "Constraints",
    "Efficiency",
    "Hardware",
    "Model",
    "ParamCounts",
    "Lengths",
    "Scheduler",
    "Speculation",
    "ServingResult",
    "StepEstimate",
    "StepTable",
    "SweepResult",
    "Goodput",
    "PlanSearch",
    "TrainingPlan",
    "TrainingRun",
    "TrainingStep",
    "goodput",
    "plan_step",
    "search_plans",
    "Trace",
    "Workload",
    "chinchilla_tokens",
    "collective_time",
    "decode",
    "errors",
    "from_hf_config",
    "hardware",
    "hardware_names",
    "hierarchical_all_reduce_time",
    "inference",
    "model",
    "model_names",
    "prefill",
    "simulate",
    "steps",
    "sweep",
    "training_run",
    "moe",
    "speculative",
    "pipeline",
    "serve",
]
