"""Generation baselines return tables shaped like the real one; the metrics separate good synthetic rows from bad."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabdiff.evaluation.generation import (
    GENERATION_BASELINES,
    _nearest_correlation,
    generate_baseline,
    generation_metrics,
)


def _table(n: int = 40) -> pd.DataFrame:
    """A small mixed table with missing cells in every column whose dtype can hold them."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "x": x,
            "y": 2 * x + rng.normal(scale=0.1, size=n),
            "k": rng.integers(0, 5, size=n),  # int64
            "m": pd.array(rng.integers(10, 13, size=n), dtype="Int64"),
            "c": pd.Categorical(rng.choice(["lo", "mid", "hi"], size=n), categories=["lo", "mid", "hi", "never"]),
            "s": rng.choice(["u", "v"], size=n).astype(object),
            "t": pd.Series(rng.choice(["p", "q", "r"], size=n), dtype="str"),
            "b": rng.random(n) < 0.5,
        }
    )
    frame.loc[::7, "x"] = np.nan
    frame.loc[1::5, "m"] = pd.NA
    frame.loc[2::6, "c"] = None
    frame.loc[3::9, "s"] = None
    frame.loc[4::8, "t"] = None
    return frame


def _population(n: int, seed: int) -> pd.DataFrame:
    """Rows of one fixed distribution: correlated numbers, a category tied to them, two targets."""
    rng = np.random.default_rng(seed)
    x, z = rng.normal(size=n), rng.normal(size=n)
    z = 0.6 * x + 0.8 * z
    return pd.DataFrame(
        {
            "x": x,
            "z": z,
            "k": rng.poisson(3, size=n),
            "c": pd.Categorical(np.where(x + 0.5 * rng.normal(size=n) > 0, "a", "b")),
            "s": rng.choice(["p", "q", "r"], size=n).astype(object),
            "y": x + z + 0.3 * rng.normal(size=n),  # regression target
            "label": np.where(x - z + 0.2 * rng.normal(size=n) > 0, "yes", "no").astype(object),  # classification
        }
    )


# --- baselines -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", GENERATION_BASELINES)
def test_baseline_returns_complete_rows_shaped_like_the_real_table(name):
    real = _table()
    before = real.copy(deep=True)
    out = generate_baseline(name, real, 57, seed=3)
    pd.testing.assert_frame_equal(real, before)  # the input is untouched
    assert list(out.columns) == list(real.columns) and out.index.equals(pd.RangeIndex(57))
    assert list(out.dtypes) == list(real.dtypes)  # incl. Int64, str and the category dtype with its unused category
    assert not out.isna().any().any()
    for column in ["c", "s", "t", "b"]:
        assert set(out[column]) <= set(real[column].dropna()), column  # only observed categories
    for column in ["k", "m"]:
        assert out[column].between(real[column].min(), real[column].max()).all(), column
    pd.testing.assert_frame_equal(out, generate_baseline(name, real, 57, seed=3))  # seeded
    assert not out.equals(generate_baseline(name, real, 57, seed=4))


def test_baseline_refuses_unknown_names_and_empty_columns():
    with pytest.raises(ValueError, match="choose from .*copula.*bootstrap.*smote"):
        generate_baseline("gan", _table(), 5, seed=0)
    with pytest.raises(ValueError, match="empty columns: \\['e'\\]"):
        generate_baseline("copula", _table().assign(e=np.nan), 5, seed=0)


def test_copula_reproduces_correlation_marginals_and_category_links():
    rng = np.random.default_rng(0)
    n = 2000
    xy = rng.multivariate_normal([0, 0], [[1, 0.8], [0.8, 1]], size=n)
    band = np.where(xy[:, 0] > 0.5, "hi", np.where(xy[:, 0] < -0.5, "lo", "mid"))
    real = pd.DataFrame(
        {
            "x": xy[:, 0],
            "y": xy[:, 1],
            "e": rng.exponential(size=n),
            "c": pd.Categorical(band, categories=["lo", "mid", "hi"]),
        }
    )
    out = generate_baseline("copula", real, n, seed=1)
    assert abs(np.corrcoef(out["x"], out["y"])[0, 1] - 0.8) < 0.05
    assert abs(np.corrcoef(out["x"], out["e"])[0, 1]) < 0.06
    levels = [0.05, 0.25, 0.5, 0.75, 0.95]
    np.testing.assert_allclose(np.quantile(out["e"], levels), np.quantile(real["e"], levels), atol=0.1)
    frequencies = out["c"].value_counts(normalize=True) - real["c"].value_counts(normalize=True)
    assert frequencies.abs().max() < 0.03
    means = out.groupby("c", observed=True)["x"].mean()
    assert means["lo"] < -0.5 < means["mid"] < 0.5 < means["hi"]  # the category follows x through the copula


