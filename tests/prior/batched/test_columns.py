"""Batched column post-processing: exact properties of the mixed-type tables it makes, seeding, and the same
distributions as the numpy reference `ColumnProcessor.apply` (`tabdiff/prior/columns.py`) on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from tabdiff.prior.batched.columns import ColumnBatch, process_columns
from tabdiff.prior.columns import ColumnConfig, ColumnProcessor
from tabdiff.prior.latent import LatentFactorPrior
from tabdiff.prior.mechanisms import MechanismConfig
from tabdiff.prior.table import RawTable

KS_P = 1e-3
N_TABLES, ROWS, COLS = 600, 30, 8


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _inputs(n: int = N_TABLES, rows: int = ROWS, cols: int = COLS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Family-like numeric tables (n, rows, cols) and target columns (n,) (-1: none) from the reference prior."""
    rng = np.random.default_rng(seed)
    values = np.stack([LatentFactorPrior().sample(rng, rows, cols).values for _ in range(n)])
    return values, np.full(n, -1)


def _ours(cfg: ColumnConfig, values: np.ndarray, target_col: np.ndarray, seed: int = 0) -> ColumnBatch:
    return process_columns(_gen(seed), cfg, torch.tensor(values, dtype=torch.float32), torch.tensor(target_col))


def _reference(cfg: ColumnConfig, values: np.ndarray, target_col: np.ndarray, seed: int = 0) -> ColumnBatch:
    rng, proc = np.random.default_rng(seed), ColumnProcessor(cfg)
    tables = [
        proc.apply(rng, RawTable.numeric(v, None if t < 0 else int(t))) for v, t in zip(values, target_col, strict=True)
    ]
    return ColumnBatch(
        values=torch.tensor(np.stack([t.values for t in tables])),
        n_categories=torch.tensor(np.stack([t.n_categories for t in tables])),
        is_integer=torch.tensor(np.stack([t.is_integer for t in tables])),
        target_col=torch.tensor([-1 if t.target_col is None else t.target_col for t in tables]),
    )


def _assert_valid(out: ColumnBatch, cfg: ColumnConfig, n: int, rows: int, cols: int) -> None:
    """The exact promises of a processed batch."""
    assert out.values.shape == (n, rows, cols) and out.values.dtype == torch.float32
    assert out.n_categories.shape == (n, cols) and out.n_categories.dtype == torch.long
    assert out.is_integer.shape == (n, cols) and out.is_integer.dtype == torch.bool
    assert out.target_col.shape == (n,) and out.target_col.dtype == torch.long
    assert torch.isfinite(out.values).all()
    assert ((out.target_col >= -1) & (out.target_col < cols)).all()
    k = out.n_categories
    assert ((k == 0) | ((k >= 2) & (k <= min(cfg.max_categories, rows)))).all()
    assert not (out.is_integer & (k > 0)).any()
    codes = out.values.transpose(1, 2)  # (n, cols, rows)
    cat = k > 0
    # categorical: codes are integers 0..K-1 and every one of them occurs
    assert (codes[cat] == codes[cat].round()).all() and (codes[cat] >= 0).all()
    assert (codes[cat] < k[cat][:, None]).all()
    present = torch.zeros((int(cat.sum()), 16)).scatter_(1, codes[cat].long(), 1.0).sum(1)
    assert torch.equal(present.long(), k[cat])
    ints = codes[out.is_integer]
    assert (ints == ints.round()).all()


@pytest.mark.parametrize("shape", [(2, 1), (2, 4), (5, 2), (3, 3), (30, 8), (64, 16)])
def test_processed_batch_is_valid_and_seeded(shape):
    rows, cols = shape
    cfg = ColumnConfig(categorical_frac=0.4, integer_prob=0.3, duplicate_prob=0.3, constant_prob=0.3)
    values, target_col = _inputs(40, rows, cols)
    target_col[::3] = cols - 1  # some tables come with a family target
    out = _ours(cfg, values, target_col)
    _assert_valid(out, cfg, 40, rows, cols)
    family = target_col >= 0
    assert (out.target_col[family] == cols - 1).all()  # a family target is kept
    again = _ours(cfg, values, target_col)
    for a, b in zip(
        (out.values, out.n_categories, out.is_integer, out.target_col),
        (again.values, again.n_categories, again.is_integer, again.target_col),
        strict=True,
    ):
        assert torch.equal(a, b)
    if rows > 2:
        assert not torch.equal(out.values, _ours(cfg, values, target_col, seed=1).values)


