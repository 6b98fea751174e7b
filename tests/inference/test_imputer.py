from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _tables import FAST, assert_known_cells_identical, mixed_frame, numeric_array

from tabdiff import TabDiffImputer
from tabdiff.inference.aggregate import centre_draws

SAMPLERS = {
    "ddim": {"sampler": "ddim"},
    "conditional": {"sampler": "conditional", "n_steps": 3},
    "repaint": {"sampler": "repaint", "n_steps": 4, "jump_length": 2, "jump_n_sample": 2},
}


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_dataframe_known_cells_bit_identical_dtypes_kept_no_nan(tiny, sampler):
    given = mixed_frame()
    before = given.copy(deep=True)
    out = TabDiffImputer(tiny, n_ensemble=2, **SAMPLERS[sampler], **FAST).fit_transform(given)
    assert_known_cells_identical(given, out)
    pd.testing.assert_frame_equal(given, before)  # the caller's table is untouched
    assert set(out["cat"]) <= {"lo", "mid", "hi", "never"} and set(out["s"]) <= {"x", "y", "z"}
    assert (out["f"][given["f"].isna()] != 0).all()  # decoded numbers, not left at a placeholder


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_array_in_array_out(tiny, sampler, dtype):
    given = numeric_array(dtype=dtype)
    before = given.copy()
    out = TabDiffImputer(tiny, n_ensemble=2, **SAMPLERS[sampler], **FAST).fit(given).transform(given)
    assert_known_cells_identical(given, out)
    assert np.array_equal(given, before, equal_nan=True)


def test_int_array_without_missing_cells_comes_back_equal(tiny):
    given = np.arange(12).reshape(4, 3)
    out = TabDiffImputer(tiny, **FAST).fit_transform(given)
    assert out.dtype == given.dtype and np.array_equal(out, given)


def test_transform_new_rows_uses_the_fitted_rows_as_context(tiny):
    train, test = mixed_frame(30, seed=0), mixed_frame(12, seed=1)
    out = TabDiffImputer(tiny, **FAST).fit(train).transform(test)
    assert_known_cells_identical(test, out)


def test_columns_in_another_order_come_back_in_that_order(tiny):
    given = mixed_frame()
    imputer = TabDiffImputer(tiny, **FAST).fit(given)
    shuffled = given[list(reversed(given.columns))]
    assert_known_cells_identical(shuffled, imputer.transform(shuffled))


def test_unseen_categories_are_missing_for_the_model_and_kept_in_the_output(tiny):
    train, test = mixed_frame(30, seed=0), mixed_frame(10, seed=1)
    test.loc[test.index[:2], "s"] = "brand-new"
    with pytest.warns(UserWarning, match="'s'.*never seen in fit"):
        out = TabDiffImputer(tiny, **FAST).fit(train).transform(test)
    assert (out["s"].iloc[:2] == "brand-new").all()
    assert_known_cells_identical(test, out)


def test_all_missing_column_at_transform_is_filled_in_the_fitted_dtype(tiny):
    train, test = mixed_frame(30, seed=0), mixed_frame(6, seed=1)
    test["s"] = np.nan  # e.g. an empty column read from a file: float64
    out = TabDiffImputer(tiny, **FAST).fit(train).transform(test)
    assert out["s"].dtype == train["s"].dtype and not out["s"].isna().any()


def test_random_state_reproduces_and_other_seeds_differ(tiny):
    given = mixed_frame()
    one = TabDiffImputer(tiny, sampler="conditional", n_steps=3, **FAST).fit_transform(given)
    two = TabDiffImputer(tiny, sampler="conditional", n_steps=3, **FAST).fit_transform(given)
    pd.testing.assert_frame_equal(one, two)
    other = TabDiffImputer(tiny, sampler="conditional", n_steps=3, progress=False, random_state=1).fit_transform(given)
    assert not one["f"].equals(other["f"])


def test_sample_gives_n_distinct_imputations(tiny):
    given = mixed_frame()
    draws = TabDiffImputer(tiny, sampler="conditional", n_steps=3, **FAST).fit(given).sample(given, 3)
    assert len(draws) == 3
    for draw in draws:
        assert_known_cells_identical(given, draw)
    assert not draws[0]["f"].equals(draws[1]["f"])
    with pytest.warns(UserWarning, match="conditional mean"):  # one-step ddim asked for draws: no draws
        TabDiffImputer(tiny, sampler="ddim", **FAST).fit(given).sample(given, 2)


def test_centre_draws_moves_the_mean_and_restores_the_spread_of_n_draws():
    draws = np.array([[0.0, 2.0, 5.0], [2.0, 4.0, 5.0]])  # two draws of three cells
    out = centre_draws(draws, np.array([10.0, 10.0, 1.0]), low=-100.0, high=100.0)
    np.testing.assert_allclose(out, [[10 - np.sqrt(2), 10 - np.sqrt(2), 1.0], [10 + np.sqrt(2), 10 + np.sqrt(2), 1.0]])
    assert centre_draws(draws, np.array([10.0, 10.0, 1.0]), low=0.0, high=10.5).max() == 10.5  # clipped
    rng = np.random.default_rng(0)  # many cells of n = 3 standard normal draws: the spread of one draw comes back
    wide = centre_draws(rng.normal(size=(3, 200_000)), np.zeros(200_000), low=-np.inf, high=np.inf)
    assert abs(wide.var() - 1.0) < 0.01
    with pytest.raises(ValueError, match="at least 2 draws"):
        centre_draws(draws[:1], np.zeros(3), low=0.0, high=1.0)


