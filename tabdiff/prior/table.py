"""The tables the prior produces: `RawTable` between the steps of the pipeline, `SyntheticTable` at the end.

A generator family makes a `RawTable` of numeric columns; `columns.ColumnProcessor` turns some of them into
categorical and integer columns; `missingness.MaskSampler` adds the conditioning pattern, giving a
`SyntheticTable`. The model never sees a `RawTable`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Family = Literal["latent_factor", "scm", "mixture", "gp"]
MaskKind = Literal["mcar", "mar", "mnar", "target"]


@dataclass(frozen=True)
class RawTable:
    """A complete table on its way through the prior: values plus column metadata."""

    values: np.ndarray  # (rows, cols) float64, finite; categorical columns hold codes 0..K-1
    n_categories: np.ndarray  # (cols,) int64, 0 for numeric columns, K >= 2 for categorical
    is_integer: np.ndarray  # (cols,) bool, numeric columns holding whole numbers
    target_col: int | None  # a column that is an effect of others (a natural "target"), if one is known

    @classmethod
    def numeric(cls, values: np.ndarray, target_col: int | None = None) -> RawTable:
        """All columns numeric and continuous, as the generator families make them."""
        n_cols = values.shape[1]
        return cls(
            values=np.asarray(values, dtype=np.float64),
            n_categories=np.zeros(n_cols, dtype=np.int64),
            is_integer=np.zeros(n_cols, dtype=bool),
            target_col=target_col,
        )


@dataclass(frozen=True)
class SyntheticTable:
    """One prior table: the complete ground truth and which of its cells are given."""

    values: np.ndarray  # (rows, cols) float64, the complete ground truth (no NaN); categorical columns hold integer codes 0..K-1 as floats
    n_categories: np.ndarray  # (cols,) int64, 0 for numeric columns, K >= 2 for categorical
    is_integer: np.ndarray  # (cols,) bool, numeric columns rounded to integers
    known_mask: np.ndarray  # (rows, cols) bool, the conditioning pattern: True = the cell is given, False = to inpaint
    family: str  # which generator made it ("scm", "latent_factor", ...)
    missingness: str  # which mask generator made known_mask ("mcar", "mar", "mnar", "target")

    def __post_init__(self) -> None:
        # cheap checks (a few vector ops): a malformed table would otherwise surface as a NaN loss much later
        rows, cols = self.values.shape
        if self.known_mask.shape != (rows, cols):
            raise ValueError(f"known_mask shape {self.known_mask.shape} != values shape {(rows, cols)}")
        if self.n_categories.shape != (cols,) or self.is_integer.shape != (cols,):
            raise ValueError("n_categories and is_integer must have one entry per column")
        if not np.isfinite(self.values).all():
            raise ValueError("values must be finite")

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape  # type: ignore[return-value]
