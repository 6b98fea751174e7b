"""Every refusal is a ValueError / TypeError that names the column or argument at fault."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _tables import FAST, mixed_frame, numeric_array
from scipy import sparse
from sklearn.exceptions import NotFittedError

from tabdiff import TabDiffClassifier, TabDiffImputer, TabDiffRegressor
from tabdiff.checkpoint import LoadedCheckpoint
from tabdiff.diffusion import GaussianDiffusion
from tabdiff.model import DenoiserConfig, TabularDenoiser

ESTIMATORS = [TabDiffImputer, TabDiffClassifier, TabDiffRegressor]


def _fit(estimator, X, y=None):
    return estimator.fit(X) if isinstance(estimator, TabDiffImputer) else estimator.fit(X, y)


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("X", [pd.DataFrame(), pd.DataFrame({"a": []}), np.zeros((0, 3))])
def test_empty_table(tiny, cls, X):
    with pytest.raises(ValueError, match="X is empty"):
        _fit(cls(tiny, **FAST), X, np.zeros(len(X)))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_infinite_values_name_the_column(tiny, cls):
    X = mixed_frame()
    X.loc[X.index[3], "f"] = np.inf
    with pytest.raises(ValueError, match="'f'.*infinite"):
        _fit(cls(tiny, **FAST), X, np.arange(len(X)) % 2)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_column_with_no_observed_value(tiny, cls):
    X = mixed_frame()
    X["f"] = np.nan
    with pytest.raises(ValueError, match="'f' has no observed value"):
        _fit(cls(tiny, **FAST), X, np.arange(len(X)) % 2)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_unsupported_dtypes(tiny, cls):
    X = mixed_frame()
    X["when"] = pd.Period("2024-01", freq="M")
    with pytest.raises(ValueError, match="'when'.*period.*to_timestamp"):
        _fit(cls(tiny, **FAST), X, np.arange(len(X)) % 2)
    with pytest.raises(TypeError, match="X has dtype object"):
        _fit(cls(tiny, **FAST), np.array([["a", 1]], dtype=object), [0])
    with pytest.raises(TypeError, match="X must be a pandas DataFrame or a 2-D array"):
        _fit(cls(tiny, **FAST), {"a": [1.0]}, [0])
    with pytest.raises(TypeError, match="sparse input is not supported"):
        _fit(cls(tiny, **FAST), sparse.csr_matrix(np.eye(3)), [0, 1, 0])
    with pytest.raises(ValueError, match="Reshape your data"):
        _fit(cls(tiny, **FAST), np.arange(3.0), [0, 1, 0])


@pytest.mark.parametrize("cls", [TabDiffClassifier, TabDiffRegressor])
def test_target_missing_or_with_nan(tiny, cls):
    X = mixed_frame()
    with pytest.raises(ValueError, match="requires y to be passed"):
        cls(tiny, **FAST).fit(X, None)
    y = np.arange(len(X), dtype=float)
    y[4] = np.nan
    with pytest.raises(ValueError, match="y has 1 missing value"):
        cls(tiny, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="y has 3 values but X has 30 rows"):
        cls(tiny, **FAST).fit(X, [1, 2, 3])


def test_regressor_target_must_be_finite_numbers(tiny):
    X = mixed_frame()
    with pytest.raises(ValueError, match="y must be numeric"):
        TabDiffRegressor(tiny, **FAST).fit(X, np.array(["a", "b"] * 15, dtype=object))
    y = np.arange(len(X), dtype=float)
    y[0] = -np.inf
    with pytest.raises(ValueError, match="y holds 1 infinite"):
        TabDiffRegressor(tiny, **FAST).fit(X, y)


def test_continuous_target_for_the_classifier(tiny):
    with pytest.raises(ValueError, match="Unknown label type"):
        TabDiffClassifier(tiny, **FAST).fit(numeric_array(), np.linspace(0, 1, 30))


def test_more_classes_than_the_checkpoint_has_channels(tiny):
    X = numeric_array(40, 3)
    model = TabDiffClassifier(tiny, **FAST).fit(X, np.arange(40) % 20)
    proba = model.predict_proba(X[:5])
    assert proba.shape == (5, 20) and np.allclose(proba.sum(axis=1), 1.0) and (proba > 0).all()
    assert set(model.predict(X[:5])) <= set(range(20))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_mismatched_columns_between_fit_and_predict(tiny, cls):
    X = mixed_frame()
    estimator = _fit(cls(tiny, **FAST), X, np.arange(len(X)) % 2)
    call = estimator.transform if cls is TabDiffImputer else estimator.predict
    with pytest.raises(ValueError, match=r"missing \['f'\], extra \['g'\]"):
        call(X.rename(columns={"f": "g"}))
    with pytest.raises(TypeError, match="fitted on a dataframe"):
        call(numeric_array(5, 8))
    array = numeric_array(30, 4)
    estimator = _fit(cls(tiny, **FAST), array, np.arange(30) % 2)
    call = estimator.transform if cls is TabDiffImputer else estimator.predict
    with pytest.raises(ValueError, match="X has 3 features, but TabDiff.* is expecting 4 features"):
        call(array[:, :3])


def test_numeric_column_given_text_at_predict(tiny):
    X = mixed_frame()
    imputer = TabDiffImputer(tiny, **FAST).fit(X)
    with pytest.raises(ValueError, match="'f' of X was numeric in fit"):
        imputer.transform(X.assign(f=["x"] * len(X)))


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"sampler": "magic"}, "sampler must be one of"),
        ({"n_steps": 0}, "n_steps must be an integer >= 1"),
        ({"n_samples": 0}, "n_samples must be an integer >= 1"),
        ({"n_ensemble": 0}, "n_ensemble must be an integer >= 1"),
        ({"n_ensemble": 2.5}, "n_ensemble must be an integer >= 1"),
        ({"max_rows": 1}, "max_rows must be an integer >= 2"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"context": "closest"}, "context must be one of"),
    ],
)
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_bad_settings_name_the_argument(tiny, cls, option, message):
    with pytest.raises(ValueError, match=message):
        _fit(cls(tiny, **option, **FAST), numeric_array(), np.arange(30) % 2)


def test_settings_changed_after_fit_are_checked_at_predict(tiny):
    imputer = TabDiffImputer(tiny, **FAST).fit(numeric_array())
    with pytest.raises(ValueError, match="n_samples must be"):
        imputer.set_params(n_samples=-1).transform(numeric_array())


def test_conditional_samplers_need_a_conditional_checkpoint():
    model = TabularDenoiser(DenoiserConfig(d_model=16, depth=1, n_heads=2, id_dim=4, conditional=False)).eval()
    diffusion = GaussianDiffusion(50, "cosine", learn_variance=True, prediction="x0", clip_x0=5.0)
    unconditional = LoadedCheckpoint(model, diffusion, {"encoder": {}})
    with pytest.raises(ValueError, match="use sampler='repaint'"):
        TabDiffImputer(unconditional, **FAST).fit(numeric_array())
    out = TabDiffImputer(unconditional, sampler="repaint", n_steps=2, jump_n_sample=1, **FAST).fit_transform(
        numeric_array()
    )
    assert not np.isnan(out).any()


def test_bad_checkpoint_argument_and_not_fitted(tiny, tmp_path):
    with pytest.raises(TypeError, match="checkpoint must be None"):
        TabDiffImputer(42, **FAST).fit(numeric_array())
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        TabDiffImputer(tmp_path / "nope.safetensors", **FAST).fit(numeric_array())
    with pytest.raises(NotFittedError):
        TabDiffImputer(tiny, **FAST).transform(numeric_array())
    with pytest.raises(ValueError, match="n must be an integer"):
        TabDiffImputer(tiny, **FAST).fit(numeric_array()).sample(numeric_array(), 0)


def test_a_sampler_blowing_up_is_an_error_not_nan_cells():
    model = TabularDenoiser(DenoiserConfig(d_model=16, depth=1, n_heads=2, id_dim=4, conditional=False)).eval()
    # 10 linear steps scaled to 1000/T: abar reaches ~0, and an eps-model's x0 = x_t / sqrt(abar) overflows
    broken = LoadedCheckpoint(model, GaussianDiffusion(10, learn_variance=True), {"encoder": {}})
    with pytest.raises(FloatingPointError, match="non-finite cells"):
        TabDiffImputer(broken, sampler="repaint", n_steps=2, jump_n_sample=1, **FAST).fit_transform(numeric_array())
