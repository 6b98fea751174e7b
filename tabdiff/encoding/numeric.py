"""Monotone piecewise-linear map from a numeric column to standard-normal scores, and its exact inverse.

Like scikit-learn's ``QuantileTransformer(output_distribution="normal")``, but built so that decoding is
exact: the knots are observed values themselves (never interpolated quantiles), their scores are strictly
increasing, and a cell holding exactly the float32 score of a knot decodes to that knot bit for bit.
Because the map goes through ranks, one huge outlier moves only its own knot: the bulk keeps its spread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class QuantileNormalMap:
    """Piecewise-linear map ``knots -> scores``, fitted on the observed cells of one column."""

    knots: np.ndarray  # (n_knots,) float64, strictly increasing observed values
    scores: np.ndarray  # (n_knots,) float64, strictly increasing normal scores in [-clip, clip]

    @classmethod
    def fit(cls, observed: np.ndarray, *, n_quantiles: int, clip: float) -> QuantileNormalMap:
        """Fit on the finite observed values of a column (no NaN: the caller drops missing cells)."""
        values, counts = np.unique(np.asarray(observed, dtype=np.float64), return_counts=True)
        if len(values) == 1:  # a constant column carries no information: code 0, decodes to the constant
            return cls(knots=values, scores=np.zeros(1))
        below = np.cumsum(counts) - counts
        # plotting position (mid-rank - 1/2) / n, ties at their mid-rank: strictly inside (0, 1), strictly increasing
        probs = (below + counts / 2) / counts.sum()
        if len(values) > n_quantiles:
            # order statistics spread evenly over the unique values, min and max included
            pick = np.unique(np.round(np.linspace(0, len(values) - 1, n_quantiles)).astype(np.int64))
            values, probs = values[pick], probs[pick]
        scores = torch.special.ndtri(torch.from_numpy(probs)).numpy().clip(-clip, clip)
        keep = _strictly_increasing(scores, clip)
        return cls(knots=values[keep], scores=scores[keep])

    def encode(self, values: np.ndarray) -> np.ndarray:
        """(n,) values -> (n,) scores; values outside the fitted range saturate at the end scores."""
        return np.interp(np.asarray(values, dtype=np.float64), self.knots, self.scores)

    def decode(self, scores: np.ndarray) -> np.ndarray:
        """(n,) scores -> (n,) float64 values; scores beyond the end knots saturate at the min / max."""
        scores = np.asarray(scores, dtype=np.float64)
        values = np.interp(scores, self.scores, self.knots)
        # cells are float32: a cell equal to a knot's float32 score is that knot (interpolating would be off
        # by float32 rounding times the local slope, which is large in sparse regions and tails)
        knot_scores32 = self.scores.astype(np.float32).astype(np.float64)
        nearest = np.searchsorted(knot_scores32, scores).clip(max=len(knot_scores32) - 1)
        on_knot = knot_scores32[nearest] == scores
        values[on_knot] = self.knots[nearest[on_knot]]
        return values


def _strictly_increasing(scores: np.ndarray, clip: float) -> np.ndarray:
    """Keep-mask making ``scores`` strictly increasing: knots clipped onto +-clip merge into the end knot.

    Ties happen only past the clip (|score| > 5 needs > ~1.7M observed cells); keeping the min at -clip and the
    max at +clip, and dropping the knots clipped onto them, leaves a map that is still monotone and exact.
    """
    keep = np.ones(len(scores), dtype=bool)
    keep[np.flatnonzero(scores <= -clip)[1:]] = False
    keep[np.flatnonzero(scores >= clip)[:-1]] = False
    # ndtri is strictly increasing, so this would only be float64 running out of resolution
    if not np.all(np.diff(scores[keep]) > 0):
        raise ValueError("normal scores of the knots are not strictly increasing; lower n_quantiles")
    return keep
