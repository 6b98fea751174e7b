"""Which sub-tables the model sees: column groups and row chunks that keep every table within the limits.

A table of at most `max_rows` x `max_cols` is seen whole. Above `max_cols` columns, the target columns
(those holding cells to inpaint) are split into groups of at most `max_cols`, and each group is completed
with a random subset of the other columns up to `max_cols`. Above `max_rows` rows, the query rows (those
holding cells to inpaint in the group) are split into chunks of at most `query_fraction * max_rows`, and
each chunk is completed with a random subsample of the other rows that hold a known cell in the group's
columns (the context), up to `max_rows`. Every target cell lands in exactly one sub-table per plan.

Each call of `plan_tables` draws a fresh plan (an ensemble member): new groups, chunks and context
subsamples, and a random order of the rows and columns inside every sub-table.

With `context="nearest"` (retrieval, as in LoCalPFN, Thomas et al. 2024) chunks hold similar query rows
(recursive halving along the first principal component of their cells) and each is completed with the rows
nearest to it instead of a random subsample: every query row's nearest rows first (the best rank any chunk
row gives a row), so a model that averages over similar context rows sees the most similar ones. Distances are
NaN-Euclidean over the sub-table's known cells (`nan_euclidean`, as scikit-learn's `nan_euclidean_distances`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

ContextChoice = Literal["random", "nearest"]
CONTEXT_CHOICES: tuple[ContextChoice, ...] = ("random", "nearest")


def check_context(context: object) -> None:
    """A clear error for a `context` that is not one of CONTEXT_CHOICES."""
    if context not in CONTEXT_CHOICES:
        raise ValueError(f"context must be one of {list(CONTEXT_CHOICES)}, got {context!r}")


@dataclass(frozen=True)
class SubTable:
    """Rows and columns of the full table, in the order the model sees them."""

    rows: np.ndarray  # (r,) int64 row positions in the full table
    cols: np.ndarray  # (c,) int64 column positions in the full table
    answer_rows: np.ndarray  # (r,) bool: query rows of this sub-table (the others are context)
    answer_cols: np.ndarray  # (c,) bool: target columns of this sub-table's group (the others are context)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.cols)


def plan_tables(
    target_mask: np.ndarray,
    known_mask: np.ndarray,
    *,
    max_rows: int,
    max_cols: int,
    query_fraction: float,
    rng: np.random.Generator,
    context: ContextChoice = "random",
    features: np.ndarray | None = None,
) -> list[SubTable]:
    """(rows, cols) target and known masks -> sub-tables whose answer rows x answer columns cover every
    target cell exactly once (a sub-table's context rows and columns may hold target cells answered elsewhere).

    `context="nearest"` needs `features` (rows, cols, F): each cell's values, NaN where unknown.
    """
    check_context(context)
    if context == "nearest" and features is None:
        raise ValueError("context='nearest' needs the cells' features to measure which rows are near")
    n_rows, n_cols = target_mask.shape
    target_cols = np.flatnonzero(target_mask.any(axis=0))
    if len(target_cols) == 0:
        return []
    tables = []
    for group, cols in _column_groups(target_cols, n_cols, max_cols, rng):
        query = np.flatnonzero(target_mask[:, group].any(axis=1))
        has_known = known_mask[:, cols].any(axis=1)  # (rows,) rows that can serve as context
        if context == "nearest" and len(has_known) > max_rows:
            flat = features[:, cols].reshape(len(has_known), -1)  # (rows, cols * F)
            chunks = _nearest_chunks(query, has_known, flat, max_rows, query_fraction, rng)
        else:
            chunks = _row_chunks(query, has_known, max_rows, query_fraction, rng)
        for rows, answer_rows in chunks:
            cols = rng.permutation(cols)
            tables.append(SubTable(rows, cols, answer_rows, np.isin(cols, group)))
    return tables


def _column_groups(
    target_cols: np.ndarray, n_cols: int, max_cols: int, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(target columns of the group, all columns of its sub-table) pairs."""
    if n_cols <= max_cols:
        return [(target_cols, np.arange(n_cols))]
    n_groups = math.ceil(len(target_cols) / max_cols)
    out = []
    for group in np.array_split(rng.permutation(target_cols), n_groups):
        others = np.setdiff1d(np.arange(n_cols), group)
        extra = rng.choice(others, size=max_cols - len(group), replace=False)
        out.append((np.sort(group), np.concatenate([group, extra])))
    return out


def _row_chunks(
    query: np.ndarray, has_known: np.ndarray, max_rows: int, query_fraction: float, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(row positions, is-query mask) of each chunk: query plus random context rows, shuffled, at most `max_rows`."""
    n_rows = len(has_known)
    if n_rows <= max_rows:
        rows = rng.permutation(n_rows)
        return [(rows, np.isin(rows, query))]
    per_chunk = max(1, int(max_rows * query_fraction))
    chunks = []
    for chunk in np.array_split(rng.permutation(query), math.ceil(len(query) / per_chunk)):
        pool = has_known.copy()
        pool[chunk] = False
        pool_rows = np.flatnonzero(pool)
        n_context = min(max_rows - len(chunk), len(pool_rows))
        context = rng.choice(pool_rows, size=n_context, replace=False)
        rows = rng.permutation(np.concatenate([chunk, context]))
        chunks.append((rows, np.isin(rows, chunk)))
    return chunks


def _nearest_chunks(
    query: np.ndarray,
    has_known: np.ndarray,
    features: np.ndarray,
    max_rows: int,
    query_fraction: float,
    rng: np.random.Generator,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Like `_row_chunks`, but chunks of similar query rows, each completed with the rows nearest to it."""
    per_chunk = max(1, int(max_rows * query_fraction))
    usable = ~np.isnan(features).all(axis=0)  # (F,) features known somewhere
    features = features[:, usable]
    chunks = []
    for chunk in _similar_groups(query, np.nan_to_num(features), math.ceil(len(query) / per_chunk)):
        pool = has_known.copy()
        pool[chunk] = False
        pool_rows = np.flatnonzero(pool)
        n_context = min(max_rows - len(chunk), len(pool_rows))
        if n_context < len(pool_rows):
            pool_rows = pool_rows[_nearest_first(features[chunk], features[pool_rows], n_context)]
        rows = rng.permutation(np.concatenate([chunk, pool_rows]))
        chunks.append((rows, np.isin(rows, chunk)))
    return chunks


def _nearest_first(queries: np.ndarray, candidates: np.ndarray, n: int) -> np.ndarray:
    """Positions of the `n` candidates nearest to the queries (both (rows, F), NaN = unknown): every query's
    nearest candidate first, then every query's second nearest, ... (a candidate ranks by the best rank any
    query gives it; ties go to the closer one). Only the first n ranks can matter: each rank level adds a row."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    distance = nan_euclidean(queries, candidates)  # (queries, candidates)
    k = min(n, distance.shape[1])
    nearest = np.argpartition(distance, k - 1, axis=1)[:, :k]  # (queries, k) unordered
    order = np.argsort(np.take_along_axis(distance, nearest, axis=1), axis=1, kind="stable")
    nearest = np.take_along_axis(nearest, order, axis=1)  # (queries, k) nearest first
    best_rank = np.full(distance.shape[1], k, dtype=np.int64)
    np.minimum.at(best_rank, nearest, np.broadcast_to(np.arange(k), nearest.shape))
    return np.lexsort((distance.min(axis=0), best_rank))[:n]


def nan_euclidean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, F), (m, F) with NaN = unknown -> (n, m) Euclidean distances over the features known in both rows,
    scaled up by F / (features known in both), as scikit-learn's `nan_euclidean_distances`, in float32 matrix
    products (no validation copies); pairs with nothing known in common are infinitely far."""
    known_a, known_b = ~np.isnan(a), ~np.isnan(b)
    a0, b0 = np.where(known_a, a, 0).astype(np.float32), np.where(known_b, b, 0).astype(np.float32)
    ka, kb = known_a.astype(np.float32), known_b.astype(np.float32)
    squared = (a0**2) @ kb.T + ka @ (b0**2).T - 2 * a0 @ b0.T  # sum over the features known in both
    present = ka @ kb.T
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = np.sqrt(np.clip(squared, 0, None) * (a.shape[1] / present))
    return np.where(present > 0, distance, np.inf)


def _similar_groups(rows: np.ndarray, features: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """Split `rows` into `n_groups` groups of near-equal size by recursive halving along the first principal
    component of their `features` (rows of the full table, NaN-free)."""
    if n_groups <= 1:
        return [rows]
    x = features[rows] - features[rows].mean(axis=0)
    direction = np.linalg.svd(x, full_matrices=False)[2][0] if x.any() else np.zeros(x.shape[1])
    order = rows[np.argsort(x @ direction, kind="stable")]
    left = n_groups // 2
    split = round(len(rows) * left / n_groups)
    return _similar_groups(order[:split], features, left) + _similar_groups(order[split:], features, n_groups - left)


def plan_generation(
    target_mask: np.ndarray,
    known_mask: np.ndarray,
    *,
    context_rows: np.ndarray,
    max_rows: int,
    max_cols: int,
    new_fraction: float,
    rng: np.random.Generator,
) -> list[SubTable]:
    """Sub-tables for generating rows (`TabDiffGenerator`): the rows holding target cells (the new rows) in chunks
    of at most `new_fraction * max_rows`, and never more than the real rows that can go with them, each chunk
    completed with a fresh random subsample of the `context_rows` (bool, (rows,)) that hold a known cell.

    New rows are never context for each other's chunks (they are mostly unknown). All target columns must fit
    in one sub-table (the generator runs column groups one after another); the other columns fill it up to
    `max_cols`, those known in the new rows first (conditions, groups already generated), then at random.
    """
    n_rows, n_cols = target_mask.shape
    target_cols = np.flatnonzero(target_mask.any(axis=0))
    if len(target_cols) == 0:
        return []
    if len(target_cols) > max_cols:
        raise ValueError(f"{len(target_cols)} target columns do not fit in a sub-table of max_cols={max_cols}")
    query = np.flatnonzero(target_mask.any(axis=1))
    others = np.setdiff1d(np.arange(n_cols), target_cols)
    if len(target_cols) + len(others) > max_cols:
        known_in_new = known_mask[np.ix_(query, others)].any(axis=0)
        order = np.concatenate([rng.permutation(others[known_in_new]), rng.permutation(others[~known_in_new])])
        others = order[: max_cols - len(target_cols)]
    cols = np.concatenate([target_cols, others])
    pool = np.flatnonzero(context_rows & known_mask[:, cols].any(axis=1))
    pool = np.setdiff1d(pool, query)
    if len(pool) == 0:
        raise ValueError("no row of the fitted table holds a known cell in these columns: nothing to generate from")
    per_chunk = max(1, min(int(max_rows * new_fraction), len(pool)))
    tables = []
    for chunk in np.array_split(rng.permutation(query), math.ceil(len(query) / per_chunk)):
        context = rng.choice(pool, size=min(max_rows - len(chunk), len(pool)), replace=False)
        rows = rng.permutation(np.concatenate([chunk, context]))
        order = rng.permutation(cols)
        tables.append(SubTable(rows, order, np.isin(rows, chunk), np.isin(order, target_cols)))
    return tables
