"""What the three estimators share: their parameters, checks, checkpoint and encoder set-up, and one inpainting run."""

from __future__ import annotations

import numbers
import warnings
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from tabdiff.checkpoint import LoadedCheckpoint, resolve_checkpoint
from tabdiff.encoding import ColumnKind, TableEncoder
from tabdiff.experts import EXPERT_CHOICES, NO_EXPERTS, ExpertChoice, ExpertConfig
from tabdiff.inference.adapt import AdaptSettings, adapt
from tabdiff.inference.aggregate import DrawAggregate, centre_draws
from tabdiff.inference.engine import Limits, Planner, SamplerSettings, draw_blocks
from tabdiff.inference.frames import NON_NUMERIC, ColumnPrep, NonNumeric
from tabdiff.inference.inpaint import (
    DEFAULT_STEPS,
    DRAW_SAMPLER,
    DRAW_SPACING,
    DRAW_STEPS,
    SAMPLER_CHOICES,
    SamplerChoice,
)
from tabdiff.inference.plan import ContextChoice, check_context
from tabdiff.inference.rare import rare_shares

PARAMETERS_DOC = f"""
    Parameters (shared by TabDiffImputer, TabDiffClassifier and TabDiffRegressor)
    ----------
    checkpoint : None, str, Path or LoadedCheckpoint
        None loads the checkpoint bundled with tabdiff (`load_pretrained()`); a path loads an export
        (`.safetensors` + `.json`) or a Lightning `.ckpt`; a `LoadedCheckpoint` is used as it is.
    experts : "checkpoint" or "none"
        "checkpoint" (default): the in-context experts the checkpoint names (its JSON's "experts": for the bundled
        one, a chained ridge, a Gaussian fitted by EM and a multinomial logistic regression, fitted on the table's
        known cells and mixed into the network's estimate by their precision); "none": the network alone.
    sampler : "auto", "ddim", "conditional" or "repaint"
        "auto" (default): point estimates (`transform`, `predict`, `predict_proba`) by one-step "ddim", draws
        (`sample`, `sample_y`, `predict_quantiles`, the generator's rows) by "conditional" at n_steps steps
        ({DRAW_STEPS} unless set) spread quadratically over the checkpoint's (more of them at low noise), without the
        last step's call at the lowest noise level (which only removes noise of sd 0.006): {DRAW_STEPS - 1} network
        calls a draw, whose bands cover about their level.
        "ddim": the conditional network with DDIM; with one step, one forward pass that gives the model's
        estimate of the expected cells: fastest, and the point estimate the model was trained for; its "draws"
        are such estimates too, which differ only by the ensemble (a warning says so).
        "conditional": ancestral sampling with the conditional network (n_steps calls): real draws.
        "repaint": the RePaint algorithm, faithful (the network is not told which cells are known; about
        n_steps * jump_n_sample calls, ~2,400 at the defaults): slowest, for unconditional checkpoints.
        A sampler other than "auto" serves points and draws alike.
    n_steps : int or None
        Sampling steps; None = the sampler's default (ddim 1, conditional 50, repaint 250; "auto": one pass for
        points, {DRAW_STEPS} for draws). With "auto" a number sets the draws' steps: points stay one pass.
    jump_length, jump_n_sample : int
        RePaint's resampling schedule (ignored by the other samplers).
    n_samples : int
        Draws per ensemble member; point estimates average over n_samples * n_ensemble draws.
    n_ensemble : int
        Ensemble members. Each sees its own random row order, column order and column identifiers, and on
        large tables its own row chunks, context rows and column subsets.
    max_rows, max_cols : int
        Largest sub-table the model sees at once. Above max_rows rows, the rows with cells to inpaint are
        processed in chunks, each completed with a random subsample of the other rows as context; above
        max_cols columns, each group of up to max_cols target columns is inpainted with a random subset of
        the other columns. Time per sub-table grows with max_rows**2 (attention across
        rows); memory with batch_size * max_rows * max_cols.
    context : "random" or "nearest"
        How a chunk of a table above max_rows rows gets its context rows. "random" (default): a random
        subsample of the other rows (each ensemble member its own). "nearest": chunks of similar rows, each
        completed with the rows nearest to them (NaN-Euclidean distance over the known cells; retrieval as in
        LoCalPFN), which helps where similar rows have similar answers; planning costs a distance per query
        and context row.
    batch_size : int
        Sub-tables (chunks x draws of equal shape) per model call.
    device : None or str
        "cuda" when available, else "cpu" (a given LoadedCheckpoint stays where it is unless device is set).
    adapt_steps : int
        0 (default): pure in-context inference. N > 0: before predicting, fine-tune a copy of the model for at
        most N steps on the fitted table's own observed cells (hide some, learn to fill them; for prediction,
        hide the target of some training rows), stopping early when held-back cells stop improving; the
        pretrained weights are kept when adaptation does not help them. The weights scored and kept are an
        exponential moving average of the steps' (decay 0.9), steadier than the last step's. The cells being
        answered are never trained on. Costs about a second per 10 steps on a CPU core for a few hundred rows.
    adapt_lr : float
        Adaptation's learning rate (AdamW, constant).
    non_numeric : "error" or "missing"
        A column of numbers (often read from a file as text) with a few cells that are not numbers ("oops",
        "n/a"): "error" (default) refuses it, naming the first such cell and its row; "missing" treats those
        cells as missing (an imputer fills them with numbers; a warning counts them).
    progress : bool
        Show a progress bar (tqdm) over the model calls of long runs, and over adaptation steps.
    random_state : None, int or numpy RandomState
        Seeds planning, noise and column identifiers: the same int gives the same output on the same
        machine (with the same batch_size).
"""


