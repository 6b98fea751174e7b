"""TabDiffImputer: fill the missing cells of a table in context, with no gradient step on it."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted

from tabdiff.encoding import ColumnKind
from tabdiff.experts.blend import (
    MIN_HELD,
    check_blend,
    column_scale,
    fit_blend,
    holdout_mask,
    spread_scale,
)
from tabdiff.inference.aggregate import DrawAggregate, check_draw_centre, draw_centre_doc
from tabdiff.inference.base import PARAMETERS_DOC, TabDiffEstimator
from tabdiff.inference.frames import (
    align_columns,
    allowed_categories,
    as_frame,
    fill_array,
    fill_frame,
    prepare_for_encoder,
)


class FittedTable(TabDiffEstimator):
    """What the imputer and the generator share: `fit(X)` keeps X (as the model sees it) as the context of
    every later call; a table is inpainted with those rows, and results are decoded into X's own dtypes."""

    def fit(self, X: pd.DataFrame | np.ndarray, y: object = None) -> FittedTable:
        frame, kind = as_frame(X)
        self._load_checkpoint()
        view = self._fit_prep(frame)
        self.encoder_ = self._new_encoder().fit(view)
        self._adapt(view, target_col=None)
        self.context_ = view.copy()  # the fitted rows as the model sees them, context of every later transform
        self.input_kind_ = kind
        self.n_features_in_ = frame.shape[1]
        if kind == "dataframe" and all(isinstance(c, str) for c in frame.columns):
            self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        return self

    # --- helpers -------------------------------------------------------------------------------------------

    def _table(self, X: object) -> tuple[pd.DataFrame, pd.DataFrame, int, np.ndarray]:
        """(X as a frame, the table the model sees, row offset of X in it, X's (rows, cols) missing mask)."""
        check_is_fitted(self)
        frame, kind = as_frame(X)
        if kind != self.input_kind_:
            raise TypeError(f"the {type(self).__name__} was fitted on a {self.input_kind_}; X is a {kind}")
        frame = align_columns(frame, self.context_.columns, kind=kind, owner=type(self).__name__)
        view = self.prep_.view(frame)
        missing = view.isna().to_numpy().copy()  # (rows, cols), writable
        missing[:, self.prep_.passthrough_mask(frame.columns)] = False  # identifiers keep their gaps
        same = (
            view.shape == self.context_.shape and view.index.equals(self.context_.index) and view.equals(self.context_)
        )
        if same:
            return frame, view, 0, missing
        table = pd.concat([self.context_, prepare_for_encoder(view, self.encoder_)], ignore_index=True)
        return frame, table, len(self.context_), missing

    def _inpaint_missing(
        self,
        frame: pd.DataFrame,
        table: pd.DataFrame,
        offset: int,
        missing: np.ndarray,
        *,
        seen_only: bool = False,
        **run: object,
    ) -> DrawAggregate:
        """Inpaint X's `missing` cells (rows offset.. of `table`), categories restricted to a column's own dtype
        (and with `seen_only` to those observed in the fitted table: a declared but unseen category has no rows)."""
        target = np.zeros(table.shape, dtype=bool)
        target[offset : offset + len(frame)] = missing
        allowed = {}
        for j in np.flatnonzero(missing.any(axis=0)):
            name = frame.columns[j]
            if self.encoder_.column_kind_[name] == ColumnKind.CATEGORICAL:
                categories = self.encoder_.categories_[name]
                mask = allowed_categories(frame.iloc[:, j], categories, name)
                if seen_only:
                    seen = pd.Index(categories).isin(self.context_[name].dropna().unique())
                    mask = seen if mask is None else mask & seen
                if mask is not None:
                    allowed[j] = mask
        run.setdefault("desc", "tabdiff impute")
        return self._inpaint(table, target, allowed=allowed, **run)

    def _decoded(self, j: int, values: np.ndarray) -> np.ndarray:
        """Numbers in the column's dtype (dates, durations, rounded integers); categorical codes become an
        object array of the fitted categories."""
        name = self.encoder_.columns_[j]
        if self.encoder_.column_kind_[name] == ColumnKind.NUMERIC:
            return self.encoder_.as_column_values(name, values)
        categories = np.empty(len(self.encoder_.categories_[name]), dtype=object)
        categories[:] = self.encoder_.categories_[name]
        return categories[values.astype(np.int64)]

    def _output(self, X: object, frame: pd.DataFrame, fills: dict) -> pd.DataFrame | np.ndarray:
        if self.input_kind_ == "ndarray":
            return fill_array(np.asarray(X), fills)
        fitted = [self.encoder_.dtypes_[name] for name in self.encoder_.columns_]
        out = fill_frame(frame, fills, fitted)
        return out if out.columns.equals(X.columns) else out[list(X.columns)]  # X's own column order


