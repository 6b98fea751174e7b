"""The LightningDataModule of pretraining: the prior mixed with real tables, one stream per rank."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import lightning as L
import torch
from torch.utils.data import DataLoader

from tabdiff.data.sources import TableSource, load_tables
from tabdiff.data.stream import FixedBatches, PretrainStream, RepeatedBatches, TablePrior, to_codes

log = logging.getLogger(__name__)


def _identity(batch):
    return batch


def resolve_workers(num_workers: int | str) -> int:
    """`data.num_workers`: a count, or "auto" = the CPUs this process may use less two (the training process and
    its pin-memory thread), at least 1."""
    if num_workers == "auto":
        available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return max(1, available - 2)
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"data.num_workers must be an integer >= 0 or 'auto', got {num_workers!r}")
    return num_workers


def _prior_on(prior: TablePrior, device: str, num_workers: int) -> TablePrior:
    """The prior drawing on `device`: only a batched prior (engine=batched) can move."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if not hasattr(prior, "to"):
        if device == "cpu":
            return prior
        raise ValueError(f"data.prior_device={device!r} needs a batched prior: set prior.engine=batched")
    if device != "cpu" and num_workers > 0:
        raise ValueError(f"data.prior_device={device!r} draws in the training process: set data.num_workers=0")
    return prior.to(device)


class PretrainDataModule(L.LightningDataModule):
    """Streams `TableBatch`es: `batch_size` tables a batch, a fraction `real_fraction` of them real.

    Args:
        prior: the synthetic prior (e.g. `tabdiff.prior.PriorSampler`); its mask sampler also draws the
            conditioning patterns of real tables.
        real_sources: table sources for real pretraining tables (bundled `pretrain` split by default config);
            sources that fail to load are skipped with a warning.
        val_batches: fixed prior batches for the validation loss.
        encoder: max_categories / clip / n_quantiles, as the model and inference use them.
        prior_device: where a batched prior draws ("cpu", "cuda", "auto" = cuda when available; None keeps the
            prior's own). Drawing on the GPU happens in the training process, so it needs num_workers=0.
        pin_memory: page-locked batches from CPU workers (faster copies to a GPU).
        prefetch_factor: batches each worker keeps ready.
        max_cells: cap on a batch's cells: a batch of a large drawn shape holds fewer tables (bounds memory).
        num_workers: data worker processes, or "auto" (the CPUs available less two).
        repeat_batches: for benchmarks: draw this many training batches once and repeat them (no workers), so
            `perf/tables_per_s` measures the training step without the data pipeline; None = the live stream.
    """

    def __init__(
        self,
        prior: TablePrior,
        *,
        real_sources: Sequence[TableSource] = (),
        batch_size: int = 32,
        max_cells: int | None = None,
        real_fraction: float = 0.0,
        num_workers: int | str = 0,
        val_batches: int = 4,
        seed: int = 0,
        encoder: dict | None = None,
        prior_device: str | None = None,
        pin_memory: bool = False,
        prefetch_factor: int | None = None,
        repeat_batches: int | None = None,
    ) -> None:
        super().__init__()
        num_workers = resolve_workers(num_workers)
        if prior_device is not None:
            prior = _prior_on(prior, prior_device, num_workers)
        self.prior = prior
        self.pin_memory = pin_memory
        self.prefetch_factor = prefetch_factor
        self.real_sources = list(real_sources)
        self.batch_size = batch_size
        self.max_cells = max_cells
        self.real_fraction = real_fraction
        self.num_workers = num_workers
        self.val_batches = val_batches
        self.seed = seed
        self.encoder = dict(encoder or {})
        positive_int = isinstance(repeat_batches, int) and not isinstance(repeat_batches, bool) and repeat_batches >= 1
        if repeat_batches is not None and not positive_int:
            raise ValueError(
                f"data.repeat_batches must be an integer >= 1, or null for the live stream, got {repeat_batches!r}"
            )
        self.repeat_batches = repeat_batches
        self.real_tables: list = []

    def setup(self, stage: str | None = None) -> None:
        if self.real_fraction > 0 and not self.real_tables:
            frames = load_tables(self.real_sources, on_error="skip")
            max_categories = self.encoder.get("max_categories", 16)
            # bundled tables name their prediction target: the stream then also draws "predict it" masks on them
            targets = {
                source.name: getattr(getattr(source, "entry", None), "target", None) for source in self.real_sources
            }
            self.real_tables = [
                to_codes(name, frame, max_categories=max_categories, target=targets.get(name))
                for name, frame in frames.items()
            ]
            log.info("pretraining on %d real tables: %s", len(self.real_tables), ", ".join(frames))

    def _stream(self, *, rank: int, start_index: int) -> PretrainStream:
        return PretrainStream(
            self.prior,
            self.real_tables,
            batch_size=self.batch_size,
            max_cells=self.max_cells,
            real_fraction=self.real_fraction if self.real_tables else 0.0,
            seed=self.seed,
            rank=rank,
            start_index=start_index,
            **self.encoder,
        )

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        rank = trainer.global_rank if trainer is not None else 0
        # a resumed run continues the stream where it stopped: the checkpoint's global step
        start = trainer.global_step if trainer is not None else 0
        stream = self._stream(rank=rank, start_index=start)
        if self.repeat_batches is not None:
            repeated = RepeatedBatches(stream, self.repeat_batches)
            return DataLoader(repeated, batch_size=None, collate_fn=_identity, pin_memory=self.pin_memory)
        return DataLoader(
            stream,
            batch_size=None,
            num_workers=self.num_workers,
            collate_fn=_identity,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.pin_memory,
            prefetch_factor=self.prefetch_factor if self.num_workers > 0 else None,
        )

    def val_dataloader(self) -> DataLoader:
        # the same fixed prior batches on every rank and at every evaluation
        fixed = FixedBatches(self._stream(rank=0, start_index=0), self.val_batches)
        return DataLoader(fixed, batch_size=None, collate_fn=_identity)
