"""Zero-shot imputation on held-out real tables: the number that decides whether pretraining transfers.

A task is a held-out table (rows subsampled, columns capped) with a fixed mask over its observed cells,
drawn under MCAR, MAR or MNAR (`tabdiff.prior.missingness`). The scores are the normalized RMSE over the
masked numeric cells (each column's error divided by the column's standard deviation on the full table, so
that imputing column means scores about 1.0) and the accuracy over the masked categorical cells.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from tabdiff.data.manifest import BundledTable, bundled_tables
from tabdiff.prior.missingness import MissingnessConfig, column_signal, mar_mask, mcar_mask, mnar_mask

Mechanism = Literal["mcar", "mar", "mnar"]


@dataclass(frozen=True)
class ImputationTask:
    name: str
    frame: pd.DataFrame  # the ground truth (with its own real NaNs)
    known_mask: np.ndarray  # (rows, cols) bool: the cells given to the imputer
    numeric: list[str]  # numeric columns scored by nRMSE; every other column is scored by accuracy

    @property
    def categorical(self) -> list[str]:
        return [c for c in self.frame.columns if c not in self.numeric]

    @property
    def given(self) -> pd.DataFrame:
        """The table an imputer sees: the ground truth with every unknown cell set to NaN."""
        return self.frame.mask(~self.known_mask)


def is_numeric_column(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def heldout_sources(names: Sequence[str] | None = None) -> list[tuple[int, BundledTable]]:
    """(position among the held-out tables, table) for `names` (None: all). Refuses any other table."""
    heldout = bundled_tables("heldout")
    if names is None:
        return list(enumerate(heldout))
    position = {source.name: i for i, source in enumerate(heldout)}
    pretrain = {source.name for source in bundled_tables("pretrain")}
    for name in names:
        if name in pretrain:
            raise ValueError(f"table {name!r} is a pretraining table; zero-shot evaluation runs on held-out ones only")
        if name not in position:
            raise ValueError(f"no held-out table named {name!r}; held-out tables: {sorted(position)}")
    return [(position[name], heldout[position[name]]) for name in dict.fromkeys(names)]


def draw_known_mask(
    rng: np.random.Generator, frame: pd.DataFrame, missing_rate: float, mechanism: Mechanism = "mcar"
) -> np.ndarray:
    """(rows, cols) bool: the observed cells left known after hiding about `missing_rate` of them.

    mcar draws exactly as the training callback always has (same seed, same mask). mar keeps 1..cols/2 random
    driver columns fully known and hides a `missing_rate` fraction of the others; mnar hides a cell by its own
    value. Both read a rank signal of the table, with real missing cells filled by the column's median / mode.
    """
    observed = frame.notna().to_numpy()
    if mechanism == "mcar":
        known = observed & mcar_mask(rng, observed.shape, missing_rate)
    elif mechanism in ("mar", "mnar"):
        signal = column_signal(rng, *_filled_codes(frame))
        if mechanism == "mnar":
            known = observed & mnar_mask(rng, signal, missing_rate, MissingnessConfig())
        else:
            known = observed & mar_mask(rng, signal, missing_rate, MissingnessConfig())[0]
    else:
        raise ValueError(f"mechanism must be 'mcar', 'mar' or 'mnar', got {mechanism!r}")
    # every column keeps a known cell (the encoder needs one to fit on)
    for j in np.flatnonzero(~known.any(axis=0) & observed.any(axis=0)):
        known[rng.choice(np.flatnonzero(observed[:, j])), j] = True
    return known


def _filled_codes(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(values (rows, cols) float64 without NaN, n_categories (cols,)): numbers, or category codes."""
    values = np.zeros(frame.shape)
    n_categories = np.zeros(frame.shape[1], dtype=np.int64)
    for j, column in enumerate(frame.columns):
        series = frame[column]
        if is_numeric_column(series):
            x = series.to_numpy(dtype=np.float64, na_value=np.nan)
            values[:, j] = np.where(np.isnan(x), np.nanmedian(x) if (~np.isnan(x)).any() else 0.0, x)
        else:
            codes = pd.Categorical(series).codes.astype(np.int64)
            mode = np.bincount(codes[codes >= 0]).argmax() if (codes >= 0).any() else 0
            values[:, j] = np.where(codes < 0, mode, codes)
            n_categories[j] = max(int(values[:, j].max()) + 1, 1)
    return values, n_categories


