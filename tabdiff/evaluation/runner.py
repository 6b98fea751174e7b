"""Run the zero-shot evaluation: every (table, task, setting, seed, method) once, timed, one results row each.

`evaluate(config)` returns the results frame; `run_evaluation(config, out_dir)` also writes `results.csv`,
`report.md` and the plots (`tabdiff.evaluation.report`). Plain arguments only: the Hydra entry point is
`tabdiff.evaluation.cli`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from tabdiff.checkpoint import LoadedCheckpoint
from tabdiff.evaluation import baselines as bl
from tabdiff.evaluation.baselines import MethodUnavailable
from tabdiff.evaluation.draws import DRAW_REFERENCES, DrawReference, reference_draws, score_draws
from tabdiff.evaluation.generation import (
    GENERATION_BASELINES,
    GenerationBaselineName,
    generate_baseline,
    generation_metrics,
)
from tabdiff.evaluation.icl_probe import ProbeConfig, ProbeTask, make_probe_tasks, r2_score
from tabdiff.evaluation.methods import (
    TabDiffSetting,
    load_checkpoint,
    tabdiff_classify,
    tabdiff_generate,
    tabdiff_impute,
    tabdiff_regress,
    tabdiff_sample,
    warm_up,
)
from tabdiff.evaluation.supervised import (
    align_proba,
    classification_metrics,
    make_supervised_tasks,
    regression_metrics,
)
from tabdiff.evaluation.zero_shot import (
    Mechanism,
    categorical_accuracy,
    heldout_sources,
    is_numeric_column,
    make_tasks,
    normalized_rmse,
    scored_cells,
)

log = logging.getLogger(__name__)
TaskKind = Literal["imputation", "classification", "regression", "icl_probe", "multiple_imputation", "generation"]
TASKS: tuple[TaskKind, ...] = (
    "imputation", "classification", "regression", "icl_probe", "multiple_imputation", "generation",
)  # fmt: skip
DEFAULT_TASKS: tuple[TaskKind, ...] = TASKS[:4]  # multiple imputation and generation are asked for by name


@dataclass(frozen=True)
class DrawsConfig:
    """Task "multiple_imputation" (tabdiff/evaluation/draws.py): m draws per hidden cell, scored as a
    distribution, for each tabdiff draw setting and reference; the `tabdiff` point settings are scored too
    (one "draw": CRPS = MAE)."""

    n_draws: int = 20
    settings: tuple[TabDiffSetting, ...] = (TabDiffSetting(name="tabdiff-mi"),)  # the estimators' defaults
    references: tuple[DrawReference, ...] = DRAW_REFERENCES
    at: tuple[tuple[Mechanism, float], ...] = (("mcar", 0.3),)  # (mechanism, rate) settings


@dataclass(frozen=True)
class GenerationConfig:
    """Task "generation" (tabdiff/evaluation/generation.py): each held-out table's rows are split into the rows
    a generator is given and a real holdout it never sees; it makes as many new rows as it was given, scored on
    fidelity, detection, machine-learning efficacy (on the holdout) and privacy (against the holdout's own
    distance to the given rows)."""

    holdout: float = 0.3  # share of each table's rows held out
    settings: tuple[TabDiffSetting, ...] = (
        TabDiffSetting(name="tabdiff-gen", sampler="conditional", n_steps=20, n_ensemble=1),
        TabDiffSetting(name="tabdiff-gen-target", sampler="conditional", n_steps=20, n_ensemble=1, target=True),
    )
    baselines: tuple[GenerationBaselineName, ...] = GENERATION_BASELINES


PROBE_BASELINES = ("ridge", "hgb")  # the in-context-learning probe's regressors, next to the oracle


@dataclass(frozen=True)
class EvaluationConfig:
    tables: tuple[str, ...] | None = None  # held-out table names; None = all
    tasks: tuple[TaskKind, ...] = DEFAULT_TASKS
    seeds: tuple[int, ...] = (0,)
    max_rows: int | None = None  # rows per table (subsampled per seed); None = the whole table
    max_cols: int | None = None  # columns per table (the first ones; supervised: the target plus max_cols - 1 features)
    rates: tuple[float, ...] = (0.3,)  # imputation: fraction of observed cells hidden
    mechanisms: tuple[Mechanism, ...] = ("mcar",)
    imputers: tuple[bl.ImputerName, ...] = bl.IMPUTERS
    classifiers: tuple[bl.ClassifierName, ...] = bl.CLASSIFIERS
    regressors: tuple[bl.RegressorName, ...] = bl.REGRESSORS
    baseline_options: bl.BaselineOptions = field(default_factory=bl.BaselineOptions)
    tabdiff: tuple[TabDiffSetting, ...] = (TabDiffSetting(),)  # run on every task and setting
    sweep: tuple[TabDiffSetting, ...] = ()  # more sampler settings, imputation at `sweep_on` only
    sweep_on: tuple[tuple[Mechanism, float], ...] = (("mcar", 0.3),)
    test_fraction: float = 0.3  # supervised: share of rows held out as test rows
    interval: float = 0.8  # regression: central interval whose coverage is reported
    probe: ProbeConfig = field(default_factory=ProbeConfig)  # the in-context-learning probe (task "icl_probe")
    probe_baselines: tuple[bl.RegressorName, ...] = PROBE_BASELINES  # its regressors (the oracle always runs)
    draws: DrawsConfig = field(default_factory=DrawsConfig)  # task "multiple_imputation"
    generation: GenerationConfig = field(default_factory=GenerationConfig)  # task "generation"
    checkpoint: str | None = None  # None = the bundled checkpoint (only loaded when a tabdiff method runs)
    device: str = "cpu"

    def __post_init__(self) -> None:
        unknown = set(self.tasks) - set(TASKS)
        if unknown:
            raise ValueError(f"unknown task(s) {sorted(unknown)}; choose from {TASKS}")
        lists = {
            "tabdiff.settings": self.tabdiff, "tabdiff.sweep": self.sweep, "draws.settings": self.draws.settings,
            "generation.settings": self.generation.settings,
        }  # fmt: skip
        names = [(key, s.name) for key, settings in lists.items() for s in settings]
        baselines = {*bl.IMPUTERS, *bl.CLASSIFIERS, *bl.REGRESSORS, *DRAW_REFERENCES, *GENERATION_BASELINES}
        for name in dict.fromkeys(n for _, n in names):
            where = [key for key, n in names if n == name]
            if len(where) > 1 or name in baselines:
                places = " and ".join(where) + (" and the baselines" if name in baselines else "")
                raise ValueError(
                    f"setting name {name!r} appears in {places}: each tabdiff setting needs a name of its own that "
                    "no baseline has (results.csv tells methods apart by it). Rename one, or empty the list you do "
                    "not need (e.g. tabdiff.sweep=[]: the reduced and full evaluations fill it)"
                )
        for kind, names, known in (
            ("imputation", self.imputers, bl.IMPUTERS),
            ("classification", self.classifiers, bl.CLASSIFIERS),
            ("regression", self.regressors, bl.REGRESSORS),
            ("probe", self.probe_baselines, bl.REGRESSORS),
        ):
            unknown = set(names) - set(known) - set(bl.UNAVAILABLE)
            if unknown:
                raise ValueError(f"unknown {kind} baseline(s) {sorted(unknown)}; choose from {known}")
        unknown = set(self.generation.baselines) - set(GENERATION_BASELINES)
        if unknown:
            raise ValueError(f"unknown generation baseline(s) {sorted(unknown)}; choose from {GENERATION_BASELINES}")
        if not 0 < self.generation.holdout < 1:
            raise ValueError(f"generation.holdout must be in (0, 1), got {self.generation.holdout}")
        heldout_sources(self.tables)  # refuses a pretraining or unknown table now, not halfway through


@dataclass
class _Job:
    """One table x setting x seed: its methods run in order, each one a results row."""

    task: object
    base: dict
    methods: list[tuple[str, str, Callable[[], dict]]]  # (method, family, run -> metrics)


def evaluate(
    config: EvaluationConfig,
    *,
    checkpoint: LoadedCheckpoint | None = None,
    progress: bool = True,
    partial_path: str | Path | None = None,
    finished: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The results frame: one row per table x task x setting x seed x method (see `RESULT_COLUMNS`).

    With `partial_path`, each run's row is also appended to that file as one JSON line the moment it finishes
    (`pd.read_json(path, lines=True)` reads them), so a long evaluation that is stopped keeps what it did; and
    each run is logged (at INFO without the progress bar), so a log file shows how far it got. Runs found in
    `finished` (such a file's rows, same table / task / setting / seed / method) are taken from it, not rerun.
    """
    if checkpoint is None and (config.tabdiff or config.sweep or config.draws.settings or config.generation.settings):
        checkpoint = load_checkpoint(config.checkpoint, config.device)
    if checkpoint is not None:
        warm_up(checkpoint, device=config.device)
    jobs = list(_jobs(config, checkpoint))
    rows = []
    n_runs = sum(len(job.methods) for job in jobs)
    partial_path = None if partial_path is None else Path(partial_path)
    done = {}
    if finished is not None and len(finished):
        done = {_run_key(row, row["method"]): row for row in finished.to_dict("records")}
    say = log.debug if progress else log.info
    with tqdm(total=n_runs, desc="evaluate", unit="run", disable=not progress) as bar:
        for job in jobs:
            for method, family, run in job.methods:
                bar.set_postfix_str(f"{job.base['table']} {job.base['setting']} {method}", refresh=False)
                row = done.get(_run_key(job.base, method))
                if row is None:  # not finished by a resumed run: run it, and keep its row on disk at once
                    row = job.base | {"method": method, "family": family} | _timed(run)
                    if partial_path is not None:
                        with partial_path.open("a") as out:
                            out.write(pd.Series(row).to_json() + "\n")
                    say("run %d/%d: %s %s seed %s %s: %s in %.1f s", len(rows) + 1, n_runs, job.base.get("task"),
                        job.base.get("table"), job.base.get("seed"), method, row["status"], row["wall_s"])  # fmt: skip
                rows.append(row)
                bar.update()
    frame = pd.DataFrame(rows)
    return frame.reindex(columns=[*RESULT_COLUMNS, *[c for c in frame.columns if c not in RESULT_COLUMNS]])


