"""`experts=`: every estimator and the CLI run the shipped checkpoint with its experts (the default, as before they
left the network) or the network alone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from experts_outputs import outputs

from tabdiff.checkpoint import BUNDLED_CHECKPOINT
from tabdiff.inference import TabDiffImputer
from tabdiff.inference.cli import main
from tabdiff.inference.files import EXACT_FLOATS

PRE_MOVE = Path(__file__).parent / "data" / "pre_move_outputs.npz"
# the bundled weights PRE_MOVE was made with (`python tests/inference/experts_outputs.py`, code at ef83303); the
# experts' four zero mixing tensors were dropped from the file since, which leaves every other tensor as it was
PRE_MOVE_WEIGHTS = "654f7393c92e9e245af601d1"  # first 24 hex digits of the sha256 of the network's tensors


def network_digest() -> str:
    from safetensors.torch import load_file

    state = load_file(str(BUNDLED_CHECKPOINT))
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode() + state[name].numpy().tobytes())
    return digest.hexdigest()[:24]


@pytest.fixture(scope="module")
def with_experts() -> dict[str, np.ndarray]:
    return outputs()


def test_the_defaults_give_the_outputs_of_before_the_move(with_experts) -> None:
    if network_digest() != PRE_MOVE_WEIGHTS:
        pytest.skip("the bundled network changed since pre_move_outputs.npz was made: nothing to compare with")
    expected = np.load(PRE_MOVE)
    assert set(expected) == set(with_experts)
    for name, value in with_experts.items():
        if value.dtype.kind == "U":
            np.testing.assert_array_equal(value, expected[name], err_msg=name)
        else:
            # rtol 1e-5: the experts are now fitted once per set of cells in sorted order (engine.SharedExperts),
            # not once per draw in its own order; sums in another order move a draw by float32 rounding (1.4e-6)
            np.testing.assert_allclose(value, expected[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_experts_none_runs_the_network_alone_in_every_estimator(with_experts) -> None:
    alone = outputs(experts="none")
    for name, value in with_experts.items():
        assert value.shape == alone[name].shape, name
        assert (value != alone[name]).any(), f"{name}: experts='none' gave the default's answer"
    # the known cells are the table's either way
    air = pd.read_parquet(Path(BUNDLED_CHECKPOINT).parents[1] / "tables" / "airquality.parquet").iloc[:60]
    known = air.notna().to_numpy()
    np.testing.assert_array_equal(alone["impute_airquality"][known], air.to_numpy(dtype=float)[known])


def test_a_bad_experts_value_names_the_argument_and_the_choices() -> None:
    frame = pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": [0.5, 1.5, np.nan]})
    with pytest.raises(ValueError, match=r"experts must be one of \['checkpoint', 'none'\], got 'ridge'"):
        TabDiffImputer(experts="ridge", progress=False).fit(frame)


def test_the_cli_runs_the_network_alone_with_experts_none(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 0] + 0.1 * x[:, 1], "c": x[:, 2]})
    frame = frame.mask(rng.random(frame.shape) < 0.3)
    source = tmp_path / "t.csv"
    frame.to_csv(source, index=False)
    filled = {}
    for experts in ("checkpoint", "none"):
        out = tmp_path / f"{experts}.csv"
        assert main(["impute", str(source), "-o", str(out), "--experts", experts, "--seed", "0", "-q"]) == 0
        filled[experts] = pd.read_csv(out, **EXACT_FLOATS)
    missing = frame.isna().to_numpy()
    assert not np.allclose(filled["checkpoint"].to_numpy()[missing], filled["none"].to_numpy()[missing])
    for result in filled.values():
        np.testing.assert_array_equal(result.to_numpy()[~missing], frame.to_numpy()[~missing])
