"""Batched masks: exact guarantees, calibrated rates, value dependence and mechanism mix against the numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from tabdiff.prior import ColumnProcessor, LatentFactorPrior, MaskSampler, MissingnessConfig, RawTable
from tabdiff.prior.batched.missingness import (
    MASK_KINDS,
    _informative_probs,
    calibrated_probs,
    column_signal,
    ensure_valid,
    sample_masks,
)
from tabdiff.prior.draws import normal_scores, standardize
from tabdiff.prior.missingness import calibrated_probs as reference_calibrated_probs


def _tables(n: int, rows: int, cols: int, seed: int) -> list[RawTable]:
    rng = np.random.default_rng(seed)
    proc, gen = ColumnProcessor(), LatentFactorPrior()
    return [proc.apply(rng, gen.sample(rng, rows, cols)) for _ in range(n)]


def _stack(tables: list[RawTable]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    values = torch.tensor(np.stack([t.values for t in tables]), dtype=torch.float32)
    n_categories = torch.tensor(np.stack([t.n_categories for t in tables]))
    target_col = torch.tensor([-1 if t.target_col is None else t.target_col for t in tables])
    return values, n_categories, target_col


TABLES = _tables(300, 48, 8, seed=0)
BATCH = _stack(TABLES)


def _only(kind: str, rate: tuple[float, float] = (0.1, 0.6), **kw) -> MissingnessConfig:
    return MissingnessConfig(weights={kind: 1.0}, rate_range=rate, **kw)


def _draw(cfg: MissingnessConfig, seed: int, batch=BATCH) -> tuple[np.ndarray, np.ndarray]:
    known_mask, kind = sample_masks(torch.Generator().manual_seed(seed), cfg, *batch)
    return known_mask.numpy(), kind.numpy()


def _reference(cfg: MissingnessConfig, seed: int, tables=TABLES) -> np.ndarray:
    rng, sampler = np.random.default_rng(seed), MaskSampler(cfg)
    return np.stack([sampler.sample(rng, t)[0] for t in tables])


def _assert_valid(known_mask: np.ndarray) -> None:
    assert known_mask.any(axis=1).all(), "every column keeps a known cell"
    assert (~known_mask).any(axis=(1, 2)).all(), "every table has an unknown cell"


def test_shapes_dtypes_validity_and_the_mar_fallback():
    known_mask, kind = sample_masks(torch.Generator().manual_seed(0), MissingnessConfig(), *BATCH)
    assert known_mask.shape == BATCH[0].shape and known_mask.dtype == torch.bool
    assert kind.shape == (len(TABLES),) and kind.dtype == torch.long and set(kind.tolist()) == {0, 1, 2, 3}
    _assert_valid(known_mask.numpy())
    # tiny tables and high rates: the repairs of ensure_valid are needed and hold
    g, rng = torch.Generator().manual_seed(1), np.random.default_rng(1)
    for shape in [(2, 6), (3, 2), (5, 1)]:
        values = torch.tensor(rng.standard_normal((200, *shape)), dtype=torch.float32)
        batch = (values, torch.zeros(200, shape[1], dtype=torch.long), torch.full((200,), -1))
        known_mask, kind = sample_masks(g, MissingnessConfig(rate_range=(0.6, 0.9)), *batch)
        _assert_valid(known_mask.numpy())
        if shape[1] == 1:
            assert (kind != MASK_KINDS.index("mar")).all()
    with pytest.raises(ValueError):
        sample_masks(g, MissingnessConfig(), torch.zeros(2, 1, 3), torch.zeros(2, 3, dtype=torch.long), torch.zeros(2))


def test_kind_frequencies_follow_the_weights():
    n = 4000
    weights = {"mcar": 0.4, "mar": 0.2, "mnar": 0.3, "target": 0.1}
    batch = (torch.randn(n, 4, 3), torch.zeros(n, 3, dtype=torch.long), torch.full((n,), -1))
    _, kind = _draw(MissingnessConfig(weights=weights), 2, batch)
    for i, name in enumerate(MASK_KINDS):
        p = weights[name]
        assert abs((kind == i).mean() - p) < 4 * np.sqrt(p * (1 - p) / n), name
    _, kind = _draw(MissingnessConfig(weights={"mnar": 1.0, "target": 3.0}), 3, batch)
    assert set(np.unique(kind)) == {2, 3} and abs((kind == 3).mean() - 0.75) < 0.03


@pytest.mark.parametrize("rate", [0.01, 0.3, 0.99])
def test_target_hides_exactly_the_right_count_in_one_column(rate):
    values, n_categories, _ = BATCH
    n, rows, cols = values.shape
    target_col = torch.arange(n) % cols
    known_mask, kind = _draw(_only("target", (rate, rate), target_col_prob=1.0), 4, (values, n_categories, target_col))
    assert (kind == MASK_KINDS.index("target")).all()
    hidden = (~known_mask).sum(axis=1)  # (n, cols)
    count = int(np.clip(round(rate * rows), 1, rows - 1))
    np.testing.assert_array_equal(hidden, count * (np.arange(cols) == target_col.numpy()[:, None]))


def test_target_column_choice():
    n, rows, cols, p = 3000, 10, 5, 0.8
    values = torch.randn(n, rows, cols)
    target_col = torch.where(torch.arange(n) % 2 == 0, 1, -1)  # half the tables have a target column
    batch = (values, torch.zeros(n, cols, dtype=torch.long), target_col)
    known_mask, _ = _draw(_only("target", target_col_prob=p), 5, batch)
    col = (~known_mask).any(axis=1).argmax(axis=1)
    has = target_col.numpy() == 1
    assert abs((col[has] == 1).mean() - (p + (1 - p) / cols)) < 0.03
    counts = np.bincount(col[~has], minlength=cols) / (~has).sum()
    np.testing.assert_allclose(counts, 1 / cols, atol=0.03)


@pytest.mark.parametrize("kind", ["mcar", "mnar", "mar", "target"])
@pytest.mark.parametrize("rate", [0.1, 0.35, 0.6])
def test_realised_rate_matches_configured(kind, rate):
    known_mask, _ = _draw(_only(kind, (rate, rate)), 6)
    rows = known_mask.shape[1]
    if kind == "mar":  # the rate is over the maskable (non-driver) columns
        maskable = ~known_mask.all(axis=1)  # (n, cols); a masked column fully known by chance is rare at 48 rows
        realised = [1 - m[:, c].mean() for m, c in zip(known_mask, maskable, strict=True)]
    elif kind == "target":
        realised = (~known_mask).any(axis=2).mean(axis=1)
        np.testing.assert_allclose(realised, round(rate * rows) / rows)
        return
    else:
        realised = 1 - known_mask.mean(axis=(1, 2))
    realised = np.asarray(realised)
    assert abs(realised.mean() - rate) < 4 * realised.std() / np.sqrt(len(realised)) + 2e-3


def test_rate_range_is_drawn_per_table_as_the_reference():
    cfg = MissingnessConfig(weights={"mcar": 1.0})
    got = 1 - _draw(cfg, 7)[0].mean(axis=(1, 2))
    expected = 1 - _reference(cfg, 7).mean(axis=(1, 2))
    assert ks_2samp(got, expected).pvalue > 1e-3
    assert got.min() > 0.05 and got.max() < 0.7


def test_mar_drivers_are_fully_known_and_the_rest_calibrated():
    values, n_categories, _ = BATCH
    n, rows, cols = values.shape
    cfg, rate = MissingnessConfig(), torch.rand(n, generator=torch.Generator().manual_seed(8)) * 0.5 + 0.1
    is_mar = torch.arange(n) % 2 == 0
    probs, drivers = _informative_probs(torch.Generator().manual_seed(8), cfg, values, n_categories, rate, is_mar)
    n_drivers = drivers.sum(1)
    assert (n_drivers[~is_mar] == 0).all() and (n_drivers[is_mar] >= 1).all() and (n_drivers <= cols // 2).all()
    assert (probs * drivers[:, None, :] == 0).all()
    col_rate = probs.mean(1)  # (n, cols)
    err = torch.where(drivers, 0.0, (col_rate - rate[:, None]).abs())
    assert err.max() < 1e-5
    # driver counts: uniform on 1..floor(cols * max_driver_frac), as the reference
    counts = torch.bincount(n_drivers[is_mar], minlength=cols // 2 + 1)[1:].float() / is_mar.sum()
    assert (counts - 1 / (cols // 2)).abs().max() < 0.12


def _mar_dependence(known_mask: np.ndarray) -> np.ndarray:
    """Per table: mean over masked columns of the R^2 of its unknown indicator on the fully known columns' scores."""
    out = []
    for t, m in zip(TABLES, known_mask, strict=True):
        drivers = m.all(axis=0)
        x = np.column_stack([normal_scores(t.values[:, drivers]), np.ones(len(m))])
        r2 = []
        for j in np.flatnonzero(~drivers):
            y = (~m[:, j]).astype(float)
            resid = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
            r2.append(1 - resid.var() / max(y.var(), 1e-12))
        out.append([drivers.sum(), np.mean(r2)])
    return np.array(out)


