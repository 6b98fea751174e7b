"""TabDiffGenerator: new rows like a table's, inpainted with its real rows as context (no training on it).

A generated row is a row whose every cell is unknown (or fixed by a condition), inpainted by the same samplers
as a missing cell, with real rows of the fitted table as context: `plan.plan_generation` puts at most
`new_fraction * max_rows` new rows in a sub-table, and never more than the real rows beside them, each chunk
with a fresh random subsample of the real rows. Tables wider than `max_cols` are generated in groups of
columns, one after another, each group seeing the values generated before it as known cells.
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Mapping

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sklearn.utils.validation import check_is_fitted

from tabdiff.encoding import ColumnKind
from tabdiff.inference.base import PARAMETERS_DOC
from tabdiff.inference.frames import as_frame
from tabdiff.inference.imputer import FittedTable
from tabdiff.inference.plan import plan_generation

STARTS = ("blank", "rows")
DISCRETE_LEVELS = 20  # a numeric column with at most this many distinct fitted values is matched to observed values
START_SHARE = 0.05  # with a numeric condition, a new row starts from one of this share of fitted rows nearest to it
MIN_MATCHED = 20  # match_marginals within a group of new rows only with this many new rows and reference rows
MISMATCH = 1e6  # start-row distance of a fitted row whose category (or missing cell) differs from a condition's

GENERATOR_DOC = """
    The generator's own defaults: sampler="conditional" and n_steps=20 (its evaluated setting; every call draws, so
    "auto" would give the imputer's 3-step draws, which were not measured on whole new rows).
    start : "blank" or "rows"
        "blank": each new row starts with every cell unknown and is inpainted at once. "rows": each new row
        starts as a random row of the fitted table (with conditions: a row that holds the condition's category,
        or one of the 5% of rows nearest to its numeric value) and is regenerated in `rounds` rounds: its cells
        are split at random into `rounds` parts and each round regenerates one part given the rest, so the
        model always sees rows as partly known, as in pretraining; no cell of the starting row is kept.
    rounds : int >= 2
        Regeneration rounds of start="rows" (each costs one sampler run): with more rounds each cell is drawn
        given more of its row.
    match_marginals : bool
        Without conditions: each numeric column's generated values are replaced, rank for rank, by the fitted
        column's quantiles (observed values for columns with at most 20 distinct ones), and each categorical
        column's categories are drawn row by row from the model's class probabilities among the categories not
        yet at their fitted share (quotas), so every column has the fitted table's distribution while the rows
        keep the model's joint structure (measured: the model's own draws of whole rows are under-dispersed and
        drift in their category shares). With conditions, the same is done per condition value against the
        fitted rows that hold it (as for start="rows"), so rows conditioned on a category get that category's
        marginals; a value asked of fewer than 20 new rows, or held by fewer than 20 fitted rows, keeps the
        model's draws. False keeps the model's draws. Dates and durations are never changed.
    target : column label or None
        The column whose relation to the others matters most, e.g. the label a model will be trained on from the
        new rows: after the rounds (or the blank fill) it is regenerated once more, drawn given each new row's
        whole generated row (one more sampler run). Measured on the held-out tables (see the README): the
        holdout score of a model trained on the new rows rises towards that of one trained on the real rows.
        A condition column is left as given; identifier columns cannot be targets.
    new_fraction : float in (0, 1)
        Largest share of a sub-table's rows that are new rows; the rest are real rows of the fitted table,
        a fresh random subsample for each chunk of new rows.
    conditions (in `sample`) : dict column -> value, or -> array of n_rows values
        Cells every generated row must hold (e.g. {"sex": "F"}): they are known to the model and come back
        exactly as given, in the column's dtype. A categorical value must be one fit saw.
