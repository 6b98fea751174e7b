"""Tests of tabdiff.experts.ridge: the in-context fits against their closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tabdiff.experts.ridge import (
    RIDGE_BASE,
    RIDGE_PER_ROW,
    gaussian_conditional,
    logistic_refit,
    ridge_features,
    ridge_x0,
)


def low_rank(rows: int, cols: int, rank: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Standardised rank-`rank` table with 10% noise and a 30% MCAR known mask (column 0 of row 0 kept)."""
    rng = np.random.default_rng(seed)
    truth = rng.standard_normal((rows, rank)) @ rng.standard_normal((rank, cols))
    truth += 0.1 * truth.std(0) * rng.standard_normal(truth.shape)
    truth = (truth - truth.mean(0)) / truth.std(0)
    known = rng.random(truth.shape) >= 0.3
    known[0] = True
    return truth, known


def features(truth: np.ndarray, known: np.ndarray, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    x = torch.tensor(np.where(known, truth, np.nan), dtype=torch.float32)[None, ..., None]  # (1, R, C, 1)
    pred, available, *_ = ridge_features(
        x, torch.tensor(known)[None], torch.ones(1, truth.shape[1], dtype=torch.bool), **kwargs
    )
    return pred[0, ..., 0].numpy(), available[0].numpy()


def test_one_round_is_the_closed_form() -> None:
    """Column j's ridge on the other columns (unknown cells 0), fitted where j is known; known cells leave-one-out."""
    truth, known = low_rank(40, 5, 2, seed=0)
    pred, available = features(truth, known, rounds=1)
    assert available.all()
    z = np.where(known, truth, 0.0)
    for j in range(5):
        rows, others = known[:, j], np.delete(z, j, axis=1)
        system = others[rows].T @ others[rows] + (RIDGE_BASE + RIDGE_PER_ROW * rows.sum()) * np.eye(4)
        beta = np.linalg.solve(system, others[rows].T @ z[rows, j])
        fitted = others @ beta
        leverage = np.einsum("ik,kl,il->i", others, np.linalg.inv(system), others)
        expected = np.where(rows, z[:, j] - (z[:, j] - fitted) / (1.0 - leverage), fitted)
        np.testing.assert_allclose(pred[:, j], expected, atol=1e-4)


def test_chained_rounds_approach_linear_imputation() -> None:
    """On a low-rank table, each round's fills make the next fit better (MICE's linear regressions reach ~0.13)."""
    truth, known = low_rank(256, 16, 3, seed=1)
    errors = []
    for rounds in (1, 2, 3):
        pred, _ = features(truth, known, rounds=rounds)
        errors.append(float(np.sqrt(np.mean((pred[~known] - truth[~known]) ** 2))))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.25 < errors[0]


def test_unavailable_columns_are_zero() -> None:
    """Categorical columns, columns with fewer than 2 known rows and a lone numeric column get no feature."""
    x = torch.randn(2, 6, 3, 1)
    known = torch.ones(2, 6, 3, dtype=torch.bool)
    known[0, 1:, 2] = False  # table 0, column 2: one known row
    numeric = torch.tensor([[True, True, True], [True, False, False]])  # table 1: one numeric column
    pred, available, *_ = ridge_features(x, known, numeric)
    assert available.tolist() == [[True, True, False], [False, False, False]]
    assert (pred[0, :, 2] == 0).all() and (pred[1] == 0).all()
    assert pred[0, :, :2].abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.bfloat16])
def test_autocast_keeps_float32(dtype: torch.dtype) -> None:
    truth, known = low_rank(30, 4, 2, seed=2)
    x = torch.tensor(np.where(known, truth, 0.0), dtype=torch.float32)[None, ..., None]
    args = (x, torch.tensor(known)[None], torch.ones(1, 4, dtype=torch.bool))
    ref, *_ = ridge_features(*args)
    with torch.autocast("cpu", dtype=dtype):
        out, *_ = ridge_features(*args)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref)