def _run_key(row: dict, method: str) -> tuple:
    """What identifies a run across processes (JSON gives ints back as ints, a missing field as NaN)."""
    fields = (row.get(k) for k in ("table", "task", "setting", "seed"))
    return (*(None if isinstance(v, float) and np.isnan(v) else v for v in fields), method)


RESULT_COLUMNS = [
    "table",
    "task",
    "setting",
    "mechanism",
    "rate",
    "seed",
    "method",
    "family",
    "status",
    "nrmse",
    "cat_accuracy",
    "n_num_cells",
    "n_cat_cells",
    "accuracy",
    "roc_auc",
    "log_loss",
    "ece",
    "rmse",
    "r2",
    "coverage",
    "interval_width",
    "wall_s",
    "n_rows",
    "n_cols",
    "sampler",
    "n_steps",
    "jump_length",
    "jump_n_sample",
    "n_samples",
    "n_ensemble",
    "denoiser_calls",
    "probe_family",
    "n_context",
    "n_draws",
    "crps",
    "cov50",
    "cov80",
    "cov90",
    "brier",
    "log_score",
    "ks",
    "tv",
    "assoc_diff",
    "c2st_auc",
    "mle_real",
    "mle_synthetic",
    "mle_ratio",
    "dcr_synthetic",
    "dcr_holdout",
    "dcr_ratio",
    "exact_copies",
    "holdout_exact_copies",
    "error",
]


