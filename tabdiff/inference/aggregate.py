"""Decode draws of the target cells and combine them into point estimates (DESIGN: "Point estimates and draws").

Each draw is decoded on its own, in the original units: a numeric cell through the column's quantile map
(so the mean is taken over values, not over normalized scores), a categorical cell into class probabilities
(`TableEncoder.category_probabilities`: for an x0-model's one-pass output these are the model's
probabilities, for a multi-step sample nearly one-hot). Point estimates are the mean value and the category
of highest averaged probability; kept draws hold a value, or a category code drawn from that draw's
probabilities.
"""

from __future__ import annotations

import textwrap

import numpy as np

from tabdiff.encoding import ColumnKind, TableEncoder
from tabdiff.inference.engine import Block


class DrawAggregate:
    """Running sums over draws for every target cell, and optionally each draw's decoded values."""

    def __init__(
        self,
        encoder: TableEncoder,
        target_mask: np.ndarray,
        *,
        n_draws: int,
        keep_draws: bool = False,
        allowed: dict[int, np.ndarray] | None = None,
        rng: np.random.Generator | None = None,
        rare: dict[int, np.ndarray] | None = None,
    ) -> None:
        self.encoder = encoder
        # column j -> (rows, K) how the "other" channel's probability splits over its categories in each row
        # (inference/rare.py); columns without a shared channel, or not given, keep the frequency split
        self.rare = rare or {}
        # column j -> (K,) bool: the categories an output column can hold (e.g. a category dtype's own);
        # drawn and most probable categories are taken among these
        self.allowed = allowed or {}
        self.target_mask = target_mask  # (rows, cols) bool
        self.n_draws = n_draws
        self.rng = rng if rng is not None else np.random.default_rng(0)
        n_rows, n_cols = target_mask.shape
        self.names = list(encoder.columns_)
        self.kinds = [encoder.column_kind_[name] for name in self.names]
        self.count = np.zeros((n_rows, n_cols), dtype=np.int64)  # draws seen per cell
        self.value_sum = np.zeros((n_rows, n_cols))  # numeric columns: sum of decoded values
        self.proba_sum = {
            j: np.zeros((n_rows, len(encoder.categories_[name])))
            for j, name in enumerate(self.names)
            if self.kinds[j] == ColumnKind.CATEGORICAL and target_mask[:, j].any()
        }  # categorical columns: sum of class probabilities
        # column j -> (n_draws, rows): each draw's decoded value (numeric) or drawn category code
        # (categorical), NaN off target; only columns with target cells
        self.draws = (
            {j: np.full((n_draws, n_rows), np.nan) for j in np.flatnonzero(target_mask.any(axis=0))}
            if keep_draws
            else None
        )

    def add(self, block: Block) -> None:
        table = block.table
        # the target cells this sub-table answers for: its query rows x its group's target columns
        selected = self.target_mask[np.ix_(table.rows, table.cols)] & table.answer_rows[:, None] & table.answer_cols
        rows_with_target = selected.any(axis=1)
        if not rows_with_target.any():
            return
        selected = selected[rows_with_target]
        rows, cells = table.rows[rows_with_target], block.cells[rows_with_target]  # (r', ), (r', c, K)
        probabilities = {}
        if any(self.kinds[j] == ColumnKind.CATEGORICAL for j in table.cols):
            full = np.zeros((len(rows), len(self.names), cells.shape[-1]), dtype=np.float32)
            full[:, table.cols] = cells  # category_probabilities wants every column of the table
            probabilities = self.encoder.category_probabilities(full)
        for position, j in enumerate(table.cols):
            pick = selected[:, position]
            if not pick.any():
                continue
            target_rows, name = rows[pick], self.names[j]
            if self.kinds[j] == ColumnKind.NUMERIC:
                values = self.encoder.numeric_maps_[name].decode(cells[pick, position, 0])
                self.value_sum[target_rows, j] += values
            else:
                proba = probabilities[name][pick]  # (n, K)
                if j in self.rare:
                    rare = self.encoder.rare_levels(name)
                    other = proba[:, rare].sum(axis=1, keepdims=True)  # P("other" channel)
                    proba[:, rare] = other * self.rare[j][target_rows][:, rare]
                self.proba_sum[j][target_rows] += proba
                values = self._draw_codes(self._restrict(j, proba)) if self.draws is not None else None
            if self.draws is not None:
                self.draws[j][block.draw, target_rows] = values
            self.count[target_rows, j] += 1

    def check_complete(self) -> None:
        """Every target cell must have been drawn exactly n_draws times (a planning bug otherwise)."""
        counts = self.count[self.target_mask]
        if counts.size and not (counts == self.n_draws).all():
            raise AssertionError(f"target cells drawn {np.unique(counts)} times, expected {self.n_draws}")

    def mean(self, j: int, rows: np.ndarray) -> np.ndarray:
        """(n,) mean decoded value of numeric column j at `rows`."""
        return self.value_sum[rows, j] / self.count[rows, j]

    def probabilities(self, j: int, rows: np.ndarray) -> np.ndarray:
        """(n, K) averaged class probabilities of categorical column j at `rows`; rows sum to 1."""
        proba = self.proba_sum[j][rows] / self.count[rows, j][:, None]
        return proba / proba.sum(axis=1, keepdims=True)

    def most_probable(self, j: int, rows: np.ndarray) -> np.ndarray:
        """(n,) code of the most probable allowed category of column j at `rows`."""
        return np.argmax(self._restrict(j, self.probabilities(j, rows)), axis=1)

    def _restrict(self, j: int, proba: np.ndarray) -> np.ndarray:
        """Zero the probabilities of categories column j cannot hold, and renormalize."""
        allowed = self.allowed.get(j)
        if allowed is None:
            return proba
        proba = np.where(allowed[None, :], proba, 0.0)
        return proba / proba.sum(axis=1, keepdims=True)

    def _draw_codes(self, proba: np.ndarray) -> np.ndarray:
        """(n, K) probabilities -> (n,) float codes, one category drawn per row (inverse CDF)."""
        u = self.rng.random(len(proba))[:, None]
        codes = (np.cumsum(proba, axis=1) < u).sum(axis=1)
        return np.minimum(codes, proba.shape[1] - 1).astype(np.float64)