def test_nearest_correlation_repairs_an_invalid_matrix():
    invalid = np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])  # pairwise-complete can give this
    assert np.linalg.eigvalsh(invalid).min() < 0
    repaired = _nearest_correlation(invalid)
    assert np.linalg.eigvalsh(repaired).min() > 0 and np.allclose(np.diag(repaired), 1)
    valid = np.array([[1.0, 0.5], [0.5, 1.0]])
    assert _nearest_correlation(valid) is valid


def test_smote_interpolates_between_real_rows_within_their_range():
    real = _table(60)
    out = generate_baseline("smote", real, 500, seed=0)
    for column in ["x", "y", "k", "m"]:
        assert out[column].between(real[column].min(), real[column].max()).all(), column
    line = pd.DataFrame({"x": np.arange(30.0), "y": 2 * np.arange(30.0) + 1, "c": ["a", "b"] * 15})
    out = generate_baseline("smote", line, 200, seed=0)
    np.testing.assert_allclose(out["y"], 2 * out["x"] + 1)  # a linear relation survives interpolation
    assert (out["x"] % 1 != 0).mean() > 0.9  # new points, not copies


def test_bootstrap_jitters_real_rows_without_copying_them():
    real = _population(300, 0)
    out = generate_baseline("bootstrap", real, 300, seed=0)
    gaps = np.abs(out["x"].to_numpy()[:, None] - real["x"].to_numpy()[None, :]).min(axis=1)
    assert (gaps > 0).all() and np.median(gaps) < 0.2 * real["x"].std()
    assert generation_metrics(real, _population(300, 1), out)["exact_copies"] == 0


# --- metrics -------------------------------------------------------------------------------------------------


def test_identical_rows_score_as_perfect_copies_and_inputs_stay_untouched():
    train = _population(300, 0).mask(np.random.default_rng(5).random((300, 7)) < 0.05)  # missing cells match too
    holdout = _population(300, 1).mask(np.random.default_rng(6).random((300, 7)) < 0.05)
    before = train.copy(deep=True)
    m = generation_metrics(train, holdout, train.copy(), target="y")
    pd.testing.assert_frame_equal(train, before)
    assert m["ks"] == 0 and m["tv"] == 0 and m["assoc_diff"] == 0
    assert m["exact_copies"] == 1 and m["holdout_exact_copies"] == 0
    assert m["dcr_synthetic"] == 0 and m["dcr_holdout"] > 0.5 and m["dcr_ratio"] == 0
    assert abs(m["c2st_auc"] - 0.5) < 0.1  # judged against the holdout, a copy of train is just another real sample


def test_exact_copies_compare_values_across_dtypes():
    train = _population(100, 0)
    synthetic = pd.concat([train.iloc[:40], _population(60, 1)], ignore_index=True)
    synthetic = synthetic.astype({"k": np.float64, "c": object})  # same values, other dtypes
    assert generation_metrics(train, train.iloc[:30], synthetic)["exact_copies"] == pytest.approx(0.4)
    nudged = synthetic.assign(x=synthetic["x"] + 1e-12)  # floats are compared exactly
    assert generation_metrics(train, train.iloc[:30], nudged)["exact_copies"] == 0


