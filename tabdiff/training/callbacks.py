"""Training callbacks of our own (Lightning's cover checkpoints and learning rates; EMA is Lightning's, updated faster)."""

from __future__ import annotations

import time

import lightning as L
from lightning.pytorch.callbacks import Callback, EMAWeightAveraging
from torch.optim.swa_utils import get_ema_multi_avg_fn

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


class TablesSeen(Callback):
    """Counts the tables trained on, all ranks together (steps x batch size overstates it where `data.max_cells`
    shrinks a batch); kept in checkpoints, so a resumed run counts on. `train()` writes the count into the export."""

    def __init__(self) -> None:
        self.tables = 0

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch: TableBatch, batch_idx: int
    ) -> None:
        self.tables += batch.shape[0] * trainer.world_size

    def state_dict(self) -> dict[str, int]:
        return {"tables": self.tables}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self.tables = int(state_dict["tables"])


class ForeachEMA(EMAWeightAveraging):
    """Lightning's `EMAWeightAveraging` (same arguments, schedule, checkpoints and validation swap), with the
    average updated by one `torch._foreach_lerp_` per device and dtype (`get_ema_multi_avg_fn`) instead of
    Lightning's Python loop of three tensor ops per parameter.

    The loop cost about 3 ms per step on this CPU for the small model (~100 tensors), a launch per op on a GPU.
    `state_key` is Lightning's class name, so checkpoints written with either class resume each other's average.
    """

    def __init__(self, decay: float = 0.999, **kwargs) -> None:
        super().__init__(decay=decay, **kwargs)
        self._kwargs["avg_fn"] = None
        self._kwargs["multi_avg_fn"] = get_ema_multi_avg_fn(decay)

    @property
    def state_key(self) -> str:
        return EMAWeightAveraging.__qualname__