def mixed_table(rows: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray]:
    """Numeric columns 0-2 (normal scores) and a categorical column 3 of 3 categories in channels 0-2 of K = 4, the
    category the argmax of a linear score of the numeric columns; column 4 numeric, 2 x the category's one-hot plus
    noise. 30% MCAR. Returns x_known (1, R, 5, 4), known_mask, numeric, categorical, the categories (R,)."""
    rng = np.random.default_rng(seed)
    num = rng.standard_normal((rows, 3))
    category = np.argmax(num @ rng.standard_normal((3, 3)) * 3.0 + 0.3 * rng.standard_normal((rows, 3)), axis=1)
    x = np.zeros((rows, 5, 4), dtype=np.float32)
    x[:, :3, 0] = num
    x[:, 3, :3] = np.where(np.eye(3, dtype=bool)[category], 1.0, -1.0)
    x[:, 4, 0] = 2.0 * np.array([0.0, 1.0, -1.0])[category] + 0.3 * rng.standard_normal(rows)
    known = rng.random((rows, 5)) >= 0.3
    numeric = torch.tensor([[True, True, True, False, True]])
    return torch.tensor(x)[None], torch.tensor(known)[None], numeric, ~numeric, category


def test_all_columns_one_round_is_the_closed_form() -> None:
    """With categorical columns: each column's channels fitted on the other columns' features and an intercept."""
    x, known, numeric, categorical, _ = mixed_table(50, seed=3)
    channel_mask = torch.zeros(1, 5, 4, dtype=torch.bool)
    channel_mask[0, :, 0] = True
    channel_mask[0, 3, :3] = True
    pred, available, *_ = ridge_features(
        x, known, numeric, categorical=categorical, channel_mask=channel_mask, rounds=1
    )
    assert available.all()
    known_np = known[0].numpy()
    cells = np.where(known_np[..., None], x[0].numpy(), 0.0)  # (R, 5, 4)
    feature_of = [(0, 0), (1, 0), (2, 0), (3, 0), (3, 1), (3, 2), (4, 0)]  # (column, channel)
    for j in range(5):
        others = np.stack([cells[:, c, k] for c, k in feature_of if c != j] + [np.ones(50)], axis=1)
        rows = known_np[:, j]
        system = others[rows].T @ others[rows] + (RIDGE_BASE + RIDGE_PER_ROW * rows.sum()) * np.eye(others.shape[1])
        leverage = np.einsum("ik,kl,il->i", others, np.linalg.inv(system), others)
        for k in range(3 if j == 3 else 1):
            fitted = others @ np.linalg.solve(system, others[rows].T @ cells[rows, j, k])
            expected = np.where(rows, cells[:, j, k] - (cells[:, j, k] - fitted) / (1.0 - leverage), fitted)
            np.testing.assert_allclose(pred[0, :, j, k].numpy(), expected, atol=1e-4)
    assert (pred[0, :, 3, 3] == 0).all() and (pred[0, :, :3, 1:] == 0).all()  # unused channels


def test_all_columns_classify_and_inform_numeric_columns() -> None:
    """A category linear in the numeric columns is a linear probability model's to find; a numeric column that
    depends on the category is predicted from its one-hot channels, which the numeric-only ridge cannot read."""
    x, known, numeric, categorical, category = mixed_table(400, seed=4)
    pred, available, *_ = ridge_features(x, known, numeric, categorical=categorical)
    hidden = ~known[0].numpy()
    accuracy = np.mean(np.argmax(pred[0, :, 3, :3].numpy(), axis=1)[hidden[:, 3]] == category[hidden[:, 3]])
    assert available.all() and accuracy > 0.85
    numeric_only, available_numeric, *_ = ridge_features(x, known, numeric)
    assert available_numeric.tolist() == [[True, True, True, False, True]]
    rows = hidden[:, 4] & ~hidden[:, 3]  # column 4 unknown, its category known
    truth = x[0, :, 4, 0].numpy()[rows]
    rmse_all = np.sqrt(np.mean((pred[0, :, 4, 0].numpy()[rows] - truth) ** 2))
    rmse_numeric = np.sqrt(np.mean((numeric_only[0, :, 4, 0].numpy()[rows] - truth) ** 2))
    assert rmse_all < 0.5 < rmse_numeric


def test_ridge_x0_is_the_gaussian_posterior_mean() -> None:
    """x0 ~ N(pred, s^2), x_t = sqrt(abar) x0 + sqrt(1 - abar) eps: precision-weighted mean of pred and x_t / sqrt(abar)."""
    pred, x_t = torch.tensor([[[0.5, -1.0]]]), torch.tensor([[[2.0, 0.3]]])  # (1, 1, 2)
    residual_var = torch.tensor([[0.25, 4.0]])
    for abar in (1e-6, 0.3, 0.9, 1.0 - 1e-6):
        out = ridge_x0(pred, residual_var[:, None], x_t, torch.tensor([abar]))
        # the observation x_t / sqrt(abar) has variance (1 - abar) / abar around x0
        prior_precision, obs_precision = 1.0 / residual_var, abar / (1.0 - abar)
        expected = (prior_precision * pred + obs_precision * x_t / abar**0.5) / (prior_precision + obs_precision)
        torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)
    assert torch.equal(ridge_x0(pred, residual_var[:, None], x_t, None), pred)  # no noise level: the one-pass limit