@pytest.mark.parametrize("n", [2, 5])
def test_draws_are_centred_on_the_one_pass_point_with_their_own_deviations(tiny, n):
    """draw_centre="point": the n draws' mean is what TabDiffImputer() fills in, and each draw keeps its deviation
    from the raw draws' mean, widened by sqrt(n / (n - 1)); draws inside the column's range are not clipped."""
    given = mixed_frame(40)
    options = {"sampler": "conditional", "n_steps": 3, "n_ensemble": 2, **FAST}
    raw = TabDiffImputer(tiny, draw_centre="draws", **options).fit(given).sample(given, n)
    centred = TabDiffImputer(tiny, **options).fit(given).sample(given, n)
    point = TabDiffImputer(tiny, n_ensemble=2, **FAST).fit_transform(given)
    holes = given["f"].isna().to_numpy()
    raw_f = np.stack([d["f"].to_numpy()[holes] for d in raw])
    centred_f = np.stack([d["f"].to_numpy()[holes] for d in centred])
    inside = (centred_f > given["f"].min()) & (centred_f < given["f"].max())
    expected = point["f"].to_numpy()[holes] + np.sqrt(n / (n - 1)) * (raw_f - raw_f.mean(axis=0))
    assert inside.mean() > 0.5
    np.testing.assert_allclose(centred_f[inside], expected[inside], rtol=1e-9, atol=1e-9)
    assert (centred_f >= given["f"].min()).all() and (centred_f <= given["f"].max()).all()
    for draw, plain in zip(centred, raw, strict=True):
        assert_known_cells_identical(given, draw)
        pd.testing.assert_series_equal(draw["cat"], plain["cat"])  # categorical draws are the sampler's
    assert_known_cells_identical(given, point)


@pytest.mark.filterwarnings("ignore:with sampler=.ddim. and n_steps=1")
def test_one_draw_or_a_one_pass_sampler_is_not_recentred(tiny):
    given = mixed_frame()
    for options, n in [({"sampler": "conditional", "n_steps": 3}, 1), ({"sampler": "ddim"}, 3)]:
        draws = {
            centre: TabDiffImputer(tiny, draw_centre=centre, **options, **FAST).fit(given).sample(given, n)
            for centre in ("point", "draws")
        }
        for a, b in zip(draws["point"], draws["draws"], strict=True):
            pd.testing.assert_frame_equal(a, b)


def test_draw_centre_is_checked(tiny):
    with pytest.raises(ValueError, match="draw_centre must be one of"):
        TabDiffImputer(tiny, draw_centre="median", **FAST).fit(mixed_frame())


def test_point_estimate_is_the_mean_of_the_draws_in_original_units(tiny):
    """n_samples draws of one member: transform's numeric cells are their mean after decoding each one."""
    given = mixed_frame()
    options = {"sampler": "conditional", "n_steps": 3, "n_ensemble": 1, "n_samples": 4, **FAST}
    imputer = TabDiffImputer(tiny, **options).fit(given)
    point = imputer.transform(given)
    holes = given["f"].isna().to_numpy()
    # the same seed draws the same plan and noise: four kept draws of one member average to the point value
    kept = imputer._inpaint_missing(given, given, 0, given.isna().to_numpy(), n_members=1, n_samples=4, keep_draws=True)
    j = given.columns.get_loc("f")
    np.testing.assert_allclose(point["f"].to_numpy()[holes], kept.draws[j][:, holes].mean(axis=0))


@pytest.mark.parametrize("context", ["random", "nearest"])
@pytest.mark.parametrize("shape", [(70, 6), (25, 11)])
def test_tables_above_the_limits_are_chunked_into_the_same_kind_of_output(tiny, shape, context):
    """max_rows=16 / max_cols=4: rows in chunks with context subsamples (or nearest rows), columns in groups."""
    n_rows, n_cols = shape
    given = pd.concat([mixed_frame(n_rows, seed=s).add_suffix(f"_{s}") for s in range(2)], axis=1).iloc[:, :n_cols]
    options = {"max_rows": 16, "max_cols": 4, "context": context, **FAST}
    out = TabDiffImputer(tiny, batch_size=3, **options).fit_transform(given)
    assert_known_cells_identical(given, out)
    array = numeric_array(n_rows, n_cols)
    assert_known_cells_identical(array, TabDiffImputer(tiny, **options).fit_transform(array))


def test_progress_bar_can_be_on(tiny, capsys):
    given = numeric_array(40, 3)
    TabDiffImputer(tiny, max_rows=16, batch_size=1, progress=True, random_state=0).fit_transform(given)
    assert "tabdiff impute" in capsys.readouterr().err
