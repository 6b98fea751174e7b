from __future__ import annotations

import numpy as np
import pytest

from tabdiff.inference.plan import plan_tables


@pytest.mark.parametrize(
    ("shape", "max_rows", "max_cols", "query_fraction"),
    [((10, 3), 16, 4, 1.0), ((100, 3), 16, 4, 1.0), ((100, 13), 16, 4, 0.5), ((7, 30), 16, 4, 1.0)],
)
def test_sub_tables_fit_the_limits_and_answer_every_target_cell_once(shape, max_rows, max_cols, query_fraction):
    rng = np.random.default_rng(0)
    target_mask = rng.random(shape) < 0.2
    known_mask = ~target_mask
    answered = np.zeros(shape, dtype=int)
    for table in plan_tables(target_mask, known_mask, max_rows=max_rows, max_cols=max_cols,
                             query_fraction=query_fraction, rng=rng):  # fmt: skip
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
