"""tabdiff: an in-context tabular diffusion foundation model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# the inference API, imported on first use so that `import tabdiff.diffusion` (or the pretraining CLI)
# does not pull in pandas-facing estimators
__all__ = [
    "LoadedCheckpoint",
    "TabDiffClassifier",
    "TabDiffGenerator",
    "TabDiffImputer",
    "TabDiffRegressor",
    "__version__",
    "load_pretrained",
]

if TYPE_CHECKING:
    from tabdiff.inference import (
        LoadedCheckpoint,
        TabDiffClassifier,
        TabDiffGenerator,
        TabDiffImputer,
        TabDiffRegressor,
        load_pretrained,
    )


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        import tabdiff.inference

        return getattr(tabdiff.inference, name)
    raise AttributeError(f"module 'tabdiff' has no attribute {name!r}")
