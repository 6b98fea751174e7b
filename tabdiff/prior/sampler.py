"""The prior as one object: draw a shape, a family, a table, its column types, a filter check and a mask.

    sampler = PriorSampler(PriorConfig())                      # or build_prior(**yaml) / hydra instantiate
    batch = sampler.sample_batch(np.random.default_rng(0), 32) # 32 tables of one shared shape

Everything random comes from the `np.random.Generator` passed in, so a seed fixes the tables exactly.
Defaults are the small-table recipe of docs/design.md ("Pretraining a small model that transfers"): 8-64 rows
x 3-16 columns, half low-rank latent-factor tables, ~20% categorical columns, unpredictable tables redrawn.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_type_hints

import numpy as np
from threadpoolctl import ThreadpoolController

from tabdiff.prior.columns import ColumnConfig, ColumnProcessor
from tabdiff.prior.draws import choose, log_uniform_int
from tabdiff.prior.filtering import FilterConfig, predictability
from tabdiff.prior.gp import GPConfig, GPPrior
from tabdiff.prior.latent import LatentFactorConfig, LatentFactorPrior
from tabdiff.prior.missingness import MaskSampler, MissingnessConfig
from tabdiff.prior.mixture import GaussianMixturePrior, MixtureConfig
from tabdiff.prior.scm import SCMConfig, SCMPrior
from tabdiff.prior.table import Family, RawTable, SyntheticTable

SizeDist = Literal["log_uniform", "uniform"]


class TableGenerator(Protocol):
    """A generator family: numeric columns of one kind of dependence structure."""

    family: str

    def sample(self, rng: np.random.Generator, n_rows: int, n_cols: int) -> RawTable: ...


@dataclass(frozen=True)
class PriorConfig:
    family_weights: Mapping[Family, float] = field(
        default_factory=lambda: {"latent_factor": 0.5, "scm": 0.4, "mixture": 0.05, "gp": 0.05}
    )  # how often each generator family is drawn (need not sum to 1)
    rows: tuple[int, int] = (
        8,
        64,
    )  # rows per table, inclusive range (>= 2: each column needs a known and an unknown cell)
    cols: tuple[int, int] = (3, 16)  # columns per table, inclusive range
    size_dist: SizeDist = "log_uniform"  # how rows and cols are drawn from their ranges
    blas_threads: int | None = 1  # BLAS threads while drawing (None: leave as is); see PriorSampler
    latent: LatentFactorConfig = field(default_factory=LatentFactorConfig)  # low-rank latent-factor family
    scm: SCMConfig = field(default_factory=SCMConfig)  # structural causal model family (MLP / tree mechanisms)
    mixture: MixtureConfig = field(default_factory=MixtureConfig)  # Gaussian-mixture family
    gp: GPConfig = field(default_factory=GPConfig)  # Gaussian-process function family
    columns: ColumnConfig = field(default_factory=ColumnConfig)  # categorical / integer / skewed columns
    filter: FilterConfig = field(default_factory=FilterConfig)  # redraw tables nothing predicts
    missingness: MissingnessConfig = field(default_factory=MissingnessConfig)  # which cells are given


def budget_batch_size(batch_size: int, n_rows: int, n_cols: int, max_cells: int | None) -> int:
    """Tables in a batch of shape (n_rows, n_cols): `batch_size`, or fewer so that the batch holds at most
    `max_cells` cells (at least one table). A cell budget bounds a step's memory, which grows with the cells
    (activations are (tables, rows, cols, d_model)): small tables come in full batches, the rare 1,024 x 64
    table in a batch of a few.
    """
    if max_cells is None:
        return batch_size
    if isinstance(max_cells, bool) or not isinstance(max_cells, int) or max_cells < 1:
        raise ValueError(f"data.max_cells must be a positive integer or null, got {max_cells!r}")
    return max(1, min(batch_size, max_cells // (n_rows * n_cols)))


class PriorSampler:
    """Draws `SyntheticTable`s: family -> columns -> filter (redraw) -> missingness.

    While drawing, numpy's BLAS is held to `blas_threads` threads: the prior's matrices are small, and on
    a busy machine extra BLAS threads only spin against the trainer's (measured here on 2 shared cores:
    1024 x 64 tables were drawn 10x slower with the default 2 threads than with 1).
    """

    def __init__(self, config: PriorConfig | None = None) -> None:
        self.config = cfg = config or PriorConfig()
        validate_config(cfg)
        self.generators: dict[str, TableGenerator] = {
            "latent_factor": LatentFactorPrior(cfg.latent),
            "scm": SCMPrior(cfg.scm),
            "mixture": GaussianMixturePrior(cfg.mixture),
            "gp": GPPrior(cfg.gp),
        }
        unknown = set(cfg.family_weights) - set(self.generators)
        if unknown:
            raise ValueError(f"unknown families {sorted(unknown)}; known: {sorted(self.generators)}")
        self.columns = ColumnProcessor(cfg.columns)
        self.masks = MaskSampler(cfg.missingness)

    def _blas_limit(self) -> AbstractContextManager:
        if self.config.blas_threads is None:
            return nullcontext()
        return _blas_controller().limit(limits=self.config.blas_threads, user_api="blas")

    def sample_shape(self, rng: np.random.Generator) -> tuple[int, int]:
        """(rows, cols) drawn from the configured ranges."""
        draw = log_uniform_int if self.config.size_dist == "log_uniform" else _uniform_int
        return draw(rng, *self.config.rows), draw(rng, *self.config.cols)

    def sample_table(
        self, rng: np.random.Generator, n_rows: int | None = None, n_cols: int | None = None
    ) -> SyntheticTable:
        """One table; the shape is drawn unless given."""
        with self._blas_limit():
            return self._sample_table(rng, n_rows, n_cols)

    def _sample_table(self, rng: np.random.Generator, n_rows: int | None, n_cols: int | None) -> SyntheticTable:
        if n_rows is None or n_cols is None:
            rows, cols = self.sample_shape(rng)
            n_rows, n_cols = n_rows or rows, n_cols or cols
        family: Family = choose(rng, self.config.family_weights)
        raw = self._draw_filtered(rng, self.generators[family], n_rows, n_cols)
        known_mask, kind = self.masks.sample(rng, raw)
        return SyntheticTable(
            values=raw.values,
            n_categories=raw.n_categories,
            is_integer=raw.is_integer,
            known_mask=known_mask,
            family=family,
            missingness=kind,
        )

    def sample_batch(
        self,
        rng: np.random.Generator,
        batch_size: int,
        n_rows: int | None = None,
        n_cols: int | None = None,
        *,
        max_cells: int | None = None,
    ) -> list[SyntheticTable]:
        """`batch_size` tables sharing one (rows, cols), drawn once per batch unless given: no padding needed.

        `max_cells` caps the batch's cells: fewer tables when the drawn shape is large (`budget_batch_size`).
        """
        rows, cols = self.sample_shape(rng)
        n_rows, n_cols = n_rows or rows, n_cols or cols
        batch_size = budget_batch_size(batch_size, n_rows, n_cols, max_cells)
        with self._blas_limit():
            return [self._sample_table(rng, n_rows, n_cols) for _ in range(batch_size)]

    def _draw_filtered(self, rng: np.random.Generator, gen: TableGenerator, n_rows: int, n_cols: int) -> RawTable:
        """A processed table from `gen`, redrawn (same family, same shape) while the filter rejects it."""
        fcfg = self.config.filter
        for _ in range(fcfg.max_redraws + 1):
            raw = self.columns.apply(rng, gen.sample(rng, n_rows, n_cols))
            if not fcfg.enabled or predictability(rng, raw.values, raw.n_categories, fcfg) >= fcfg.min_score:
                break
        return raw


def validate_config(cfg: PriorConfig) -> None:
    """Refuse shape ranges and category caps no table can satisfy (both prior implementations call this)."""
    if cfg.rows[0] < 2 or cfg.rows[0] > cfg.rows[1]:
        raise ValueError(f"rows must be a range (lo, hi) with 2 <= lo <= hi, got {cfg.rows}")
    if cfg.cols[0] < 1 or cfg.cols[0] > cfg.cols[1]:
        raise ValueError(f"cols must be a range (lo, hi) with 1 <= lo <= hi, got {cfg.cols}")
    if not 2 <= cfg.columns.max_categories <= 16:
        raise ValueError("columns.max_categories must be in 2..16 (the encoder's one-hot channels)")


@functools.cache
def _blas_controller() -> ThreadpoolController:
    """One per process, made on first use (scanning the loaded libraries costs ~1 ms; a limit, ~10 us).

    Module-level rather than an attribute so that a PriorSampler stays picklable for DataLoader workers.
    """
    return ThreadpoolController()


def _uniform_int(rng: np.random.Generator, low: int, high: int) -> int:
    return int(rng.integers(low, high + 1))


def _from_plain(cls: type, values: Mapping[str, Any]) -> Any:
    """A (nested) config dataclass from plain dicts and lists, as YAML / Hydra give them; lists become tuples."""
    hints = get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        if name not in hints:
            raise TypeError(f"{cls.__name__} has no field {name!r}")
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
            value = _from_plain(hint, value)
        elif isinstance(value, Mapping):
            value = dict(value)
        elif isinstance(value, (list, tuple)):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)
