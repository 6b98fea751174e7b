"""Batched latent-factor, mixture and GP families: shapes, seeding, exact properties, and the same distribution
of per-table summaries as the numpy reference (`tabdiff/prior/latent.py`, `mixture.py`, `gp.py`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from tabdiff.prior.batched.families import gp, latent_factor, mixture
from tabdiff.prior.gp import GPConfig, GPPrior
from tabdiff.prior.latent import LatentFactorConfig, LatentFactorPrior
from tabdiff.prior.mixture import GaussianMixturePrior, MixtureConfig

FAMILIES = [
    (latent_factor, LatentFactorConfig(), LatentFactorPrior),
    (mixture, MixtureConfig(), GaussianMixturePrior),
    (gp, GPConfig(), GPPrior),
]
IDS = ["latent_factor", "mixture", "gp"]
N_TABLES, ROWS, COLS = 300, 40, 8
NO_WARP = {"warp_prob": 0.0, "beta_warp_prob": 0.0}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _reference(prior, n: int, rows: int, cols: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([prior.sample(rng, rows, cols).values for _ in range(n)])


def _summaries(x: np.ndarray) -> dict[str, np.ndarray]:
    """Per-table statistics of x (n, rows, cols) that characterise a family's joint and marginals."""
    n, rows, cols = x.shape
    xc = x - x.mean(axis=1, keepdims=True)
    sd = np.sqrt((xc**2).mean(axis=1, keepdims=True))
    z = xc / np.where(sd > 1e-12, sd, np.inf)
    corr = np.einsum("nrc,nrd->ncd", z, z) / rows  # (n, cols, cols)
    eig = np.linalg.eigvalsh(corr)  # ascending
    share = eig / np.maximum(eig.sum(axis=1, keepdims=True), 1e-12)
    # linear R^2 of the last column on the others: how predictable a column is through the shared structure
    design = np.concatenate([np.ones((n, rows, 1)), z[:, :, :-1]], axis=2)
    coef = np.linalg.pinv(design) @ z[:, :, -1:]
    resid = z[:, :, -1:] - design @ coef
    return {
        "mean_abs_corr": np.abs(corr[:, ~np.eye(cols, dtype=bool)]).mean(axis=1),
        "top_eig_share": share[:, -1],  # low-rank structure
        "top3_eig_share": share[:, -3:].sum(axis=1),
        "bottom_eig_share": share[:, 0],  # the noise floor under low-rank signal
        "excess_kurtosis": ((z**4).mean(axis=1) - 3).mean(axis=1),
        "abs_skew": np.abs((z**3).mean(axis=1)).mean(axis=1),
        "linear_r2": 1 - (resid**2).sum(axis=(1, 2)) / np.maximum((z[:, :, -1] ** 2).sum(axis=1), 1e-12),
    }


def _assert_same_distribution(ours: torch.Tensor, ref: np.ndarray) -> None:
    """Two-sample KS per summary; p > 1e-3 for each (300 tables a side detects a CDF gap of ~0.16)."""
    ours_s, ref_s = _summaries(ours.double().numpy()), _summaries(ref)
    failed = {}
    for name in ours_s:
        p = ks_2samp(ours_s[name], ref_s[name], method="asymp").pvalue
        if p < 1e-3:
            failed[name] = (p, float(ours_s[name].mean()), float(ref_s[name].mean()))
    assert not failed, f"summaries differ (p, batched mean, reference mean): {failed}"


@pytest.mark.parametrize(("fn", "cfg", "_prior"), FAMILIES, ids=IDS)
def test_shapes_dtype_finite_and_seeded(fn, cfg, _prior):
    for rows, cols in [(2, 1), (8, 3), (33, 16)]:
        x = fn(_gen(0), cfg, 5, rows, cols)
        assert x.shape == (5, rows, cols) and x.dtype == torch.float32 and x.device.type == "cpu"
        assert torch.isfinite(x).all()
        torch.testing.assert_close(fn(_gen(0), cfg, 5, rows, cols), x, rtol=0, atol=0)
        assert not torch.equal(fn(_gen(1), cfg, 5, rows, cols), x)
    assert fn(_gen(0), cfg, 0, 8, 3).shape == (0, 8, 3)


