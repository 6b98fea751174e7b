"""The pretraining stream: batches of prior and real tables, encoded and padded, reproducible per batch index.

Batch `i` on rank `r` is a pure function of `(seed, r, i)`: each rank and each DataLoader worker draws
a different part of the stream, the stream does not depend on the number of workers, and a resumed run
continues at the batch index of its global step.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from torch.utils.data import IterableDataset, get_worker_info

from tabdiff.data.batch import TableBatch, stack_tables
from tabdiff.encoding.arrays import encode_arrays, encode_batch
from tabdiff.encoding.columns import ColumnKind, infer_kind
from tabdiff.prior.table import RawTable


class TablePrior(Protocol):
    """What the stream needs from a synthetic prior (tabdiff.prior.PriorSampler satisfies it)."""

    masks: Any  # draws conditioning patterns: `.sample(rng, RawTable) -> (known_mask, kind)`

    def sample_batch(
        self, rng: np.random.Generator, batch_size: int, *, max_cells: int | None = None
    ) -> list:  # list[SyntheticTable]
        ...


def real_known_mask(
    rng: np.random.Generator, masks: Any, values: np.ndarray, n_categories: np.ndarray, target_col: int | None
) -> np.ndarray:
    """A conditioning pattern for a real table, drawn by the prior's mask sampler, within its observed cells.

    The mask sampler wants a complete table: missing cells are filled with a column's median (numeric) or
    most frequent code (categorical) only to compute its MAR/MNAR signal, and are never known.
    """
    observed = ~np.isnan(values)
    filled = values.copy()
    for j in range(values.shape[1]):
        column = values[observed[:, j], j]
        if len(column) == 0:
            fill = 0.0
        elif n_categories[j] > 0:
            fill = float(np.bincount(column.astype(np.int64)).argmax())
        else:
            fill = float(np.median(column))
        filled[~observed[:, j], j] = fill
    raw = RawTable(
        values=filled,
        n_categories=n_categories,
        is_integer=np.zeros(len(n_categories), dtype=bool),
        target_col=target_col,
    )
    known = masks.sample(rng, raw)[0] & observed
    # every column keeps a known cell where it has an observed one (inference refuses all-unknown columns)
    for j in np.flatnonzero(~known.any(axis=0) & observed.any(axis=0)):
        known[rng.choice(np.flatnonzero(observed[:, j])), j] = True
    return known


@dataclass(frozen=True)
class CodedTable:
    """A real table in code form: floats, categorical columns as codes 0..K-1, NaN = missing."""

    name: str
    values: np.ndarray  # (rows, cols) float64
    n_categories: np.ndarray  # (cols,) int64, 0 = numeric
    target_col: int | None = None  # the table's prediction target, if the manifest names one


def to_codes(name: str, frame: pd.DataFrame, *, max_categories: int, target: str | None = None) -> CodedTable:
    """Code a DataFrame once, with the encoder's dtype rules; columns above `max_categories` categories are dropped."""
    columns, n_categories, target_col = [], [], None
    for position, column_name in enumerate(frame.columns):
        column = frame.iloc[:, position]
        kind = infer_kind(column, name=column_name, force_categorical=False)
        if kind == ColumnKind.CATEGORICAL:
            categorical = pd.Categorical(column)
            k = len(categorical.categories)
            if k < 2 or k > max_categories:
                continue  # nothing to learn from a single category; too many for the channels
            codes = categorical.codes.astype(np.float64)
            codes[codes < 0] = np.nan
            target_col = len(columns) if column_name == target else target_col
            columns.append(codes)
            n_categories.append(k)
        else:
            target_col = len(columns) if column_name == target else target_col
            columns.append(pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))
            n_categories.append(0)
    if not columns:
        raise ValueError(f"table {name!r} has no usable column after coding")
    return CodedTable(
        name=name,
        values=np.stack(columns, axis=1),
        n_categories=np.asarray(n_categories, dtype=np.int64),
        target_col=target_col,
    )


