"""Which sub-tables the model sees: column groups and row chunks that keep every table within the limits.

A table of at most `max_rows` x `max_cols` is seen whole. Above `max_cols` columns, the target columns
(those holding cells to inpaint) are split into groups of at most `max_cols`, and each group is completed
with a random subset of the other columns up to `max_cols`. Above `max_rows` rows, the query rows (those
holding cells to inpaint in the group) are split into chunks of at most `query_fraction * max_rows`, and
each chunk is completed with a random subsample of the other rows that hold a known cell in the group's
columns (the context), up to `max_rows`. Every target cell lands in exactly one sub-table per plan.

Each call of `plan_tables` draws a fresh plan (an ensemble member): new groups, chunks and context
subsamples, and a random order of the rows and columns inside every sub-table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


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
) -> list[SubTable]:
    """(rows, cols) target and known masks -> sub-tables whose answer rows x answer columns cover every
    target cell exactly once (a sub-table's context rows and columns may hold target cells answered elsewhere)."""
    n_rows, n_cols = target_mask.shape
    target_cols = np.flatnonzero(target_mask.any(axis=0))
    if len(target_cols) == 0:
        return []
    tables = []
    for group, cols in _column_groups(target_cols, n_cols, max_cols, rng):
        query = np.flatnonzero(target_mask[:, group].any(axis=1))
        has_known = known_mask[:, cols].any(axis=1)  # (rows,) rows that can serve as context
        for rows, answer_rows in _row_chunks(query, has_known, max_rows, query_fraction, rng):
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
