"""Draws by default: `sampler="auto"` makes point estimates in one pass and draws with the conditional sampler."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _tables import FAST, assert_known_cells_identical, mixed_frame

from tabdiff import TabDiffGenerator, TabDiffImputer, TabDiffRegressor, load_pretrained
from tabdiff.checkpoint import LoadedCheckpoint
from tabdiff.inference import engine
from tabdiff.inference.inpaint import DRAW_STEPS


@pytest.fixture(scope="module")
def bundled() -> LoadedCheckpoint:
    return load_pretrained(device="cpu")


def noisy_table(n_rows: int = 120, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """(given, truth, holes): y = x1 + x2 + noise of sd 1, a quarter of y hidden (the residual sd is 1)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_rows, 2))
    truth = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "y": x.sum(axis=1) + rng.normal(size=n_rows)})
    holes = rng.random(n_rows) < 0.25
    return truth.assign(y=truth["y"].mask(holes)), truth, holes


POINT = ("ddim", 1, True, "uniform")  # the one-pass point estimate
DRAWS = ("conditional", DRAW_STEPS, False, "quadratic")  # "auto" draws


@pytest.fixture
def calls(monkeypatch) -> list[tuple[str, int, bool, str]]:
    """(sampler, n_steps, denoise_last, spacing) of every sampler run of the engine."""
    seen: list[tuple[str, int, bool, str]] = []
    inpaint = engine.inpaint

    def recording(*args, **kwargs):
        seen.append((kwargs["sampler"], kwargs["n_steps"], kwargs["denoise_last"], kwargs["spacing"]))
        return inpaint(*args, **kwargs)

    monkeypatch.setattr(engine, "inpaint", recording)
    return seen


def test_default_draws_spread_as_the_noise_does_and_differ_from_the_point(bundled):
    """With the defaults, the draws of a hidden y spread by a sizeable share of the residual sd (1) around the
    one-pass point, far more than one-step "ddim" draws, which differ by the ensemble only."""
    given, _, holes = noisy_table()
    imputer = TabDiffImputer(bundled, **FAST).fit(given)
    point = imputer.transform(given)["y"].to_numpy()[holes]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # default draws are draws: no warning
        draws = np.stack([d["y"].to_numpy()[holes] for d in imputer.sample(given, 20)])  # (20, cells)
    with pytest.warns(UserWarning, match="conditional mean"):
        means = TabDiffImputer(bundled, sampler="ddim", **FAST).fit(given).sample(given, 20)
    ensemble = np.stack([d["y"].to_numpy()[holes] for d in means])
    spread = draws.std(axis=0)
    assert np.median(spread) > 0.4  # the residual sd is 1
    assert np.median(spread) > 3 * np.median(ensemble.std(axis=0))
    assert (np.abs(draws - point).mean(axis=0) > 0.2).all()  # every cell's draws move off the point
    assert len({draw.tobytes() for draw in draws}) == 20
    # centred on the point (draw_centre="point"), but for cells a draw of which is clipped into y's observed range
    low, high = given["y"].min(), given["y"].max()
    inside = ((draws > low) & (draws < high)).all(axis=0)
    assert inside.mean() > 0.8
    np.testing.assert_allclose(draws.mean(axis=0)[inside], point[inside], atol=1e-9)


def test_default_transform_is_the_one_pass_point(tiny, calls):
    given = mixed_frame()
    default = TabDiffImputer(tiny, **FAST).fit(given).transform(given)
    assert set(calls) == {POINT}
    one_pass = TabDiffImputer(tiny, sampler="ddim", n_steps=1, **FAST).fit(given).transform(given)
    pd.testing.assert_frame_equal(default, one_pass)


