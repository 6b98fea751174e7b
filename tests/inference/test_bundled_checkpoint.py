"""The checkpoint that ships in data/checkpoints loads by default and imputes a bundled table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score

from tabdiff import TabDiffImputer, TabDiffRegressor, load_pretrained
from tabdiff.checkpoint import BUNDLED_CHECKPOINT


def test_bundled_checkpoint_loads_by_default_with_its_card():
    loaded = load_pretrained(device="cpu")
    assert loaded.model.config.d_model == 64 and loaded.model.config.conditional
    assert loaded.diffusion.prediction == "x0" and loaded.diffusion.learn_variance
    sidecar = json.loads(BUNDLED_CHECKPOINT.with_suffix(".json").read_text())
    assert sidecar["run"]["global_step"] > 0
    assert BUNDLED_CHECKPOINT.with_suffix(".md").exists()


def test_bundled_checkpoint_imputes_a_held_out_table():
    frame = pd.read_parquet(BUNDLED_CHECKPOINT.parents[1] / "tables" / "airquality.parquet")
    before = frame.copy()
    filled = TabDiffImputer(progress=False, random_state=0).fit_transform(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert not filled.isna().any().any()
    observed = frame.notna().to_numpy()
    assert np.array_equal(filled.to_numpy()[observed], frame.to_numpy()[observed])
    assert list(filled.dtypes) == list(frame.dtypes)


def test_nearest_context_helps_where_similar_rows_have_similar_targets():
    """1,000 training rows seen 128 at a time: a random context holds few rows like a chunk's queries, the
    nearest rows hold many; the target is a smooth but non-linear function of two of four features."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1500, 4))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 + 0.1 * rng.standard_normal(1500)
    r2 = {}
    for context in ("random", "nearest"):
        model = TabDiffRegressor(max_rows=128, context=context, n_ensemble=2, progress=False, random_state=0)
        r2[context] = r2_score(y[1000:], model.fit(X[:1000], y[:1000]).predict(X[1000:]))
    assert r2["nearest"] > r2["random"] + 0.15, r2