def _timed(run: Callable[[], dict]) -> dict:
    start = time.perf_counter()
    try:
        metrics = run()
        status, error = "ok", ""
    except MethodUnavailable as err:
        metrics, status, error = {}, "skipped", str(err)
    except Exception as err:  # noqa: BLE001 - one failing method must not lose the whole run
        log.warning("method failed: %s", err, exc_info=True)
        metrics, status, error = {}, "failed", f"{type(err).__name__}: {err}"[:500]
    return {**metrics, "wall_s": time.perf_counter() - start, "status": status, "error": error}


def _tabdiff_fields(setting: TabDiffSetting, *, draws: bool = False) -> dict:
    """A tabdiff run's settings for its results row: the sampler and steps that ran (for point estimates, or with
    `draws` for draws: "auto" runs one or the other)."""
    sampler, n_steps = setting.steps(draws=draws)
    return (
        setting.estimator_kwargs()
        | setting.draw_kwargs()
        | {"sampler": sampler, "n_steps": n_steps, "denoiser_calls": setting.denoiser_calls(draws=draws)}
    )


def _jobs(config: EvaluationConfig, checkpoint: LoadedCheckpoint | None) -> Iterator[_Job]:
    for seed in config.seeds:
        if "imputation" in config.tasks:
            for mechanism in config.mechanisms:
                for rate in config.rates:
                    tasks = make_tasks(
                        missing_rate=rate,
                        max_rows=config.max_rows,
                        max_cols=config.max_cols,
                        seed=seed,
                        mechanism=mechanism,
                        tables=config.tables,
                    )
                    settings = [*config.tabdiff, *(config.sweep if (mechanism, rate) in config.sweep_on else ())]
                    for task in tasks:
                        yield _imputation_job(task, mechanism, rate, seed, settings, config, checkpoint)
        for kind in ("classification", "regression"):
            if kind in config.tasks:
                tasks = make_supervised_tasks(
                    kind,
                    tables=config.tables,
                    max_rows=config.max_rows,
                    max_cols=config.max_cols,
                    seed=seed,
                    test_fraction=config.test_fraction,
                )
                for task in tasks:
                    yield _supervised_job(task, seed, config, checkpoint)
        if "icl_probe" in config.tasks:
            for task in make_probe_tasks(config.probe, seed=seed):
                yield _probe_job(task, seed, config, checkpoint)
        if "multiple_imputation" in config.tasks:
            for mechanism, rate in config.draws.at:
                tasks = make_tasks(
                    missing_rate=rate, max_rows=config.max_rows, max_cols=config.max_cols, seed=seed,
                    mechanism=mechanism, tables=config.tables,
                )  # fmt: skip
                for task in tasks:
                    yield _draws_job(task, mechanism, rate, seed, config, checkpoint)
        if "generation" in config.tasks:
            for position, source in heldout_sources(config.tables):
                yield _generation_job(position, source, seed, config, checkpoint)


