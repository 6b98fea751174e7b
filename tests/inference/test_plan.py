from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics.pairwise import nan_euclidean_distances

from tabdiff.inference.plan import nan_euclidean, plan_tables


@pytest.mark.parametrize("context", ["random", "nearest"])
@pytest.mark.parametrize(
    ("shape", "max_rows", "max_cols", "query_fraction"),
    [((10, 3), 16, 4, 1.0), ((100, 3), 16, 4, 1.0), ((100, 13), 16, 4, 0.5), ((7, 30), 16, 4, 1.0)],
)
def test_sub_tables_fit_the_limits_and_answer_every_target_cell_once(
    shape, max_rows, max_cols, query_fraction, context
):
    rng = np.random.default_rng(0)
    target_mask = rng.random(shape) < 0.2
    known_mask = ~target_mask
    features = np.where(known_mask, rng.standard_normal(shape), np.nan)[:, :, None]  # (rows, cols, 1)
    answered = np.zeros(shape, dtype=int)
    for table in plan_tables(target_mask, known_mask, max_rows=max_rows, max_cols=max_cols,
                             query_fraction=query_fraction, rng=rng, context=context, features=features):  # fmt: skip
        r, c = table.shape
        assert r <= max_rows and c <= max_cols
        assert len(set(table.rows)) == r and len(set(table.cols)) == c  # no duplicates
        if shape[0] > max_rows:
            assert table.answer_rows.sum() <= max(1, int(max_rows * query_fraction))
        rows, cols = table.rows[table.answer_rows], table.cols[table.answer_cols]
        answered[np.ix_(rows, cols)] += target_mask[np.ix_(rows, cols)]
    assert (answered[target_mask] == 1).all()


def test_prediction_chunks_take_their_context_from_rows_with_known_cells():
    target_mask = np.zeros((60, 3), dtype=bool)
    target_mask[40:, 2] = True  # 20 test rows, 40 training rows
    known_mask = ~target_mask
    known_mask[:5] = False  # five rows with nothing known cannot be context
    tables = plan_tables(
        target_mask, known_mask, max_rows=16, max_cols=8, query_fraction=0.5, rng=np.random.default_rng(0)
    )
    for table in tables:
        context = table.rows[~table.answer_rows]
        assert len(table.rows) == 16 and not np.isin(context, np.arange(5)).any()


def test_nothing_to_inpaint_plans_nothing():
    mask = np.zeros((5, 3), dtype=bool)
    assert plan_tables(mask, ~mask, max_rows=4, max_cols=2, query_fraction=1.0, rng=np.random.default_rng(0)) == []


def test_nearest_context_groups_similar_query_rows_and_takes_each_ones_nearest_rows():
    """One feature x = row number: queries at x 0-9 and 100-109 (target column unknown there), chunks of 10."""
    n_rows = 200
    target_mask = np.zeros((n_rows, 2), dtype=bool)
    queries = np.r_[0:10, 100:110]
    target_mask[queries, 1] = True
    known_mask = ~target_mask
    features = np.stack([np.arange(n_rows, dtype=float), np.where(target_mask[:, 1], np.nan, 0.0)], axis=1)
    tables = plan_tables(target_mask, known_mask, max_rows=20, max_cols=2, query_fraction=0.5,
                         rng=np.random.default_rng(0), context="nearest", features=features[:, :, None])  # fmt: skip
    chunks = {tuple(sorted(t.rows[t.answer_rows])): set(t.rows[~t.answer_rows]) for t in tables}
    assert chunks == {
        tuple(range(10)): set(range(10, 20)),
        # every query row's nearest first: 99 and 110 (rank 0), then 98 and 111, ...
        tuple(range(100, 110)): set(range(95, 100)) | set(range(110, 115)),
    }


def test_nearest_context_needs_features_and_a_known_choice():
    mask = np.zeros((30, 2), dtype=bool)
    mask[:5, 1] = True
    with pytest.raises(ValueError, match="needs the cells' features"):
        plan_tables(mask, ~mask, max_rows=8, max_cols=2, query_fraction=0.5, rng=np.random.default_rng(0),
                    context="nearest")  # fmt: skip
    with pytest.raises(ValueError, match="context must be one of"):
        plan_tables(mask, ~mask, max_rows=8, max_cols=2, query_fraction=0.5, rng=np.random.default_rng(0),
                    context="closest")  # fmt: skip


def test_nan_euclidean_matches_scikit_learn_and_puts_rows_with_nothing_in_common_infinitely_far():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((7, 5)), rng.standard_normal((9, 5))
    a[rng.random(a.shape) < 0.3] = np.nan
    b[rng.random(b.shape) < 0.3] = np.nan
    a[0] = [1.0, np.nan, np.nan, np.nan, np.nan]
    b[0] = [np.nan, 2.0, 3.0, np.nan, np.nan]  # nothing known in common with a[0]
    expected = nan_euclidean_distances(a, b)
    got = nan_euclidean(a, b)
    assert got[0, 0] == np.inf and np.isnan(expected[0, 0])
    finite = ~np.isnan(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-4, atol=1e-4)