def test_tv_and_associations_on_hand_made_tables():
    train = pd.DataFrame({"c": list("aabb") * 10, "d": list("aabb") * 10})
    skewed = pd.DataFrame({"c": list("aaab") * 10, "d": list("aaab") * 10})  # each column 0.25 off, still V = 1
    m = generation_metrics(train, train, skewed)
    assert m["tv"] == pytest.approx(0.25) and m["assoc_diff"] == pytest.approx(0)
    independent = pd.DataFrame({"c": list("aabb") * 10, "d": list("abab") * 10})  # same marginals, V = 0
    m = generation_metrics(train, train, independent)
    assert m["tv"] == 0 and m["assoc_diff"] == pytest.approx(1)
    train = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0] * 10, "c": list("aabb") * 10})  # eta^2 = 4 / 5 (between / total)
    unlinked = pd.DataFrame({"x": [0.0, 3.0, 1.0, 2.0] * 10, "c": list("aabb") * 10})  # equal group means: eta = 0
    m = generation_metrics(train, train, unlinked)
    assert m["ks"] == 0 and m["tv"] == 0 and m["assoc_diff"] == pytest.approx(np.sqrt(0.8))


def test_a_shifted_copy_is_easy_to_detect():
    train = _population(400, 0)
    shifted = train.copy()
    for column in ["x", "z", "k", "y"]:
        shifted[column] = shifted[column] + 3 * train[column].std()
    m = generation_metrics(train, _population(400, 1), shifted)
    assert m["ks"] > 0.85 and m["c2st_auc"] > 0.95 and m["tv"] == 0


def test_a_fresh_sample_of_the_same_distribution_is_hard_to_detect():
    train, synthetic = _population(600, 0), _population(600, 1)
    train = train.mask(np.random.default_rng(3).random(train.shape) < 0.05)  # complete synthetic rows: no give-away
    m = generation_metrics(train, _population(600, 2), synthetic)
    assert abs(m["c2st_auc"] - 0.5) < 0.1
    assert m["ks"] < 0.1 and m["tv"] < 0.1 and m["assoc_diff"] < 0.08
    assert m["exact_copies"] == 0 and 0.8 < m["dcr_ratio"] < 1.25


def test_independently_shuffled_columns_keep_marginals_but_lose_associations():
    train = _population(600, 0)
    rng = np.random.default_rng(1)
    shuffled = pd.DataFrame({c: train[c].to_numpy()[rng.permutation(600)] for c in train.columns})
    shuffled["c"] = shuffled["c"].astype(train["c"].dtype)
    m = generation_metrics(train, _population(600, 2), shuffled)
    assert m["ks"] == 0 and m["tv"] == 0
    assert m["assoc_diff"] > 0.15 and m["c2st_auc"] > 0.7


@pytest.mark.parametrize("target,task", [("y", "regression"), ("label", "classification")])
def test_mle_ratio_is_one_for_a_fresh_sample_and_low_for_a_shuffled_target(target, task):
    train, holdout, fresh = _population(400, 0), _population(400, 2), _population(400, 1)
    m = generation_metrics(train, holdout, fresh, target=target)  # the task follows the target's dtype
    assert m["mle_real"] > 0.8 and abs(m["mle_ratio"] - 1) < 0.1
    shuffled = fresh.assign(**{target: fresh[target].to_numpy()[np.random.default_rng(0).permutation(400)]})
    assert generation_metrics(train, holdout, shuffled, target=target, task=task)["mle_ratio"] < 0.7


def test_categories_past_the_boosting_limit_are_lumped():
    train, holdout, synthetic = _population(400, 0), _population(400, 2), _population(400, 1)
    for offset, frame in enumerate([train, holdout, synthetic]):
        frame["id"] = [f"r{i}" for i in range(200 * offset, 200 * offset + 400)]  # 800 ids > 255 HGB categories
    m = generation_metrics(train, holdout, synthetic, target="label")
    assert 0.3 < m["c2st_auc"] < 0.7 and m["mle_ratio"] > 0.8


def test_metrics_not_applicable_are_nan():
    train = pd.DataFrame({"x": np.random.default_rng(0).normal(size=50)})
    m = generation_metrics(train, train.iloc[:20], train.iloc[::-1])
    assert np.isnan(m["tv"]) and np.isnan(m["assoc_diff"]) and np.isnan(m["mle_ratio"])
    assert m["ks"] == 0 and m["exact_copies"] == 1
    with pytest.raises(ValueError, match="synthetic lacks the train columns \\['x'\\]"):
        generation_metrics(train, train, train.rename(columns={"x": "w"}))
