"""Run the sampler over planned sub-tables, several per model call, and hand back each draw's cells.

The jobs of one call are (ensemble member, sample) pairs: a member is one plan (`plan.plan_tables`: its own
column groups, row chunks, context subsamples and row/column orders), a sample one sampler run on it. Every
sub-table also gets fresh random column identifiers (`inpaint` draws them), as in pretraining. Sub-tables of
the same shape are stacked into batches of `batch_size` tables; the permutations are undone by the row and
column positions each `Block` carries.

The in-context experts depend on a sub-table's known cells alone, not on its order, its column identifiers or the
noise: sub-tables made of the same rows and columns (every draw and member of a table within the limits) share one
fit (`SharedExperts`), which would otherwise be repeated for each of them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from tabdiff.checkpoint import LoadedCheckpoint
from tabdiff.diffusion import Spacing
from tabdiff.encoding import EncodedTable
from tabdiff.experts import NO_EXPERTS, ExpertConfig, FittedExperts
from tabdiff.inference.inpaint import Sampler, inpaint
from tabdiff.inference.plan import ContextChoice, SubTable, plan_tables

# one ensemble member's sub-tables: (target_mask, known_mask, rng) -> sub-tables covering every target cell once
Planner = Callable[[np.ndarray, np.ndarray, np.random.Generator], list[SubTable]]


@dataclass(frozen=True)
class SamplerSettings:
    sampler: Sampler  # "ddim", "conditional" or "repaint" (see tabdiff.inference.inpaint)
    n_steps: int  # sampling steps (respaced from the checkpoint's training steps)
    jump_length: int  # RePaint: steps between resampling rounds
    jump_n_sample: int  # RePaint: rounds at each jump point
    denoise_last: bool = True  # conditional / RePaint: False skips the call at the lowest noise level (`inpaint`)
    spacing: Spacing = "uniform"  # how the n_steps spread over the training steps (`space_timesteps`)


@dataclass(frozen=True)
class Limits:
    max_rows: int  # rows per sub-table
    max_cols: int  # columns per sub-table
    query_fraction: float  # at most this share of a chunk's rows are query rows (when the table is chunked)
    batch_size: int  # sub-tables per model call
    context: ContextChoice = "random"  # context rows of a chunk: a random subsample, or the rows nearest to it


@dataclass(frozen=True)
class Block:
    """One draw of the cells of one sub-table, in the full table's coordinates."""

    draw: int  # member * n_samples + sample
    table: SubTable  # its rows and columns in the full table, and which of them it answers for
    cells: np.ndarray  # (r, c, K) float32 inpainted cells


def draw_blocks(
    checkpoint: LoadedCheckpoint,
    encoded: EncodedTable,
    target_mask: np.ndarray,
    *,
    settings: SamplerSettings,
    limits: Limits,
    n_members: int,
    n_samples: int,
    rng: np.random.Generator,
    progress: bool,
    desc: str,
    plan: Planner | None = None,
    experts: ExpertConfig = NO_EXPERTS,
) -> Iterator[Block]:
    """Inpaint every target cell `n_members * n_samples` times; yields each sub-table's draw as it is done.

    `target_mask` (rows, cols) marks the cells to return; they must be unknown in `encoded.known_mask`.
    `plan(target_mask, known_mask, rng)` draws one member's sub-tables (default: `plan_tables` within `limits`).
    `experts` are mixed into the network's estimate (`inpaint`).
    """
    known_np = encoded.known_mask.numpy()
    if (target_mask & known_np).any():
        raise AssertionError("a target cell is marked known: the model would be handed its answer")
    features = _features(encoded) if plan is None and limits.context == "nearest" else None
    jobs: dict[tuple[int, int], list[tuple[int, SubTable]]] = defaultdict(list)
    for member in range(n_members):
        if plan is None:
            tables = plan_tables(
                target_mask, known_np, max_rows=limits.max_rows, max_cols=limits.max_cols,
                query_fraction=limits.query_fraction, rng=rng, context=limits.context, features=features,
            )  # fmt: skip
        else:
            tables = plan(target_mask, known_np, rng)
        for table in tables:
            for sample in range(n_samples):
                jobs[table.shape].append((member * n_samples + sample, table))
    batches = [
        group[start : start + limits.batch_size]
        for group in jobs.values()
        for start in range(0, len(group), limits.batch_size)
    ]
    device = next(checkpoint.model.parameters()).device
    shared = None
    if experts.enabled and settings.sampler != "repaint":  # repaint runs the network alone (inpaint.py)
        shared = SharedExperts(encoded, experts, [table for group in jobs.values() for _, table in group], device)
    generator = torch.Generator(device=device).manual_seed(int(rng.integers(2**63)))
    many_steps = settings.n_steps > 1
    bar = tqdm(batches, desc=desc, unit="batch", disable=not progress or (len(batches) < 2 and not many_steps))
    for batch in bar:
        rows = torch.from_numpy(np.stack([table.rows for _, table in batch]))  # (B, r)
        cols = torch.from_numpy(np.stack([table.cols for _, table in batch]))  # (B, c)
        cells = encoded.cells[rows[:, :, None], cols[:, None, :]]  # (B, r, c, K)
        known_mask = encoded.known_mask[rows[:, :, None], cols[:, None, :]]  # (B, r, c)
        out = inpaint(
            checkpoint.model,
            checkpoint.diffusion,
            cells.to(device),
            known_mask.to(device),
            channel_mask=encoded.channel_mask[cols].to(device),  # (B, c, K)
            column_kind=encoded.column_kind[cols].to(device),  # (B, c)
            sampler=settings.sampler,
            n_steps=settings.n_steps,
            spacing=settings.spacing,
            jump_length=settings.jump_length,
            jump_n_sample=settings.jump_n_sample,
            denoise_last=settings.denoise_last,
            experts=experts,
            fitted=None if shared is None else shared.fitted([table for _, table in batch]),
            generator=generator,
            progress=progress and many_steps,
        )
        if not torch.isfinite(out).all():
            raise FloatingPointError(
                f"sampler={settings.sampler!r} produced non-finite cells; the checkpoint's diffusion settings "
                f"({checkpoint.config.get('diffusion')}) do not suit it, or its weights are corrupt"
            )
        out = out.cpu().numpy()
        for b, (draw, table) in enumerate(batch):
            yield Block(draw=draw, table=table, cells=out[b])


