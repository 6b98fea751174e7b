"""The batched prior end to end: valid tables, reproducible batches, and the reference prior's distribution."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from scipy import stats

from tabdiff.prior import FilterConfig, PriorConfig, PriorSampler, build_prior, predictability
from tabdiff.prior.batched.sampler import FAMILIES, BatchedPrior

CONFIG = PriorConfig(rows=(8, 48), cols=(2, 12))
N_BATCHES, BATCH = 60, 8


def _tables(prior, seed: int = 0) -> list:
    out = []
    for i in range(N_BATCHES):
        out += prior.sample_batch(np.random.default_rng([seed, i]), BATCH)
    return out


@pytest.fixture(scope="module")
def both():
    return _tables(PriorSampler(CONFIG)), _tables(BatchedPrior(CONFIG))


def test_batches_are_valid_tables_of_one_shape():
    prior = BatchedPrior(CONFIG)
    for i in range(20):
        batch = prior.sample_tensors(np.random.default_rng(i), 6)
        n, rows, cols = batch.values.shape
        assert n == 6 and CONFIG.rows[0] <= rows <= CONFIG.rows[1] and CONFIG.cols[0] <= cols <= CONFIG.cols[1]
        assert batch.values.dtype == torch.float32 and torch.isfinite(batch.values).all()
        assert batch.known_mask.any(dim=1).all(), "every column keeps a known cell"
        assert (~batch.known_mask).flatten(1).any(dim=1).all(), "every table has a cell to inpaint"
        for t, table in enumerate(batch.tables()):  # SyntheticTable validates shapes and finiteness itself
            for j in np.flatnonzero(table.n_categories):
                codes = table.values[:, j]
                assert set(np.unique(codes)) == set(range(int(table.n_categories[j]))), (t, j)
            assert (np.round(table.values[:, table.is_integer]) == table.values[:, table.is_integer]).all()


def test_the_same_generator_gives_the_same_batch_and_shapes_can_be_fixed():
    prior = BatchedPrior(CONFIG)
    a = prior.sample_tensors(np.random.default_rng(3), 5)
    b = prior.sample_tensors(np.random.default_rng(3), 5)
    c = prior.sample_tensors(np.random.default_rng(4), 5)
    assert torch.equal(a.values, b.values) and torch.equal(a.known_mask, b.known_mask)
    assert a.values.shape != c.values.shape or not torch.equal(a.values, c.values)
    assert prior.sample_tensors(np.random.default_rng(5), 3, n_rows=7, n_cols=2).values.shape == (3, 7, 2)


def test_shapes_follow_the_reference(both):
    ref, new = both
    for axis in (0, 1):
        a = [t.shape[axis] for t in ref[::BATCH]]
        b = [t.shape[axis] for t in new[::BATCH]]
        assert stats.ks_2samp(a, b).pvalue > 1e-3, axis


def test_families_and_mechanisms_have_the_reference_shares(both):
    ref, new = both
    for attr, names in (("family", FAMILIES), ("missingness", ("mcar", "mar", "mnar", "target"))):
        a = np.array([[getattr(t, attr) == k for k in names] for t in ref]).mean(axis=0)
        b = np.array([[getattr(t, attr) == k for k in names] for t in new]).mean(axis=0)
        # 480 tables each: a share's standard error is at most 0.023 per sample
        np.testing.assert_allclose(b, a, atol=0.08, err_msg=attr)


def test_missing_rates_per_mechanism_follow_the_reference(both):
    ref, new = both
    for kind in ("mcar", "mar", "mnar"):
        a = [1 - t.known_mask.mean() for t in ref if t.missingness == kind]
        b = [1 - t.known_mask.mean() for t in new if t.missingness == kind]
        if min(len(a), len(b)) >= 20:
            assert abs(np.mean(a) - np.mean(b)) < 0.06, kind
    a = [(~t.known_mask).sum() / t.shape[0] for t in ref if t.missingness == "target"]
    b = [(~t.known_mask).sum() / t.shape[0] for t in new if t.missingness == "target"]
    # ~48 target tables each, rates ~U(0.1, 0.6): a mean's standard error is ~0.02, so a fixed tolerance of a few
    # hundredths fails by chance on some random streams; a t-test at p > 1e-3 still catches a shifted rate (0.15)
    assert stats.ttest_ind(a, b, equal_var=False).pvalue > 1e-3, (np.mean(a), np.mean(b))


def test_column_types_follow_the_reference(both):
    ref, new = both

    def summary(tables):
        cat = np.concatenate([t.n_categories > 0 for t in tables])
        k = np.concatenate([t.n_categories[t.n_categories > 0] for t in tables])
        integer = np.concatenate([t.is_integer for t in tables])
        return cat.mean(), k.mean(), integer.mean()

    a, b = summary(ref), summary(new)
    assert abs(a[0] - b[0]) < 0.05 and abs(a[1] - b[1]) < 0.8 and abs(a[2] - b[2]) < 0.05, (a, b)


def test_predictability_scores_follow_the_reference(both):
    ref, new = both
    cfg = FilterConfig()

    def scores(tables):
        return [predictability(np.random.default_rng(i), t.values, t.n_categories, cfg) for i, t in enumerate(tables)]

    a, b = scores(ref), scores(new)
    assert np.median(b) > cfg.min_score and abs(np.median(a) - np.median(b)) < 0.1
    assert stats.ks_2samp(a, b).pvalue > 1e-3


def test_build_prior_chooses_the_engine_and_refuses_unknown_ones():
    assert isinstance(build_prior(engine="batched", rows=[8, 9]), BatchedPrior)
    assert isinstance(build_prior(rows=[8, 9]), PriorSampler)
    with pytest.raises(ValueError, match="engine must be"):
        build_prior(engine="fast")
    with pytest.raises(ValueError, match="engine=batched"):
        build_prior(device="cuda")
    with pytest.raises(ValueError, match="unknown families"):
        BatchedPrior(PriorConfig(family_weights={"bogus": 1.0}))


def _record_while_drawing(monkeypatch, step: str, probe) -> list:
    """`probe()` at every call of the batched sampler's `step` (a function it imports), in call order."""
    import tabdiff.prior.batched.sampler as sampler_module

    seen, original = [], getattr(sampler_module, step)

    def recording(*args, **kwargs):
        seen.append(probe())
        return original(*args, **kwargs)

    monkeypatch.setattr(sampler_module, step, recording)
    return seen


