"""The batched prior: a whole batch of tables of one shape drawn with tensor operations, on any device.

    prior = BatchedPrior(PriorConfig())                         # the same config as PriorSampler
    batch = prior.sample_tensors(np.random.default_rng(0), 32)  # a PriorBatch of (32, rows, cols) tensors

Same steps and distribution as `tabdiff.prior.PriorSampler` (the per-table numpy reference): a family per
table -> mixed column types -> the predictability filter (rejected tables redrawn, same family and shape,
up to `max_redraws` times) -> a conditioning pattern. Batch draws are a pure function of the numpy
generator passed in (it seeds a torch generator on the prior's device), so a stream stays reproducible
per batch index; the numbers differ from PriorSampler's, the distribution does not (tests/prior/batched).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields

import numpy as np
import torch

import tabdiff.prior.batched.families as families
import tabdiff.prior.batched.ops as ops
from tabdiff.prior.batched.columns import process_columns
from tabdiff.prior.batched.filtering import predictability
from tabdiff.prior.batched.missingness import MASK_KINDS, sample_masks
from tabdiff.prior.batched.scm import scm
from tabdiff.prior.missingness import MaskSampler
from tabdiff.prior.sampler import PriorConfig, budget_batch_size, validate_config
from tabdiff.prior.table import SyntheticTable

FAMILIES = ("latent_factor", "scm", "mixture", "gp")
REDRAWS_PER_ROUND = 4  # candidates drawn at once for each rejected table (see BatchedPrior._filtered)
SPARE_RATE = 0.1  # rejection rate the first round's spare candidates are sized for (measured: 3-11% per family)
# Spares only for tables of at most this many cells: a small table costs little next to a round's per-call
# overhead, a large one costs more than the rare round it saves (measured on this CPU, batches of 128 default
# tables: 1,500 -> 1,900 tables/s; batches of 32 large ones: 200 -> 175 with spares, so none there).
SPARE_MAX_CELLS = 1024
_COLUMN_FIELDS = ("values", "n_categories", "is_integer", "target_col")


@dataclass(frozen=True)
class PriorBatch:
    """`n` complete prior tables of one shape with their conditioning patterns, as tensors on one device."""

    values: torch.Tensor  # (n, rows, cols) float32, categorical columns hold codes 0..K-1
    n_categories: torch.Tensor  # (n, cols) long, 0 numeric, K >= 2 categorical
    is_integer: torch.Tensor  # (n, cols) bool
    known_mask: torch.Tensor  # (n, rows, cols) bool, True = given
    family: torch.Tensor  # (n,) long, index into FAMILIES
    missingness: torch.Tensor  # (n,) long, index into MASK_KINDS
    target_col: torch.Tensor  # (n,) long, the table's natural target column or -1

    def tables(self) -> list[SyntheticTable]:
        """The batch as PriorSampler's `SyntheticTable`s (numpy, float64): for tests and the per-table paths."""
        values = self.values.double().cpu().numpy()
        n_categories, is_integer = self.n_categories.cpu().numpy(), self.is_integer.cpu().numpy()
        known, family, kind = self.known_mask.cpu().numpy(), self.family.tolist(), self.missingness.tolist()
        return [
            SyntheticTable(
                values=values[i],
                n_categories=n_categories[i],
                is_integer=is_integer[i],
                known_mask=known[i],
                family=FAMILIES[family[i]],
                missingness=MASK_KINDS[kind[i]],
            )
            for i in range(len(values))
        ]


