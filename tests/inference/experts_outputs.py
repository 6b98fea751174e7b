"""Outputs of the bundled checkpoint through every estimator, small and fast; `python tests/inference/experts_outputs.py
OUT.npz` writes them (how `pre_move_outputs.npz` was made, with the code before the experts left the network)."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd

from tabdiff.data.manifest import bundled_tables
from tabdiff.inference import TabDiffClassifier, TabDiffGenerator, TabDiffImputer, TabDiffRegressor


def _table(name: str) -> pd.DataFrame:
    return next(t for t in bundled_tables("heldout") if t.name == name).load()


def outputs(**options) -> dict[str, np.ndarray]:
    """Each estimator's answer on a small held-out table; `options` go to every estimator (e.g. experts="none")."""
    common = {"n_ensemble": 1, "random_state": 0, "progress": False, **options}
    out = {}
    air = _table("airquality").iloc[:60]
    out["impute_airquality"] = TabDiffImputer(**common).fit_transform(air).to_numpy(dtype=float)
    penguins = _table("penguins").iloc[:40]
    penguins = penguins.mask(np.random.default_rng(0).random(penguins.shape) < 0.2)
    filled = TabDiffImputer(**common).fit_transform(penguins)
    out["impute_penguins_numeric"] = filled.select_dtypes("number").to_numpy(dtype=float)
    out["impute_penguins_categories"] = np.asarray(filled.select_dtypes(exclude="number").astype(str), dtype=str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        draws = TabDiffImputer(**common, sampler="conditional", n_steps=3).fit(air).sample(air, 2)
    out["draws_airquality"] = np.stack([d.to_numpy(dtype=float) for d in draws])
    glass = _table("glass")
    X, y = glass.drop(columns="type"), glass["type"]
    clf = TabDiffClassifier(**common).fit(X.iloc[:80], y.iloc[:80])
    out["proba_glass"] = np.asarray(clf.predict_proba(X.iloc[80:110]))
    diabetes = _table("diabetes")
    X, y = diabetes.drop(columns="progression"), diabetes["progression"]
    reg = TabDiffRegressor(**common).fit(X.iloc[:80], y.iloc[:80])
    out["predict_diabetes"] = np.asarray(reg.predict(X.iloc[80:110]), dtype=float)
    gen_options = {k: v for k, v in common.items() if k != "n_ensemble"}
    generator = TabDiffGenerator(**gen_options, n_steps=5).fit(air.dropna().iloc[:30])
    out["generate_airquality"] = generator.sample(5).to_numpy(dtype=float)
    return out


if __name__ == "__main__":
    np.savez_compressed(sys.argv[1], **outputs())