def centre_draws(draws: np.ndarray, centre: np.ndarray, low: float, high: float) -> np.ndarray:
    """(n, cells) draws (n >= 2) moved onto `centre` (cells,): centre + sqrt(n / (n - 1)) x (draw - the draws'
    mean), clipped into [low, high].

    The deviations of n independent draws from their own mean have variance (n - 1) / n times the draws', so the
    factor restores the spread; the draws' mean then equals `centre` wherever nothing is clipped. Used where a
    better point estimate than the draws' mean is at hand (the one-pass estimate the model was trained for)."""
    n = draws.shape[0]
    if n < 2:
        raise ValueError(f"centring needs at least 2 draws, got {n}")
    deviation = draws - draws.mean(axis=0, keepdims=True)
    return np.clip(centre[None, :] + np.sqrt(n / (n - 1)) * deviation, low, high)


DRAW_CENTRES = ("point", "draws")
DRAW_CENTRE_DOC = """
    draw_centre : "point" or "draws"
        Where the numeric draws of a cell are centred (n >= 2 draws, with a sampler that draws: not one-step
        "ddim"). "point": on the one-pass point estimate (one-step DDIM with n_ensemble members, what the default
        settings fill in), each draw keeping its deviation from the n draws' mean, widened by sqrt(n / (n - 1))
        (deviations from a mean of n draws are that much narrower than the draws), clipped into the column's
        observed range (`centre_draws`); costs one one-pass run. The multi-step sampler's draws spread as the
        predictive distribution does, but their mean errs more than the one-pass point the model was trained for.
        "draws": the sampler's draws as they are.
{default}
"""


def draw_centre_doc(default: str) -> str:
    """DRAW_CENTRE_DOC with an estimator's own sentence on its default, wrapped as the rest."""
    return DRAW_CENTRE_DOC.format(
        default=textwrap.fill(default, 112, initial_indent=" " * 8, subsequent_indent=" " * 8)
    )


def check_draw_centre(draw_centre: object) -> None:
    if draw_centre not in DRAW_CENTRES:
        raise ValueError(f"draw_centre must be one of {list(DRAW_CENTRES)}, got {draw_centre!r}")