@pytest.mark.parametrize(("fn", "cfg", "_prior"), FAMILIES, ids=IDS)
def test_tables_are_independent_of_each_other(fn, cfg, _prior):
    # no shared draw across tables: no two tables alike, and a summary uncorrelated between neighbouring tables
    x = fn(_gen(3), cfg, 400, 20, 6).double().numpy()
    assert len(np.unique(x.reshape(400, -1), axis=0)) == 400
    s = _summaries(x)["mean_abs_corr"]
    assert abs(np.corrcoef(s[:-1], s[1:])[0, 1]) < 0.2  # se 0.05


def test_mixture_columns_are_standardised():
    x = mixture(_gen(0), MixtureConfig(), 50, 30, 5)
    torch.testing.assert_close(x.mean(dim=1), torch.zeros(50, 5), atol=1e-5, rtol=0)
    torch.testing.assert_close(x.std(dim=1, unbiased=False), torch.ones(50, 5), atol=1e-4, rtol=0)


def test_latent_rank_one_and_bounded_rank_without_noise():
    quiet = {**NO_WARP, "noise_range": (1e-9, 1e-8)}
    x = latent_factor(_gen(0), LatentFactorConfig(max_rank=1, **quiet), 20, 30, 6).double()
    s = torch.linalg.svdvals(x - x.mean(dim=1, keepdim=True))
    assert (s[:, 1] < 1e-4 * s[:, 0]).all()
    x = latent_factor(_gen(0), LatentFactorConfig(max_rank=3, **quiet), 50, 30, 6).double()
    s = torch.linalg.svdvals(x - x.mean(dim=1, keepdim=True))
    assert (s[:, 3] < 1e-4 * s[:, 0]).all()


def _numeric_rank(x: np.ndarray) -> np.ndarray:
    s = np.linalg.svd(x - x.mean(axis=1, keepdims=True), compute_uv=False)
    return (s > 1e-3 * s[:, :1]).sum(axis=1)


def test_latent_realised_rank_matches_reference():
    # without warps or noise the rank of U V^T is observable: uniform in 1..min(max_rank, cols) in both
    cfg = LatentFactorConfig(max_rank=6, **NO_WARP, noise_range=(1e-9, 1e-8))
    ours = _numeric_rank(latent_factor(_gen(0), cfg, 600, 30, 8).double().numpy())
    ref = _numeric_rank(_reference(LatentFactorPrior(cfg), 600, 30, 8))
    counts, ref_counts = np.bincount(ours, minlength=9)[1:], np.bincount(ref, minlength=9)[1:]
    assert counts[6:].sum() == 0 and counts[:6].min() > 0
    # each rank ~ 100 tables of 600 (sd ~ 9); compare with the reference's counts (sd of the gap ~ 13)
    assert np.abs(counts - ref_counts).max() < 50, (counts, ref_counts)


LATENT_CASES = {
    "default": LatentFactorConfig(),
    "warp_always": LatentFactorConfig(warp_prob=1.0, beta_warp_prob=0.0),
    "fourier_warp": LatentFactorConfig(warp_prob=1.0, beta_warp_prob=0.0, warps=("fourier",)),
    "beta_always": LatentFactorConfig(warp_prob=0.0, beta_warp_prob=1.0),
    "linear_gaussian": LatentFactorConfig(latent_dists=("gaussian",), **NO_WARP),
    "linear_heavy": LatentFactorConfig(latent_dists=("laplace", "student_t", "spike_slab"), **NO_WARP),
    "linear_dirichlet": LatentFactorConfig(latent_dists=("dirichlet",), **NO_WARP),
}


@pytest.mark.parametrize("case", list(LATENT_CASES))
def test_latent_factor_matches_reference(case):
    cfg = LATENT_CASES[case]
    ref = _reference(LatentFactorPrior(cfg), N_TABLES, ROWS, COLS)
    _assert_same_distribution(latent_factor(_gen(1), cfg, N_TABLES, ROWS, COLS), ref)