BLEND_DOC = """
    blend : tuple of "mice", "knn", "missforest"
        () (default): the model's imputations. Names of classical imputers: `transform` blends the model's
        numeric fills with theirs (scikit-learn's IterativeImputer(BayesianRidge), KNNImputer(5),
        IterativeImputer(RandomForest)), weighted per table: a share `blend_holdout` of the known numeric cells
        is hidden, the model and each imputer fill them from the rest, and the convex weights that fit those
        cells best (least squares, each column's error scaled by its standard deviation) weight the fills of the
        missing cells (`blend_weights_`). Costs one more model run plus two runs of each imputer. Categorical
        cells keep the model's fills. `sample(X, n)` centres the numeric draws on the blended point and scales
        their spread around it by the factor (`blend_spread_`) whose draws of the hidden cells score the least
        CRPS: the blend's point is closer than the model's, so the model's spread is usually too wide for it
        (the weights fit with the n draws' mean on the hidden cells). With fewer than 10 cells to hide, the
        model alone.
    blend_holdout : float in (0, 1)
        Share of the known numeric cells hidden to fit the blend's weights.
"""


class TabDiffImputer(TransformerMixin, FittedTable, auto_wrap_output_keys=None):
    """Impute missing cells (NaN / None / pd.NA) of a DataFrame or numeric array with a pretrained denoiser.

    `fit(X)` loads the checkpoint, fits the cell encoding on X's observed cells and keeps X as context;
    `transform(Z)` inpaints Z's missing cells with the fitted rows and Z's rows as context (`fit_transform(X)`
    and `fit(X).transform(X)` use X once). The result has X's type, index, columns and dtypes; observed cells
    are copied bit for bit; a missing numeric cell gets the mean over n_samples x n_ensemble one-pass estimates
    (decoded to the column's units, rounded for integer columns), a missing categorical cell its most probable
    category (averaged class probabilities). `sample(X, n)` returns n separate imputations, draws of the
    conditional sampler by default (`sampler="auto"`).

    Columns of any type pandas holds: numbers (nullable too), booleans, strings and categories (any number
    of categories: beyond the model's channels the rare ones share one, resolved by the nearest rows),
    dates and durations (filled in their own dtype and time zone, rounded to the column's step, e.g. whole
    days). A constant column's missing cells get its value. Identifier-like columns (a different string in
    every row) are passed through and keep their missing cells (a warning says so).

    A categorical value that fit never saw is treated as missing by the model (with a warning) and kept as
    it is in the output. Large tables are chunked (see max_rows / max_cols below): each chunk of up to
    max_rows rows holding missing cells is completed with random other rows; above max_cols columns each
    group of up to max_cols columns with missing cells sees a random subset of the other columns.
    """

    __doc__ = (
        (__doc__ or "")
        + PARAMETERS_DOC
        + BLEND_DOC
        + draw_centre_doc('Default "point". With a blend, draws are centred on the blended point instead.')
    )
    _query_fraction = 1.0  # rows with missing cells are context for each other: fill whole chunks with them

    def __init__(
        self,
        checkpoint: object = None,
        *,
        experts: str = "checkpoint",
        sampler: str = "auto",
        n_steps: int | None = None,
        jump_length: int = 10,
        jump_n_sample: int = 10,
        n_samples: int = 1,
        n_ensemble: int = 4,
        max_rows: int = 512,
        max_cols: int = 64,
        context: str = "random",
        batch_size: int = 8,
        adapt_steps: int = 0,
        adapt_lr: float = 1e-3,
        blend: tuple[str, ...] = (),
        blend_holdout: float = 0.1,
        draw_centre: str = "point",
        non_numeric: str = "error",
        device: str | None = None,
        progress: bool = True,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        super().__init__(
            checkpoint, experts=experts, sampler=sampler, n_steps=n_steps, jump_length=jump_length, jump_n_sample=jump_n_sample,
            n_samples=n_samples, n_ensemble=n_ensemble, max_rows=max_rows, max_cols=max_cols, context=context,
            batch_size=batch_size, adapt_steps=adapt_steps, adapt_lr=adapt_lr, non_numeric=non_numeric,
            device=device, progress=progress, random_state=random_state,
        )  # fmt: skip
        self.blend = blend
        self.blend_holdout = blend_holdout
        self.draw_centre = draw_centre

    def fit(self, X: pd.DataFrame | np.ndarray, y: object = None) -> TabDiffImputer:
        check_blend(self.blend, self.blend_holdout)
        check_draw_centre(self.draw_centre)
        return super().fit(X)

    def transform(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame | np.ndarray:
        """X with its missing cells filled by point estimates (mean / most probable category), blended with
        classical imputers' fills when `blend` names some."""
        methods = check_blend(self.blend, self.blend_holdout)
        frame, table, offset, missing = self._table(X)
        aggregate = self._inpaint_missing(
            frame, table, offset, missing, n_members=self.n_ensemble, n_samples=self.n_samples
        )
        blended = self._blended(table, offset, missing, aggregate, methods) if methods else {}
        fills = {}
        for j in np.flatnonzero(missing.any(axis=0)):
            rows = np.flatnonzero(missing[:, j])
            if j in blended:
                fills[j] = (rows, self._decoded(j, blended[j][rows + offset]))
            else:
                fills[j] = (rows, self._point_values(aggregate, j, rows + offset))
        return self._output(X, frame, fills)

    def fit_transform(
        self, X: pd.DataFrame | np.ndarray, y: object = None, **fit_params: object
    ) -> pd.DataFrame | np.ndarray:
        return self.fit(X).transform(X)

    def sample(self, X: pd.DataFrame | np.ndarray, n: int) -> list[pd.DataFrame | np.ndarray]:
        """n imputations of X (multiple imputation): each a draw with its own ensemble plan and noise.

        Draws come from the draws' sampler (`sampler="auto"`: the conditional sampler); a categorical cell's draw
        is a category drawn from that draw's class probabilities. Numeric draws are centred on the one-pass point
        estimate (`draw_centre`) or, with a blend, on the blended point. A sampler set to one step ("ddim" with
        n_steps None or 1) makes each numeric draw the model's conditional-mean estimate (a warning says so).
        """
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        methods = check_blend(self.blend, self.blend_holdout)
        check_draw_centre(self.draw_centre)
        frame, table, offset, missing = self._table(X)
        self._warn_if_mean_draws()
        aggregate = self._inpaint_missing(frame, table, offset, missing, n_members=n, n_samples=1, keep_draws=True)
        # with a blend, each numeric draw is the blended point + blend_spread_ x (draw - the draws' mean)
        blended = self._blended(table, offset, missing, aggregate, methods, n_members=n) if methods else {}
        centred = self._centred_on_point(frame, table, offset, missing, aggregate, n) if not methods else {}
        out = []
        for draw in range(n):
            fills = {}
            for j in np.flatnonzero(missing.any(axis=0)):
                rows = np.flatnonzero(missing[:, j])
                values = aggregate.draws[j][draw, rows + offset]
                if j in blended:
                    deviation = values - aggregate.mean(j, rows + offset)
                    values = blended[j][rows + offset] + self.blend_spread_ * deviation
                elif j in centred:
                    values = centred[j][draw]
                fills[j] = (rows, self._decoded(j, values))
            out.append(self._output(X, frame, fills))
        return out

    # --- helpers -------------------------------------------------------------------------------------------

    def _centred_on_point(
        self, frame: pd.DataFrame, table: pd.DataFrame, offset: int, missing: np.ndarray, aggregate: DrawAggregate,
        n: int,
    ) -> dict[int, np.ndarray]:  # fmt: skip
        """Numeric column j -> (n, its missing rows) the draws centred on the one-pass point (`draw_centre`,
        `centre_draws`); {} for "draws", one draw (no deviation from the mean of one), or a sampler whose draws are
        one-pass estimates themselves."""
        if not self._centres_on_point(n):
            return {}
        numeric = [j for j in np.flatnonzero(missing.any(axis=0)) if aggregate.kinds[j] == ColumnKind.NUMERIC]
        if not numeric:
            return {}
        point = self._inpaint_missing(
            frame, table, offset, missing, n_members=self.n_ensemble, n_samples=1, desc="tabdiff point",
            sampler=self._one_pass(),
        )  # fmt: skip
        out = {}
        for j in numeric:
            at = np.flatnonzero(missing[:, j]) + offset
            out[int(j)] = self._centred_on(self.encoder_.columns_[j], aggregate.draws[j][:, at], point.mean(j, at))
        return out

    def _blended(
        self,
        table: pd.DataFrame,
        offset: int,
        missing: np.ndarray,
        aggregate: DrawAggregate,
        methods: tuple,
        *,
        n_members: int | None = None,
    ) -> dict[int, np.ndarray]:
        """Column j -> (rows of `table`,) blended numbers of each numeric column with missing cells (see BLEND_DOC):
        the model's part is `aggregate`'s mean, its fills of the held cells the mean of the estimator's
        n_ensemble x n_samples one-pass estimates, or with `n_members` of that many draws, whose spread then
        fits `blend_spread_` (`spread_scale`). Sets `blend_weights_` (method -> weight, "tabdiff" first) and
        `blend_spread_` (1.0 without draws); {} when too few cells can be hidden."""
        numbers = self._numbers(table)  # (rows, cols) float, NaN = unknown
        numeric = np.array([kind == ColumnKind.NUMERIC for kind in aggregate.kinds])
        rng = np.random.default_rng([self._rng().integers(2**63), 2])  # a stream of its own, not the plan's
        held = holdout_mask(~np.isnan(numbers), numeric, float(self.blend_holdout), rng)
        self.blend_weights_ = {"tabdiff": 1.0, **{name: 0.0 for name in methods}}
        self.blend_spread_ = 1.0
        if held.sum() < MIN_HELD:
            return {}
        draws = n_members is not None
        on_held = self._inpaint(
            table.mask(held), held, n_members=n_members or self.n_ensemble, n_samples=1 if draws else self.n_samples,
            keep_draws=draws, desc="tabdiff blend weights",
        )  # fmt: skip
        rows, cols = np.nonzero(held)
        model = np.empty(len(rows))
        deviations = np.empty((n_members or 0, len(rows)))
        for j in np.unique(cols):
            model[cols == j] = on_held.mean(j, rows[cols == j])
            if draws:
                deviations[:, cols == j] = on_held.draws[j][:, rows[cols == j]] - model[cols == j]
        weights, full, on_held_blend = fit_blend(numbers, held, methods, seed=int(rng.integers(2**31 - 1)), first=model)
        self.blend_weights_ = dict(zip(("tabdiff", *methods), weights.tolist(), strict=True))
        if draws:
            scale = column_scale(numbers)[cols]
            self.blend_spread_ = spread_scale(deviations, on_held_blend, numbers[rows, cols], scale)
        out = {}
        target = np.zeros(table.shape, dtype=bool)
        target[offset : offset + len(missing)] = missing
        for j in np.flatnonzero(numeric & target.any(axis=0)):
            at = np.flatnonzero(target[:, j])
            values = np.full(len(table), np.nan)
            values[at] = weights[0] * aggregate.mean(j, at)
            for w, name in zip(weights[1:], methods, strict=True):
                values[at] += w * full[name][at, j]
            out[int(j)] = values
        return out

    def _numbers(self, table: pd.DataFrame) -> np.ndarray:
        """(rows, cols) the known cells of `table` as numbers: numeric columns in the units the model's fills are
        averaged in (the encoder's decoded values), categorical ones as the code of their channel; NaN unknown."""
        encoded = self.encoder_.transform(table)
        cells, known = encoded.cells.numpy(), encoded.known_mask.numpy()
        out = np.full(known.shape, np.nan)
        for j, name in enumerate(self.encoder_.columns_):
            if self.encoder_.column_kind_[name] == ColumnKind.NUMERIC:
                values = self.encoder_.numeric_maps_[name].decode(cells[known[:, j], j, 0])
            else:
                values = np.argmax(cells[known[:, j], j, :], axis=-1)
            out[known[:, j], j] = values
        return out

    def _point_values(self, aggregate: DrawAggregate, j: int, rows: np.ndarray) -> np.ndarray:
        if self.encoder_.column_kind_[self.encoder_.columns_[j]] == ColumnKind.NUMERIC:
            return self._decoded(j, aggregate.mean(j, rows))
        return self._decoded(j, aggregate.most_probable(j, rows).astype(np.float64))
