"""Tables in and out of the estimators: input checks, aligning with the fitted columns, writing results back.

Results are written into a copy of the caller's own table, so observed cells are copied bit for bit and
never decoded; only the cells to inpaint are set, in the column's own dtype. Unseen categories (values of a
categorical column that fit never saw) are treated as missing by the model, with a warning; in an imputer's
output they stay as they were (they are observed cells).
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from scipy import sparse

from tabdiff.encoding import ColumnKind, TableEncoder
from tabdiff.encoding.categorical import category_codes
from tabdiff.encoding.columns import as_numbers, stray_text
from tabdiff.encoding.temporal import is_temporal

InputKind = Literal["dataframe", "ndarray"]


def as_frame(table: object, *, name: str = "X") -> tuple[pd.DataFrame, InputKind]:
    """A DataFrame view of a DataFrame or 2-D numeric array-like (never written to), and which one it was.

    Array-likes other than DataFrames (lists, ...) are read with `np.asarray` and count as arrays.
    """
    if sparse.issparse(table):
        raise TypeError(f"{name} is a sparse matrix: sparse input is not supported; pass a dense array or DataFrame")
    if isinstance(table, pd.DataFrame):
        frame, kind = table, "dataframe"
    else:
        array = table if isinstance(table, np.ndarray) else _as_array(table, name)
        if array.ndim != 2:
            raise ValueError(
                f"{name} must be 2-D (rows, columns), got an array of shape {array.shape}; Reshape your data, "
                f"e.g. with X.reshape(-1, 1) for one column or X.reshape(1, -1) for one row"
            )
        if array.dtype.kind == "c":
            raise ValueError(
                f"Complex data not supported: {name} has dtype {array.dtype}; split real and imaginary parts"
            )
        if array.dtype.kind not in "fiub":
            raise TypeError(
                f"{name} has dtype {array.dtype}: arrays must be float, int or bool; wrap mixed data in a "
                f"DataFrame with typed columns"
            )
        frame, kind = pd.DataFrame(array), "ndarray"
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(
            f"{name} is empty: {frame.shape[0]} sample(s) and {frame.shape[1]} feature(s) (shape={frame.shape}) "
            f"while a minimum of 1 is required."
        )
    duplicated = list(frame.columns[frame.columns.duplicated()].unique())
    if duplicated:
        raise ValueError(f"{name} has column name(s) {duplicated} more than once; give every column its own name")
    return frame, kind


def _as_array(table: object, name: str) -> np.ndarray:
    if isinstance(table, (str, bytes, dict)) or table is None:
        raise TypeError(f"{name} must be a pandas DataFrame or a 2-D array, got {type(table).__name__}")
    try:
        return np.asarray(table)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a pandas DataFrame or a 2-D array ({err})") from err


def align_columns(
    frame: pd.DataFrame, columns: pd.Index, *, kind: InputKind, owner: str, name: str = "X"
) -> pd.DataFrame:
    """`frame` with the fitted `columns` in the fitted order; a ValueError names missing and extra columns."""
    if frame.columns.equals(columns):
        return frame
    if kind == "ndarray":
        raise ValueError(
            f"{name} has {frame.shape[1]} features, but {owner} is expecting {len(columns)} features as input"
        )
    missing = [c for c in columns if c not in frame.columns]
    extra = [c for c in frame.columns if c not in columns]
    if missing or extra:
        raise ValueError(
            f"{name} has other columns than the table given to fit: missing {missing[:10]}, extra {extra[:10]}"
        )
    return frame[list(columns)]


NonNumeric = Literal["error", "missing"]
NON_NUMERIC = ("error", "missing")
ID_TOKEN = "<id>"  # what the model sees in every observed cell of an identifier column


@dataclass(frozen=True)
class ColumnPrep:
    """How the estimators show a user's table to the model, fitted on the table given to fit.

    - Numbers written as text with a few cells that are not numbers (`encoding.columns.stray_text`): with
      ``non_numeric="missing"`` those cells are missing to the model (an imputer fills them with numbers);
      with ``"error"`` the encoder refuses the column, naming the first such cell and its row.
    - Identifier columns (str / object / category columns whose observed values are all distinct, more of
      them than the model's channels): passed through. The model sees one constant token, which tells it
      nothing, and their missing cells stay missing (there is no value to infer), with a warning.
    """

    coerce: tuple[Hashable, ...]  # columns read as numbers (encoding.columns.as_numbers)
    identifiers: tuple[Hashable, ...]  # columns passed through

    @classmethod
    def fit(cls, frame: pd.DataFrame, *, non_numeric: NonNumeric, max_categories: int, name: str = "X") -> ColumnPrep:
        coerce, identifiers = [], []
        for column_name in frame.columns:
            column = frame[column_name]
            if stray_text(column, min_distinct=max_categories) is not None:  # numbers, maybe with stray text
                if non_numeric == "missing":
                    coerce.append(column_name)
            elif _is_identifier(column, max_categories):
                identifiers.append(column_name)
        if identifiers:
            warnings.warn(
                f"column(s) {identifiers[:5]} of {name} hold a different value in every row, like identifiers: they "
                f"are passed through (the model does not use them) and their missing cells are left missing",
                UserWarning,
                stacklevel=3,
            )
        return cls(tuple(coerce), tuple(identifiers))

    def view(self, frame: pd.DataFrame, *, name: str = "X") -> pd.DataFrame:
        """What the model gets for `frame` (a copy when anything changes; `frame` itself is never written)."""
        if not self.coerce and not self.identifiers:
            return frame
        out = frame.copy()
        for column_name in self.coerce:
            column = frame[column_name]
            numbers = as_numbers(column)
            text = column.notna() & numbers.isna()
            if text.any():
                warnings.warn(
                    f"column {column_name!r} of {name}: {int(text.sum())} cell(s) that are not numbers (e.g. "
                    f"{column[text].iloc[0]!r}) are treated as missing (non_numeric='missing')",
                    UserWarning,
                    stacklevel=3,
                )
            out[column_name] = numbers
        for column_name in self.identifiers:
            out[column_name] = pd.Series(np.where(frame[column_name].notna(), ID_TOKEN, None), index=frame.index)
        return out

    def passthrough_mask(self, columns: pd.Index) -> np.ndarray:
        """(cols,) bool: the identifier columns among `columns`."""
        return np.isin(np.arange(len(columns)), columns.get_indexer(list(self.identifiers)))


def _is_identifier(column: pd.Series, max_categories: int) -> bool:
    dtype = column.dtype
    textual = ptypes.is_object_dtype(dtype) or ptypes.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype)
    if not textual or ptypes.is_bool_dtype(dtype):
        return False
    observed = column.dropna()
    return len(observed) > max_categories and observed.nunique() == len(observed)


def prepare_for_encoder(frame: pd.DataFrame, encoder: TableEncoder, *, name: str = "X") -> pd.DataFrame:
    """A copy of `frame` the fitted encoder accepts: unseen categories and empty columns become missing.

    Warns (naming the column and values) for unseen categories; raises for a numeric column that now holds
    non-numbers. Returns `frame` itself when nothing needs changing.
    """
    changed = {}
    for name_j in frame.columns:
        column = frame[name_j]
        kind = encoder.column_kind_[name_j]
        observed = column.notna().to_numpy()
        temporal = name_j in encoder.temporal_
        if not observed.any():  # an all-missing column: give it a dtype the encoder reads as missing
            dtype = encoder.dtypes_[name_j] if temporal else float if kind == ColumnKind.NUMERIC else object
            changed[name_j] = pd.Series(None, index=frame.index, dtype=dtype)
            continue
        if kind == ColumnKind.NUMERIC:
            numeric = ptypes.is_numeric_dtype(column.dtype) and not ptypes.is_bool_dtype(column.dtype)
            if temporal:
                numeric = is_temporal(column.dtype)
            elif name_j in encoder.numeric_text_:
                numeric = True  # numbers written as text: the encoder reads them (and names a stray word)
            if not numeric:
                raise ValueError(f"column {name_j!r} of {name} was numeric in fit but has dtype {column.dtype} here")
            continue
        values = column.to_numpy(dtype=object)
        unseen = observed & (category_codes(values, encoder.categories_[name_j]) < 0)
        if unseen.any():
            shown = list(pd.unique(values[unseen]))[:5]
            warnings.warn(
                f"column {name_j!r} of {name}: {int(unseen.sum())} cell(s) hold categories never seen in fit "
                f"({shown}); the model treats them as missing",
                UserWarning,
                stacklevel=4,
            )
            changed[name_j] = pd.Series(np.where(unseen, None, values), index=frame.index, dtype=object)
    if not changed:
        return frame
    out = frame.copy()
    for name_j, column in changed.items():
        out[name_j] = column
    return out


def allowed_categories(column: pd.Series, categories: list[Hashable], name: Hashable) -> np.ndarray | None:
    """(K,) bool: which fitted categories an output column of this dtype can hold; None = all of them."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        return None
    allowed = category_codes(np.asarray(column.dtype.categories, dtype=object), categories)
    mask = np.zeros(len(categories), dtype=bool)
    mask[allowed[allowed >= 0]] = True
    if not mask.any():
        raise ValueError(f"column {name!r}: its category dtype shares no category with the table given to fit")
    return mask


def fill_column(
    column: pd.Series, rows: np.ndarray, values: np.ndarray, fitted_dtype: object
) -> pd.api.extensions.ExtensionArray:
    """A copy of `column`'s values with `values` written at positions `rows`, in the column's dtype.

    An integer column gets rounded values. A column with no observed cell takes the fitted dtype (its own,
    e.g. float64 for an all-NaN column read from a file, may not hold the values).
    """
    observed = column.notna().any()
    dtype = column.dtype if observed else fitted_dtype
    if ptypes.is_integer_dtype(dtype):
        values = np.rint(np.asarray(values, dtype=np.float64))
    new = (
        pd.Categorical(values, dtype=dtype) if isinstance(dtype, pd.CategoricalDtype) else pd.array(values, dtype=dtype)
    )
    if not observed:  # every cell is written
        return new.take(np.argsort(rows))
    array = column.array.copy()
    array[rows] = new
    return array


def fill_frame(
    frame: pd.DataFrame, fills: dict[int, tuple[np.ndarray, np.ndarray]], fitted_dtypes: list
) -> pd.DataFrame:
    """A copy of `frame` with column position j's cells at rows set to values, for each j in `fills`."""
    out = frame.copy()
    for j, (rows, values) in fills.items():
        out.isetitem(j, fill_column(frame.iloc[:, j], rows, values, fitted_dtypes[j]))
    return out


def fill_array(array: np.ndarray, fills: dict[int, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """A copy of a 2-D float array with the given cells set (int and bool arrays have no missing cells)."""
    out = array.copy()
    for j, (rows, values) in fills.items():
        out[rows, j] = np.asarray(values, dtype=np.float64).astype(array.dtype)
    return out