def test_empty_batch():
    out = process_columns(
        _gen(0), ColumnConfig(target_prob=1.0), torch.zeros((0, 5, 3)), torch.zeros(0, dtype=torch.long)
    )
    assert out.values.shape == (0, 5, 3) and out.n_categories.shape == (0, 3) and out.target_col.shape == (0,)


def test_oddities_spare_the_target():
    cfg = ColumnConfig(target_prob=1.0, duplicate_prob=1.0, constant_prob=1.0, categorical_frac=0.0)
    values, target_col = _inputs(200, 20, 5)
    out = _ours(cfg, values, target_col)
    _assert_valid(out, cfg, 200, 20, 5)
    assert (out.target_col >= 0).all()
    constant = (out.values.amax(1) == out.values.amin(1)) & ~out.is_integer  # (n, cols); a rounded target may be too
    assert (constant.sum(1) == 1).all()  # exactly the one constant column, never the target
    assert not constant.gather(1, out.target_col[:, None]).any()
    fill = out.values[:, 0][constant]
    assert torch.equal(fill, (fill * 100).round() / 100) and fill.abs().max() > 5  # round(N(0, 10), 2)


def _column_stats(out: ColumnBatch, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """Per-column or per-table statistics that characterise each step of the processing."""
    values = out.values.double().numpy()
    k, is_int, target = out.n_categories.numpy(), out.is_integer.numpy(), out.target_col.numpy()
    n, rows, cols = values.shape
    sd = values.std(1)
    constant = values.max(1) == values.min(1)  # std is not exactly 0 in float64
    numeric = (k == 0) & ~constant
    real = numeric & ~is_int
    z = (values - values.mean(1, keepdims=True)) / np.where(constant, 1, sd)[:, None, :]
    # a quantile category is an interval of its column's values; an argmax one (other columns mixed in) often not
    not_target = np.arange(cols) != target[:, None]
    table, col = np.nonzero((k > 0) & not_target)
    ordered = np.take_along_axis(values[table, :, col], np.argsort(inputs[table, :, col], axis=1), axis=1)
    changes = (np.diff(ordered, axis=1) != 0).sum(1)
    # labels in random order: the code correlates with the column's rank only as much as chance allows
    rank = np.argsort(np.argsort(inputs[table, :, col], axis=1), axis=1) - (rows - 1) / 2
    code = values[table, :, col] - values[table, :, col].mean(1, keepdims=True)
    code_corr = (rank * code).sum(1) / np.sqrt((rank**2).sum(1) * (code**2).sum(1))
    # a duplicate is an increasing transform of its source (skew, scale, rounding): a weakly monotone pair
    pairs = [(i, j) for j in range(cols) for i in range(j)]
    monotone = np.array([[_monotone(t[:, i], t[:, j]) for i, j in pairs] for t in values])
    usable = np.array([[numeric[r, i] and numeric[r, j] for i, j in pairs] for r in range(n)])
    return {
        "categorical": (k > 0).ravel(),
        "n_categories": k[k > 0],
        "not_interval": changes > k[table, col] - 1,
        "code_rank_corr": np.abs(code_corr),
        "integer": is_int[numeric],
        "constant": constant.ravel(),
        "duplicate": (monotone & usable).any(1),
        "target": target >= 0,
        "target_categorical": (k[np.arange(n), target] > 0)[target >= 0],
        "skewness": (z**3).mean(1)[real],  # exp: to the right
        "kurtosis": (z**4).mean(1)[real],  # power: heavy tails both sides
        "shift": (values.mean(1) / np.where(constant, 1, sd))[real],  # mean / sd ~ N(0, 2) for a unit and shift
        "log_scale": np.log10(sd[real]),
        "integer_log_scale": np.log10(sd[numeric & is_int] + 1e-3),
        "integer_mean": values.mean(1)[numeric & is_int],
    }


def _monotone(a: np.ndarray, b: np.ndarray) -> bool:
    """b is a non-decreasing function of a (ties in a allowed)."""
    return bool((np.diff(b[np.lexsort((b, a))]) >= 0).all())


RATES = ("categorical", "not_interval", "integer", "constant", "duplicate", "target", "target_categorical")


def _compare(ours: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> None:
    for name in ours:
        a, b = ours[name], ref[name]
        if name in RATES:
            pooled = (a.sum() + b.sum()) / (len(a) + len(b))
            se = np.sqrt(max(pooled * (1 - pooled), 1e-4) * (1 / len(a) + 1 / len(b)))
            assert abs(a.mean() - b.mean()) < 4.5 * se, f"{name}: ours {a.mean():.3f} vs reference {b.mean():.3f}"
        else:
            p = ks_2samp(a, b).pvalue
            assert p > KS_P, f"{name}: KS p={p:.2g}, ours mean {a.mean():.3f} vs reference {b.mean():.3f}"


@pytest.mark.parametrize(
    "cfg",
    [
        ColumnConfig(),
        ColumnConfig(
            categorical_frac=0.4,
            argmax_prob=0.5,
            duplicate_prob=0.4,
            constant_prob=0.3,
            target_prob=0.6,
            skew_prob=0.6,
            integer_prob=0.3,
        ),
    ],
    ids=["default", "more_oddities"],
)
def test_columns_match_reference_distribution(cfg):
    values, target_col = _inputs()
    target_col[: N_TABLES // 4] = COLS - 1  # a quarter come with a family target
    ours = _column_stats(_ours(cfg, values, target_col), values)
    ref = _column_stats(_reference(cfg, values, target_col), values)
    _compare(ours, ref)


def test_target_column_matches_reference():
    """Every table gets a numeric target, mostly a linear function of some columns: its noise shows in the R^2."""
    linear = MechanismConfig(activations=("identity",), max_hidden_layers=0, tree_depth_range=(1, 1), max_trees=1)
    cfg = ColumnConfig(
        target_prob=1.0,
        target_categorical_prob=0.0,
        categorical_frac=0.0,
        skew_prob=0.0,
        integer_prob=0.0,
        duplicate_prob=0.0,
        constant_prob=0.0,
        mechanism=linear,
    )
    values, target_col = _inputs(500, 40, 6)

    def explained(out: ColumnBatch) -> dict[str, np.ndarray]:
        """log(1 - R^2) of the target on all other columns (its noise) and on the best single one (its inputs)."""
        x, t = out.values.double().numpy(), out.target_col.numpy()
        z = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
        y = np.take_along_axis(z, t[:, None, None].repeat(z.shape[1], 1), 2)[..., 0]
        others = np.stack([np.delete(zi, ti, axis=1) for zi, ti in zip(z, t, strict=True)])
        q, _ = np.linalg.qr(np.concatenate([np.ones(others.shape[:2] + (1,)), others], axis=2))
        resid = y[..., None] - q @ (q.transpose(0, 2, 1) @ y[..., None])
        best = np.abs(np.einsum("nr,nrc->nc", y, others) / y.shape[1]).max(1)
        return {"all": np.log((resid[..., 0] ** 2).mean(1)), "best_single": np.log(1 - best**2 + 1e-12)}

    ours, ref = _ours(cfg, values, target_col), _reference(cfg, values, target_col)
    assert (ours.target_col >= 0).all()
    ours_r2, ref_r2 = explained(ours), explained(ref)
    for name in ours_r2:
        p = ks_2samp(ours_r2[name], ref_r2[name]).pvalue
        assert p > KS_P, f"target R^2 on {name}: KS p={p:.2g}"