def test_logistic_refit_reaches_the_penalized_multinomial_fit() -> None:
    """Boehning's MM steps converge to the L2-penalized multinomial logistic regression (the penalty (lam / 4)
    |beta|^2 on every coefficient, intercept included, is scikit-learn's C = 2 / lam without fit_intercept)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    rows, n_feat, k = 120, 4, 3
    x = np.concatenate([rng.standard_normal((rows, n_feat - 1)), np.ones((rows, 1))], axis=1)
    labels = np.argmax(x[:, :3] @ rng.standard_normal((3, k)) + rng.gumbel(size=(rows, k)), axis=1)
    fitted = rng.random(rows) < 0.8  # the rows where the column is known
    lam = RIDGE_BASE + RIDGE_PER_ROW * fitted.sum()
    gram = x[fitted].T @ x[fitted] + lam * np.eye(n_feat)
    chol = torch.linalg.cholesky(torch.tensor(gram, dtype=torch.float32))[None, None]  # (1, 1, F, F)
    proba = logistic_refit(
        torch.tensor(x, dtype=torch.float32)[None], torch.tensor(fitted, dtype=torch.float32)[None, :, None],
        torch.tensor(np.eye(k)[labels], dtype=torch.float32)[None, :, None], torch.ones(1, 1, 1, k, dtype=torch.bool),
        torch.ones(1, 1, n_feat), chol, torch.tensor([[lam]], dtype=torch.float32), steps=500,
    )[0, :, 0].numpy()  # fmt: skip
    reference = LogisticRegression(C=2.0 / lam, fit_intercept=False, tol=1e-10, max_iter=10_000)
    expected = reference.fit(x[fitted], labels[fitted]).predict_proba(x)
    np.testing.assert_allclose(proba, expected, atol=2e-3)


def test_logistic_steps_classify_where_the_linear_probability_model_masks_a_class() -> None:
    """Three classes in order along one predictor: the linear probability model's middle class never has the
    largest score ("masking"), the logistic regression's does. Known cells and numeric columns are unchanged."""
    rng = np.random.default_rng(3)
    rows, k = 300, 4
    x_num = rng.uniform(-1.5, 1.5, rows)
    label = np.digitize(x_num, [-0.5, 0.5])  # 0, 1, 2
    cells = np.zeros((rows, 2, k), dtype=np.float32)
    cells[:, 0, 0] = x_num
    cells[:, 1, :3] = 2.0 * np.eye(3)[label] - 1.0
    known = np.ones((rows, 2), dtype=bool)
    known[rows // 2 :, 1] = False  # the second half's labels are what is predicted
    channel_mask = torch.tensor([[[True] + [False] * (k - 1), [True, True, True, False]]])
    args = (torch.tensor(cells)[None], torch.tensor(known)[None], torch.tensor([[True, False]]))
    kwargs = {"categorical": torch.tensor([[False, True]]), "channel_mask": channel_mask}
    linear, *_ = ridge_features(*args, **kwargs)
    logistic, available, *_ = ridge_features(*args, **kwargs, logistic_steps=30)
    assert available.all()
    query = ~known[:, 1]
    accuracy = {
        name: np.mean(pred[0, query, 1, :3].numpy().argmax(-1) == label[query])
        for name, pred in (("linear", linear), ("logistic", logistic))
    }
    assert accuracy["linear"] < 0.75 and accuracy["logistic"] > 0.9, accuracy
    p = (logistic[0, query, 1, :3].numpy() + 1.0) / 2.0
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
    assert (logistic[0, :, 1, 3] == 0).all()  # an unused channel stays 0
    torch.testing.assert_close(logistic[0, ~query], linear[0, ~query])  # known cells: the linear leave-one-out
    torch.testing.assert_close(logistic[..., 0, :], linear[..., 0, :])  # the numeric column


def test_logistic_refits_only_the_categorical_columns_with_an_unknown_cell(monkeypatch) -> None:
    """The logistic answers unknown categorical cells only: columns known everywhere are not refitted (a classifier's
    features), a table without unknown categorical cells skips it, and which other columns are refitted beside a
    column does not change its answer."""
    import tabdiff.experts.ridge as ridge

    rng = np.random.default_rng(5)
    rows, k = 200, 4
    x_num = rng.standard_normal(rows)
    labels = [np.digitize(x_num + 0.5 * rng.standard_normal(rows), [-0.5, 0.5]) for _ in range(3)]
    cells = np.zeros((rows, 4, k), dtype=np.float32)
    cells[:, 0, 0] = x_num
    for c, label in enumerate(labels, start=1):
        cells[:, c, :3] = 2.0 * np.eye(3)[label] - 1.0
    channel_mask = torch.tensor([[[True, False, False, False]] + [[True, True, True, False]] * 3])
    kwargs = {"categorical": torch.tensor([[False, True, True, True]]), "channel_mask": channel_mask}
    numeric = torch.tensor([[True, False, False, False]])

    def fit(*known: np.ndarray, steps: int = 10) -> torch.Tensor:  # one table per known pattern
        b = len(known)
        batch = {key: value.expand(b, *value.shape[1:]) for key, value in kwargs.items()}
        x = torch.tensor(cells).expand(b, *cells.shape)
        return ridge_features(x, torch.tensor(np.stack(known)), numeric.expand(b, -1), **batch, logistic_steps=steps)[0]

    refitted = []
    real = ridge.logistic_refit
    monkeypatch.setattr(ridge, "logistic_refit", lambda *a, **kw: refitted.append(a[1].shape[-1]) or real(*a, **kw))
    known = np.ones((rows, 4), dtype=bool)
    known[rows // 2 :, 0] = False  # only the numeric column unknown: nothing to refit
    torch.testing.assert_close(fit(known), fit(known, steps=0), rtol=0, atol=0)  # the same numbers
    assert refitted == []
    known[rows // 2 :, 1] = False  # a label to predict; columns 2 and 3 known everywhere
    alone = fit(known)
    assert refitted == [1]
    other = known.copy()
    other[:10, 3] = False  # a second table in the batch: column 3 refitted too
    both = fit(known, other)
    assert refitted == [1, 2]
    torch.testing.assert_close(both[0], alone[0], rtol=0, atol=1e-6)  # the first table answered alike
    assert not torch.allclose(both[1, :10, 3], alone[0, :10, 3])  # the second table's column 3 was answered


def test_unexplained_is_one_minus_the_leave_one_out_r2() -> None:
    """A column the others determine leaves ~0 of its variance; an independent one ~1; the closed form per column."""
    rng = np.random.default_rng(4)
    rows = 400
    a, b, noise = rng.standard_normal(rows), rng.standard_normal(rows), rng.standard_normal(rows)
    truth = np.stack([a, b, a + b + 0.05 * rng.standard_normal(rows), noise], axis=1)
    known = rng.random(truth.shape) >= 0.2
    x = torch.tensor(np.where(known, truth, np.nan), dtype=torch.float32)[None, ..., None]
    fit = ridge_features(x, torch.tensor(known)[None], torch.ones(1, 4, dtype=torch.bool))
    unexplained = fit.unexplained[0].numpy()
    assert unexplained[2] < 0.05 and 0.9 < unexplained[3] < 1.2, unexplained
    for j in range(4):
        y = truth[known[:, j], j]
        expected = fit.residual_var[0, j, 0].item() / y.var()
        assert unexplained[j] == pytest.approx(expected, rel=1e-4)


def gaussian(truth: np.ndarray, known: np.ndarray, iters: int) -> np.ndarray:
    z = torch.tensor(np.where(known, truth, 0.0), dtype=torch.float64)[None]
    return gaussian_conditional(z, torch.tensor(known)[None], iters)[0][0].numpy()


def test_gaussian_on_a_complete_table_is_the_regression_on_the_shrunk_covariance() -> None:
    """With every cell known, EM's fit is the sample mean and covariance (shrunk by (1/n + 0.01) of its diagonal),
    and each cell's leave-one-cell-out mean is the linear regression of its column on the others under it."""
    truth, _ = low_rank(60, 5, 2, seed=5)
    truth = truth * np.array([1.0, 2.0, 0.5, 1.0, 3.0]) + np.array([0.0, 1.0, -2.0, 0.5, 0.0])
    known = np.ones_like(truth, dtype=bool)
    pred = gaussian(truth, known, iters=3)
    mu = truth.mean(0)
    cov = np.cov(truth.T, bias=True)
    cov = cov + np.diag((1.0 / 60 + 0.01) * np.diag(cov) + 1e-4)
    for j in range(5):
        o = np.arange(5) != j
        beta = np.linalg.solve(cov[np.ix_(o, o)], cov[o, j])
        np.testing.assert_allclose(pred[:, j], mu[j] + (truth[:, o] - mu[o]) @ beta, atol=1e-8)


def test_gaussian_recovers_the_conditional_mean_under_mcar() -> None:
    """A bivariate normal with correlation 0.8 and 40% of each column missing: EM's conditional mean of an unknown
    y given a known x is 0.8 x; given nothing, the mean."""
    rng = np.random.default_rng(6)
    n = 4000
    x = rng.standard_normal(n)
    y = 0.8 * x + 0.6 * rng.standard_normal(n)
    truth = np.stack([x, y], axis=1)
    known = rng.random(truth.shape) >= 0.4
    pred = gaussian(truth, known, iters=20)
    query = known[:, 0] & ~known[:, 1]
    slope = np.polyfit(x[query], pred[query, 1], 1)[0]
    assert slope == pytest.approx(0.8, abs=0.04)
    neither = ~known.any(1)
    np.testing.assert_allclose(pred[neither, 1], pred[neither, 1][0])
    assert abs(pred[neither, 1][0] - y.mean()) < 0.05


def test_gaussian_ignores_rows_with_nothing_known() -> None:
    """Padding rows (no known cell) take no part in the fit: the other rows' predictions are unchanged."""
    truth, known = low_rank(50, 4, 2, seed=7)
    padded_truth = np.concatenate([truth, np.zeros((7, 4))])
    padded_known = np.concatenate([known, np.zeros((7, 4), dtype=bool)])
    np.testing.assert_allclose(gaussian(padded_truth, padded_known, 5)[:50], gaussian(truth, known, 5), atol=1e-10)


def test_gaussian_iters_use_the_row_known_cells_where_chained_fills_lose() -> None:
    """ridge_features(gaussian_iters=N) gives numeric columns the Gaussian conditional means (leave-one-cell-out
    on known cells): closer on a low-rank table's unknown cells than the chained ridge, and a known cell's
    prediction does not read the cell itself."""
    truth, known = low_rank(256, 16, 3, seed=1)
    chained, _ = features(truth, known)
    pred, _ = features(truth, known, gaussian_iters=8)
    error = {
        name: float(np.sqrt(np.mean((p[~known] - truth[~known]) ** 2))) for name, p in [("ridge", chained), ("g", pred)]
    }
    assert error["g"] < 0.9 * error["ridge"], error
    j = int(np.flatnonzero(known[5])[0])
    changed = truth.copy()
    changed[5, j] += 3.0  # a known cell moved: its own prediction moves only through the fitted covariance
    moved, _ = features(changed, known, gaussian_iters=8)
    assert abs(moved[5, j] - pred[5, j]) < 0.1


def test_gaussian_variance_grows_where_the_informative_cells_are_missing() -> None:
    """x1 = x0 + small noise, x2 independent: the conditional variance of an unknown x1 is about the noise's where x0
    is known and about x1's whole variance where it is not; ridge_features' cell_scale carries that ratio."""
    rng = np.random.default_rng(8)
    n = 2000
    x0 = rng.standard_normal(n)
    truth = np.stack([x0, x0 + 0.1 * rng.standard_normal(n), rng.standard_normal(n)], axis=1)
    known = rng.random(truth.shape) >= 0.3
    z = torch.tensor(np.where(known, truth, 0.0), dtype=torch.float64)[None]
    _, variance = gaussian_conditional(z, torch.tensor(known)[None], 10)
    variance = variance[0].numpy()
    informed, blind = ~known[:, 1] & known[:, 0], ~known[:, 1] & ~known[:, 0]
    assert np.median(variance[informed, 1]) < 0.1 and 0.8 < np.median(variance[blind, 1]) < 1.3  # 0.01 + shrinkage
    x = torch.tensor(np.where(known, truth, np.nan), dtype=torch.float32)[None, ..., None]
    fit = ridge_features(x, torch.tensor(known)[None], torch.ones(1, 3, dtype=torch.bool), gaussian_iters=10)
    scale = fit.cell_scale[0].numpy()
    assert np.median(scale[blind, 1]) > 10 * np.median(scale[informed, 1])
    np.testing.assert_allclose(scale[known[:, 1], 1].mean(), 1.0, rtol=1e-4)  # known cells average to the column's
    chained = ridge_features(x, torch.tensor(known)[None], torch.ones(1, 3, dtype=torch.bool))
    assert (chained.cell_scale == 1).all()
