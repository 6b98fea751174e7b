"""In-context inference: load a checkpoint, hand it a table, get the unknown cells back (no gradient step).

`TabDiffImputer`, `TabDiffClassifier`, `TabDiffRegressor` and `TabDiffGenerator` are scikit-learn-style estimators on top of
`inpaint`, the sampler core; `load_pretrained` loads the bundled checkpoint or any export.
"""

from tabdiff.checkpoint import BUNDLED_CHECKPOINT, LoadedCheckpoint, load_exported, load_pretrained
from tabdiff.inference.generator import TabDiffGenerator
from tabdiff.inference.imputer import TabDiffImputer
from tabdiff.inference.inpaint import DEFAULT_STEPS, SAMPLERS, Sampler, inpaint
from tabdiff.inference.predictors import TabDiffClassifier, TabDiffRegressor

__all__ = [
    "BUNDLED_CHECKPOINT",
    "DEFAULT_STEPS",
    "SAMPLERS",
    "LoadedCheckpoint",
    "Sampler",
    "TabDiffClassifier",
    "TabDiffGenerator",
    "TabDiffImputer",
    "TabDiffRegressor",
    "inpaint",
    "load_exported",
    "load_pretrained",
]