def _imputation_job(task, mechanism, rate, seed, settings, config, checkpoint) -> _Job:
    n_num, n_cat = scored_cells(task)
    base = {
        "table": task.name,
        "task": "imputation",
        "setting": f"{mechanism}-{rate:g}",
        "mechanism": mechanism,
        "rate": rate,
        "seed": seed,
        "n_rows": task.frame.shape[0],
        "n_cols": task.frame.shape[1],
        "n_num_cells": n_num,
        "n_cat_cells": n_cat,
    }

    def score(imputed: pd.DataFrame) -> dict:
        if imputed[task.frame.columns].isna().to_numpy().any():
            raise ValueError("the imputed table still has missing cells")
        changed = [
            c for j, c in enumerate(task.frame.columns) if not _same(imputed[c], task.frame[c], task.known_mask[:, j])
        ]
        if changed:
            raise ValueError(f"known cells changed in column(s) {changed}")
        return {"nrmse": normalized_rmse(task, imputed), "cat_accuracy": categorical_accuracy(task, imputed)}

    def baseline(name: str) -> dict:
        return score(bl.impute_baseline(name, task.given, seed=seed, options=config.baseline_options))

    def ours(setting: TabDiffSetting) -> dict:
        imputed = tabdiff_impute(checkpoint, setting, task, seed=seed, device=config.device)
        return _tabdiff_fields(setting) | {"blend": "+".join(setting.blend)} | score(imputed)

    methods = [(name, "baseline", partial(baseline, name)) for name in config.imputers]
    methods += [(s.name, "tabdiff", partial(ours, s)) for s in settings]
    return _Job(task, base, methods)


