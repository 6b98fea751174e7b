"""The speedrun's fixed probes (docs/speedrun.md): an export scored by the evaluation's own runner, the network
alone through the estimators at their defaults, against baselines computed once and cached.

Three probes, each the figure `tabdiff-evaluate` reports for it:

- the in-context-learning probe (`icl_probe`): linear, Poisson GLM and tree tables at 64 / 256 / 1,024 context rows,
  tabdiff's mean R^2 as a share of a cross-validated Ridge's and of the optimum's (`probe_summary`);
- the held-out classification tables: median accuracy and ROC AUC over tables, against LogisticRegression's;
- whole-table imputation of the held-out tables (30% MCAR, one seed): the median over tables of tabdiff's nRMSE
  divided by MissForest's.

The baselines (MissForest, LogisticRegression, Ridge, the oracle) do not depend on the network, so they run once and
their result rows are kept in a JSON file (data/speedrun_baselines.json) under a key of everything they depend on:
the evaluation settings, a fingerprint of the tasks themselves (tables, rows, masks, splits, probe tables: a change
of tables, seed or of the code that draws them shows) and the scikit-learn version. A stale file is rebuilt.
Plain arguments only: scripts/speedrun.py reads the settings from the configs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn

from tabdiff.checkpoint import LoadedCheckpoint
from tabdiff.evaluation.baselines import BaselineOptions
from tabdiff.evaluation.icl_probe import ProbeConfig, make_probe_tasks, probe_summary
from tabdiff.evaluation.methods import TabDiffSetting
from tabdiff.evaluation.report import per_table
from tabdiff.evaluation.runner import EvaluationConfig, TaskKind, evaluate
from tabdiff.evaluation.supervised import make_supervised_tasks
from tabdiff.evaluation.zero_shot import make_tasks

log = logging.getLogger(__name__)

PROBE_TASKS: tuple[TaskKind, ...] = ("imputation", "classification", "icl_probe")
IMPUTER, CLASSIFIER, PROBE_REFERENCE = "missforest", "logreg", "ridge"  # the baselines each probe is a share of
NETWORK = "tabdiff"  # the method name of the network's rows (TabDiffSetting's default name)
# the figures a record must reach at --minutes 30 (docs/speedrun.md): today's shipped network without its experts
TARGETS: dict[str, tuple[str, float]] = {
    "icl_linear_256_ridge": (">=", 0.67),
    "imputation_ratio_missforest": ("<=", 1.023),
    "classification_accuracy": (">=", 0.741),
}


@dataclass(frozen=True)
class SpeedrunProbes:
    """What the probes run: fixed tasks (their own seed, not the training run's) and the estimators' defaults."""

    seed: int = 0  # draws the masks, splits and probe tables: the same for every run
    tables: tuple[str, ...] | None = None  # held-out tables by name; None = all
    missing_rate: float = 0.3  # imputation: share of the observed cells hidden (MCAR)
    max_rows: int | None = None  # rows per held-out table (a random subset); None = whole tables
    max_cols: int | None = None
    probe: ProbeConfig = field(default_factory=lambda: ProbeConfig(context_rows=(64, 256, 1024)))
    baseline_options: BaselineOptions = field(default_factory=BaselineOptions)
    setting: TabDiffSetting = field(default_factory=TabDiffSetting)  # the estimators as a user gets them

    def evaluation_config(self, *, network: bool) -> EvaluationConfig:
        """The runner's config of the network's runs (`network`) or of the baselines' runs."""
        return EvaluationConfig(
            tables=self.tables,
            tasks=PROBE_TASKS,
            seeds=(self.seed,),
            max_rows=self.max_rows,
            max_cols=self.max_cols,
            rates=(self.missing_rate,),
            mechanisms=("mcar",),
            imputers=() if network else (IMPUTER,),
            classifiers=() if network else (CLASSIFIER,),
            probe_baselines=() if network else (PROBE_REFERENCE,),
            baseline_options=self.baseline_options,
            tabdiff=(replace(self.setting, name=NETWORK),) if network else (),
            sweep=(),
            probe=self.probe,
        )

    @cached_property
    def key(self) -> str:
        """A hash of everything the baselines' results depend on (drawing the tasks takes a second or two)."""
        described = {"probes": self.described(), "tasks": self.task_fingerprint(), "sklearn": sklearn.__version__}
        return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def described(self) -> dict:
        """The settings the baselines depend on (the network's estimator setting is not one)."""
        return {k: v for k, v in asdict(self).items() if k != "setting"}

    def task_fingerprint(self) -> str:
        """A hash of the tasks' data: the tables' rows, the imputation masks, the train/test splits, the probe tables."""
        digest = hashlib.sha256()

        def add(*frames) -> None:
            for frame in frames:
                if isinstance(frame, np.ndarray):
                    digest.update(np.ascontiguousarray(frame).tobytes())
                else:
                    digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
                    names = frame.columns if isinstance(frame, pd.DataFrame) else [frame.name]
                    digest.update(json.dumps([str(c) for c in names]).encode())

        caps = {"max_rows": self.max_rows, "max_cols": self.max_cols, "seed": self.seed, "tables": self.tables}
        for task in make_tasks(missing_rate=self.missing_rate, mechanism="mcar", **caps):
            digest.update(task.name.encode())
            add(task.frame, task.known_mask)
        for task in make_supervised_tasks("classification", **caps):
            digest.update(task.name.encode())
            add(task.X_train, task.y_train, task.X_test, task.y_test)
        for task in make_probe_tasks(self.probe, seed=self.seed):
            add(task.X_train, task.y_train, task.X_test, task.y_test, task.oracle_test)
        return digest.hexdigest()[:16]


def baseline_results(
    probes: SpeedrunProbes, path: str | Path, *, refresh: bool = False, progress: bool = False
) -> tuple[pd.DataFrame, bool]:
    """(the baselines' result rows, whether they were computed now): from the cache at `path` when its key matches,
    else computed (minutes: MissForest on the large tables) and written there."""
    path = Path(path)
    key = probes.key
    if not refresh and path.exists():
        cached = json.loads(path.read_text())
        if cached.get("key") == key:
            return pd.DataFrame(cached["rows"]), False
        log.warning("%s was made for other probes (key %s, now %s): computing the baselines again", path,
                    cached.get("key"), key)  # fmt: skip
    start = time.perf_counter()
    rows = evaluate(probes.evaluation_config(network=False), progress=progress)
    wall = time.perf_counter() - start
    payload = {
        "key": key,
        "about": "speedrun baselines (tabdiff/evaluation/speedrun.py); rebuild: python scripts/speedrun.py "
        "--refresh-baselines",
        "sklearn": sklearn.__version__,
        "wall_s": round(wall, 1),
        "probes": probes.described(),
        "rows": _compact(rows),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    log.info("baselines computed in %.0f s -> %s", wall, path)
    return rows, True


def score_network(
    checkpoint: LoadedCheckpoint, probes: SpeedrunProbes, baselines: pd.DataFrame, *, progress: bool = False
) -> tuple[dict[str, float], pd.DataFrame]:
    """(figures, every result row): the network's runs on the probes, next to the cached baselines' rows."""
    ours = evaluate(probes.evaluation_config(network=True), checkpoint=checkpoint, progress=progress)
    ours = ours[ours.family == "tabdiff"]  # the oracle rows come with the baselines
    results = pd.concat([baselines, ours], ignore_index=True)
    return speedrun_figures(results), results


def speedrun_figures(results: pd.DataFrame) -> dict[str, float]:
    """The probes' figures from result rows holding both the network's runs and the baselines'."""
    figures: dict[str, float] = {}
    summary = probe_summary(results, reference=PROBE_REFERENCE, method=NETWORK)
    for (family, n_context), row in summary.iterrows():
        for reference, column in (("ridge", f"{NETWORK} / {PROBE_REFERENCE}"), ("optimum", f"{NETWORK} / oracle")):
            figures[f"icl_{family}_{n_context}_{reference}"] = _float(row.get(column))

    nrmse = per_table(results[results.task == "imputation"], "nrmse")
    ratio = _column(nrmse, NETWORK) / _column(nrmse, IMPUTER)
    figures["imputation_ratio_missforest"] = _median(ratio)
    figures["imputation_nrmse"] = _median(_column(nrmse, NETWORK))
    figures["imputation_nrmse_missforest"] = _median(_column(nrmse, IMPUTER))
    figures["imputation_beats_missforest"] = int((ratio < 1).sum())
    figures["imputation_tables"] = int(ratio.notna().sum())

    classification = results[results.task == "classification"]
    accuracy, auc = per_table(classification, "accuracy"), per_table(classification, "roc_auc")
    figures["classification_accuracy"] = _median(_column(accuracy, NETWORK))
    figures["classification_accuracy_logreg"] = _median(_column(accuracy, CLASSIFIER))
    figures["classification_roc_auc"] = _median(_column(auc, NETWORK))
    figures["classification_roc_auc_logreg"] = _median(_column(auc, CLASSIFIER))
    figures["classification_at_least_logreg"] = int((_column(accuracy, NETWORK) >= _column(accuracy, CLASSIFIER)).sum())
    figures["classification_tables"] = int(_column(accuracy, NETWORK).notna().sum())
    figures["failed_runs"] = int((results.status == "failed").sum())
    return figures


def meets_targets(figures: dict[str, float]) -> dict[str, bool]:
    """Each target figure: whether it reaches its target (False where it is missing)."""
    met = {}
    for name, (direction, target) in TARGETS.items():
        value = figures.get(name, float("nan"))
        met[name] = bool(value >= target if direction == ">=" else value <= target)  # NaN compares False
    return met


def _compact(rows: pd.DataFrame) -> list[dict]:
    """The result rows as JSON records without their empty fields (most of the runner's columns are some other
    task's): a third of the file."""
    return [{k: v for k, v in row.items() if v is not None} for row in json.loads(rows.to_json(orient="records"))]


def _column(frame: pd.DataFrame, method: str) -> pd.Series:
    return frame[method] if method in frame else pd.Series(np.nan, index=frame.index, dtype=float)


def _median(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.median()) if len(values) else float("nan")


def _float(value) -> float:
    return float("nan") if value is None or pd.isna(value) else float(value)
