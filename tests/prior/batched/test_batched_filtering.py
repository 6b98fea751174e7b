"""Batched predictability filter: exact agreement with the numpy reference, and its random choices."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from tabdiff.prior import ColumnProcessor, FilterConfig, GaussianMixturePrior, LatentFactorPrior, RawTable, SCMPrior
from tabdiff.prior.batched import filtering
from tabdiff.prior.batched.filtering import _column_r2, _design, predictability, width_groups
from tabdiff.prior.filtering import _blocks, loo_ridge_r2
from tabdiff.prior.filtering import predictability as reference_predictability

CFG = FilterConfig()
GENERATORS = [LatentFactorPrior(), SCMPrior(), GaussianMixturePrior()]


def _tables(rng: np.random.Generator, n: int, rows: int, cols: int) -> list[RawTable]:
    proc = ColumnProcessor()
    return [proc.apply(rng, GENERATORS[i % len(GENERATORS)].sample(rng, rows, cols)) for i in range(n)]


def _stack(tables: list[RawTable], dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    values = torch.tensor(np.stack([t.values for t in tables]), dtype=dtype)
    return values, torch.tensor(np.stack([t.n_categories for t in tables]))


# (8, 3) and (64, 8) take the primal path (predictors < rows), (20, 12) and (12, 30) the dual one;
# float64 equals the reference, float32 (prior.filter.precision's default) is within 1e-4
@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-9), (torch.float32, 1e-4)], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", [(8, 3), (64, 8), (20, 12), (12, 30)])
def test_column_r2_equals_reference_loo_ridge_r2(shape, dtype, tolerance):
    rows, cols = shape
    tables = _tables(np.random.default_rng(rows * cols), 9, rows, cols)
    values, n_categories = _stack(tables)
    assert (n_categories > 0).any(), "the batch should mix numeric and categorical columns"
    design = _design(values, n_categories, dtype)
    ridge = CFG.ridge_per_row * rows
    r2 = _column_r2(design, torch.arange(cols).expand(len(tables), cols), ridge)
    for i, t in enumerate(tables):
        targets, predictors = _blocks(t.values, t.n_categories)
        for j in range(cols):
            x = np.hstack([predictors[c] for c in range(cols) if c != j])
            expected = loo_ridge_r2(x, targets[j], ridge)
            assert abs(float(r2[i, j]) - expected) < tolerance, (i, j)
            assert abs(float(design[4][i, j]) - float((targets[j] ** 2).sum())) < tolerance * rows


@pytest.mark.parametrize("call_cost", [float("inf"), 0.0], ids=["one-group", "width-groups"])
def test_predictability_equals_reference_when_no_choice_is_random(monkeypatch, call_cost):
    # rows <= max_rows and cols <= max_targets: the reference scores every non-constant column of every row;
    # scored in one padded group or in groups of similar width (zero padding changes no score)
    monkeypatch.setattr(filtering, "CALL_COST", call_cost)
    rng = np.random.default_rng(1)
    tables = _tables(rng, 30, 48, 6)
    constant = RawTable.numeric(np.column_stack([rng.standard_normal((48, 2)), np.ones((48, 4))]))
    one_varies = RawTable.numeric(np.column_stack([rng.standard_normal((48, 1)), np.ones((48, 5))]))
    tables += [constant, one_varies]
    values, n_categories = _stack(tables)
    scores = predictability(torch.Generator().manual_seed(0), values, n_categories, CFG)
    assert scores.shape == (len(tables),) and scores.dtype == torch.float32
    expected = np.array([reference_predictability(rng, t.values, t.n_categories, CFG) for t in tables])
    np.testing.assert_allclose(scores.numpy(), expected, atol=1e-6)
    assert scores[-1] == 0.0 and expected.std() > 0.1


def test_width_groups_partition_the_batch_by_width_when_the_work_pays_for_the_calls():
    widths = torch.tensor(np.random.default_rng(3).integers(6, 250, 128))
    groups = width_groups(widths, rows=256)
    assert 1 < len(groups) <= filtering.MAX_GROUPS
    assert sorted(torch.cat(groups).tolist()) == list(range(128))  # every table once
    for a, b in pairwise(groups):
        assert widths[a].max() <= widths[b].min()  # narrow tables together, wide ones together
    assert len(width_groups(widths, rows=256, call_cost=float("inf"))) == 1
    small = width_groups(torch.tensor([6, 8, 10, 7]), rows=20)  # tiny solves: the calls cost more than padding
    assert len(small) == 1 and small[0].tolist() == [0, 1, 2, 3]


def test_single_column_and_empty_batch_score_zero():
    g = torch.Generator().manual_seed(0)
    assert (predictability(g, torch.randn(3, 10, 1), torch.zeros(3, 1, dtype=torch.long), CFG) == 0).all()
    assert predictability(g, torch.zeros(0, 10, 4), torch.zeros(0, 4, dtype=torch.long), CFG).shape == (0,)


def test_scored_columns_are_a_uniform_choice_among_non_constant_ones():
    # 2 duplicate columns (R^2 ~ 1), 2 noise columns (R^2 ~ 0), 2 constant columns; one column scored per table:
    # a duplicate is picked with probability 2/4, or 2/6 if constant columns were candidates
    n, rows = 2000, 40
    gen = torch.Generator().manual_seed(2)
    base = torch.randn(n, rows, 1, generator=gen)
    noise = torch.randn(n, rows, 2, generator=gen)
    values = torch.cat([base, base, noise, torch.ones(n, rows, 2)], dim=2)
    cfg = FilterConfig(max_targets=1)
    scores = predictability(gen, values, torch.zeros(n, 6, dtype=torch.long), cfg)
    high = (scores > 0.5).float().mean().item()
    assert abs(high - 0.5) < 4 * np.sqrt(0.25 / n)


def test_row_subsample_is_random_per_table_as_the_reference():
    # the structure lives in the second half of the rows only: a random subset sees about half of it
    rng = np.random.default_rng(3)
    n, rows, cols = 150, 2 * CFG.max_rows, 4
    values = rng.standard_normal((n, rows, cols))
    values[:, rows // 2 :, 1] = values[:, rows // 2 :, 0]
    ones = np.zeros(cols, dtype=np.int64)
    expected = np.array([reference_predictability(rng, v, ones, CFG) for v in values])
    got = predictability(
        torch.Generator().manual_seed(3), torch.tensor(values), torch.zeros(n, cols, dtype=torch.long), CFG
    )
    got = got.numpy()
    se = np.sqrt(expected.var() / n + got.var() / n)
    assert expected.mean() > 0.05 and abs(got.mean() - expected.mean()) < 4 * se
    assert ks_2samp(got, expected).pvalue > 1e-3


def test_score_distribution_matches_reference_with_random_rows_and_columns():
    # more rows than max_rows and more columns than max_targets: both implementations draw subsets
    rng = np.random.default_rng(4)
    tables = _tables(rng, 120, CFG.max_rows + 60, 12)
    values, n_categories = _stack(tables, torch.float32)
    got = predictability(torch.Generator().manual_seed(4), values, n_categories, CFG).numpy()
    expected = np.array([reference_predictability(rng, t.values, t.n_categories, CFG) for t in tables])
    assert np.isfinite(got).all() and (got >= 0).all() and (got <= 1).all()
    diff = got - expected  # paired: the same tables, only the subsets differ
    assert abs(diff.mean()) < 4 * diff.std() / np.sqrt(len(diff)) + 1e-3
    assert ks_2samp(got, expected).pvalue > 1e-3
    rejected = (got < CFG.min_score).mean(), (expected < CFG.min_score).mean()
    assert abs(rejected[0] - rejected[1]) < 0.1
