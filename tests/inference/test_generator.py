"""TabDiffGenerator: new rows in the fitted table's columns and dtypes, conditions kept exactly, chunked plans
that use only real rows as context, and (with the bundled checkpoint) rows that keep a table's structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _tables import FAST, mixed_frame
from hypothesis import given, settings
from hypothesis import strategies as st

from tabdiff.inference.generator import TabDiffGenerator
from tabdiff.inference.plan import plan_generation
from tabdiff.resources import resource_dir


def test_rows_have_the_fitted_columns_dtypes_and_categories(tiny):
    X = mixed_frame(40)
    before = X.copy()
    out = TabDiffGenerator(tiny, n_steps=3, **FAST).fit(X).sample(25)
    pd.testing.assert_frame_equal(X, before)  # the input is untouched
    assert list(out.columns) == list(X.columns) and out.index.equals(pd.RangeIndex(25))
    assert out.dtypes.to_dict() == X.dtypes.to_dict()
    assert not out.isna().any().any()
    assert set(out["cat"]) <= {"lo", "mid", "hi"}  # only categories fit saw ("never" is declared, not seen)
    assert set(out["s"]) <= {"x", "y", "z"} and set(out["obj"]) <= {"u", "v"}


def test_conditions_come_back_exactly_and_the_rest_is_generated(tiny):
    X = mixed_frame(40)
    values = np.linspace(-20, 20, 12)
    out = TabDiffGenerator(tiny, n_steps=2, **FAST).fit(X).sample(12, conditions={"cat": "hi", "f": values})
    assert (out["cat"] == "hi").all() and out["cat"].dtype == X["cat"].dtype
    assert out["f"].tolist() == values.tolist()
    assert not out.isna().any().any()


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ({"nope": 1}, "'nope'"),
        ({"cat": "huge"}, "not among the categories fit saw"),
        ({"s": "w"}, "not among the categories fit saw"),
        ({"f": [1.0, 2.0]}, "n_rows=5"),
        ({"f": [1.0, None, 2.0, 3.0, 4.0]}, "missing value"),
        ({"i": "many"}, "do not fit its dtype"),
    ],
)
def test_bad_conditions_name_the_column(tiny, conditions, message):
    generator = TabDiffGenerator(tiny, n_steps=1, **FAST).fit(mixed_frame(20))
    with pytest.raises(ValueError, match=message):
        generator.sample(5, conditions=conditions)


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"new_fraction": 1.0}, "new_fraction"), ({"max_rows": 1}, "max_rows")]
)
def test_bad_parameters_are_refused(tiny, kwargs, message):
    with pytest.raises(ValueError, match=message):
        TabDiffGenerator(tiny, **kwargs, **FAST).fit(mixed_frame(20)).sample(3)


def test_bad_row_counts_are_refused(tiny):
    generator = TabDiffGenerator(tiny, n_steps=1, **FAST).fit(mixed_frame(20))
    for n_rows in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n_rows"):
            generator.sample(n_rows)


def test_same_seed_same_rows_and_another_seed_other_rows(tiny):
    X = mixed_frame(30)
    a = TabDiffGenerator(tiny, n_steps=2, **FAST).fit(X).sample(10)
    b = TabDiffGenerator(tiny, n_steps=2, **FAST).fit(X).sample(10)
    c = TabDiffGenerator(tiny, n_steps=2, progress=False, random_state=1).fit(X).sample(10)
    pd.testing.assert_frame_equal(a, b)
    assert not a["f"].equals(c["f"])


def test_many_rows_and_many_columns_are_made_in_chunks_and_groups(tiny):
    X = mixed_frame(30)
    out = TabDiffGenerator(tiny, n_steps=1, sampler="ddim", max_rows=12, max_cols=4, **FAST).fit(X)
    with pytest.warns(UserWarning, match="one-pass estimate"):
        rows = out.sample(50)
    assert rows.shape == (50, X.shape[1]) and not rows.isna().any().any()


def test_array_input_gives_an_array_of_its_dtype(tiny):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 9, size=(30, 3))
    out = TabDiffGenerator(tiny, n_steps=2, **FAST).fit(X).sample(7, conditions={1: 4})
    assert isinstance(out, np.ndarray) and out.shape == (7, 3) and out.dtype == X.dtype
    assert (out[:, 1] == 4).all()


@settings(max_examples=40, deadline=None)
@given(
    n_real=st.integers(1, 60),
    n_new=st.integers(1, 120),
    n_cols=st.integers(1, 8),
    max_rows=st.integers(2, 40),
    new_fraction=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**16),
)
def test_plan_answers_every_new_row_once_with_real_rows_as_context(n_real, n_new, n_cols, max_rows, new_fraction, seed):
    rng = np.random.default_rng(seed)
    n = n_real + n_new
    known = np.zeros((n, n_cols), dtype=bool)
    known[:n_real] = rng.random((n_real, n_cols)) < 0.7
    known[0] = True  # a real row with a known cell in every column
    target = np.zeros_like(known)
    target[n_real:] = True
    context = np.arange(n) < n_real
    tables = plan_generation(
        target, known, context_rows=context, max_rows=max_rows, max_cols=8, new_fraction=new_fraction, rng=rng
    )
    answered = np.concatenate([t.rows[t.answer_rows] for t in tables])
    assert sorted(answered.tolist()) == list(range(n_real, n))  # every new row exactly once
    per_chunk = max(1, min(int(max_rows * new_fraction), int(known[:n_real].any(axis=1).sum())))
    for t in tables:
        assert len(t.rows) <= max(max_rows, per_chunk) and len(set(t.rows.tolist())) == len(t.rows)
        assert t.answer_rows.sum() <= per_chunk
        assert context[t.rows[~t.answer_rows]].all()  # context: real rows only, never other new rows
        assert t.answer_cols.all() and sorted(t.cols.tolist()) == list(range(n_cols))


def test_plan_fills_a_wide_table_with_known_columns_first():
    n_real, n_new, n_cols = 20, 10, 12
    known = np.ones((n_real + n_new, n_cols), dtype=bool)
    known[n_real:] = False
    known[n_real:, [9, 10]] = True  # conditions / columns generated earlier
    target = np.zeros_like(known)
    target[n_real:, :3] = True
    tables = plan_generation(
        target, known, context_rows=np.arange(30) < n_real, max_rows=64, max_cols=6, new_fraction=0.5,
        rng=np.random.default_rng(0),
    )  # fmt: skip
    for t in tables:
        assert len(t.cols) == 6 and {0, 1, 2, 9, 10} <= set(t.cols.tolist())
        assert set(t.cols[t.answer_cols].tolist()) == {0, 1, 2}


@pytest.mark.parametrize("n_new", [60, 700])
def test_bundled_model_keeps_a_strong_relation_and_follows_a_condition(n_new):
    """y = 2x + noise (corr 0.99): generated rows keep the relation, and rows conditioned on a high x get a high y.
    700 rows exceed max_rows=512, so they come in chunks with fresh context subsamples."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    X = pd.DataFrame({"x": x, "y": 2 * x + rng.normal(scale=0.2, size=200), "z": rng.normal(size=200)})
    generator = TabDiffGenerator(**FAST).fit(X)
    out = generator.sample(n_new)
    assert out[["x", "y"]].corr().iloc[0, 1] > 0.8
    assert abs(out[["x", "z"]].corr().iloc[0, 1]) < 0.3
    assert 0.5 < out["x"].std() < 1.5
    high = generator.sample(30, conditions={"x": 1.5})
    assert abs(high["y"].mean() - 3.0) < 1.0


