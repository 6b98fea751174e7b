"""TableThroughput: tables and real cells per second over a window of steps, the first step not counted.
ForeachEMA: the same average as Lightning's EMAWeightAveraging, and checkpoints either way."""

from __future__ import annotations

from types import SimpleNamespace

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import EMAWeightAveraging

from tabdiff.training import callbacks
from tabdiff.training.callbacks import ForeachEMA, TableThroughput


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


class _Regression(L.LightningModule):
    """y = x @ w + b learned by SGD on a fixed batch: weights that change every step."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = torch.nn.Linear(5, 3)
        self.x, self.y = torch.randn(64, 5), torch.randn(64, 3)

    def training_step(self, batch, batch_idx):
        return torch.nn.functional.mse_loss(self.layer(self.x), self.y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.zeros(30, 1), batch_size=1)


def _fit(callback, tmp_path, **trainer_args):
    module = _Regression()
    trainer = L.Trainer(
        max_steps=30, callbacks=[callback], logger=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=tmp_path, accelerator="cpu", **trainer_args,
    )  # fmt: skip
    trainer.fit(module)
    return module, trainer


def test_foreach_ema_gives_lightnings_average(tmp_path):
    ours, _ = _fit(ForeachEMA(decay=0.9), tmp_path / "ours")
    theirs, _ = _fit(EMAWeightAveraging(decay=0.9), tmp_path / "theirs")
    plain, _ = _fit(ForeachEMA(decay=0.0), tmp_path / "plain")  # decay 0: the average is the last weights
    trained, _ = _fit(L.Callback(), tmp_path / "trained")
    for a, b, c, d in zip(
        ours.parameters(), theirs.parameters(), plain.parameters(), trained.parameters(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)  # the same average, up to float rounding
        torch.testing.assert_close(c, d, rtol=0, atol=1e-6)
        assert not torch.allclose(a, d, atol=1e-3)  # and it is an average, not the last weights


def test_foreach_ema_resumes_a_checkpoint_written_by_lightnings_callback(tmp_path):
    _, trainer = _fit(EMAWeightAveraging(decay=0.9), tmp_path / "a", enable_checkpointing=True)
    ckpt = tmp_path / "lightning.ckpt"
    trainer.save_checkpoint(ckpt)
    saved = torch.load(ckpt, weights_only=False)["callbacks"]
    assert ForeachEMA().state_key in saved
    callback = ForeachEMA(decay=0.9)
    module = _Regression()
    resumed = L.Trainer(max_steps=31, callbacks=[callback], logger=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path / "b", accelerator="cpu")  # fmt: skip
    resumed.fit(module, ckpt_path=ckpt)
    assert int(callback._average_model.n_averaged) == 31  # the average went on from the checkpoint's 30 updates
