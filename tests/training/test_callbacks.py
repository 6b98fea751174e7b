"""TableThroughput: tables and real cells per second over a window of steps, the first step not counted."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tabdiff.training import callbacks
from tabdiff.training.callbacks import TableThroughput


def _batch(n: int, rows: int, cols: int, pad_rows: int) -> SimpleNamespace:
    row_pad = torch.zeros(n, rows, dtype=torch.bool)
    row_pad[:, rows - pad_rows :] = True
    return SimpleNamespace(
        shape=(n, rows, cols, 16), row_pad_mask=row_pad, col_pad_mask=torch.zeros(n, cols, dtype=torch.bool)
    )


def test_throughput_counts_tables_and_real_cells_per_second(monkeypatch):
    clock = iter([0.0, 1.0, 2.0, 3.0, 4.0])
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: next(clock))
    logged = {}
    module = SimpleNamespace(log=lambda name, value, **_: logged.__setitem__(name, value))
    trainer = SimpleNamespace(world_size=2)
    callback = TableThroughput(window=2)
    for _ in range(3):  # the first step starts the clock; two more fill the window
        callback.on_train_batch_end(trainer, module, None, _batch(4, 10, 3, pad_rows=2), 0)
    assert logged["perf/tables_per_s"] == pytest.approx(2 * 4 * 2 / 2.0)  # 2 steps x 4 tables x 2 ranks in 2 s
    assert logged["perf/cells_per_s"] == pytest.approx(2 * 4 * 8 * 3 * 2 / 2.0)  # 8 real rows x 3 columns a table
    assert isinstance(logged["perf/cells_per_s"], float)
