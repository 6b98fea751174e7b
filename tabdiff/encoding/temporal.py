"""Dates, times and durations as numbers: datetime64 (naive or with a time zone) and timedelta64 columns.

A temporal column is coded like any numeric column, from its integer ticks (`.asi8`: counts of the dtype's
unit since 1970-01-01 UTC for datetimes, of the unit for durations) as float64. Decoding rounds to the
column's *step*: the coarsest of day, hour, minute, second, millisecond, microsecond and the unit itself
that divides every observed value, so a column of dates gets dates and one of whole minutes whole minutes.
Values come back in the column's own dtype: unit and time zone kept. Ticks beyond 2**53 (nanosecond
datetimes are about 1.7e18) lose their last bits as float64, so a decoded observed value is exact to well
under a microsecond, not to the nanosecond; the estimators never decode observed cells (they copy them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

_STEPS = ("1D", "1h", "1min", "1s", "1ms", "1us")  # candidate steps, coarsest first


def is_temporal(dtype: object) -> bool:
    return ptypes.is_datetime64_any_dtype(dtype) or ptypes.is_timedelta64_dtype(dtype)


@dataclass(frozen=True)
class TemporalCodec:
    """Ticks <-> values of one datetime64 / timedelta64 column (fitted on its observed cells)."""

    dtype: object  # the column's dtype, e.g. datetime64[ns], datetime64[s, Europe/Paris], timedelta64[ms]
    step: int  # decoded values are multiples of this many ticks

    @classmethod
    def fit(cls, column: pd.Series) -> TemporalCodec:
        observed = column.array.asi8[column.notna().to_numpy()]  # exact int64 ticks
        step = 1
        for candidate in _STEPS:
            size = int(pd.Timedelta(candidate) // pd.Timedelta(1, unit=_unit(column.dtype)))
            if size > 1 and observed.size and np.all(observed % size == 0):
                step = size
                break
        return cls(dtype=column.dtype, step=step)

    def decode(self, values: np.ndarray) -> pd.api.extensions.ExtensionArray:
        """(n,) float64 ticks -> (n,) values in the column's dtype, rounded to the step."""
        ticks = np.rint(np.asarray(values, dtype=np.float64) / self.step) * self.step
        ticks = ticks.astype(np.int64)
        unit = _unit(self.dtype)
        if ptypes.is_timedelta64_dtype(self.dtype):
            return pd.array(ticks.view(f"m8[{unit}]"))
        naive = pd.array(ticks.view(f"M8[{unit}]"))
        tz = getattr(self.dtype, "tz", None)
        if tz is None:
            return naive
        return pd.DatetimeIndex(naive).tz_localize("UTC").tz_convert(tz).array


def ticks_of(column: pd.Series) -> np.ndarray:
    """(rows,) float64 ticks of a temporal column, NaN where missing (NaT)."""
    values = np.asarray(column.array.asi8, dtype=np.float64)  # datetimes: UTC ticks whatever the time zone
    values[column.isna().to_numpy()] = np.nan
    return values


def _unit(dtype: object) -> str:
    return np.datetime_data(_base(dtype))[0]


def _base(dtype: object) -> np.dtype:
    """The numpy datetime64 / timedelta64 dtype under a pandas one (time zone dropped)."""
    if isinstance(dtype, pd.DatetimeTZDtype):
        return np.dtype(f"M8[{dtype.unit}]")
    return np.dtype(dtype)
