"""The batched prior engine: whole batches of prior tables of one shape drawn with torch tensor operations.

Same steps and distribution as the per-table numpy reference in `tabdiff/prior/` (tests/prior/batched compare
them), on any device: `ops` (shared draws), `families` (latent factor, mixture, GP), `mechanisms` + `scm`,
`columns` (mixed types), `filtering` (predictability), `missingness` (masks), `sampler` (BatchedPrior).
"""

from tabdiff.prior.batched.sampler import FAMILIES, BatchedPrior, PriorBatch

__all__ = ["FAMILIES", "BatchedPrior", "PriorBatch"]
