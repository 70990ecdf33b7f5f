"""Scale (chapter 12): what makes a model large, counted, weighed, measured and sharded.

Split by concept: :mod:`.counting` (parameters from configurations, checked on the meta device; the 6ND rule),
:mod:`.memory` (training memory per parameter, activations), :mod:`.sweep` (the scaling study of chapter 6's
decoder and its shipped table, rebuilt by ``python -m troikadl.scaling.sweep``), :mod:`.fit` (power laws, the
loss surface L(N, D) of Hoffmann et al., bootstrap intervals, the compute-optimal split) and
:mod:`.distributed` (DDP, ZeRO-1 and FSDP under ``torchrun``). Each name is defined in one module and
re-exported here. The two modules that are also commands, :mod:`.sweep` and :mod:`.distributed`, are imported on
first use of one of their names, so that ``python -m`` runs them cleanly.
"""

from .._lazy import lazy_submodules
from .counting import (Reference, analytic_parameters, build_on_meta, count_parameters, forward_flops_per_token,
                       meta_parameters, parameter_breakdown, reference_models, training_flops)
from .fit import (Bootstrap, LossSurface, PowerLaw, bootstrap_fit, compute_optimal, fit_loss_surface,
                  fit_power_law, huber_log_objective)
from .memory import activation_bytes, fits, measured_training_state_bytes, training_state_bytes

_COMMANDS = {"sweep": ("Table", "build_table", "merge_tables", "train_row"),
             "distributed": ("ShardSettings", "global_batch", "local_bytes", "train_strategy", "run_torchrun")}
__getattr__, __dir__ = lazy_submodules(__name__, tuple(_COMMANDS),
                                       {name: module for module, names in _COMMANDS.items() for name in names})

__all__ = ["count_parameters", "parameter_breakdown", "analytic_parameters", "build_on_meta", "meta_parameters",
           "Reference", "reference_models", "training_flops", "forward_flops_per_token",
           "training_state_bytes", "measured_training_state_bytes", "activation_bytes", "fits",
           "train_row", "build_table", "merge_tables", "Table",
           "PowerLaw", "LossSurface", "Bootstrap", "fit_power_law", "fit_loss_surface", "bootstrap_fit",
           "compute_optimal", "huber_log_objective",
           "ShardSettings", "global_batch", "local_bytes", "train_strategy", "run_torchrun"]
