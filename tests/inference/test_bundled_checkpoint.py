"""The checkpoint that ships in data/checkpoints loads by default and imputes a bundled table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from tabdiff import TabDiffImputer, load_pretrained
from tabdiff.inference.checkpoint import BUNDLED_CHECKPOINT


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