def crop_real_table(
    rng: np.random.Generator, table: CodedTable, n_rows: int, n_cols: int
) -> tuple[np.ndarray, np.ndarray, int | None]:
    """A random sub-table of at most (n_rows, n_cols) without near-empty columns; the target is kept when present.

    -> (values, n_categories, target_col in the crop or None)
    """
    rows = rng.permutation(table.values.shape[0])[:n_rows]
    values = table.values[rows]
    usable = np.flatnonzero((~np.isnan(values)).sum(axis=0) >= 2)
    if len(usable) == 0:
        usable = np.arange(values.shape[1])
    cols = rng.permutation(usable)[:n_cols]
    target = table.target_col
    if target is not None and target in usable and target not in cols:
        cols[-1] = target
    target_col = int(np.flatnonzero(cols == target)[0]) if target is not None and target in cols else None
    return values[:, cols], table.n_categories[cols], target_col


class PretrainStream(IterableDataset):
    """An endless stream of `TableBatch`es mixing the prior and real tables.

    Args:
        prior: draws synthetic tables (a batch shares one shape).
        real_tables: coded real tables (may be empty); their conditioning patterns come from `prior.masks`.
        batch_size: tables per batch.
        max_cells: at most this many cells a batch (fewer tables when the drawn shape is large); None: no cap.
        real_fraction: expected fraction of a batch that comes from real tables.
        seed, rank: the stream's identity; batch i is drawn from np.random.default_rng([seed, rank, i]).
        start_index: first batch index (a resumed run passes its global step).
        max_categories, clip, n_quantiles: the encoder settings (must match the model's channels).
    """

    def __init__(
        self,
        prior: TablePrior,
        real_tables: Sequence[CodedTable],
        *,
        batch_size: int,
        max_cells: int | None = None,
        real_fraction: float = 0.0,
        seed: int = 0,
        rank: int = 0,
        start_index: int = 0,
        max_categories: int = 16,
        clip: float = 5.0,
        n_quantiles: int = 1000,
    ) -> None:
        super().__init__()
        if real_fraction > 0 and not real_tables:
            raise ValueError("real_fraction > 0 needs real tables: add sources or set real_fraction=0")
        self.prior = prior
        self.real_tables = list(real_tables)
        self.batch_size = batch_size
        self.max_cells = max_cells
        self.real_fraction = real_fraction
        self.seed = seed
        self.rank = rank
        self.start_index = start_index
        self.encode_kwargs = {"max_categories": max_categories, "clip": clip, "n_quantiles": n_quantiles}

    def batch(self, index: int) -> TableBatch:
        """Batch number `index` of this rank's stream."""
        rng = np.random.default_rng([self.seed, self.rank, index])
        if hasattr(self.prior, "sample_tensors"):
            return self._tensor_batch(rng)
        synthetic = self.prior.sample_batch(rng, self.batch_size, max_cells=self.max_cells)
        n_rows, n_cols = synthetic[0].values.shape
        encoded, known = [], []
        for table in synthetic:
            if self.real_tables and rng.random() < self.real_fraction:
                real = self.real_tables[rng.integers(len(self.real_tables))]
                values, n_categories, target_col = crop_real_table(rng, real, n_rows, n_cols)
                known_mask = real_known_mask(rng, self.prior.masks, values, n_categories, target_col)
            else:
                values, n_categories, known_mask = table.values, table.n_categories, table.known_mask
            encoded.append(encode_arrays(values, n_categories, fit_mask=known_mask, **self.encode_kwargs))
            known.append(torch.from_numpy(known_mask))
        return stack_tables(encoded, known)

    def _tensor_batch(self, rng: np.random.Generator) -> TableBatch:
        """A batched prior's tables encoded in one go on its device; the real-table slots coded together after."""
        drawn = self.prior.sample_tensors(rng, self.batch_size, max_cells=self.max_cells)
        n, n_rows, n_cols = drawn.values.shape
        cells, channel_mask, column_kind = encode_batch(
            drawn.values,
            drawn.n_categories,
            drawn.known_mask,
            max_categories=self.encode_kwargs["max_categories"],
            clip=self.encode_kwargs["clip"],
        )
        device = cells.device
        out = TableBatch(
            cells=cells,
            observed_mask=torch.ones((n, n_rows, n_cols), dtype=torch.bool, device=device),
            known_mask=drawn.known_mask,
            channel_mask=channel_mask,
            column_kind=column_kind,
            row_pad_mask=torch.zeros((n, n_rows), dtype=torch.bool, device=device),
            col_pad_mask=torch.zeros((n, n_cols), dtype=torch.bool, device=device),
        )
        slots = [i for i in range(n) if self.real_tables and rng.random() < self.real_fraction]
        if slots:
            self._put_real_tables(rng, out, torch.tensor(slots, device=device))
        return out

    def _put_real_tables(self, rng: np.random.Generator, out: TableBatch, slots: torch.Tensor) -> None:
        """Real-table crops in batch slots `slots`, coded together by encode_batch (NaN-padded to the batch shape)."""
        n_rows, n_cols = out.shape[1:3]
        values = np.full((len(slots), n_rows, n_cols), np.nan)
        n_categories = np.zeros((len(slots), n_cols), dtype=np.int64)
        known = np.zeros((len(slots), n_rows, n_cols), dtype=bool)
        shapes = []
        for k in range(len(slots)):
            real = self.real_tables[rng.integers(len(self.real_tables))]
            crop, n_categories_k, target_col = crop_real_table(rng, real, n_rows, n_cols)
            r, c = crop.shape
            values[k, :r, :c], n_categories[k, :c] = crop, n_categories_k
            known[k, :r, :c] = real_known_mask(rng, self.prior.masks, crop, n_categories_k, target_col)
            shapes.append((r, c))
        device = out.cells.device
        values_t = torch.as_tensor(values, dtype=torch.float32, device=device)
        n_categories_t, known_t = torch.as_tensor(n_categories, device=device), torch.as_tensor(known, device=device)
        cells, channel_mask, column_kind = encode_batch(
            values_t,
            n_categories_t,
            known_t,
            max_categories=self.encode_kwargs["max_categories"],
            clip=self.encode_kwargs["clip"],
        )
        r, c = (torch.as_tensor(x, device=device) for x in zip(*shapes, strict=True))
        row_pad = torch.arange(n_rows, device=device)[None, :] >= r[:, None]  # (k, rows)
        col_pad = torch.arange(n_cols, device=device)[None, :] >= c[:, None]  # (k, cols)
        observed = ~torch.isnan(values_t)
        out.cells[slots] = cells
        out.observed_mask[slots] = observed
        out.known_mask[slots] = known_t & observed
        out.channel_mask[slots] = channel_mask & ~col_pad[:, :, None]
        out.column_kind[slots] = column_kind
        out.row_pad_mask[slots] = row_pad
        out.col_pad_mask[slots] = col_pad

    def __iter__(self) -> Iterator[TableBatch]:
        info = get_worker_info()
        worker, n_workers = (0, 1) if info is None else (info.id, info.num_workers)
        index = self.start_index + worker
        while True:
            yield self.batch(index)
            index += n_workers


class FixedBatches(torch.utils.data.Dataset):
    """A fixed list of batches (validation): the same tables at every evaluation."""

    def __init__(self, stream: PretrainStream, n_batches: int, *, offset: int = 10**9) -> None:
        self.batches = [stream.batch(offset + i) for i in range(n_batches)]

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> TableBatch:
        return self.batches[index]


class RepeatedBatches(torch.utils.data.IterableDataset):
    """A stream's batches `start_index`, ..., `start_index + n_batches - 1`, drawn once, then yielded in turn for
    ever: the training step without the cost of drawing data (`data.repeat_batches`, for benchmarks)."""

    def __init__(self, stream: PretrainStream, n_batches: int) -> None:
        self.batches = FixedBatches(stream, n_batches, offset=stream.start_index).batches

    def __iter__(self) -> Iterator[TableBatch]:
        return itertools.cycle(self.batches)