class SharedExperts:
    """The experts fitted once per set of cells: sub-tables of the same rows and columns, in whatever order, get one
    fit (made when the first of them comes, dropped after the last), `FittedExperts.select`ed into each one's order.

    The fit of a batch of distinct sub-tables costs what fitting them batch-wise in `inpaint` costs; a table within the
    limits is fitted once for all its draws and members instead of once per draw."""

    def __init__(self, encoded: EncodedTable, config: ExpertConfig, tables: list[SubTable], device: torch.device):
        self.encoded, self.config, self.device = encoded, config, device
        self.left = Counter(self._key(table) for table in tables)  # sub-tables still to come per set of cells
        self.fits: dict[tuple[bytes, bytes], FittedExperts] = {}  # a set of cells -> its fit in sorted order

    @staticmethod
    def _key(table: SubTable) -> tuple[bytes, bytes]:
        return np.sort(table.rows).astype(np.int64).tobytes(), np.sort(table.cols).astype(np.int64).tobytes()

    def fitted(self, batch: list[SubTable]) -> FittedExperts:
        """The experts of a batch of sub-tables of one shape, in their own row and column orders."""
        keys = [self._key(table) for table in batch]
        new = list(dict.fromkeys(key for key in keys if key not in self.fits))
        if new:  # one batched fit of the sets of cells not fitted yet, each in sorted order
            rows = torch.from_numpy(np.stack([np.frombuffer(key[0], dtype=np.int64) for key in new]))  # (N, r)
            cols = torch.from_numpy(np.stack([np.frombuffer(key[1], dtype=np.int64) for key in new]))  # (N, c)
            encoded = self.encoded
            fit = FittedExperts(
                self.config,
                encoded.cells[rows[:, :, None], cols[:, None, :]].to(self.device),
                encoded.known_mask[rows[:, :, None], cols[:, None, :]].to(self.device),
                channel_mask=encoded.channel_mask[cols].to(self.device),
                column_kind=encoded.column_kind[cols].to(self.device),
            )
            r, c = rows.shape[1], cols.shape[1]
            whole_r = torch.arange(r, device=self.device)[None]
            whole_c = torch.arange(c, device=self.device)[None]
            for i, key in enumerate(new):
                self.fits[key] = fit.select(torch.tensor([i], device=self.device), whole_r, whole_c)
        parts = []
        for key, table in zip(keys, batch, strict=True):
            sorted_rows, sorted_cols = (np.frombuffer(part, dtype=np.int64) for part in key)
            rows = torch.from_numpy(np.searchsorted(sorted_rows, table.rows))[None].to(self.device)  # (1, r)
            cols = torch.from_numpy(np.searchsorted(sorted_cols, table.cols))[None].to(self.device)  # (1, c)
            parts.append(self.fits[key].select(torch.zeros(1, dtype=torch.long, device=self.device), rows, cols))
            self.left[key] -= 1
            if not self.left[key]:
                del self.fits[key]
        return parts[0] if len(parts) == 1 else FittedExperts.concat(parts)


def _features(encoded: EncodedTable) -> np.ndarray:
    """(rows, cols, K) the cells as distances should see them: NaN where unknown or the channel unused; a
    categorical column's {-1, +1} channels halved, so that two different categories lie sqrt(2) apart, as two
    independent standard-normal values do on average."""
    cells = encoded.cells.numpy()  # (rows, cols, K) float32
    scale = np.where(encoded.n_categories.numpy() > 0, 0.5, 1.0).astype(np.float32)  # (cols,)
    features = cells * scale[None, :, None]
    usable = encoded.known_mask.numpy()[:, :, None] & encoded.channel_mask.numpy()[None, :, :]
    return np.where(usable, features, np.nan)