def test_mar_pattern_matches_reference():
    cfg = _only("mar")
    got, expected = _mar_dependence(_draw(cfg, 9)[0]), _mar_dependence(_reference(cfg, 9))
    for stat in range(2):  # fully known columns (the drivers), dependence on them
        a, b = got[:, stat], expected[:, stat]
        assert abs(a.mean() - b.mean()) < 4 * np.sqrt(a.var() / len(a) + b.var() / len(b)), stat
        assert ks_2samp(a, b).pvalue > 1e-3, stat


def _mnar_columns(known_mask: np.ndarray) -> np.ndarray:
    """Per numeric column with both kinds of cells: (unknown cells score higher, corr(score, unknown))."""
    out = []
    for t, m in zip(TABLES, known_mask, strict=True):
        scores = normal_scores(t.values)
        for j in np.flatnonzero(t.n_categories == 0):
            unknown = ~m[:, j]
            if 0 < unknown.sum() < len(unknown) and scores[:, j].std() > 0:
                higher = scores[unknown, j].mean() > scores[~unknown, j].mean()
                out.append([higher, np.corrcoef(scores[:, j], unknown)[0, 1]])
    return np.array(out)


def test_mnar_depends_on_the_value_as_the_reference():
    cfg = _only("mnar")
    got, expected = _mnar_columns(_draw(cfg, 10)[0]), _mnar_columns(_reference(cfg, 10))
    share = got[:, 0].mean(), expected[:, 0].mean()
    assert abs(share[0] - share[1]) < 4 * np.sqrt(0.25 / len(got) + 0.25 / len(expected))
    assert np.abs(got[:, 1]).mean() > 0.3 and ks_2samp(np.abs(got[:, 1]), np.abs(expected[:, 1])).pvalue > 1e-3
    # mcar cells do not depend on their value
    assert np.abs(_mnar_columns(_draw(_only("mcar"), 10)[0])[:, 1]).mean() < 0.15