"""


class TabDiffGenerator(FittedTable):
    """Generate new rows like those of a DataFrame or numeric array, in context, with a pretrained denoiser.

    `fit(X)` loads the checkpoint, fits the cell encoding on X's observed cells and keeps X's rows as context;
    `sample(n_rows, conditions=None)` returns n_rows new rows with X's columns, column order and dtypes (a frame
    with a fresh RangeIndex, or an array for an array X). By default (`start="rows"`) each new row starts as a
    random fitted row whose cells are all regenerated, half at a time, by the conditional sampler (20 steps a
    round), and columns then get the fitted marginals (`match_marginals`); categorical cells are drawn from the
    model's class probabilities, integer columns rounded.
    Identifier-like columns (a different string in every row) cannot be generated: they are left missing
    unless a condition sets them. Missing cells of X are allowed: the context rows keep them as missing.

    Above max_rows, the new rows are made in chunks (see new_fraction below); above max_cols columns, groups of
    max_cols // 2 columns are generated in turn. `random_state` seeds the plan, the noise and the draws.
    """

    __doc__ = (__doc__ or "") + PARAMETERS_DOC + GENERATOR_DOC
    # each new row is one draw of one plan: no averaging (read by TabDiffEstimator._settings)
    n_samples = 1
    n_ensemble = 1
    context = "random"  # new rows take random context rows (plan.plan_generation); read by _settings

    def __init__(
        self,
        checkpoint: object = None,
        *,
        experts: str = "checkpoint",
        sampler: str = "conditional",
        n_steps: int | None = 20,
        jump_length: int = 10,
        jump_n_sample: int = 10,
        start: str = "rows",
        rounds: int = 2,
        match_marginals: bool = True,
        target: Hashable | None = None,
        new_fraction: float = 0.5,
        max_rows: int = 512,
        max_cols: int = 64,
        batch_size: int = 8,
        adapt_steps: int = 0,
        adapt_lr: float = 1e-3,
        non_numeric: str = "error",
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
        self.start = start
        self.rounds = rounds
        self.match_marginals = match_marginals
        self.target = target
        self.new_fraction = new_fraction
        self.max_rows = max_rows
        self.max_cols = max_cols
        self.batch_size = batch_size
        self.adapt_steps = adapt_steps
        self.adapt_lr = adapt_lr
        self.non_numeric = non_numeric
        self.device = device
        self.progress = progress
        self.random_state = random_state

    def fit(self, X: pd.DataFrame | np.ndarray, y: object = None) -> TabDiffGenerator:
        self._check_new_fraction()
        super().fit(X)
        frame, _ = as_frame(X)
        self.template_ = frame.iloc[:0].copy()  # X's columns and dtypes, no rows
        self.array_dtype_ = np.asarray(X).dtype if self.input_kind_ == "ndarray" else None
        return self

    def sample(self, n_rows: int, *, conditions: Mapping[Hashable, object] | None = None) -> pd.DataFrame | np.ndarray:
        """n_rows new rows (see the class docstring); `conditions` fixes some columns' values."""
        check_is_fitted(self)
        self._check_new_fraction()
        if not isinstance(n_rows, numbers.Integral) or isinstance(n_rows, bool) or n_rows < 1:
            raise ValueError(f"n_rows must be an integer >= 1, got {n_rows!r}")
        n_rows = int(n_rows)
        self._warn_if_mean_draws()
        if self.start not in STARTS:
            raise ValueError(f"start must be one of {list(STARTS)}, got {self.start!r}")
        if not isinstance(self.rounds, numbers.Integral) or isinstance(self.rounds, bool) or self.rounds < 2:
            raise ValueError(f"rounds must be an integer >= 2, got {self.rounds!r}")
        fixed = self._condition_columns(conditions or {}, n_rows)
        self._check_target()
        groups = self._reference_groups(fixed, n_rows)
        matched = groups if self.match_marginals else None
        seed = int(self._rng().integers(2**63))  # each sampler run below draws from a stream of its own
        if self.start == "blank":
            out = self._fill(self._blank_rows(n_rows, fixed), references=matched, rng=np.random.default_rng([seed, 2]))
        else:
            out = self._resample(n_rows, fixed, groups, matched=matched, seed=seed)
        if self.target is not None and self.target not in fixed:  # the target once more, given the whole new row
            out = self._fill(self._hidden(out, self.target), references=matched, rng=np.random.default_rng([seed, 3]))
        if matched is not None:
            out = self._matched(out, matched, exclude=list(fixed))
        if isinstance(out, pd.DataFrame):
            out = self._with_fitted_dtypes(out)
        if self.input_kind_ == "ndarray" and self.array_dtype_.kind in "iub" and not np.isnan(out).any():
            out = out.astype(self.array_dtype_)
        return out

    # --- helpers -------------------------------------------------------------------------------------------

    def _fill(
        self,
        new: pd.DataFrame | np.ndarray,
        *,
        references: list[tuple[np.ndarray, np.ndarray]] | None = None,
        rng: np.random.Generator,
    ) -> pd.DataFrame | np.ndarray:
        """`new` with its missing cells generated, the fitted rows as context (column groups above max_cols);
        with `references` (`_reference_groups`), categorical cells are drawn under quotas of each group's reference
        rows. `rng` is this call's own: calls (rounds, column groups) that reused one stream drew the same noise at
        the same sub-table positions, so a cell generated later copied the noise of one generated before (a
        target regenerated given its row followed another column's earlier draw: correlation 0.89 on diabetes)."""
        _, limits = self._settings()
        frame, table, offset, missing = self._table(new)
        target_cols = np.flatnonzero(missing.any(axis=0))
        group_size = len(target_cols) if len(target_cols) <= limits.max_cols else max(1, limits.max_cols // 2)
        groups = np.array_split(rng.permutation(target_cols), max(1, -(-len(target_cols) // group_size)))
        fills: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for number, group in enumerate(groups):
            if number:  # later groups see the columns generated so far as known cells
                frame, table, offset, _ = self._table(self._output(new, frame, fills))
            in_group = np.zeros(missing.shape, dtype=bool)
            in_group[:, group] = missing[:, group]
            context = np.arange(len(table)) < offset

            def plan(target, known, plan_rng, context=context):
                return plan_generation(
                    target, known, context_rows=context, max_rows=limits.max_rows, max_cols=limits.max_cols,
                    new_fraction=float(self.new_fraction), rng=plan_rng,
                )  # fmt: skip

            aggregate = self._inpaint_missing(
                frame, table, offset, in_group, n_members=1, n_samples=1, keep_draws=True, plan=plan,
                seen_only=True, desc="tabdiff generate", rng=np.random.default_rng(rng.integers(2**63)),
            )  # fmt: skip
            for j in group:
                rows = np.flatnonzero(in_group[:, j])
                codes = aggregate.draws[j][0, rows + offset]
                name = self.encoder_.columns_[j]
                if (
                    references
                    and self.encoder_.column_kind_[name] == ColumnKind.CATEGORICAL
                    and j in aggregate.proba_sum
                ):
                    codes = codes.copy()
                    for members, reference in references:
                        at = np.flatnonzero(np.isin(rows, members))
                        if len(at) >= MIN_MATCHED and len(reference) >= MIN_MATCHED:
                            drawn = self._quota_codes(aggregate, j, rows[at] + offset, reference, rng)
                            if drawn is not None:
                                codes[at] = drawn
                fills[int(j)] = (rows, self._decoded(j, codes))
        return self._output(new, frame, fills)

    def _resample(
        self,
        n_rows: int,
        fixed: Mapping[Hashable, pd.Series],
        groups: list[tuple[np.ndarray, np.ndarray]],
        *,
        matched: list[tuple[np.ndarray, np.ndarray]] | None,
        seed: int,
    ) -> pd.DataFrame | np.ndarray:
        """start="rows": each new row starts as a random one of its group's reference rows (`_reference_groups`:
        any fitted row without conditions); its cells are split at random into `rounds` parts and each round
        regenerates one part given the rest (with 2 rounds: a random half, then the other half given the first).
        No fitted cell survives; identifier columns start missing."""
        rng = np.random.default_rng([seed, 1])
        start = np.empty(n_rows, dtype=np.int64)
        for members, reference in groups:
            start[members] = reference[rng.integers(len(reference), size=len(members))]
        rows = self.context_.iloc[start].reset_index(drop=True)
        for name in self.prep_.identifiers:
            rows[name] = None
        for name, column in fixed.items():
            rows[name] = column
        free = np.ones(rows.shape, dtype=bool)  # cells a round may hide: not conditions, not identifiers
        free[:, rows.columns.get_indexer(list(fixed))] = False
        free[:, self.prep_.passthrough_mask(rows.columns)] = False
        rounds = int(self.rounds)
        part = np.minimum((rng.random(rows.shape) * rounds).astype(np.int64), rounds - 1)  # each cell's round
        current: pd.DataFrame | np.ndarray = rows
        for number in range(rounds):
            current = self._fill(
                self._masked(current, (part == number) & free),
                references=matched,
                rng=np.random.default_rng([seed, 2, number]),
            )
        return current

    def _hidden(self, out: pd.DataFrame | np.ndarray, name: Hashable) -> pd.DataFrame | np.ndarray:
        """`out` with column `name` missing in every row."""
        frame = out if isinstance(out, pd.DataFrame) else pd.DataFrame(out)
        hide = np.zeros(frame.shape, dtype=bool)
        hide[:, frame.columns.get_loc(name)] = True
        return self._masked(frame, hide)

    def _masked(self, out: pd.DataFrame | np.ndarray, hide: np.ndarray) -> pd.DataFrame | np.ndarray:
        """`out` (rows as `sample` builds them) with the cells where `hide` missing, in the fitted input's kind."""
        masked = (out if isinstance(out, pd.DataFrame) else pd.DataFrame(out)).mask(hide)
        return masked.to_numpy(dtype=np.float64, na_value=np.nan) if self.input_kind_ == "ndarray" else masked

    def _reference_groups(
        self, fixed: Mapping[Hashable, pd.Series], n_rows: int
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """(new rows, reference rows) pairs: the positions of new rows that share their condition values, and the
        positions of the fitted rows like them. New rows start from their reference rows (start="rows") and,
        with match_marginals, take their marginals.

        Without conditions: one group, every fitted row. With conditions, the fitted rows that agree with the
        group's values (measured: from random fitted rows, rows conditioned on a category were hardly closer to
        that category's rows than unconditioned rows were): a categorical condition takes all the fitted rows of
        that category; numeric conditions take the START_SHARE of those rows nearest in the conditioned columns
        (each scaled by its standard deviation). Identifier columns do not count.
        """
        n_fit = len(self.context_)
        used = [name for name in fixed if name not in self.prep_.identifiers]
        if not used:
            return [(np.arange(n_rows), np.arange(n_fit))]
        wanted = pd.DataFrame({name: fixed[name] for name in used})
        k = max(1, int(np.ceil(START_SHARE * n_fit)))
        groups = []
        for members in wanted.groupby(used, sort=False, dropna=False, observed=True).indices.values():
            distance = np.zeros(n_fit)
            for name in used:
                value, fitted = wanted[name].iloc[members[0]], self.context_[name]
                if self.encoder_.column_kind_.get(name) == ColumnKind.CATEGORICAL:
                    distance += np.where(fitted.eq(value).fillna(False).to_numpy(bool), 0.0, MISMATCH)
                    continue
                numbers = pd.to_numeric(pd.Series(fitted), errors="coerce").to_numpy(np.float64, na_value=np.nan)
                target = pd.to_numeric(pd.Series([value]), errors="coerce").to_numpy(np.float64, na_value=np.nan)[0]
                scale = np.nanstd(numbers) if np.isfinite(numbers).sum() > 1 else 1.0
                gap = np.abs(numbers - target) / (scale if scale > 0 else 1.0)
                distance += np.where(np.isfinite(gap), gap, MISMATCH)
            cutoff = min(np.partition(distance, k - 1)[k - 1], distance.min() + MISMATCH / 2)  # the best categories
            groups.append((np.asarray(members), np.flatnonzero(distance <= cutoff)))
        return groups

    def _matched(
        self, out: pd.DataFrame | np.ndarray, groups: list[tuple[np.ndarray, np.ndarray]], *, exclude: list
    ) -> pd.DataFrame | np.ndarray:
        """In each group of new rows (`_reference_groups`), each plain numeric column's generated values replaced,
        rank for rank, by the quantiles of the group's reference rows at those ranks: the rows keep the model's
        order (its dependence between columns) and the column gets the reference rows' marginal (the fitted
        column's without conditions). Columns with at most DISCRETE_LEVELS distinct values take observed values
        only. Condition columns (`exclude`) stay as given; groups or references under MIN_MATCHED rows keep the
        model's values (quantiles of a few rows would copy them)."""
        frame = out.copy() if isinstance(out, pd.DataFrame) else pd.DataFrame(out.copy())
        passthrough = self.prep_.passthrough_mask(frame.columns)
        for j, name in enumerate(frame.columns):
            column = frame[name]
            if passthrough[j] or name in exclude or self.encoder_.column_kind_[name] != ColumnKind.NUMERIC:
                continue
            if not ptypes.is_numeric_dtype(column.dtype) or ptypes.is_bool_dtype(column.dtype):
                continue  # dates, durations, numbers read from text: left as generated
            values = column.to_numpy(np.float64, na_value=np.nan)
            if np.isnan(values).any():
                continue
            fitted_column = pd.to_numeric(self.context_[name], errors="coerce").to_numpy(np.float64, na_value=np.nan)
            matched = values.copy()
            for members, reference in groups:
                fitted = fitted_column[reference]
                fitted = fitted[~np.isnan(fitted)]
                if len(members) < MIN_MATCHED or len(fitted) < MIN_MATCHED:
                    continue
                mine = values[members]
                ranks = (np.argsort(np.argsort(mine, kind="stable"), kind="stable") + 0.5) / len(mine)
                method = "inverted_cdf" if len(np.unique(fitted)) <= DISCRETE_LEVELS else "linear"
                matched[members] = np.quantile(fitted, ranks, method=method)
            if ptypes.is_integer_dtype(column.dtype):
                matched = np.rint(matched)
            frame[name] = pd.array(matched, dtype=column.dtype) if isinstance(out, pd.DataFrame) else matched
        return frame if isinstance(out, pd.DataFrame) else frame.to_numpy(dtype=out.dtype)

    def _quota_codes(
        self, aggregate, j: int, rows: np.ndarray, reference: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray | None:
        """Category codes drawn row by row from the model's class probabilities, among the categories whose share of
        these rows has not yet reached their share of the reference rows (of the fitted rows): the reference
        marginal, the model's rows. None when no reference row holds the column."""
        name = self.encoder_.columns_[j]
        categories = pd.Index(self.encoder_.categories_[name])
        observed = self.context_[name].iloc[reference].dropna()
        if observed.empty:
            return None
        freq = observed.value_counts().reindex(categories, fill_value=0).to_numpy(np.float64)
        freq = freq / freq.sum()
        quota = np.floor(freq * len(rows)).astype(np.int64)
        remainder = freq * len(rows) - quota
        quota[np.argsort(-remainder)[: len(rows) - quota.sum()]] += 1  # largest remainders: quotas sum to the rows
        proba = aggregate._restrict(j, aggregate.probabilities(j, rows))
        codes = np.empty(len(rows))
        for i in rng.permutation(len(rows)):
            p = proba[i] * (quota > 0)
            p = p if p.sum() > 0 else (quota > 0).astype(np.float64)
            k = int(rng.choice(len(p), p=p / p.sum()))
            codes[i], quota[k] = k, quota[k] - 1
        return codes

    def _with_fitted_dtypes(self, out: pd.DataFrame) -> pd.DataFrame:
        """Columns back in X's dtypes where a round's hidden cells changed them (bool -> object, int -> float)."""
        for name, dtype in self.template_.dtypes.items():
            if out[name].dtype != dtype and not (out[name].isna().any() and ptypes.is_integer_dtype(dtype)):
                try:
                    out[name] = out[name].astype(dtype)
                except (TypeError, ValueError):  # e.g. an identifier column left missing in a str column
                    pass
        return out

    def _check_new_fraction(self) -> None:
        value = self.new_fraction
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0 < value < 1:
            raise ValueError(f"new_fraction must be a number in (0, 1), got {value!r}")

    def _check_target(self) -> None:
        """`target` a generable column of the fitted table (or None), with an error that names it otherwise."""
        if self.target is None:
            return
        columns = self.template_.columns
        if self.target not in columns:
            raise ValueError(
                f"target {self.target!r} is not a column of the fitted table (columns: {list(columns)[:20]})"
            )
        if self.target in self.prep_.identifiers:
            raise ValueError(
                f"target {self.target!r} is an identifier-like column (a different string in every row): it cannot "
                "be generated; pass another column or target=None"
            )

    def _condition_columns(self, conditions: Mapping[Hashable, object], n_rows: int) -> dict[Hashable, pd.Series]:
        """Each condition as a column of n_rows cells in the fitted column's dtype (clear errors if not)."""
        if not isinstance(conditions, Mapping):
            raise TypeError(f"conditions must be a dict of column -> value(s), got {type(conditions).__name__}")
        columns = self.template_.columns
        unknown = [name for name in conditions if name not in columns]
        if unknown:
            raise ValueError(
                f"condition column(s) {unknown[:5]} are not columns of the fitted table (columns: {list(columns)[:20]})"
            )
        return {name: self._condition_column(name, value, n_rows) for name, value in conditions.items()}

    def _blank_rows(self, n_rows: int, fixed: Mapping[Hashable, pd.Series]) -> pd.DataFrame | np.ndarray:
        """n_rows rows of X's columns and dtypes, missing everywhere but in the condition columns."""
        blank = self.template_.reindex(pd.RangeIndex(n_rows))  # all missing; integer columns become float
        for name, column in fixed.items():
            blank[name] = column
        if self.input_kind_ == "ndarray":
            return blank.to_numpy(dtype=np.float64, na_value=np.nan)
        return blank

    def _condition_column(self, name: Hashable, value: object, n_rows: int) -> pd.Series:
        """A condition's values as a column of n_rows cells in the fitted column's dtype (a clear error if not)."""
        values = np.asarray(value, dtype=object)
        if values.ndim == 0:
            values = np.full(n_rows, values.item(), dtype=object)
        if values.shape != (n_rows,):
            raise ValueError(
                f"condition on column {name!r}: give one value or n_rows={n_rows} values, got shape {values.shape}"
            )
        if pd.isna(values).any():
            raise ValueError(f"condition on column {name!r} holds a missing value; give a value for every row")
        dtype = self.template_[name].dtype
        encoder_name = name if name in self.encoder_.column_kind_ else None
        if encoder_name is not None and self.encoder_.column_kind_[name] == ColumnKind.CATEGORICAL:
            if not (self.prep_.identifiers and name in self.prep_.identifiers):
                seen = set(self.encoder_.categories_[name])
                new = [v for v in pd.unique(values) if v not in seen]
                if new:
                    raise ValueError(
                        f"condition on column {name!r}: {new[:5]} not among the categories fit saw "
                        f"({list(self.encoder_.categories_[name])[:20]})"
                    )
        try:
            return pd.Series(values, dtype=object).astype(dtype)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"condition on column {name!r}: {values[:3].tolist()} do not fit its dtype {dtype}: {err}"
            ) from err