class BatchedPrior:
    """Draws `PriorBatch`es with tensor operations on `device` (CPU workers or the training GPU)."""

    def __init__(self, config: PriorConfig | None = None, *, device: str | torch.device = "cpu") -> None:
        self.config = cfg = config or PriorConfig()
        validate_config(cfg)
        unknown = set(cfg.family_weights) - set(FAMILIES)
        if unknown:
            raise ValueError(f"unknown families {sorted(unknown)}; known: {sorted(FAMILIES)}")
        self.device = torch.device(device)
        self.family_weights = torch.tensor([float(cfg.family_weights.get(f, 0.0)) for f in FAMILIES])
        self.generators: dict[int, Callable[..., tuple[torch.Tensor, torch.Tensor | None]]] = {
            0: lambda g, n, r, c: (families.latent_factor(g, cfg.latent, n, r, c), None),
            1: lambda g, n, r, c: scm(g, cfg.scm, n, r, c),
            2: lambda g, n, r, c: (families.mixture(g, cfg.mixture, n, r, c), None),
            3: lambda g, n, r, c: (families.gp(g, cfg.gp, n, r, c), None),
        }
        self.masks = MaskSampler(cfg.missingness)  # the per-table sampler, for real tables' patterns

    def to(self, device: str | torch.device) -> BatchedPrior:
        """The same prior drawing on another device."""
        return BatchedPrior(self.config, device=device)

    def generator(self, rng: np.random.Generator) -> torch.Generator:
        """A torch generator on the prior's device, seeded from `rng` (one draw of it)."""
        return torch.Generator(device=self.device).manual_seed(int(rng.integers(2**63 - 1)))

    def sample_shape(self, g: torch.Generator) -> tuple[int, int]:
        cfg = self.config
        if cfg.size_dist == "log_uniform":
            rows, cols = ops.log_uniform_int(g, *cfg.rows, (1,)), ops.log_uniform_int(g, *cfg.cols, (1,))
        else:
            rows, cols = ops.randint(g, cfg.rows[0], cfg.rows[1], (1,)), ops.randint(g, cfg.cols[0], cfg.cols[1], (1,))
        return int(rows), int(cols)

    def sample_tensors(
        self,
        rng: np.random.Generator,
        batch_size: int,
        n_rows: int | None = None,
        n_cols: int | None = None,
        *,
        max_cells: int | None = None,
    ) -> PriorBatch:
        """`batch_size` tables sharing one (rows, cols), drawn once per batch unless given; with `max_cells`,
        fewer tables when the shape is large (`budget_batch_size`).

        Drawn under `torch.inference_mode` (no autograd bookkeeping on its thousands of small ops: default prior
        2,340 -> 2,650 tables/s, large 550 -> 585 on this CPU), then copied out as ordinary tensors, which the
        stream may write into and the trainer may use as autograd inputs."""
        with self._thread_limit(), torch.inference_mode():
            batch = self._sample_tensors(rng, batch_size, n_rows, n_cols, max_cells)
        return PriorBatch(**{f.name: getattr(batch, f.name).clone() for f in fields(batch)})

    @contextmanager
    def _thread_limit(self) -> Iterator[None]:
        """torch's CPU threads held to `blas_threads` while drawing (PriorSampler does the same for numpy's BLAS).

        The prior's tensors are small: on 2 shared cores a second thread only spins against the trainer's
        (measured here, alternating with a 2-thread matmul: 190 ms per batch of 32 default tables and matmul
        when drawing with 2 threads, 115 ms with 1).
        """
        limit = self.config.blas_threads
        previous = torch.get_num_threads()
        if self.device.type != "cpu" or limit is None or limit >= previous:
            yield
            return
        torch.set_num_threads(limit)
        try:
            yield
        finally:
            torch.set_num_threads(previous)

    def _sample_tensors(
        self, rng: np.random.Generator, batch_size: int, n_rows: int | None, n_cols: int | None, max_cells: int | None
    ) -> PriorBatch:
        g = self.generator(rng)
        rows, cols = self.sample_shape(g)
        n_rows, n_cols = n_rows or rows, n_cols or cols
        batch_size = budget_batch_size(batch_size, n_rows, n_cols, max_cells)
        family = ops.choose(g, self.family_weights, batch_size).to(self.device)
        if self.config.filter.enabled:
            columns = self._filtered(g, family, n_rows, n_cols)
        else:
            columns = self._draw(g, family, n_rows, n_cols)
        known_mask, kind = sample_masks(
            g, self.config.missingness, columns.values, columns.n_categories, columns.target_col
        )
        return PriorBatch(
            values=columns.values,
            n_categories=columns.n_categories,
            is_integer=columns.is_integer,
            known_mask=known_mask,
            family=family,
            missingness=kind,
            target_col=columns.target_col,
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
        """PriorSampler's interface: the batch as a list of SyntheticTables."""
        return self.sample_tensors(rng, batch_size, n_rows, n_cols, max_cells=max_cells).tables()

    def _filtered(self, g: torch.Generator, family: torch.Tensor, n_rows: int, n_cols: int):
        """Each table drawn from its family until the filter accepts it; after max_redraws the last draw stays.

        PriorSampler redraws one table at a time. Here the first round draws, besides one candidate per table,
        `spares` extra candidates per family; a rejected table takes the next accepted spare of its family. Only
        tables left without one go on to redraw rounds, REDRAWS_PER_ROUND candidates each, keeping the first
        accepted. Every table still holds the first accepted draw of an i.i.d. sequence from its family, so the
        accepted distribution per family is PriorSampler's, with far fewer rounds of tensor calls (a round costs
        mostly per-call overhead: an SCM round walks all its nodes whether it draws 4 tables or 128). The spare
        counts depend only on the batch's family counts, so a batch stays a pure function of its generator.
        """
        fcfg = self.config.filter
        n = len(family)
        counts = torch.bincount(family, minlength=len(FAMILIES)).tolist()
        extra = [
            torch.full((spares(c, n_rows * n_cols),), f, dtype=family.dtype, device=family.device)
            for f, c in enumerate(counts)
        ]
        candidates = self._draw(g, torch.cat([family, *extra]), n_rows, n_cols)
        accepted = predictability(g, candidates.values, candidates.n_categories, fcfg) >= fcfg.min_score
        columns = _take(candidates, torch.arange(n, device=family.device))
        rejected = ~accepted[:n]
        spare_family, spare_ok = torch.cat(extra), accepted[n:]
        taken, given = [], []
        for f in range(len(FAMILIES)):
            want = torch.nonzero(rejected & (family == f))[:, 0]
            have = torch.nonzero(spare_ok & (spare_family == f))[:, 0] + n
            k = min(len(want), len(have))
            taken.append(want[:k])
            given.append(have[:k])
            rejected[want[:k]] = False
        taken, given = torch.cat(taken), torch.cat(given)
        if len(taken):
            columns = _replace_rows(columns, taken, _take(candidates, given))
        pending = torch.nonzero(rejected)[:, 0]
        tries = int(any(len(e) for e in extra))  # spares, if any, count as one redraw
        while len(pending) and tries < fcfg.max_redraws:
            m = min(REDRAWS_PER_ROUND, fcfg.max_redraws - tries)
            tries += m
            candidates = self._draw(g, family[pending].repeat_interleave(m), n_rows, n_cols)
            scores = predictability(g, candidates.values, candidates.n_categories, fcfg)
            accepted = (scores >= fcfg.min_score).view(len(pending), m)
            found = accepted.any(dim=1)
            pick = torch.where(found, accepted.to(torch.uint8).argmax(dim=1), m - 1)  # first accepted, else the last
            chosen = torch.arange(len(pending), device=self.device) * m + pick
            columns = _replace_rows(columns, pending, _take(candidates, chosen))
            pending = pending[~found]
        return columns

    def _draw(self, g: torch.Generator, family: torch.Tensor, n_rows: int, n_cols: int):
        """Each table from its family, then its column types: a ColumnBatch of len(family) tables."""
        n = len(family)
        values = torch.empty((n, n_rows, n_cols), device=self.device)
        target_col = torch.full((n,), -1, dtype=torch.long, device=self.device)
        for f, make in self.generators.items():
            index = torch.nonzero(family == f)[:, 0]
            if len(index) == 0:
                continue
            drawn, target = make(g, len(index), n_rows, n_cols)
            values[index] = drawn.to(values.dtype)
            if target is not None:
                target_col[index] = target
        return process_columns(g, self.config.columns, values, target_col)


def spares(count: int, cells: int, rate: float = SPARE_RATE) -> int:
    """Spare candidates for `count` tables of `cells` cells of one family: the expected rejections at `rate`
    plus one standard deviation and one, so that a second round is rare; none for a family the batch does not
    hold or for tables of more than SPARE_MAX_CELLS cells."""
    if count == 0 or cells > SPARE_MAX_CELLS:
        return 0
    return math.ceil(count * rate + math.sqrt(count * rate * (1.0 - rate))) + 1


def _take(columns, index: torch.Tensor):
    """The ColumnBatch of tables `index`."""
    return type(columns)(**{name: getattr(columns, name)[index] for name in _COLUMN_FIELDS})


def _replace_rows(columns, index: torch.Tensor, new):
    """A ColumnBatch with tables `index` replaced by those of `new` (a ColumnBatch of len(index) tables)."""
    fields = {}
    for name in _COLUMN_FIELDS:
        merged = getattr(columns, name).clone()
        merged[index] = getattr(new, name)
        fields[name] = merged
    return type(columns)(**fields)