def test_column_signal_is_standardised_scores_and_category_effects():
    values, n_categories, _ = BATCH
    signal = column_signal(torch.Generator().manual_seed(11), values, n_categories).numpy()
    code_corr = []  # a random effect per category: no order shared with the codes (their ranks would give ~1)
    for t, s in zip(TABLES, signal, strict=True):
        for j in np.flatnonzero(t.n_categories > 0):
            code_corr.append(np.corrcoef(t.values[:, j], s[:, j])[0, 1])
    assert len(code_corr) > 100 and abs(np.mean(code_corr)) < 0.1
    for t, s in zip(TABLES[:50], signal[:50], strict=True):
        numeric = t.n_categories == 0
        np.testing.assert_allclose(s[:, numeric], standardize(normal_scores(t.values[:, numeric])), atol=1e-5)
        for j in np.flatnonzero(~numeric):
            codes = t.values[:, j].astype(int)
            for c in np.unique(codes):
                assert np.ptp(s[codes == c, j]) < 1e-5  # one effect per category
            assert abs(s[:, j].mean()) < 1e-5 and abs(s[:, j].std() - 1) < 1e-4


def test_calibrated_probs_hit_the_rate_per_column_as_the_reference():
    gen = torch.Generator().manual_seed(12)
    logit = torch.randn(4, 100, 5, generator=gen) * torch.tensor([0.0, 1.0, 3.0, 10.0, 30.0])
    rate = torch.tensor([0.27, 0.05, 0.5, 0.9])
    probs = calibrated_probs(logit, rate)
    assert (probs.mean(1) - rate[:, None]).abs().max() < 1e-6
    probs64 = calibrated_probs(logit.double(), rate.double()).numpy()
    for i in range(4):
        expected = reference_calibrated_probs(logit[i].double().numpy(), float(rate[i]))
        np.testing.assert_allclose(probs64[i], expected, atol=1e-6)


def test_ensure_valid_repairs_both_extremes():
    g = torch.Generator().manual_seed(13)
    fixed = ensure_valid(g, torch.zeros(50, 4, 3, dtype=torch.bool), torch.ones(50, 3, dtype=torch.bool))
    assert (fixed.sum(1) == 1).all()
    maskable = torch.tensor([False, True, False]).expand(50, 3)
    fixed = ensure_valid(g, torch.ones(50, 4, 3, dtype=torch.bool), maskable)
    assert ((~fixed).sum((1, 2)) == 1).all() and (~fixed[:, :, 1]).any(1).all()
    rows_hit = (~fixed[:, :, 1]).float().argmax(1)
    assert len(set(rows_hit.tolist())) == 4  # a random row, not always the same
