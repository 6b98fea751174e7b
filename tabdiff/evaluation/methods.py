"""tabdiff as an evaluation method: a named sampler setting run through the scikit-learn-style estimators.

Every tabdiff figure of the evaluation goes through the estimators of `tabdiff.inference`
(`TabDiffImputer`, `TabDiffClassifier`, `TabDiffRegressor`, `TabDiffGenerator`), so it measures what a user gets.
A setting's `experts` runs the checkpoint with its in-context experts ("checkpoint") or the network alone ("none").

Regression intervals come from `predict_quantiles` with the same setting: with sampler "auto" (the estimators'
default) its draws are the conditional sampler's, while points stay one pass. A setting that sets one-step "ddim"
for everything gets "draws" that are the model's conditional-mean estimates, so those intervals only hold the
ensemble's spread (they under-cover).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tabdiff.checkpoint import LoadedCheckpoint, load_exported
from tabdiff.evaluation.supervised import SupervisedTask, align_proba
from tabdiff.evaluation.zero_shot import ImputationTask
from tabdiff.experts import ExpertChoice
from tabdiff.inference import TabDiffClassifier, TabDiffGenerator, TabDiffImputer, TabDiffRegressor
from tabdiff.inference.inpaint import DEFAULT_STEPS, DRAW_STEPS, SamplerChoice
from tabdiff.inference.plan import ContextChoice
from tabdiff.resources import resource_dir

BUNDLED = resource_dir("data") / "checkpoints" / "tabdiff-small.safetensors"


@dataclass(frozen=True)
class TabDiffSetting:
    """One sampler setting of the estimators; `name` is the method's name in the results."""

    name: str = "tabdiff"
    experts: ExpertChoice = "checkpoint"  # "checkpoint": its in-context experts; "none": the network alone
    sampler: SamplerChoice = "auto"  # "auto" | "ddim" | "conditional" | "repaint" (tabdiff.inference.inpaint); auto:
    # one-pass ddim for points, the conditional sampler for draws (the estimators' default)
    n_steps: int | None = None  # sampler steps (repaint: about n_steps * jump_n_sample denoiser calls); None = the
    # sampler's default (auto: 1 for points, DRAW_STEPS for draws)
    jump_length: int = 10  # repaint: steps between resampling rounds
    jump_n_sample: int = 10  # repaint: resampling rounds
    n_samples: int = 1  # draws averaged per ensemble member
    n_ensemble: int = 4  # row/column permutations (fresh column ids) averaged
    max_rows: int = 512  # rows per sub-table the model sees (larger tables are chunked)
    context: ContextChoice = "random"  # a chunk's context rows: "random" or "nearest" (the estimators' `context`)
    adapt_steps: int = 0  # fine-tuning steps on the table itself before inpainting (0: zero-shot)
    adapt_lr: float = 1e-3  # their learning rate
    rounds: int = 2  # generation only: TabDiffGenerator's regeneration rounds (start="rows")
    target: bool = False  # generation only: TabDiffGenerator(target=<the table's target>) where the table has one
    blend: tuple[str, ...] = ()  # imputation only: classical imputers blended with the model (TabDiffImputer's `blend`)
    blend_holdout: float = 0.1  # imputation only: share of known numeric cells hidden to fit the blend's weights
    draw_centre: str | None = None  # multiple imputation and regression intervals: the estimators' `draw_centre`
    # ("point" or "draws"); None = each estimator's default

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[\w.+=,\-\[\]]+", self.name):
            raise ValueError(f"method name {self.name!r}: use letters, digits and _ . + = , - [ ] only")
        object.__setattr__(self, "blend", tuple(self.blend))  # a list from a config

    def estimator_kwargs(self) -> dict:
        """Arguments every estimator takes (the imputation-only and generation-only ones left out)."""
        return {
            k: v
            for k, v in asdict(self).items()
            if k not in ("name", "rounds", "target", "blend", "blend_holdout", "draw_centre")
        }

    def draw_kwargs(self) -> dict:
        """`draw_centre` for the estimators that draw (imputer, regressor) when the setting names one."""
        return {} if self.draw_centre is None else {"draw_centre": self.draw_centre}

    def steps(self, *, draws: bool = False) -> tuple[str, int]:
        """(sampler, n_steps) the estimators run for point estimates, or with `draws` for draws."""
        if self.sampler == "auto":
            return ("conditional", self.n_steps or DRAW_STEPS) if draws else ("ddim", 1)
        return self.sampler, self.n_steps or DEFAULT_STEPS[self.sampler]

    def denoiser_calls(self, *, draws: bool = False) -> int:
        """Denoiser calls per sub-table for a point estimate (n_samples x n_ensemble runs), or with `draws` per
        draw (RePaint's jumps included), for labels and plots."""
        sampler, n_steps = self.steps(draws=draws)
        per_run = n_steps * (self.jump_n_sample if sampler == "repaint" else 1)
        return per_run if draws else per_run * self.n_samples * self.n_ensemble


