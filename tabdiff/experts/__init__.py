"""tabdiff.experts: closed-form statistics fitted in context, outside the network.

- `mix`: the in-context experts (a chained ridge, a Gaussian fitted by EM, a multinomial logistic regression; `ridge`)
  fitted on a table's known cells and mixed into the denoiser's x0 estimate by the sampler's model function (and, when a
  run trains with them, by the training objective). `ExpertConfig` says which run; `kind="none"` is the network alone.
- `blend`: the estimator-level blend of the model's fills with classical imputers (MICE, KNN, MissForest).

Knows nothing of the network: it reads cells, masks and the network's output.
"""

from tabdiff.experts.mix import (
    EXPERT_CHOICES,
    NO_EXPERTS,
    ExpertChoice,
    ExpertConfig,
    FittedExperts,
    check_prediction,
    with_experts,
)

__all__ = [
    "EXPERT_CHOICES",
    "NO_EXPERTS",
    "ExpertChoice",
    "ExpertConfig",
    "FittedExperts",
    "check_prediction",
    "with_experts",
]