def test_rows_start_regenerates_every_cell_and_matching_gives_the_fitted_marginals(tiny):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=60), "y": rng.exponential(size=60), "k": rng.integers(0, 3, 60)})
    raw = TabDiffGenerator(tiny, n_steps=2, match_marginals=False, **FAST).fit(X).sample(60)
    assert not np.isin(raw["x"], X["x"]).any() and not np.isin(raw["y"], X["y"]).any()  # no starting cell kept
    matched = TabDiffGenerator(tiny, n_steps=2, **FAST).fit(X).sample(60)
    # rank for rank the fitted quantiles: the model's order, the fitted marginal
    assert (np.argsort(matched["x"].to_numpy()) == np.argsort(raw["x"].to_numpy())).all()
    np.testing.assert_allclose(np.sort(matched["x"]), np.quantile(X["x"], (np.arange(60) + 0.5) / 60))
    assert set(matched["k"]) <= {0, 1, 2} and matched["k"].dtype == X["k"].dtype  # few levels: observed values
    few = TabDiffGenerator(tiny, n_steps=2, **FAST).fit(X).sample(10, conditions={"k": 1})
    assert not np.isin(few["x"], X["x"]).any()  # under 20 conditioned rows: the model's values as they are


@pytest.fixture
def hidden_per_fill(monkeypatch) -> list[np.ndarray]:
    """The missing-cell mask of each `TabDiffGenerator._fill` call (one per sampler round), in call order."""
    hidden, fill = [], TabDiffGenerator._fill

    def recording(self, masked, **kwargs):
        hidden.append(masked.isna().to_numpy())
        return fill(self, masked, **kwargs)

    monkeypatch.setattr(TabDiffGenerator, "_fill", recording)
    return hidden


