"""Run the sampler over planned sub-tables, several per model call, and hand back each draw's cells.

The jobs of one call are (ensemble member, sample) pairs: a member is one plan (`plan.plan_tables`: its own
column groups, row chunks, context subsamples and row/column orders), a sample one sampler run on it. Every
sub-table also gets fresh random column identifiers (`inpaint` draws them), as in pretraining. Sub-tables of
the same shape are stacked into batches of `batch_size` tables; the permutations are undone by the row and
column positions each `Block` carries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from tabdiff.checkpoint import LoadedCheckpoint
from tabdiff.encoding import EncodedTable
from tabdiff.experts import NO_EXPERTS, ExpertConfig
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
            jump_length=settings.jump_length,
            jump_n_sample=settings.jump_n_sample,
            experts=experts,
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


def _features(encoded: EncodedTable) -> np.ndarray:
    """(rows, cols, K) the cells as distances should see them: NaN where unknown or the channel unused; a
    categorical column's {-1, +1} channels halved, so that two different categories lie sqrt(2) apart, as two
    independent standard-normal values do on average."""
    cells = encoded.cells.numpy()  # (rows, cols, K) float32
    scale = np.where(encoded.n_categories.numpy() > 0, 0.5, 1.0).astype(np.float32)  # (cols,)
    features = cells * scale[None, :, None]
    usable = encoded.known_mask.numpy()[:, :, None] & encoded.channel_mask.numpy()[None, :, :]
    return np.where(usable, features, np.nan)
