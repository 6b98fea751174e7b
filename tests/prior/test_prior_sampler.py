"""PriorSampler end to end: seeding, shapes, batches, mixed types, family weights, configs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf
from threadpoolctl import threadpool_info

from tabdiff.prior import PriorConfig, PriorSampler, SyntheticTable, build_prior

CONF = Path(__file__).resolve().parents[2] / "conf" / "prior"
SAMPLER = PriorSampler()
_RNG = np.random.default_rng(2)
MANY = [SAMPLER.sample_table(_RNG) for _ in range(300)]  # drawn once, shared by the checks below


def _assert_valid(t: SyntheticTable, cap: int = 10) -> None:
    rows, cols = t.values.shape
    assert t.known_mask.shape == (rows, cols) and t.known_mask.dtype == bool
    assert t.n_categories.dtype == np.int64 and t.is_integer.dtype == bool
    assert np.isfinite(t.values).all()
    assert t.known_mask.any(axis=0).all() and not t.known_mask.all()
    for j in np.flatnonzero(t.n_categories):
        k = t.n_categories[j]
        assert 2 <= k <= cap
        codes = t.values[:, j]
        assert ((codes >= 0) & (codes < k) & (codes == np.round(codes))).all()
    ints = t.values[:, t.is_integer]
    assert (ints == np.round(ints)).all()


def _same(a: SyntheticTable, b: SyntheticTable) -> bool:
    return (
        a.family == b.family
        and a.missingness == b.missingness
        and all(
            np.array_equal(getattr(a, f), getattr(b, f)) for f in ("values", "n_categories", "is_integer", "known_mask")
        )
    )


def test_same_seed_same_tables():
    a = PriorSampler().sample_batch(np.random.default_rng(7), 8)
    b = PriorSampler().sample_batch(np.random.default_rng(7), 8)
    c = PriorSampler().sample_batch(np.random.default_rng(8), 8)
    assert all(_same(x, y) for x, y in zip(a, b, strict=True))
    assert not all(_same(x, y) for x, y in zip(a, c, strict=True))


def test_tables_are_valid_and_mixed():
    for t in MANY:
        _assert_valid(t)
    n_cat = np.concatenate([t.n_categories for t in MANY])
    is_int = np.concatenate([t.is_integer for t in MANY])
    assert (n_cat > 0).any() and is_int.any() and ((n_cat == 0) & ~is_int).any()
    assert 0.1 < (n_cat > 0).mean() < 0.3  # ~20% categorical
    assert {t.missingness for t in MANY} == {"mcar", "mar", "mnar", "target"}


def test_shapes_vary_within_ranges():
    shapes = {t.shape for t in MANY}
    assert len(shapes) > 50
    rows, cols = zip(*shapes, strict=True)
    assert 8 <= min(rows) and max(rows) <= 64 and 3 <= min(cols) and max(cols) <= 16
    assert min(rows) < 12 and max(rows) > 48 and min(cols) == 3 and max(cols) > 13


def test_batch_shares_one_shape():
    rng = np.random.default_rng(3)
    for _ in range(5):
        batch = SAMPLER.sample_batch(rng, 6)
        assert len(batch) == 6 and len({t.shape for t in batch}) == 1
    assert {t.shape for t in SAMPLER.sample_batch(rng, 3, n_rows=5, n_cols=2)} == {(5, 2)}


def test_family_weights_are_respected():
    counts = Counter(t.family for t in MANY)
    assert abs(counts["latent_factor"] / len(MANY) - 0.5) < 0.1
    assert abs(counts["scm"] / len(MANY) - 0.4) < 0.1
    assert counts["mixture"] > 0 and counts["gp"] > 0


def test_blas_thread_limit_is_released():
    before = [lib["num_threads"] for lib in threadpool_info()]
    SAMPLER.sample_batch(np.random.default_rng(6), 2)
    assert [lib["num_threads"] for lib in threadpool_info()] == before


@pytest.mark.parametrize("family", ["latent_factor", "scm", "mixture", "gp"])
def test_each_family_alone(family):
    sampler = PriorSampler(PriorConfig(family_weights={family: 1.0}, cols=(1, 16), rows=(2, 64)))
    rng = np.random.default_rng(4)
    for _ in range(15):
        t = sampler.sample_table(rng)
        assert t.family == family
        _assert_valid(t)


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="unknown families"):
        PriorSampler(PriorConfig(family_weights={"bogus": 1.0}))
    with pytest.raises(ValueError, match="rows"):
        PriorSampler(PriorConfig(rows=(1, 8)))
    with pytest.raises(TypeError, match="no field"):
        build_prior(rowz=[8, 9])


@pytest.mark.parametrize("name, rows, cols", [("default", (8, 64), (3, 16)), ("large", (64, 1024), (3, 64))])
def test_hydra_configs(name, rows, cols):
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    assert cfg.engine == "batched"  # what pretraining draws with; the reference engine is one override away
    cfg.engine = "reference"
    sampler = instantiate(cfg)
    assert isinstance(sampler, PriorSampler)
    assert sampler.config.rows == rows and sampler.config.cols == cols
    assert isinstance(sampler.config.missingness.rate_range, tuple)
    _assert_valid(sampler.sample_table(np.random.default_rng(5)))
    batched = instantiate(OmegaConf.load(CONF / f"{name}.yaml"))
    assert batched.config == sampler.config
    for table in batched.sample_batch(np.random.default_rng(5), 2):
        _assert_valid(table)