@pytest.mark.parametrize("rounds", [2, 3, 5])
def test_each_round_regenerates_its_own_part_of_every_row(tiny, hidden_per_fill, rounds):
    """rounds=k: the cells are split at random into k parts, one hidden per round given the rest; every cell
    but a condition's is hidden exactly once."""
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(80, 6)), columns=list("abcdef"))
    hidden = hidden_per_fill
    TabDiffGenerator(tiny, n_steps=1, rounds=rounds, **FAST).fit(X).sample(300, conditions={"c": 0.5})
    assert len(hidden) == rounds
    times = np.sum(hidden, axis=0)
    assert (times[:, 2] == 0).all() and (np.delete(times, 2, axis=1) == 1).all()
    shares = [h.sum() / (300 * 5) for h in hidden]
    np.testing.assert_allclose(shares, 1 / rounds, atol=0.03)


@pytest.mark.parametrize("start", ["rows", "blank"])
def test_every_sampler_run_draws_from_a_stream_of_its_own(tiny, monkeypatch, start):
    """Rounds, column groups and the target round each get their own random stream (the same ones again for the same
    random_state): runs that shared one drew the same noise at the same sub-table positions, so a cell generated
    later copied the noise of one generated earlier."""
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 6)), columns=list("abcdef"))
    firsts, inpaint = [], TabDiffGenerator._inpaint

    def recording(self, *args, rng=None, **kwargs):
        firsts.append(np.random.default_rng(rng.bit_generator.state["state"]["state"]).random())
        return inpaint(self, *args, rng=rng, **kwargs)

    monkeypatch.setattr(TabDiffGenerator, "_inpaint", recording)
    generator = TabDiffGenerator(tiny, n_steps=1, start=start, rounds=3, max_cols=4, target="f", **FAST).fit(X)
    generator.sample(10)
    runs = len(firsts)
    assert runs == (3 if start == "rows" else 1) * 3 + 1  # 6 columns in groups of 2, then the target
    assert len(set(firsts)) == runs
    generator.sample(10)
    assert firsts[runs:] == firsts[:runs]


def test_target_round_hides_only_the_target_after_the_rounds(tiny, hidden_per_fill):
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(50, 4)), columns=list("abcd"))
    hidden = hidden_per_fill
    generator = TabDiffGenerator(tiny, n_steps=1, target="c", **FAST).fit(X)
    out = generator.sample(20)
    assert len(hidden) == 3 and (hidden[2][:, 2]).all() and not np.delete(hidden[2], 2, axis=1).any()
    assert not out.isna().any().any()
    hidden.clear()
    generator.sample(20, conditions={"c": 0.0})  # a condition column is kept as given: no target round
    assert len(hidden) == 2


