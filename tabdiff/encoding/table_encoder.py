"""TableEncoder: a mixed-type table <-> normalized float cells ``(rows, cols, n_channels)``, and back exactly.

Contract (the model relies on it, the tests check it):

- **Numeric columns** (numpy or nullable int / float dtypes, dates, durations) use channel 0: a monotone piecewise-linear map
  from observed values to standard-normal scores of their mid-ranks, clipped to ``[-clip, clip]``
  (``numeric.QuantileNormalMap``). Ranks make it robust: one 1e9 outlier does not squash the bulk. Values
  outside the fitted range (in ``transform``, or decoded scores past the end knots) saturate at the min / max
  seen in ``fit``. A constant column codes to 0 and decodes to its constant. Decoding is exact for values
  that are knots (every observed value when a column has at most ``n_quantiles`` distinct values) and, for
  the others, exact up to the float32 resolution of the score times the local slope (about 1e-7 of the
  column's spread). Integer dtypes decode by rounding; float dtypes keep their width (float32 stays float32).
- **Categorical columns** (``category``, ``bool`` / ``boolean``, ``str`` / ``object``, and any column named in
  ``categorical_columns``) are one-hot in {-1, +1} over channels ``0..K-1``. Categories are the dtype's for
  ``category`` (unobserved ones included), ``[False, True]`` for bools, else the sorted observed values.
  Decoding is the argmax over the K used channels; ``category_probabilities`` is
  ``clip((x + 1) / 2, 1e-6, 1)`` renormalized, the class probabilities when ``x`` is E[one-hot] (what an
  x0-predicting model outputs).
- **Any number of categories**: ``n_channels == max_categories`` is fixed by the model; ``coded_categories``
  (default ``max_categories``) caps the channels a column uses, e.g. at the most a checkpoint's pretraining
  tables had. A column with more categories than that keeps a channel of its own for each of its
  ``coded_categories - 1`` most frequent categories and codes all the others in the last, "other" channel (``channels_``, ``rare_levels``).
  ``category_probabilities`` splits the "other" probability over those categories by observed count plus
  one (the estimators re-split it by the nearest rows, see ``tabdiff.inference.rare``); decoding the
  "other" channel gives its most frequent category.
- **Dates and durations** (datetime64 with or without time zone, timedelta64) are numeric columns coded
  from their ticks and decoded in their own dtype, rounded to the column's step (``encoding/temporal.py``).
- **Numbers written as text** (a str / object column whose cells read as numbers, with more distinct values
  than ``max_categories``) are numeric columns; if some cells are text that is not a number, ``fit`` raises a
  ValueError naming the first one and its row (the estimators can treat such cells as missing instead).
- **Missing cells** hold 0 in every channel and ``known_mask`` False; all statistics (knots, observed
  categories) are fitted on observed cells only. Unused channels hold 0. Cells are never NaN.
- **Unseen categories** in ``transform`` raise a ValueError naming the column and the values (they are not
  silently mapped to missing: an unseen value is usually a typo or a different table).
- **Arrays**: a 2-D float, int or bool ndarray (NaN = missing) is read as columns ``0..n-1``;
  ``categorical_columns`` then holds positions, and ``inverse_transform`` returns an ndarray of the same
  dtype. Object arrays are refused: wrap them in a DataFrame with typed columns.
- ``inverse_transform`` decodes every cell (the model has filled the missing ones), so a column with missing
  cells comes back complete, in its fitted dtype, with the fitted index, column names and column order.
- Inputs are never modified.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch
from pandas.api import types as ptypes
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from tabdiff.encoding.categorical import (
    category_codes,
    decode_codes,
    one_hot,
    probabilities,
    sorted_categories,
    take_categories,
)
from tabdiff.encoding.columns import ColumnKind, as_numbers, column_values, infer_kind, stray_text
from tabdiff.encoding.numeric import QuantileNormalMap
from tabdiff.encoding.temporal import TemporalCodec, is_temporal

InputKind = Literal["dataframe", "ndarray"]


@dataclass(frozen=True)
class EncodedTable:
    """A table as the diffusion model sees it; ``cols`` and ``n_channels`` are fixed by the encoder."""

    cells: torch.Tensor  # (rows, cols, n_channels) float32; 0 in unused channels and missing cells
    known_mask: torch.Tensor  # (rows, cols) bool, True = observed
    channel_mask: torch.Tensor  # (cols, n_channels) bool, True where the column uses the channel
    column_kind: torch.Tensor  # (cols,) long, ColumnKind values (0 numeric, 1 categorical)
    n_categories: torch.Tensor  # (cols,) long, K for categorical columns, 0 for numeric


class TableEncoder(BaseEstimator):
    """Fit per-column codes on observed cells; ``transform`` to ``EncodedTable``, ``inverse_transform`` back."""

    def __init__(
        self,
        *,
        categorical_columns: Sequence[Hashable] | None = None,
        max_categories: int = 16,
        coded_categories: int | None = None,
        n_quantiles: int = 1000,
        clip: float = 5.0,
    ) -> None:
        # extra categorical columns: names for a DataFrame, positions for an array
        self.categorical_columns = categorical_columns
        self.max_categories = max_categories  # channels of every cell = the model's n_channels
        # categories with a channel each (None: max_categories); a column with more shares the last one
        self.coded_categories = coded_categories
        self.n_quantiles = n_quantiles  # most knots of a numeric map (min and max included)
        self.clip = clip  # numeric scores live in [-clip, clip]

    def fit(self, table: pd.DataFrame | np.ndarray) -> TableEncoder:
        self._check_options()
        frame, input_kind = _as_frame(table)
        forced = self._forced_categorical(frame)
        column_kind, categories, channels, frequency, numeric_maps, dtypes = {}, {}, {}, {}, {}, {}
        temporal, numeric_text = {}, set()
        for j, name in enumerate(frame.columns):
            column = frame.iloc[:, j]
            dtypes[name] = column.dtype
            if name not in forced and stray_text(column, min_distinct=self.max_categories) is not None:
                numeric_text.add(name)
                column = _as_numbers(column, name)
            kind = infer_kind(column, name=name, force_categorical=name in forced)
            values, known_mask = column_values(column, name=name, kind=kind)
            if kind == ColumnKind.NUMERIC:
                numeric_maps[name] = QuantileNormalMap.fit(
                    values[known_mask], n_quantiles=self.n_quantiles, clip=self.clip
                )
                if is_temporal(column.dtype):
                    temporal[name] = TemporalCodec.fit(column)
            else:
                categories[name] = self._fit_categories(column, values[known_mask])
                counts = np.bincount(
                    category_codes(values[known_mask], categories[name]), minlength=len(categories[name])
                )
                frequency[name] = counts
                channels[name] = level_channels(counts, self._coded())
            column_kind[name] = kind
        self.columns_ = frame.columns
        self.column_kind_: dict[Hashable, ColumnKind] = column_kind
        self.categories_: dict[Hashable, list[Hashable]] = categories
        self.channels_: dict[Hashable, np.ndarray] = channels  # (levels,) channel of each category
        self.frequency_: dict[Hashable, np.ndarray] = frequency  # (levels,) observed count of each category
        self.temporal_: dict[Hashable, TemporalCodec] = temporal
        self.numeric_text_: set[Hashable] = numeric_text  # str / object columns of numbers, coded as numbers
        self.numeric_maps_: dict[Hashable, QuantileNormalMap] = numeric_maps
        self.dtypes_: dict[Hashable, object] = dtypes
        self.index_ = frame.index if input_kind == "dataframe" else None
        self.input_kind_: InputKind = input_kind
        self.array_dtype_ = table.dtype if input_kind == "ndarray" else None
        return self

    def transform(self, table: pd.DataFrame | np.ndarray) -> EncodedTable:
        check_is_fitted(self)
        frame, input_kind = _as_frame(table)
        if input_kind != self.input_kind_:
            raise ValueError(f"the encoder was fitted on a {self.input_kind_}; transform got a {input_kind}")
        self._check_columns(frame.columns)
        n_rows, n_cols = frame.shape
        cells = np.zeros((n_rows, n_cols, self.max_categories), dtype=np.float32)  # (rows, cols, n_channels)
        known = np.zeros((n_rows, n_cols), dtype=bool)  # (rows, cols)
        for j, name in enumerate(self.columns_):
            kind = self.column_kind_[name]
            column = frame.iloc[:, j]
            if name in self.numeric_text_:
                column = _as_numbers(column, name)
            values, known_mask = column_values(column, name=name, kind=kind)
            if kind == ColumnKind.NUMERIC:
                cells[known_mask, j, 0] = self.numeric_maps_[name].encode(values[known_mask])
            else:
                categories = self.categories_[name]
                codes = category_codes(values, categories)
                unseen = known_mask & (codes < 0)
                if unseen.any():
                    raise ValueError(
                        f"column {name!r} holds categories never seen in fit: "
                        f"{sorted_categories(values[unseen])[:10]}; refit on data that includes them, "
                        f"or replace them with NaN to treat them as missing"
                    )
                channel = np.where(codes >= 0, self.channels_[name][codes.clip(min=0)], -1)
                cells[:, j, : self._n_channels(name)] = one_hot(channel, self._n_channels(name))
            known[:, j] = known_mask
        n_categories = self._n_categories()
        channels = torch.arange(self.max_categories)
        # numeric columns use channel 0, categorical ones channels 0..K-1
        channel_mask = channels[None, :] < n_categories.clamp(min=1)[:, None]  # (cols, n_channels)
        return EncodedTable(
            cells=torch.from_numpy(cells),
            known_mask=torch.from_numpy(known),
            channel_mask=channel_mask,
            column_kind=torch.tensor([int(self.column_kind_[name]) for name in self.columns_], dtype=torch.long),
            n_categories=n_categories,
        )

    def fit_transform(self, table: pd.DataFrame | np.ndarray) -> EncodedTable:
        return self.fit(table).transform(table)

    def inverse_transform(
        self, cells: torch.Tensor | np.ndarray, *, index: pd.Index | None = None
    ) -> pd.DataFrame | np.ndarray:
        """(rows, cols, n_channels) cells -> a table of the fitted type, dtypes, columns and column order.

        ``index`` defaults to the fitted table's index when the row count matches it, else a RangeIndex;
        pass the index of the table given to ``transform`` when it was not the fitted one.
        """
        block = self._cells_array(cells)  # (rows, cols, n_channels) float64
        n_rows = block.shape[0]
        if index is None:
            fitted_rows = self.index_ is not None and len(self.index_) == n_rows
            index = self.index_ if fitted_rows else pd.RangeIndex(n_rows)
        decoded = {}
        for j, name in enumerate(self.columns_):
            dtype = self.dtypes_[name]
            if self.column_kind_[name] == ColumnKind.NUMERIC:
                decoded[j] = pd.Series(self.decode_numbers(name, block[:, j, 0]), index=index)
            else:
                channel = decode_codes(block[:, j, : self._n_channels(name)])
                codes = self.channel_levels(name)[channel]
                decoded[j] = _categorical_series(self.categories_[name], codes, dtype, index)
        frame = pd.DataFrame(decoded, index=index)
        frame.columns = self.columns_
        if self.input_kind_ == "ndarray":
            return frame.to_numpy(dtype=self.array_dtype_)
        return frame

    def category_probabilities(self, cells: torch.Tensor | np.ndarray) -> dict[Hashable, np.ndarray]:
        """Column name -> (rows, K) class probabilities, for each categorical column (K in ``categories_``).

        A column with more categories than channels splits the probability of its shared "other" channel
        over the categories coded there in proportion to their observed counts plus one.
        """
        block = self._cells_array(cells)  # (rows, cols, n_channels) float64
        out = {}
        for j, name in enumerate(self.columns_):
            if self.column_kind_[name] != ColumnKind.CATEGORICAL:
                continue
            proba = probabilities(block[:, j, : self._n_channels(name)])  # (rows, channels)
            out[name] = proba[:, self.channels_[name]] * self.channel_share(name)[None, :]
        return out

    def decode_numbers(self, name: Hashable, scores: np.ndarray) -> np.ndarray | pd.api.extensions.ExtensionArray:
        """(n,) scores of numeric column `name` -> values in the column's fitted dtype (rounded for integers,
        to the column's step for dates and durations)."""
        values = self.numeric_maps_[name].decode(scores)
        return self.as_column_values(name, values)

    def as_column_values(self, name: Hashable, values: np.ndarray) -> np.ndarray | pd.api.extensions.ExtensionArray:
        """(n,) decoded numbers (e.g. a mean of decoded draws) of numeric column `name` in its fitted dtype."""
        dtype = self.dtypes_[name]
        if name in self.temporal_:
            return self.temporal_[name].decode(values)
        if name in self.numeric_text_:
            return np.asarray(values, dtype=np.float64)  # numbers, in a column of text: kept as floats
        if ptypes.is_integer_dtype(dtype):
            values = np.rint(values)
        return pd.array(values, dtype=dtype) if not isinstance(dtype, np.dtype) else values.astype(dtype)

    def rare_levels(self, name: Hashable) -> np.ndarray:
        """(levels,) bool: the categories of column `name` that share its "other" channel (all False when
        the column has no more categories than channels)."""
        channels = self.channels_[name]
        if len(channels) <= self._coded():
            return np.zeros(len(channels), dtype=bool)
        return channels == self._coded() - 1

    def channel_levels(self, name: Hashable) -> np.ndarray:
        """(channels,) the category code each channel decodes to: itself, or for the "other" channel its most
        frequent category."""
        channels, frequency = self.channels_[name], self.frequency_[name]
        out = np.zeros(self._n_channels(name), dtype=np.int64)
        for channel in range(len(out)):
            levels = np.flatnonzero(channels == channel)
            out[channel] = levels[np.argmax(frequency[levels])]
        return out

    def channel_share(self, name: Hashable) -> np.ndarray:
        """(levels,) share of its channel's probability each category gets: 1 for a category with a channel of
        its own, (count + 1) / (sum over the "other" categories) for the others."""
        share = np.ones(len(self.channels_[name]))
        rare = self.rare_levels(name)
        if rare.any():
            weight = self.frequency_[name][rare] + 1.0
            share[rare] = weight / weight.sum()
        return share

    # --- helpers -------------------------------------------------------------------------------------------

    def _check_options(self) -> None:
        if isinstance(self.categorical_columns, str):
            raise ValueError(f"categorical_columns must be a list of columns, e.g. [{self.categorical_columns!r}]")
        if int(self.max_categories) < 1:
            raise ValueError(f"max_categories must be >= 1, got {self.max_categories}")
        if self.coded_categories is not None and not 2 <= int(self.coded_categories) <= int(self.max_categories):
            raise ValueError(f"coded_categories must be in [2, max_categories], got {self.coded_categories}")
        if int(self.n_quantiles) < 2:
            raise ValueError(f"n_quantiles must be >= 2 (the min and max knots), got {self.n_quantiles}")
        if not 0 < float(self.clip) < np.inf:
            raise ValueError(f"clip must be positive and finite, got {self.clip}")

    def _forced_categorical(self, frame: pd.DataFrame) -> set[Hashable]:
        forced = list(self.categorical_columns or [])
        unknown = [name for name in forced if name not in frame.columns]
        if unknown:
            raise ValueError(
                f"categorical_columns names column(s) {unknown} that the table does not have "
                f"(columns are names for a DataFrame, positions 0..{frame.shape[1] - 1} for an array)"
            )
        return set(forced)

    def _fit_categories(self, column: pd.Series, observed: np.ndarray) -> list[Hashable]:
        if isinstance(column.dtype, pd.CategoricalDtype):
            return list(column.dtype.categories)
        if ptypes.is_bool_dtype(column.dtype):
            return [False, True]
        return sorted_categories(observed)

    def _n_channels(self, name: Hashable) -> int:
        return min(len(self.categories_[name]), self._coded())

    def _coded(self) -> int:
        return int(self.max_categories if self.coded_categories is None else self.coded_categories)

    def _check_columns(self, columns: pd.Index) -> None:
        if columns.equals(self.columns_):
            return
        missing = [name for name in self.columns_ if name not in columns]
        extra = [name for name in columns if name not in self.columns_]
        if missing or extra:
            raise ValueError(
                f"transform got other columns than fit: missing {missing}, extra {extra}; "
                f"pass a table with the fitted columns ({len(self.columns_)} of them)"
            )
        raise ValueError("transform got the fitted columns in another order; reorder with `table[encoder.columns_]`")

    def _n_categories(self) -> torch.Tensor:
        """(cols,) long: K for categorical columns, 0 for numeric ones."""
        return torch.tensor(
            [self._n_channels(name) if name in self.categories_ else 0 for name in self.columns_], dtype=torch.long
        )

    def _cells_array(self, cells: torch.Tensor | np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        if isinstance(cells, torch.Tensor):
            cells = cells.detach().cpu().numpy()
        block = np.asarray(cells, dtype=np.float64)
        expected = (len(self.columns_), self.max_categories)
        if block.ndim != 3 or block.shape[1:] != expected:
            raise ValueError(f"cells must have shape (rows, {expected[0]}, {expected[1]}), got {block.shape}")
        if not np.isfinite(block).all():
            raise ValueError("cells hold NaN or infinite values; decode only finite model outputs")
        return block


def _as_frame(table: pd.DataFrame | np.ndarray) -> tuple[pd.DataFrame, InputKind]:
    """A DataFrame view of the input (never written to) and which kind of input it was."""
    if isinstance(table, pd.DataFrame):
        frame, input_kind = table, "dataframe"
        duplicated = list(frame.columns[frame.columns.duplicated()].unique())
        if duplicated:
            raise ValueError(f"column name(s) {duplicated} appear more than once; give every column its own name")
    elif isinstance(table, np.ndarray):
        if table.ndim != 2:
            raise ValueError(f"an array table must be 2-D (rows, cols), got shape {table.shape}")
        if table.dtype.kind not in "fiub":
            raise ValueError(
                f"array dtype {table.dtype} is not supported (float, int or bool only); wrap the array in a "
                f"DataFrame with typed columns, e.g. `pd.DataFrame(array).convert_dtypes()`"
            )
        frame, input_kind = pd.DataFrame(table), "ndarray"
    else:
        raise TypeError(f"expected a pandas DataFrame or a 2-D numpy array, got {type(table).__name__}")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"the table is empty ({frame.shape[0]} rows x {frame.shape[1]} columns); nothing to encode")
    return frame, input_kind


