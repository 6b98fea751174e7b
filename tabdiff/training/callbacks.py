"""Training callbacks of our own (Lightning's cover checkpoints, EMA and learning rates)."""

from __future__ import annotations

import time

import lightning as L
from lightning.pytorch.callbacks import Callback

from tabdiff.data.batch import TableBatch


class TableThroughput(Callback):
    """Logs `perf/tables_per_s` and `perf/cells_per_s` over all ranks, averaged over `window` steps.

    Wall time between consecutive batch ends, so data loading is included; real (non-padding) cells count.
    """

    def __init__(self, window: int = 50) -> None:
        self.window = window
        self._start: float | None = None
        self._tables = self._cells = self._steps = 0

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch: TableBatch, batch_idx: int
    ) -> None:
        now = time.perf_counter()
        if self._start is None:  # the first step (warm-up, compilation) is not counted
            self._start = now
            return
        rows, cols = (~batch.row_pad_mask).sum(1), (~batch.col_pad_mask).sum(1)
        self._tables += batch.shape[0] * trainer.world_size
        # a device tensor until the window ends: reading it every step would wait for the GPU every step
        self._cells = self._cells + (rows * cols).sum() * trainer.world_size
        self._steps += 1
        if self._steps >= self.window:
            elapsed = now - self._start
            pl_module.log("perf/tables_per_s", self._tables / elapsed, rank_zero_only=True)
            pl_module.log("perf/cells_per_s", float(self._cells) / elapsed, rank_zero_only=True)
            self._start, self._tables, self._cells, self._steps = now, 0, 0, 0