def make_tasks(
    *,
    missing_rate: float = 0.3,
    max_rows: int | None = None,
    max_cols: int | None = None,
    seed: int = 0,
    max_tables: int | None = None,
    mechanism: Mechanism = "mcar",
    tables: Sequence[str] | None = None,
) -> list[ImputationTask]:
    """Tasks on held-out bundled tables (never the pretraining ones): `tables` by name, else the first `max_tables`.

    A table's rows and mask depend only on (seed, its position among the held-out tables), so a subset of
    tables gets the same tasks as the full run. `max_rows` (a random subset per seed) and `max_cols` (the
    first columns) cap the table; None keeps it whole, as a user would give it.
    """
    tasks = []
    for position, source in heldout_sources(tables)[:max_tables]:
        rng = np.random.default_rng([seed, position])
        frame = source.load()
        frame = frame.iloc[np.sort(rng.permutation(len(frame))[:max_rows])].iloc[:, :max_cols]
        known = draw_known_mask(rng, frame, missing_rate, mechanism)
        numeric = [c for c in frame.columns if is_numeric_column(frame[c])]
        tasks.append(ImputationTask(source.name, frame, known, numeric))
    return tasks


def scored_numeric(task: ImputationTask) -> Iterator[tuple[str, np.ndarray, np.ndarray, float]]:
    """(column, scored (rows,) bool, true values (rows,) float64, scale) for each numeric column with masked,
    observed cells and a nonzero spread; scale is the column's std on the full table."""
    observed = task.frame.notna().to_numpy()
    for column in task.numeric:
        j = task.frame.columns.get_loc(column)
        scored = observed[:, j] & ~task.known_mask[:, j]
        truth = task.frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
        scale = float(np.nanstd(truth))
        if scored.any() and scale > 0:
            yield column, scored, truth, scale


def normalized_rmse(task: ImputationTask, imputed: pd.DataFrame) -> float:
    """RMSE over masked, observed numeric cells, each column scaled by its std on the full table."""
    errors = []
    for column, scored, truth, scale in scored_numeric(task):
        pred = imputed[column].to_numpy(dtype=np.float64, na_value=np.nan)
        errors.append(((pred[scored] - truth[scored]) / scale) ** 2)
    return float(np.sqrt(np.concatenate(errors).mean())) if errors else float("nan")


def categorical_accuracy(task: ImputationTask, imputed: pd.DataFrame) -> float:
    """Fraction of masked, observed categorical cells imputed with their true category (NaN when none)."""
    hits, total = 0, 0
    observed = task.frame.notna().to_numpy()
    for column in task.categorical:
        j = task.frame.columns.get_loc(column)
        scored = observed[:, j] & ~task.known_mask[:, j]
        truth = task.frame[column].to_numpy(dtype=object)[scored]
        pred = imputed[column].to_numpy(dtype=object)[scored]
        hits += sum(bool(p == t) for p, t in zip(pred, truth, strict=True))
        total += int(scored.sum())
    return hits / total if total else float("nan")


def scored_cells(task: ImputationTask) -> tuple[int, int]:
    """(numeric, categorical) counts of the cells the two metrics score."""
    scored = task.frame.notna().to_numpy() & ~task.known_mask
    numeric = np.array([c in task.numeric for c in task.frame.columns])
    return int(scored[:, numeric].sum()), int(scored[:, ~numeric].sum())