def level_channels(counts: np.ndarray, n_channels: int) -> np.ndarray:
    """(levels,) observed counts -> (levels,) channel of each category: its own when they fit, else the
    n_channels - 1 most frequent keep one each (in category order) and the rest share the last, "other"."""
    n_levels = len(counts)
    if n_levels <= n_channels:
        return np.arange(n_levels, dtype=np.int64)
    frequent = np.sort(np.argsort(-counts, kind="stable")[: n_channels - 1])
    channels = np.full(n_levels, n_channels - 1, dtype=np.int64)
    channels[frequent] = np.arange(n_channels - 1)
    return channels


def _as_numbers(column: pd.Series, name: Hashable) -> pd.Series:
    """A str / object column of numbers as float64; a ValueError names the first cell that is not a number."""
    stray = stray_text(column, min_distinct=0, min_share=0.0)
    if stray is not None and stray.any():
        rows = np.flatnonzero(stray)
        values = column.to_numpy(dtype=object)
        examples = list(pd.unique(values[rows]))[:3]
        raise ValueError(
            f"column {name!r} holds numbers, but {len(rows)} cell(s) are text that is not a number, e.g. "
            f"{values[rows[0]]!r} in row {column.index[rows[0]]!r} (values: {examples}); correct or blank them, "
            f"or let tabdiff treat them as missing (non_numeric='missing' on the estimators, --non-numeric "
            f"missing in the CLI)"
        )
    return as_numbers(column)


def _categorical_series(categories: list[Hashable], codes: np.ndarray, dtype: object, index: pd.Index) -> pd.Series:
    """(rows,) codes -> a Series of the column's categories in its fitted dtype."""
    if isinstance(dtype, pd.CategoricalDtype):
        return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype), index=index)
    return pd.Series(take_categories(categories, codes), index=index, dtype=object).astype(dtype)