class TabDiffEstimator(BaseEstimator):
    """Base class; see PARAMETERS_DOC for the arguments."""

    _query_fraction: ClassVar[float] = 1.0  # share of a chunk's rows that are query rows (plan.py)

    def __init__(
        self,
        checkpoint: LoadedCheckpoint | str | Path | None = None,
        *,
        experts: ExpertChoice = "checkpoint",
        sampler: SamplerChoice = "auto",
        n_steps: int | None = None,
        jump_length: int = 10,
        jump_n_sample: int = 10,
        n_samples: int = 1,
        n_ensemble: int = 4,
        max_rows: int = 512,
        max_cols: int = 64,
        context: ContextChoice = "random",
        batch_size: int = 8,
        adapt_steps: int = 0,
        adapt_lr: float = 1e-3,
        non_numeric: NonNumeric = "error",
        device: str | None = None,
        progress: bool = True,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.checkpoint = checkpoint
        self.experts = experts
        self.sampler = sampler
        self.n_steps = n_steps
        self.jump_length = jump_length
        self.jump_n_sample = jump_n_sample
        self.n_samples = n_samples
        self.n_ensemble = n_ensemble
        self.max_rows = max_rows
        self.max_cols = max_cols
        self.context = context
        self.batch_size = batch_size
        self.adapt_steps = adapt_steps
        self.adapt_lr = adapt_lr
        self.non_numeric = non_numeric
        self.device = device
        self.progress = progress
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing cells are what the model inpaints
        tags.input_tags.categorical = True  # DataFrames with category / str / bool columns
        tags.input_tags.string = True
        return tags

    # --- parameters ----------------------------------------------------------------------------------------

    def _settings(self, *, draws: bool = False) -> tuple[SamplerSettings, Limits]:
        """Checked sampler settings (of point estimates, or with `draws` of draws) and size limits (checked at
        every call: set_params may change them)."""
        if not isinstance(self.sampler, str) or self.sampler not in SAMPLER_CHOICES:
            raise ValueError(f"sampler must be one of {list(SAMPLER_CHOICES)}, got {self.sampler!r}")
        if not isinstance(self.experts, str) or self.experts not in EXPERT_CHOICES:
            raise ValueError(f"experts must be one of {list(EXPERT_CHOICES)}, got {self.experts!r}")
        minimum = {"jump_length": 1, "jump_n_sample": 1, "n_samples": 1, "n_ensemble": 1,
                   "max_rows": 2, "max_cols": 1, "batch_size": 1, "adapt_steps": 0}  # fmt: skip
        if self.n_steps is not None:
            minimum["n_steps"] = 1
        for name, low in minimum.items():
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not isinstance(self.adapt_lr, numbers.Real) or isinstance(self.adapt_lr, bool) or not self.adapt_lr > 0:
            raise ValueError(f"adapt_lr must be a number > 0, got {self.adapt_lr!r}")
        check_context(self.context)
        if self.non_numeric not in NON_NUMERIC:
            raise ValueError(f"non_numeric must be one of {list(NON_NUMERIC)}, got {self.non_numeric!r}")
        jumps = int(self.jump_length), int(self.jump_n_sample)
        if self.sampler != "auto":
            n_steps = DEFAULT_STEPS[self.sampler] if self.n_steps is None else int(self.n_steps)
            settings = SamplerSettings(self.sampler, n_steps, *jumps)
        elif draws:  # the last call at the lowest noise level only removes noise of sd 0.006: skipped
            n_steps = DRAW_STEPS if self.n_steps is None else int(self.n_steps)
            settings = SamplerSettings(DRAW_SAMPLER, n_steps, *jumps, denoise_last=False, spacing=DRAW_SPACING)
        else:  # the one-pass point: n_steps, when given, is the draws'
            settings = SamplerSettings("ddim", 1, *jumps)
        limits = Limits(
            int(self.max_rows), int(self.max_cols), self._query_fraction, int(self.batch_size), self.context
        )
        return settings, limits

    # --- set-up in fit -------------------------------------------------------------------------------------

    def _load_checkpoint(self) -> None:
        """Sets `checkpoint_` and `experts_` (the ExpertConfig that runs); refuses a conditional sampler on an
        unconditional checkpoint."""
        self._settings()
        self.checkpoint_ = resolve_checkpoint(self.checkpoint, self.device)
        self.experts_ = self._experts_of(self.checkpoint_)
        if self.sampler != "repaint" and not self.checkpoint_.model.config.conditional:
            raise ValueError(
                f"sampler={self.sampler!r} needs a conditionally trained checkpoint; use sampler='repaint'"
            )

    def _experts_of(self, checkpoint: LoadedCheckpoint) -> ExpertConfig:
        """The experts that run with `checkpoint` under this estimator's `experts` choice."""
        return checkpoint.experts if self.experts == "checkpoint" else NO_EXPERTS

    def _fit_prep(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Sets `prep_` (how the model sees the user's columns, frames.ColumnPrep); returns the model's view."""
        self.prep_ = ColumnPrep.fit(
            frame, non_numeric=self.non_numeric, max_categories=self.checkpoint_.model.config.n_channels
        )
        return self.prep_.view(frame)

    def _new_encoder(self) -> TableEncoder:
        """A TableEncoder with the checkpoint's settings (max_categories = the model's channels; coded_categories =
        the most categories its pretraining coded one per channel, when the checkpoint says)."""
        settings = dict(self.checkpoint_.config.get("encoder") or {})
        settings = {k: settings[k] for k in ("clip", "n_quantiles", "coded_categories") if k in settings}
        return TableEncoder(max_categories=self.checkpoint_.model.config.n_channels, **settings)

    def _adapt(self, table: pd.DataFrame, *, target_col: int | None) -> None:
        """With adapt_steps > 0, replace `checkpoint_` by a copy fine-tuned on `table` (inference/adapt.py);
        sets `adapt_best_step_` and `adapt_history_` ((step, held-back error) pairs)."""
        self.adapt_best_step_, self.adapt_history_ = 0, []
        if self.adapt_steps == 0:
            return
        _, limits = self._settings()
        # prediction holds back a quarter of the targets: a tenth of a few hundred rows is too few to score
        settings = AdaptSettings(steps=int(self.adapt_steps), lr=float(self.adapt_lr), max_rows=min(limits.max_rows, 128),
                                 max_cols=limits.max_cols, holdout=0.1 if target_col is None else 0.25)  # fmt: skip
        result = adapt(self.checkpoint_, self.encoder_.transform(table), settings=settings, rng=self._rng(),
                       target_col=target_col, experts=self.experts_, progress=bool(self.progress))  # fmt: skip
        self.checkpoint_ = result.checkpoint
        self.adapt_best_step_, self.adapt_history_ = result.best_step, result.history

    # --- one run ---------------------------------------------------------------------------------------------

    def _rng(self) -> np.random.Generator:
        """A fresh generator per call: an int random_state gives every call the same draws."""
        return np.random.default_rng(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _inpaint(
        self,
        table: pd.DataFrame,
        target_mask: np.ndarray,
        *,
        n_members: int,
        n_samples: int,
        keep_draws: bool = False,
        allowed: dict[int, np.ndarray] | None = None,
        desc: str = "tabdiff",
        plan: Planner | None = None,
        sampler: SamplerSettings | None = None,
        rng: np.random.Generator | None = None,
    ) -> DrawAggregate:
        """Encode `table` (target cells missing), inpaint the target cells n_members * n_samples times
        (sub-tables from `plan`, default `plan_tables` within the estimator's limits). The sampler settings are the
        estimator's for draws with `keep_draws` (a caller keeps the draws to hand them out), for point estimates
        without; `sampler` overrides them. `rng` (plans, noise, draws) defaults to `_rng()`, the same stream on every
        call of an int random_state: a caller whose calls build on each other passes each its own."""
        settings, limits = self._settings(draws=keep_draws)
        settings = sampler or settings
        rng = self._rng() if rng is None else rng
        encoded = self.encoder_.transform(table)
        rare = {}
        for j in np.flatnonzero(target_mask.any(axis=0)):
            if self.encoder_.column_kind_[self.encoder_.columns_[j]] == ColumnKind.CATEGORICAL:
                rows = np.flatnonzero(target_mask[:, j])
                shares = rare_shares(self.encoder_, encoded, table.iloc[:, j].to_numpy(dtype=object), j, rows)
                if shares is not None:
                    rare[j] = np.zeros((len(table), shares.shape[1]))
                    rare[j][rows] = shares
        aggregate = DrawAggregate(
            self.encoder_, target_mask, n_draws=n_members * n_samples, keep_draws=keep_draws, allowed=allowed,
            rng=rng, rare=rare,
        )  # fmt: skip
        for block in draw_blocks(
            self.checkpoint_, encoded, target_mask, settings=settings, limits=limits,
            n_members=n_members, n_samples=n_samples, rng=rng, progress=bool(self.progress), desc=desc, plan=plan,
            experts=self.experts_,
        ):  # fmt: skip
            aggregate.add(block)
        aggregate.check_complete()
        return aggregate

    def _one_pass(self) -> SamplerSettings:
        """The settings of the one-pass point estimate (one-step DDIM), which draws may be centred on."""
        return SamplerSettings("ddim", 1, int(self.jump_length), int(self.jump_n_sample))

    def _centres_on_point(self, n: int) -> bool:
        """Whether n numeric draws are centred on the one-pass point (`draw_centre="point"`, of the estimators that
        have it): not one draw (no deviation from the mean of one), nor draws that are one-pass estimates already."""
        return self.draw_centre == "point" and n >= 2 and not self._draws_are_point_estimates()

    def _centred_on(self, column: str, draws: np.ndarray, point: np.ndarray) -> np.ndarray:
        """(n, cells) draws of numeric `column` centred on `point` (`centre_draws`), within its observed range."""
        knots = self.encoder_.numeric_maps_[column].knots
        return centre_draws(draws, point, knots[0], knots[-1])

    def _draws_are_point_estimates(self) -> bool:
        """Whether the draws' settings are one-step DDIM (a sampler the user set): its "draws" are the model's
        estimate of the conditional mean, not draws."""
        settings, _ = self._settings(draws=True)
        return settings.sampler == "ddim" and settings.n_steps == 1

    def _warn_if_mean_draws(self) -> None:
        """One-step DDIM gives the model's conditional-mean estimate, not a draw: say so where draws matter."""
        if self._draws_are_point_estimates():
            warnings.warn(
                "with sampler='ddim' and n_steps=1 each numeric draw is the model's one-pass estimate of the "
                "conditional mean, so the spread over draws reflects the ensemble (context rows, column ids), not "
                "the predictive distribution; leave sampler='auto' (draws by the conditional sampler, points in one "
                "pass) or set n_steps > 1 for intervals and multiple imputation",
                UserWarning,
                stacklevel=3,
            )