# rank 1 without noise: every column is +-f(u) for the row factor u, so column shape shows the latent law and the warp
RANK_ONE = {"max_rank": 1, "beta_warp_prob": 0.0, "noise_range": (1e-6, 1e-5)}
RANK_ONE_CASES = {
    **{
        d: LatentFactorConfig(latent_dists=(d,), warp_prob=0.0, **RANK_ONE)
        for d in ("laplace", "student_t", "spike_slab", "dirichlet")
    },
    **{
        w: LatentFactorConfig(warps=(w,), warp_prob=1.0, latent_dists=("gaussian",), **RANK_ONE)
        for w in ("tanh", "sigmoid", "relu2", "cubic")
    },
}


@pytest.mark.parametrize("case", list(RANK_ONE_CASES))
def test_latent_rank_one_column_shape_matches_reference(case):
    cfg, rows = RANK_ONE_CASES[case], 200  # long columns, so a table's kurtosis shows its df / concentration / reach
    ours = latent_factor(_gen(1), cfg, N_TABLES, rows, 2)[:, :, 0].double().numpy()
    ref = _reference(LatentFactorPrior(cfg), N_TABLES, rows, 2)[:, :, 0]
    for x in (ours, ref):
        x -= x.mean(axis=1, keepdims=True)
        x /= x.std(axis=1, keepdims=True)
    stats = {
        "kurtosis": lambda z: (z**4).mean(axis=1),
        "skew": lambda z: (z**3).mean(axis=1),
        "tail_share": lambda z: (np.abs(z) > 2).mean(axis=1),
        "floor_share": lambda z: (z - z.min(axis=1, keepdims=True) < 1e-3).mean(axis=1),  # relu2's flat part
    }
    for stat in stats.values():
        assert ks_2samp(stat(ours), stat(ref), method="asymp").pvalue > 1e-3


def test_beta_warp_stand_in_is_not_skewed_on_average():
    # Beta(a, b) with iid a, b skews columns either way equally; the Kumaraswamy stand-in must too (mirrored half)
    cfg = LatentFactorConfig(latent_dists=("gaussian",), warp_prob=0.0, beta_warp_prob=1.0, noise_range=(1e-6, 1e-5))
    ours = latent_factor(_gen(2), cfg, N_TABLES, 200, COLS).double().numpy()
    ref = _reference(LatentFactorPrior(cfg), N_TABLES, 200, COLS)
    skew = [((x - x.mean(axis=1, keepdims=True)) ** 3).mean(axis=1) / x.std(axis=1) ** 3 for x in (ours, ref)]
    # 2400 columns a side, half of them warped: the mean skew has se ~0.015; unmirrored it is ~0.2 off
    assert abs(skew[0].mean() - skew[1].mean()) < 0.08, (skew[0].mean(), skew[1].mean())


MIXTURE_CASES = {
    "default": MixtureConfig(),
    "one_component": MixtureConfig(max_components=1),
    "low_rank_separated": MixtureConfig(max_rank_frac=0.25, separation_range=(3.0, 6.0)),
}


@pytest.mark.parametrize("case", list(MIXTURE_CASES))
def test_mixture_matches_reference(case):
    cfg = MIXTURE_CASES[case]
    ref = _reference(GaussianMixturePrior(cfg), N_TABLES, ROWS, COLS)
    _assert_same_distribution(mixture(_gen(1), cfg, N_TABLES, ROWS, COLS), ref)


GP_CASES = {"default": GPConfig(), "one_input": GPConfig(max_input_dim=1), "five_inputs": GPConfig(max_input_dim=5)}


@pytest.mark.parametrize("case", list(GP_CASES))
def test_gp_matches_reference(case):
    cfg = GP_CASES[case]
    ref = _reference(GPPrior(cfg), N_TABLES, ROWS, COLS)
    _assert_same_distribution(gp(_gen(1), cfg, N_TABLES, ROWS, COLS), ref)


def test_gp_feature_chunks_do_not_change_the_draw(monkeypatch):
    # the chunking is a memory bound only: one chunk or many give the same tables
    import tabdiff.prior.batched.families as families

    whole = gp(_gen(0), GPConfig(), 3, 10, 4)
    monkeypatch.setattr(families, "GP_CHUNK_TABLES", 0)
    monkeypatch.setattr(families, "GP_MIN_CHUNK", 1)
    torch.testing.assert_close(families.gp(_gen(0), GPConfig(), 3, 10, 4), whole, rtol=1e-5, atol=1e-5)
