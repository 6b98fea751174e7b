"""The pretraining stream and DataModule: shapes, reproducibility, ranks/workers, real tables, loss cells."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from tabdiff.data.batch import stack_tables
from tabdiff.data.datamodule import PretrainDataModule, resolve_workers
from tabdiff.data.manifest import bundled_tables
from tabdiff.data.stream import PretrainStream, to_codes
from tabdiff.encoding import TableEncoder
from tabdiff.encoding.arrays import encode_arrays
from tabdiff.prior import PriorConfig, PriorSampler
from tabdiff.prior.batched.sampler import BatchedPrior

PRIOR = PriorSampler(PriorConfig(rows=(6, 20), cols=(2, 6)))


def _stream(**kwargs) -> PretrainStream:
    return PretrainStream(PRIOR, kwargs.pop("real_tables", []), batch_size=4, **kwargs)


def test_shapes_vary_across_batches_within_the_configured_ranges():
    shapes = {_stream().batch(i).shape for i in range(12)}
    assert len(shapes) > 3
    for b, r, c, k in shapes:
        assert b == 4 and 6 <= r <= 20 and 2 <= c <= 6 and k == 16


def test_same_seed_rank_index_same_batch_and_ranks_differ():
    a, b = _stream(seed=3).batch(5), _stream(seed=3).batch(5)
    assert torch.equal(a.cells, b.cells) and torch.equal(a.known_mask, b.known_mask)
    other_rank = _stream(seed=3, rank=1).batch(5)
    assert a.shape != other_rank.shape or not torch.equal(a.cells, other_rank.cells)


def test_workers_split_the_stream_without_changing_it():
    single = [batch.cells for _, batch in zip(range(4), iter(_stream(seed=1)), strict=False)]
    loader = DataLoader(_stream(seed=1), batch_size=None, num_workers=2, collate_fn=lambda x: x)
    multi = [batch.cells for _, batch in zip(range(4), loader, strict=False)]
    # worker w yields batches w, w + 2, ...; the loader interleaves them back in order
    for s, m in zip(single, multi, strict=True):
        assert torch.equal(s, m)


def test_datamodule_streams_differ_by_rank_and_resume_at_the_global_step():
    dm = PretrainDataModule(PRIOR, batch_size=4, seed=0, encoder={"max_categories": 16})
    dm.setup()
    dm.trainer = SimpleNamespace(global_rank=0, global_step=0)
    rank0 = next(iter(dm.train_dataloader()))
    dm.trainer = SimpleNamespace(global_rank=1, global_step=0)
    rank1 = next(iter(dm.train_dataloader()))
    assert rank0.shape != rank1.shape or not torch.equal(rank0.cells, rank1.cells)
    dm.trainer = SimpleNamespace(global_rank=0, global_step=7)
    resumed = next(iter(dm.train_dataloader()))
    assert torch.equal(resumed.cells, _stream(seed=0).batch(7).cells)


def test_repeat_batches_cycles_the_streams_first_batches_from_the_global_step():
    dm = PretrainDataModule(PRIOR, batch_size=4, seed=0, encoder={"max_categories": 16}, repeat_batches=3)
    dm.setup()
    dm.trainer = SimpleNamespace(global_rank=0, global_step=5)
    got = [batch.cells for _, batch in zip(range(7), dm.train_dataloader(), strict=False)]
    want = [_stream(seed=0).batch(5 + i % 3).cells for i in range(7)]  # batches 5, 6, 7, 5, 6, 7, 5
    for g, w in zip(got, want, strict=True):
        assert torch.equal(g, w)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="data.repeat_batches must be an integer >= 1"):
            PretrainDataModule(PRIOR, repeat_batches=bad)


def test_real_tables_enter_with_known_cells_inside_observed_cells():
    tables = [to_codes(s.name, s.load(), max_categories=16, target=s.entry.target) for s in bundled_tables()[:6]]
    stream = _stream(real_tables=tables, real_fraction=1.0, seed=2)
    for i in range(5):
        batch = stream.batch(i)
        assert not (batch.known_mask & ~batch.observed_mask).any()
        real = ~batch.row_pad_mask[:, :, None] & ~batch.col_pad_mask[:, None, :]
        assert (batch.known_mask | ~real).flatten(1).any(1).all()


def test_to_codes_keeps_missing_cells_and_the_target_index():
    frame = pd.DataFrame({"x": [1.0, np.nan, 3.0], "c": pd.Categorical(["a", None, "b"]), "y": [0.5, 1.5, 2.5]})
    coded = to_codes("t", frame, max_categories=16, target="y")
    assert coded.target_col == 2 and coded.n_categories.tolist() == [0, 2, 0]
    assert np.isnan(coded.values[1, :2]).all() and coded.values[2, 1] == 1.0


def test_loss_cells_skip_unobserved_padding_unused_channels_and_conditioning():
    frame = pd.DataFrame({"x": [1.0, np.nan, 3.0], "c": pd.Categorical(["a", "b", "a"])})
    small = pd.DataFrame({"x": [2.0, 5.0]})
    tables = [TableEncoder().fit_transform(frame), TableEncoder().fit_transform(small)]
    known = [torch.tensor([[True, True], [False, True], [False, False]]), torch.tensor([[True], [False]])]
    batch = stack_tables(tables, known)
    assert batch.shape == (2, 3, 2, 16)
    assert batch.row_pad_mask[1].tolist() == [False, False, True] and batch.col_pad_mask[1].tolist() == [False, True]
    loss = batch.loss_cells()  # unconditional: every observed, real cell in a used channel
    assert loss[0, 1, 0].sum() == 0  # the missing cell
    assert loss[0, 0, 0, :1].all() and not loss[0, 0, 0, 1:].any()  # numeric: channel 0 only
    assert loss[0, 0, 1, :2].all() and not loss[0, 0, 1, 2:].any()  # 2 categories: channels 0-1
    assert not loss[1, 2].any() and not loss[1, :, 1].any()  # padding
    conditioned = batch.loss_cells(torch.tensor([True, False]))
    assert not conditioned[0, 0].any() and conditioned[0, 2, 0, 0]  # known cells are inputs, not targets
    assert torch.equal(conditioned[1], loss[1])


BATCHED = BatchedPrior(PriorConfig(rows=(6, 20), cols=(2, 6)))


def test_a_batched_prior_streams_the_same_kind_of_batch_as_table_by_table_coding():
    """Batched draws go through encode_batch; coding their tables one by one gives the same cells."""
    stream = PretrainStream(BATCHED, [], batch_size=4, seed=5)
    for i in range(4):
        batch = stream.batch(i)
        drawn = BATCHED.sample_tensors(np.random.default_rng([5, 0, i]), 4)
        ref = stack_tables(
            [encode_arrays(t.values, t.n_categories, fit_mask=t.known_mask) for t in drawn.tables()],
            [torch.from_numpy(t.known_mask) for t in drawn.tables()],
        )
        torch.testing.assert_close(batch.cells, ref.cells, atol=2e-6, rtol=0)
        for name in ("observed_mask", "known_mask", "channel_mask", "column_kind", "row_pad_mask", "col_pad_mask"):
            assert torch.equal(getattr(batch, name), getattr(ref, name)), name
    assert torch.equal(stream.batch(2).cells, PretrainStream(BATCHED, [], batch_size=4, seed=5).batch(2).cells)


def test_a_batched_prior_mixes_in_real_tables_padded_in_their_slots():
    tables = [to_codes(s.name, s.load(), max_categories=16, target=s.entry.target) for s in bundled_tables()[:6]]
    stream = PretrainStream(BATCHED, tables, batch_size=6, real_fraction=0.5, seed=2)
    padded = 0
    for i in range(6):
        batch = stream.batch(i)
        assert not (batch.known_mask & ~batch.observed_mask).any()
        real = ~batch.row_pad_mask[:, :, None] & ~batch.col_pad_mask[:, None, :]
        assert (batch.known_mask | ~real).flatten(1).any(1).all()
        assert not (batch.cells.abs().sum(-1) > 0)[~real].any(), "padding cells hold zeros"
        padded += int(batch.row_pad_mask.any(1).sum() + batch.col_pad_mask.any(1).sum())
    assert padded > 0, "real tables smaller than the batch shape must be padded"


def test_prior_device_needs_a_batched_prior_and_the_main_process():
    with pytest.raises(ValueError, match="engine=batched"):
        PretrainDataModule(PRIOR, prior_device="cuda")
    with pytest.raises(ValueError, match="num_workers=0"):
        PretrainDataModule(BATCHED, prior_device="cuda", num_workers=2)
    assert PretrainDataModule(BATCHED, prior_device="cpu").prior.device == torch.device("cpu")


def test_num_workers_auto_is_the_cpus_less_two_and_bad_counts_are_refused():
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert resolve_workers("auto") == max(1, available - 2)
    assert resolve_workers(3) == 3
    for bad in (-1, "many", 2.5, True):
        with pytest.raises(ValueError, match="num_workers"):
            resolve_workers(bad)


@pytest.mark.parametrize("prior", [PRIOR, BATCHED], ids=["reference", "batched"])
def test_a_cell_budget_caps_each_batch_and_leaves_small_shapes_full(prior):
    """data.max_cells: a batch of a large drawn shape holds fewer tables, never more than the budget (min 1)."""
    stream = PretrainStream(prior, [], batch_size=8, max_cells=300, seed=1)
    sizes = set()
    for i in range(10):
        b, r, c, _ = stream.batch(i).shape
        assert b == max(1, min(8, 300 // (r * c)))
        assert b * r * c <= 300 or b == 1
        sizes.add(b)
    assert len(sizes) > 1, "the budget should bind on some shapes and not on others"
    unbudgeted = PretrainStream(prior, [], batch_size=8, seed=1).batch(3)
    assert unbudgeted.shape[0] == 8 and unbudgeted.shape[1:3] == stream.batch(3).shape[1:3]


def test_a_cell_budget_must_be_a_positive_integer():
    with pytest.raises(ValueError, match="data.max_cells"):
        _stream(max_cells=0).batch(0)
    with pytest.raises(ValueError, match="data.max_cells"):
        PretrainStream(BATCHED, [], batch_size=4, max_cells=2.5).batch(0)
