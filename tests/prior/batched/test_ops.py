"""The batched prior's random draws and column arithmetic against closed forms and the numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from tabdiff.prior import draws
from tabdiff.prior.batched import ops


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("alpha", [0.3, 1.0, 2.5, 7.0])
def test_gamma_has_the_gamma_law(alpha):
    x = ops.gamma(_g(), torch.full((20000,), alpha, dtype=torch.float64)).numpy()
    # Kolmogorov-Smirnov against scipy's Gamma(alpha, 1)
    assert stats.kstest(x, stats.gamma(alpha).cdf).pvalue > 1e-3


def test_student_t_has_the_t_law_with_a_df_per_entry():
    # two dfs side by side in one call: each half must follow its own t (df broadcasts against the shape)
    df = torch.tensor([2.5, 9.0]).repeat_interleave(10000)
    x = ops.student_t(_g(), df, (20000,)).numpy()
    for half, nu in ((x[:10000], 2.5), (x[10000:], 9.0)):
        assert stats.kstest(half, stats.t(nu).cdf).pvalue > 1e-3, nu
    assert stats.kstest(x[:10000], stats.t(9.0).cdf).pvalue < 1e-3  # the test can tell the two apart


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("tied_columns", [slice(0, 5), slice(0, 2), slice(0, 0)])
def test_normal_scores_equal_scipys_ranks_with_ties(dtype, tied_columns):
    # columns with ties (their runs looked for) next to columns without (quantiles taken in order)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 30, 5))
    x[:, :, tied_columns] = np.round(x[:, :, tied_columns] * 2)  # many ties
    got = ops.normal_scores(torch.tensor(x, dtype=dtype)).double().numpy()
    ref = np.stack([draws.normal_scores(t.astype(np.float32 if dtype == torch.float32 else np.float64)) for t in x])
    np.testing.assert_allclose(got, ref, atol=1e-6)
    rows = ops.normal_scores(torch.tensor(x, dtype=dtype).transpose(1, 2), dim=2).transpose(1, 2)
    assert torch.equal(rows, torch.tensor(got, dtype=dtype))  # along another dim: the same numbers


def test_standardize_matches_the_reference_and_zeroes_constant_columns():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 20, 4)) * 5 + 2
    x[1, :, 2] = 7.0
    got = ops.standardize(torch.tensor(x)).numpy()
    np.testing.assert_allclose(got, np.stack([draws.standardize(t) for t in x]), atol=1e-10)
    assert (got[1, :, 2] == 0).all()


def test_integer_draws_cover_their_inclusive_ranges():
    r = ops.randint(_g(2), 1, torch.tensor([1, 3, 10]), (30000, 3))
    assert (r[:, 0] == 1).all()
    assert set(r[:, 1].tolist()) == {1, 2, 3} and set(r[:, 2].tolist()) == set(range(1, 11))
    counts = torch.bincount(r[:, 2], minlength=11)[1:].double()
    assert stats.chisquare(counts.numpy()).pvalue > 1e-3
    got = ops.log_uniform_int(_g(3), 8, 64, (20000,)).numpy()
    ref = [draws.log_uniform_int(np.random.default_rng(i), 8, 64) for i in range(5000)]
    assert got.min() == 8 and got.max() == 64
    assert stats.ks_2samp(got, ref).pvalue > 1e-3


def test_choose_follows_the_weights_and_subsets_have_their_size():
    idx = ops.choose(_g(4), torch.tensor([0.5, 0.4, 0.05, 0.05]), 40000)
    share = torch.bincount(idx, minlength=4).double() / 40000
    np.testing.assert_allclose(share.numpy(), [0.5, 0.4, 0.05, 0.05], atol=0.01)
    size = torch.tensor([0, 3, 7])
    mask = ops.random_subset_mask(_g(5), size, 7)
    assert mask.sum(dim=1).tolist() == [0, 3, 7]
