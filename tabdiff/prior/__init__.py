"""Synthetic table prior: generator families, mixed column types, filtering and missingness.

Knows nothing of the model or Lightning (docs/design.md). Two engines draw the same distribution:
`PriorSampler` (numpy, one table at a time: the readable reference) and `batched.BatchedPrior` (torch, a
whole batch of one shape at once, on a CPU worker or the training GPU: what pretraining uses).
`build_prior(engine=...)` picks one.
"""

from tabdiff.prior.build import build_prior
from tabdiff.prior.columns import ColumnConfig, ColumnProcessor
from tabdiff.prior.filtering import FilterConfig, predictability
from tabdiff.prior.gp import GPConfig, GPPrior
from tabdiff.prior.latent import LatentFactorConfig, LatentFactorPrior
from tabdiff.prior.mechanisms import MechanismConfig
from tabdiff.prior.missingness import MaskSampler, MissingnessConfig
from tabdiff.prior.mixture import GaussianMixturePrior, MixtureConfig
from tabdiff.prior.sampler import PriorConfig, PriorSampler, TableGenerator
from tabdiff.prior.scm import SCMConfig, SCMPrior
from tabdiff.prior.table import Family, MaskKind, RawTable, SyntheticTable

__all__ = [
    "ColumnConfig",
    "ColumnProcessor",
    "Family",
    "FilterConfig",
    "GPConfig",
    "GPPrior",
    "GaussianMixturePrior",
    "LatentFactorConfig",
    "LatentFactorPrior",
    "MaskKind",
    "MaskSampler",
    "MechanismConfig",
    "MissingnessConfig",
    "MixtureConfig",
    "PriorConfig",
    "PriorSampler",
    "RawTable",
    "SCMConfig",
    "SCMPrior",
    "SyntheticTable",
    "TableGenerator",
    "build_prior",
    "predictability",
]
