"""Column kinds and input checks: which columns are numeric, which categorical, which are refused and why.

Every refusal is a ``ValueError`` that names the column and says what to do, because a table usually reaches
the encoder straight from a user's file and the message is the only place the fix can be explained.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable
from enum import IntEnum

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from tabdiff.encoding.temporal import is_temporal, ticks_of


class ColumnKind(IntEnum):
    """How a column is coded; the values are the ones stored in ``EncodedTable.column_kind``."""

    NUMERIC = 0  # quantile-to-normal score in channel 0
    CATEGORICAL = 1  # one-hot in {-1, +1} over channels 0..K-1


_CONVERT_ADVICE = "convert it to a float, int, bool, str or category column"


def infer_kind(column: pd.Series, *, name: Hashable, force_categorical: bool) -> ColumnKind:
    """Kind of a column from its dtype; ``force_categorical`` marks numeric columns (e.g. small-cardinality ints)."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype) or ptypes.is_bool_dtype(dtype):
        return ColumnKind.CATEGORICAL
    if ptypes.is_complex_dtype(dtype):
        raise ValueError(f"column {name!r} has complex dtype {dtype}; split it into real and imaginary float columns")
    if isinstance(dtype, pd.PeriodDtype):
        raise ValueError(
            f"column {name!r} has dtype {dtype}, which the encoder does not take; convert it to timestamps "
            f"(`.dt.to_timestamp()`) or to numbers"
        )
    if is_temporal(dtype):
        return ColumnKind.NUMERIC  # coded from its ticks (encoding/temporal.py)
    if ptypes.is_integer_dtype(dtype) or ptypes.is_float_dtype(dtype):
        return ColumnKind.CATEGORICAL if force_categorical else ColumnKind.NUMERIC
    if ptypes.is_string_dtype(dtype) or ptypes.is_object_dtype(dtype):
        return ColumnKind.CATEGORICAL
    raise ValueError(f"column {name!r} has unsupported dtype {dtype}; {_CONVERT_ADVICE}")


def column_values(column: pd.Series, *, name: Hashable, kind: ColumnKind) -> tuple[np.ndarray, np.ndarray]:
    """Checked cell values and ``known_mask`` of one column, both (rows,).

    Numeric columns give float64 with NaN where missing; categorical columns give an object array.
    Raises for a column with no observed cell, infinite values, and non-scalar objects (lists, dicts, ...).
    """
    known_mask = column.notna().to_numpy(dtype=bool)  # (rows,)
    if not known_mask.any():
        raise ValueError(
            f"column {name!r} has no observed value (all {len(column)} cells are missing); drop it before encoding"
        )
    if kind == ColumnKind.NUMERIC:
        if is_temporal(column.dtype):
            return ticks_of(column), known_mask
        if not (ptypes.is_integer_dtype(column.dtype) or ptypes.is_float_dtype(column.dtype)):
            raise ValueError(
                f"column {name!r} was numeric in fit but has dtype {column.dtype} here; convert it to numbers"
            )
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)  # (rows,)
        n_infinite = int(np.isinf(values).sum())
        if n_infinite:
            raise ValueError(
                f"column {name!r} holds {n_infinite} infinite value(s); replace them with NaN (missing) or a finite value"
            )
        return values, known_mask
    values = column.to_numpy(dtype=object)  # (rows,)
    if ptypes.is_object_dtype(column.dtype):
        _check_scalars(values[known_mask], name)
    elif ptypes.is_float_dtype(column.dtype) and np.isinf(values[known_mask].astype(np.float64)).any():
        raise ValueError(f"column {name!r} holds infinite values; replace them with NaN (missing) or a finite value")
    return values, known_mask


def as_numbers(column: pd.Series) -> pd.Series:
    """A column's cells read as numbers (`pd.to_numeric`), float64 with NaN where a cell is missing or no number."""
    values = pd.to_numeric(column.to_numpy(dtype=object), errors="coerce")
    return pd.Series(values, index=column.index, dtype=np.float64)


def stray_text(column: pd.Series, *, min_distinct: int, min_share: float = 0.5) -> np.ndarray | None:
    """(rows,) bool mask of the text cells of a column of numbers written as text / objects, or None.

    A str / object column counts as numbers with stray text when at least `min_share` of its observed cells
    read as numbers (`pd.to_numeric`), those take more than `min_distinct` distinct values (fewer would do as
    categories) and some cells do not read as numbers: the usual "oops", "?" or "n/a" in a numeric column of
    a CSV. Codes such as "A12" do not read as numbers, so a column of them stays categorical.
    An empty mask (no stray cell) means every observed cell is a number.
    """
    if not (ptypes.is_object_dtype(column.dtype) or ptypes.is_string_dtype(column.dtype)):
        return None
    if isinstance(column.dtype, pd.CategoricalDtype):
        return None
    observed = column.notna().to_numpy()
    values = column.to_numpy(dtype=object)
    if any(isinstance(v, (bool, np.bool_)) for v in values[observed]):
        return None
    numbers = as_numbers(column).to_numpy()
    is_number = observed & np.isfinite(numbers)
    if is_number.sum() < min_share * observed.sum() or len(np.unique(numbers[is_number])) <= min_distinct:
        return None
    return observed & ~is_number


def _check_scalars(observed: np.ndarray, name: Hashable) -> None:
    """Object columns must hold str, bytes, bool or real-number scalars; floats must be finite."""
    for value in observed:
        if isinstance(value, (str, bytes, bool, np.bool_)):
            continue
        if isinstance(value, numbers.Real):
            if math.isinf(value):
                raise ValueError(
                    f"column {name!r} holds an infinite value; replace it with NaN (missing) or a finite value"
                )
            continue
        raise ValueError(
            f"column {name!r} holds a value of type {type(value).__name__} ({value!r:.40}); only str, bool and "
            f"number cells can be encoded: flatten it into several columns, or {_CONVERT_ADVICE}"
        )