def test_a_batch_is_drawn_under_inference_mode_but_returned_as_ordinary_tensors(monkeypatch):
    """The draw skips autograd bookkeeping; what comes back can be written into (the stream puts real tables in)
    and saved for backward (the trainer's inputs), which inference tensors cannot."""
    modes = _record_while_drawing(monkeypatch, "sample_masks", torch.is_inference_mode_enabled)
    batch = BatchedPrior(CONFIG).sample_tensors(np.random.default_rng(0), 4)
    assert modes == [True]
    for f in dataclasses.fields(batch):
        assert not getattr(batch, f.name).is_inference(), f.name
    batch.known_mask[0] = True  # in place, outside inference mode
    weight = torch.ones(1, requires_grad=True)
    (batch.values * weight).sum().backward()  # saved for backward
    assert weight.grad is not None


def test_drawing_holds_torch_to_the_configured_threads_and_restores_them(monkeypatch):
    seen = _record_while_drawing(monkeypatch, "process_columns", torch.get_num_threads)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        BatchedPrior(CONFIG).sample_tensors(np.random.default_rng(0), 4)
        assert seen and set(seen) == {1}, "blas_threads=1 while drawing"
        assert torch.get_num_threads() == 2, "the trainer's thread count comes back"
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("rows", [16, 300])  # 16 x 4 cells: spare candidates in the first round; 300 x 4: none
def test_rejected_tables_are_redrawn_from_their_own_family_until_accepted(monkeypatch, rows):
    """A stub family draw: each table is predictable (two equal columns) or noise with probability 0.3, and a
    constant column carries its family's id. Every table must come back accepted and from its own family."""
    from tabdiff.prior.batched.columns import ColumnBatch
    from tabdiff.prior.batched.filtering import predictability as batched_predictability

    calls = []

    def draw(g, family, n_rows, n_cols):
        n = len(family)
        calls.append(n)
        x = torch.randn((n, n_rows, 1), generator=g)
        noise = torch.randn((n, n_rows, 1), generator=g)
        bad = (torch.rand((n, 1, 1), generator=g) < 0.3) & (family != 0)[:, None, None]  # family 0 always passes
        second = torch.where(bad, noise, x + 0.01 * noise)
        tag = (family.float() + 1.0)[:, None, None].expand(n, n_rows, 1)
        values = torch.cat([x, second, tag, torch.randn((n, n_rows, 1), generator=g)], dim=2)
        return ColumnBatch(
            values=values,
            n_categories=torch.zeros((n, n_cols), dtype=torch.long),
            is_integer=torch.zeros((n, n_cols), dtype=torch.bool),
            target_col=torch.full((n,), -1, dtype=torch.long),
        )

    prior = BatchedPrior(PriorConfig(family_weights={f: 1.0 for f in FAMILIES}))
    monkeypatch.setattr(prior, "_draw", draw)
    g = torch.Generator().manual_seed(0)
    family = torch.arange(4).repeat(16)
    columns = prior._filtered(g, family, rows, 4)
    assert torch.equal(columns.values[:, 0, 2], family.float() + 1.0), "each table comes from its own family"
    fcfg = prior.config.filter  # every column is scored (3 candidates <= max_targets): the score is exact
    scores = batched_predictability(g, columns.values, columns.n_categories, fcfg)
    assert (scores >= fcfg.min_score).all(), "every table is an accepted draw"
    assert (calls[0] > 64) == (rows == 16) and (calls[0] == 64) == (rows == 300)
    assert len(calls) <= 4, "rounds of 4 candidates per pending table: 1 - 0.3^4 of them end in one round"


def test_spare_candidates_grow_with_the_family_count_and_stop_for_large_tables():
    from tabdiff.prior.batched.sampler import SPARE_MAX_CELLS, spares

    assert spares(0, 100) == 0 and spares(10, SPARE_MAX_CELLS + 1) == 0
    counts = [spares(c, 100) for c in (1, 8, 32, 128)]
    assert counts == sorted(counts) and counts[0] >= 1 and counts[-1] >= 0.1 * 128