@pytest.mark.parametrize(("target", "message"), [("nope", "target 'nope' is not a column"), ("id", "identifier")])
def test_a_bad_target_is_refused_by_name(tiny, target, message):
    X = pd.DataFrame({"x": np.arange(30.0), "id": [f"r{i}" for i in range(30)]})
    with pytest.raises(ValueError, match=message):
        TabDiffGenerator(tiny, n_steps=1, target=target, **FAST).fit(X).sample(3)


def test_bundled_model_regenerates_the_target_from_its_own_row():
    """On the bundled diabetes table (progression correlates 0.19 with age, 0.59 with bmi), target="progression"
    draws it once more given each new row. When that run shared the first round's random stream, progression
    followed the noise age was generated with (correlation 0.6 with age on these 200 rows)."""
    X = pd.read_parquet(resource_dir("data") / "tables" / "diabetes.parquet").iloc[:200]
    out = TabDiffGenerator(target="progression", **FAST).fit(X).sample(200)
    corr = out.corr()["progression"]
    assert abs(corr["age"]) < 0.3 and corr["bmi"] > 0.25


def test_blank_start_and_bad_start_or_rounds(tiny):
    X = mixed_frame(30)
    out = TabDiffGenerator(tiny, start="blank", n_steps=2, **FAST).fit(X).sample(8)
    assert out.shape == (8, X.shape[1]) and not out.isna().any().any()
    for kwargs, message in (({"start": "noise"}, "start must be"), ({"rounds": 1}, "rounds must be")):
        with pytest.raises(ValueError, match=message):
            TabDiffGenerator(tiny, **kwargs, **FAST).fit(X).sample(3)


def test_categories_take_the_fitted_shares_by_quota_without_conditions(tiny):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=100), "k": np.repeat(["a", "b", "c"], [70, 25, 5])})
    out = TabDiffGenerator(tiny, start="blank", n_steps=2, **FAST).fit(X).sample(100)
    assert out["k"].value_counts().to_dict() == {"a": 70, "b": 25, "c": 5}  # the fitted counts, exactly
    rows = TabDiffGenerator(tiny, n_steps=2, **FAST).fit(X).sample(200)  # start="rows": each round by quota
    assert abs(rows["k"].value_counts(normalize=True)["a"] - 0.7) < 0.05
    raw = TabDiffGenerator(tiny, start="blank", n_steps=2, match_marginals=False, **FAST).fit(X).sample(100)
    assert raw["k"].value_counts().to_dict() != {"a": 70, "b": 25, "c": 5}  # the random tiny model's own draws


def test_conditioned_rows_start_from_and_take_the_marginals_of_the_rows_that_hold_the_condition(tiny):
    """Two groups far apart: rows conditioned on a group start from that group's rows and get its quantiles,
    rank for rank, even from a random model; a numeric condition takes the nearest 5% of the rows."""
    rng = np.random.default_rng(1)
    group = np.repeat(["a", "b"], 50)
    X = pd.DataFrame(
        {"k": group, "x": np.where(group == "a", 5.0, -5.0) + rng.normal(size=100), "z": rng.normal(size=100)}
    )
    generator = TabDiffGenerator(tiny, n_steps=2, **FAST).fit(X)
    out = generator.sample(40, conditions={"k": "a"})
    assert (out["k"] == "a").all()
    in_a = X.loc[X["k"] == "a", "x"].to_numpy()
    np.testing.assert_allclose(np.sort(out["x"]), np.quantile(in_a, (np.arange(40) + 0.5) / 40))
    references = generator._reference_groups({"k": pd.Series(["a"] * 3 + ["b"] * 2, dtype=X["k"].dtype)}, 5)
    assert [(m.tolist(), r.tolist()) for m, r in references] == [
        ([0, 1, 2], list(range(50))),
        ([3, 4], list(range(50, 100))),
    ]
    ((members, nearest),) = generator._reference_groups({"z": pd.Series([0.1] * 4)}, 4)
    assert members.tolist() == [0, 1, 2, 3]
    assert set(nearest) == set(np.argsort(np.abs(X["z"].to_numpy() - 0.1))[:5])  # 5% of 100 rows
    unconditioned = generator.sample(40)
    assert unconditioned["x"].min() < 0 < unconditioned["x"].max()  # the whole table's marginal instead