def load_checkpoint(path: str | Path | None, device: str = "cpu") -> LoadedCheckpoint:
    """`path`, or the bundled checkpoint when None, with a message that says what to do when it is missing."""
    path = Path(path) if path else BUNDLED
    if not path.exists():
        raise FileNotFoundError(
            f"no checkpoint at {path}; pass checkpoint=PATH (an exported .safetensors with its .json, or a "
            f"tabdiff .ckpt), or evaluate the baselines only with tabdiff.settings=[] tabdiff.sweep=[]"
        )
    return load_exported(path, device=device)


def tabdiff_impute(
    checkpoint: LoadedCheckpoint,
    setting: TabDiffSetting,
    task: ImputationTask,
    *,
    seed: int,
    device: str | None = "cpu",
) -> pd.DataFrame:
    """The task's table with every unknown cell imputed by tabdiff with `setting`."""
    imputer = TabDiffImputer(
        checkpoint=checkpoint, **setting.estimator_kwargs(), blend=setting.blend, blend_holdout=setting.blend_holdout,
        device=device, progress=False, random_state=seed,
    )  # fmt: skip
    return imputer.fit_transform(task.given)


def tabdiff_sample(
    checkpoint: LoadedCheckpoint, setting: TabDiffSetting, task: ImputationTask, n: int, *, seed: int,
    device: str | None = "cpu",
) -> list[pd.DataFrame]:  # fmt: skip
    """n imputations of the task's table (`TabDiffImputer.sample`: each draw its own ensemble plan and noise)."""
    imputer = TabDiffImputer(
        checkpoint=checkpoint, **setting.estimator_kwargs(), blend=setting.blend, blend_holdout=setting.blend_holdout,
        **setting.draw_kwargs(), device=device, progress=False, random_state=seed,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the one-step-ddim note: scored as it is
        return imputer.fit(task.given).sample(task.given, n)


def tabdiff_classify(
    checkpoint: LoadedCheckpoint, setting: TabDiffSetting, task: SupervisedTask, *, seed: int, device: str = "cpu"
) -> np.ndarray:
    """(test rows, len(task.classes)) class probabilities."""
    model = TabDiffClassifier(
        checkpoint=checkpoint, **setting.estimator_kwargs(), device=device, progress=False, random_state=seed
    )
    model.fit(task.X_train, task.y_train)
    return align_proba(np.asarray(model.predict_proba(task.X_test)), list(model.classes_), task.classes)


def tabdiff_regress(
    checkpoint: LoadedCheckpoint,
    setting: TabDiffSetting,
    task: SupervisedTask,
    *,
    seed: int,
    interval: float,
    device: str | None = "cpu",
    quantiles: bool = True,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(prediction, lower, upper) on the test rows; the bounds are the central `interval` quantiles
    (None without `quantiles`)."""
    model = TabDiffRegressor(
        checkpoint=checkpoint, **setting.estimator_kwargs(), **setting.draw_kwargs(), device=device, progress=False,
        random_state=seed,
    )  # fmt: skip
    model.fit(task.X_train, task.y_train)
    pred = np.asarray(model.predict(task.X_test), dtype=np.float64)
    if not quantiles:
        return pred, None, None
    q = [(1 - interval) / 2, (1 + interval) / 2]
    with warnings.catch_warnings():  # the one-step-ddim warning: the module docstring says what it means
        warnings.simplefilter("ignore", UserWarning)
        bounds = np.asarray(model.predict_quantiles(task.X_test, q), dtype=np.float64)  # (n, 2)
    return pred, bounds[:, 0], bounds[:, 1]


def tabdiff_generate(
    checkpoint: LoadedCheckpoint, setting: TabDiffSetting, train: pd.DataFrame, n_rows: int, *, seed: int,
    device: str | None = "cpu", target: str | None = None,
) -> pd.DataFrame:  # fmt: skip
    """n_rows new rows like `train`'s (`TabDiffGenerator`; the setting's n_samples / n_ensemble / context do not
    apply); a setting with `target` passes `target` (the table's label column, None for none) to the generator."""
    kwargs = {k: v for k, v in setting.estimator_kwargs().items() if k not in ("n_samples", "n_ensemble", "context")}
    generator = TabDiffGenerator(
        checkpoint=checkpoint,
        **kwargs,
        rounds=setting.rounds,
        target=target if setting.target else None,
        device=device,
        progress=False,
        random_state=seed,
    )
    return generator.fit(train).sample(n_rows)


def warm_up(checkpoint: LoadedCheckpoint, *, device: str = "cpu") -> None:
    """One untimed imputation of a 4 x 2 table, so that one-time set-up costs land in no method's time."""
    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    known = np.array([[True, True], [False, True], [True, False], [True, True]])
    task = ImputationTask("warm-up", frame, known, ["a", "b"])
    tabdiff_impute(checkpoint, TabDiffSetting(n_ensemble=1), task, seed=0, device=device)