def _draws_job(task, mechanism, rate, seed, config, checkpoint) -> _Job:
    n_num, n_cat = scored_cells(task)
    base = {
        "table": task.name, "task": "multiple_imputation", "setting": f"{mechanism}-{rate:g}", "mechanism": mechanism,
        "rate": rate, "seed": seed, "n_rows": task.frame.shape[0], "n_cols": task.frame.shape[1],
        "n_num_cells": n_num, "n_cat_cells": n_cat,
    }  # fmt: skip
    n = config.draws.n_draws

    def reference(name: DrawReference) -> dict:
        return score_draws(task, reference_draws(name, task.given, n, seed=seed, options=config.baseline_options))

    def point(setting: TabDiffSetting) -> dict:
        imputed = tabdiff_impute(checkpoint, setting, task, seed=seed, device=config.device)
        return _tabdiff_fields(setting) | score_draws(task, [imputed])

    def drawn(setting: TabDiffSetting) -> dict:
        draws = tabdiff_sample(checkpoint, setting, task, n, seed=seed, device=config.device)
        return _tabdiff_fields(setting, draws=True) | score_draws(task, draws)

    methods = [(name, "baseline", partial(reference, name)) for name in config.draws.references]
    methods += [(s.name, "tabdiff", partial(point, s)) for s in config.tabdiff]
    methods += [(s.name, "tabdiff", partial(drawn, s)) for s in config.draws.settings]
    return _Job(task, base, methods)


def _generation_job(position: int, source, seed: int, config: EvaluationConfig, checkpoint) -> _Job:
    """One held-out table: the given rows (rows and columns capped as for imputation) and a real holdout."""
    rng = np.random.default_rng([seed, position, 3])  # a stream apart from the other tasks'
    frame = source.load()
    frame = frame.iloc[np.sort(rng.permutation(len(frame))[: config.max_rows])]
    frame = frame.iloc[:, : config.max_cols].reset_index(drop=True)
    order = rng.permutation(len(frame))
    n_holdout = max(1, round(config.generation.holdout * len(frame)))
    train, holdout = frame.iloc[np.sort(order[n_holdout:])], frame.iloc[np.sort(order[:n_holdout])]
    target = source.entry.target if source.entry.task in ("classification", "regression") else None
    task = source.entry.task if target in frame.columns else None
    base = {
        "table": source.name, "task": "generation", "setting": f"holdout-{config.generation.holdout:g}",
        "seed": seed, "n_rows": len(frame), "n_cols": frame.shape[1],
    }  # fmt: skip

    def scored(synthetic: pd.DataFrame) -> dict:
        return generation_metrics(train, holdout, synthetic, target=target if task else None, task=task, seed=seed)

    def baseline(name: GenerationBaselineName) -> dict:
        return scored(generate_baseline(name, train, len(train), seed=seed))

    def ours(setting: TabDiffSetting) -> dict:
        rows = tabdiff_generate(
            checkpoint, setting, train, len(train), seed=seed, device=config.device, target=target if task else None
        )
        return _tabdiff_fields(setting) | scored(rows)

    methods = [(name, "baseline", partial(baseline, name)) for name in config.generation.baselines]
    methods += [(s.name, "tabdiff", partial(ours, s)) for s in config.generation.settings]
    return _Job(source.name, base, methods)


def _same(a: pd.Series, b: pd.Series, rows: np.ndarray) -> bool:
    """Whether two columns hold the same values on `rows` (numbers compared as float64, exactly)."""
    if is_numeric_column(a) and is_numeric_column(b):
        return np.array_equal(a.to_numpy(np.float64)[rows], b.to_numpy(np.float64, na_value=np.nan)[rows])
    return bool((a.to_numpy(object)[rows] == b.to_numpy(object)[rows]).all())


