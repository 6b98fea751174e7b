"""One-hot coding of a categorical column in {-1, +1}, argmax decoding and class probabilities.

A column with K categories uses channels 0..K-1: the observed category's channel holds +1, the others -1.
A missing cell holds 0 in every channel (the midpoint, so it carries no category), unused channels hold 0.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd

PROBABILITY_FLOOR = 1e-6  # keeps every category possible after clipping a model's output into [0, 1]


def sorted_categories(observed: np.ndarray) -> list[Hashable]:
    """Sorted distinct observed values; mixed types that do not compare fall back to ordering by repr."""
    distinct = list(pd.unique(observed))
    try:
        return sorted(distinct)
    except TypeError:
        return sorted(distinct, key=repr)


def category_codes(values: np.ndarray, categories: Sequence[Hashable]) -> np.ndarray:
    """(rows,) object values -> (rows,) int64 index into ``categories``; -1 for missing or unseen values."""
    lookup = pd.Index(_object_array(categories), dtype=object)  # object dtype: "1" stays a str, 1 an int
    return lookup.get_indexer(values).astype(np.int64)


def one_hot(codes: np.ndarray, n_categories: int) -> np.ndarray:
    """(rows,) codes -> (rows, K) float32: +1 at the code, -1 elsewhere; all 0 for a missing cell (code -1)."""
    block = np.full((len(codes), n_categories), -1.0, dtype=np.float32)  # (rows, K)
    observed = codes >= 0
    block[observed, codes[observed]] = 1.0
    block[~observed] = 0.0
    return block


def decode_codes(block: np.ndarray) -> np.ndarray:
    """(rows, K) channel values -> (rows,) int64 code of the largest channel."""
    return np.argmax(block, axis=1).astype(np.int64)


def probabilities(block: np.ndarray) -> np.ndarray:
    """(rows, K) channel values -> (rows, K) class probabilities, rows summing to 1.

    For x = E[one_hot] in {-1, +1} coding, (x + 1) / 2 is exactly the probability vector; clipping and
    renormalizing turns an imperfect model output into a valid distribution.
    """
    clipped = np.clip((np.asarray(block, dtype=np.float64) + 1.0) / 2.0, PROBABILITY_FLOOR, 1.0)
    return clipped / clipped.sum(axis=1, keepdims=True)


def _object_array(items: Sequence[Hashable]) -> np.ndarray:
    """1-D object array of ``items`` (np.asarray would split tuples into a second axis)."""
    out = np.empty(len(items), dtype=object)
    out[:] = list(items)
    return out


def take_categories(categories: Sequence[Hashable], codes: np.ndarray) -> np.ndarray:
    """(rows,) codes -> (rows,) object array of the categories."""
    return _object_array(categories)[codes]