def test_auto_draws_by_the_conditional_sampler_and_centres_on_the_one_pass_point(tiny, calls):
    given = mixed_frame()
    imputer = TabDiffImputer(tiny, sampler="auto", **FAST).fit(given)
    imputer.sample(given, 4)
    assert calls == [DRAWS, POINT]  # the draws, then their centre
    calls.clear()
    imputer.set_params(n_steps=5).sample(given, 4)  # with "auto", n_steps is the draws' steps
    imputer.transform(given)  # and points stay one pass
    assert calls == [("conditional", 5, False, "quadratic"), POINT, POINT]


@pytest.mark.parametrize("sampler, n_steps", [("conditional", 2), ("ddim", 3)])
def test_an_explicit_sampler_serves_points_and_draws(tiny, calls, sampler, n_steps):
    given = mixed_frame()
    imputer = TabDiffImputer(tiny, sampler=sampler, n_steps=n_steps, **FAST).fit(given)
    imputer.transform(given)
    imputer.sample(given, 3)
    # transform, the draws, then the one-pass point the draws are centred on
    assert calls == [(sampler, n_steps, True, "uniform")] * 2 + [POINT]


def test_known_cells_are_bit_identical_in_every_default_draw(tiny):
    given = mixed_frame()
    draws = TabDiffImputer(tiny, **FAST).fit(given).sample(given, 5)
    for draw in draws:
        assert_known_cells_identical(given, draw)
    assert not draws[0]["f"].equals(draws[1]["f"])


@pytest.mark.parametrize("bad", ["fast", None, 3])
def test_a_bad_sampler_is_refused_by_name(tiny, bad):
    with pytest.raises(ValueError, match=r"sampler must be one of \['auto', 'ddim', 'conditional', 'repaint'\]"):
        TabDiffImputer(tiny, sampler=bad, **FAST).fit(mixed_frame())


def test_the_regressor_predicts_in_one_pass_and_draws_intervals(tiny, calls):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = X.sum(axis=1) + rng.normal(size=40)
    reg = TabDiffRegressor(tiny, n_ensemble=2, **FAST).fit(X[:30], y[:30])
    np.testing.assert_array_equal(
        reg.predict(X[30:]),
        TabDiffRegressor(tiny, sampler="ddim", n_ensemble=2, **FAST).fit(X[:30], y[:30]).predict(X[30:]),
    )
    calls.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bounds = reg.predict_quantiles(X[30:], [0.1, 0.9])
    assert set(calls) == {DRAWS}  # draw_centre="draws": no point run
    assert (bounds[:, 1] > bounds[:, 0]).all()


def test_the_generator_draws_rows_by_the_conditional_sampler(tiny, calls):
    """Its own default, the conditional sampler at 20 steps; "auto" gives it the draws' settings."""
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(30, 3)), columns=["a", "b", "c"])
    TabDiffGenerator(tiny, **FAST).fit(X).sample(5)
    assert calls and set(calls) == {("conditional", 20, True, "uniform")}
    calls.clear()
    TabDiffGenerator(tiny, sampler="auto", n_steps=None, **FAST).fit(X).sample(5)
    assert calls and set(calls) == {DRAWS}


def test_draws_of_one_table_share_one_fit_of_the_experts(tiny, monkeypatch):
    """The experts are fitted once for every draw and member of a table within the limits (engine.SharedExperts)."""
    with_experts = LoadedCheckpoint(tiny.model, tiny.diffusion, {**tiny.config, "experts": {"kind": "linear"}})
    fits: list[int] = []

    class Counting(engine.FittedExperts):
        def __init__(self, config, x_known, *args, **kwargs):
            fits.append(x_known.shape[0])
            super().__init__(config, x_known, *args, **kwargs)

    monkeypatch.setattr(engine, "FittedExperts", Counting)
    given = mixed_frame()
    imputer = TabDiffImputer(with_experts, batch_size=4, **FAST).fit(given)
    draws = imputer.sample(given, 10)
    assert fits == [1, 1]  # one fit for the 10 draws (3 batches), one for the 4 members of their centre
    for draw in draws:
        assert_known_cells_identical(given, draw)
