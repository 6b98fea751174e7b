"""Synthetic table prior: generator families, mixed column types, filtering and missingness.

Knows nothing of the model or Lightning (DESIGN.md); numpy only, so tables are cheap to draw.
"""

from tabdiff.prior.columns import ColumnConfig, ColumnProcessor
from tabdiff.prior.filtering import FilterConfig, predictability
from tabdiff.prior.gp import GPConfig, GPPrior
from tabdiff.prior.latent import LatentFactorConfig, LatentFactorPrior
from tabdiff.prior.mechanisms import MechanismConfig
from tabdiff.prior.missingness import MaskSampler, MissingnessConfig
from tabdiff.prior.mixture import GaussianMixturePrior, MixtureConfig
from tabdiff.prior.sampler import PriorConfig, PriorSampler, TableGenerator, build_prior
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