def _supervised_job(task, seed, config, checkpoint) -> _Job:
    base = {
        "table": task.name,
        "task": task.kind,
        "setting": f"split-{config.test_fraction:g}",
        "seed": seed,
        "n_rows": task.n_rows,
        "n_cols": task.X_train.shape[1] + 1,
    }
    opts, device, interval = config.baseline_options, config.device, config.interval

    def classifier(name: str) -> dict:
        model = bl.make_classifier(name, task.X_train, seed=seed, options=opts).fit(task.X_train, task.y_train)
        proba = align_proba(model.predict_proba(task.X_test), list(model.classes_), task.classes)
        return classification_metrics(task.y_test, proba, task.classes)

    def regressor(name: str) -> dict:
        def fit_predict(quantile: float | None = None) -> np.ndarray:
            model = bl.make_regressor(name, task.X_train, seed=seed, options=opts, quantile=quantile)
            return model.fit(task.X_train, task.y_train).predict(task.X_test)

        bounds = [fit_predict(q) for q in ((1 - interval) / 2, (1 + interval) / 2)] if name == "hgb" else [None, None]
        return regression_metrics(task.y_test, fit_predict(), *bounds)

    def ours(setting: TabDiffSetting) -> dict:
        if task.kind == "classification":
            proba = tabdiff_classify(checkpoint, setting, task, seed=seed, device=device)
            metrics = classification_metrics(task.y_test, proba, task.classes)
        else:
            pred = tabdiff_regress(checkpoint, setting, task, seed=seed, interval=interval, device=device)
            metrics = regression_metrics(task.y_test, *pred)
        return _tabdiff_fields(setting) | metrics

    names, run = (config.classifiers, classifier) if task.kind == "classification" else (config.regressors, regressor)
    methods = [(name, "baseline", partial(run, name)) for name in names]
    methods += [(s.name, "tabdiff", partial(ours, s)) for s in config.tabdiff]
    return _Job(task, base, methods)


def _probe_job(task: ProbeTask, seed: int, config: EvaluationConfig, checkpoint) -> _Job:
    base = {
        "table": task.name,
        "task": "icl_probe",
        "setting": f"{task.family}-{task.n_context}",
        "seed": seed,
        "n_rows": task.n_context + len(task.X_test),
        "n_cols": task.X_train.shape[1] + 1,
        "probe_family": task.family,
        "n_context": task.n_context,
    }

    def scored(pred: np.ndarray) -> dict:
        return {"r2": r2_score(task.y_test, pred)}

    def regressor(name: str) -> dict:
        model = bl.make_regressor(name, task.X_train, seed=seed, options=config.baseline_options)
        return scored(model.fit(task.X_train, task.y_train).predict(task.X_test))

    def ours(setting: TabDiffSetting) -> dict:
        pred, _, _ = tabdiff_regress(checkpoint, setting, task.as_supervised(), seed=seed, interval=config.interval,
                                     device=config.device, quantiles=False)  # fmt: skip
        return _tabdiff_fields(setting) | scored(pred)

    methods = [("oracle", "reference", lambda: scored(task.oracle_test))]
    methods += [(name, "baseline", partial(regressor, name)) for name in config.probe_baselines]
    methods += [(s.name, "tabdiff", partial(ours, s)) for s in config.tabdiff]
    return _Job(task, base, methods)


def run_evaluation(
    config: EvaluationConfig,
    out_dir: str | Path,
    *,
    checkpoint: LoadedCheckpoint | None = None,
    progress: bool = True,
    plots: bool = True,
    resume: bool = False,
) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Evaluate, then write results.csv, report.md and (with `plots`) the figures under `out_dir`.

    While it runs, finished runs are in `results.partial.jsonl` there (one JSON line each; removed once
    results.csv is written). With `resume`, the runs already in that file are kept and only the others run."""
    from tabdiff.evaluation.report import write_report

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    partial_path = out_dir / "results.partial.jsonl"
    finished = None
    if resume and partial_path.exists() and partial_path.stat().st_size:
        finished = pd.read_json(partial_path, lines=True)
        log.info("resuming: %d finished runs from %s", len(finished), partial_path)
    else:
        partial_path.unlink(missing_ok=True)
    start = time.perf_counter()
    results = evaluate(config, checkpoint=checkpoint, progress=progress, partial_path=partial_path, finished=finished)
    results.to_csv(out_dir / "results.csv", index=False)
    partial_path.unlink(missing_ok=True)
    paths = {"results": out_dir / "results.csv"}
    meta = {
        "config": config,
        "wall_s": time.perf_counter() - start,
        "n_failed": int((results.status == "failed").sum()),
    }
    paths |= write_report(results, out_dir, meta=meta, plots=plots)
    return results, paths
