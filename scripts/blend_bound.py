"""How far blending the model with classical imputers can go on the held-out tables: the bound behind issue 12's
"adaptation <= 0.90 x MissForest".

For each held-out table and seed (the evaluation's tables and 30% MCAR masks, `make_tasks`), the model
(`TabDiffImputer()` defaults) and MissForest / MICE / KNN (`tabdiff.experts.blend`, the evaluation's reduced
settings) fill the table's missing cells, and again with a share of the known numeric cells hidden as well (as
`TabDiffImputer(blend=...)` hides them). Printed per table (means over seeds) and as medians over tables, each as
a ratio to MissForest's nRMSE:

- each method alone, and the best single method per table (chosen knowing the answers);
- blend: convex weights per table fit on the hidden known cells, as `blend=("missforest", "mice", "knn")` does;
- table oracle / column oracle: the convex weights per table / per column that fit the scored cells themselves
  (an upper bound on any blend of these four methods' fills; not something a user can run).

    python scripts/blend_bound.py                      # 14 tables x 3 seeds, ~40 minutes on one CPU core (bfi 6)
    python scripts/blend_bound.py --seeds 0 --tables wine glass
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import OmegaConf

from tabdiff.evaluation.baselines import OrdinalCodes
from tabdiff.evaluation.zero_shot import ImputationTask, make_tasks, scored_numeric
from tabdiff.experts.blend import MIN_HELD, classical_imputer, column_scale, convex_weights, fill_matrix, holdout_mask
from tabdiff.inference import TabDiffImputer

METHODS = ("tabdiff", "missforest", "mice", "knn")
CONFIG = Path(__file__).resolve().parents[1] / "conf" / "evaluate.yaml"


def fills(task: ImputationTask, hidden: np.ndarray, seed: int, options: dict) -> dict[str, np.ndarray]:
    """Each method's (rows, cols) fill of the task's table with the `hidden` known cells hidden too."""
    given = task.given.mask(hidden)
    codes = OrdinalCodes(task.given)
    x = codes.to_array(given)
    out = {"tabdiff": codes.to_array(TabDiffImputer(random_state=seed, progress=False).fit_transform(given))}
    for name in METHODS[1:]:
        out[name] = fill_matrix(classical_imputer(name, seed=seed, **options), x)
    return out


def scored(task: ImputationTask) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, truth, scale) of the cells nRMSE scores (`scored_numeric`), flattened."""
    parts = []
    for column, mask, truth, scale in scored_numeric(task):
        rows = np.flatnonzero(mask)
        parts.append(
            (rows, np.full(len(rows), task.frame.columns.get_loc(column)), truth[rows], np.full(len(rows), scale))
        )
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))


def table_figures(task: ImputationTask, seed: int, holdout: float, options: dict) -> dict[str, float]:
    """nRMSE of each method, the held-cell blend and the two oracles on one task."""
    codes = OrdinalCodes(task.given)
    x = codes.to_array(task.given)
    numeric = np.array([column in task.numeric for column in task.given.columns])
    held = holdout_mask(~np.isnan(x), numeric, holdout, np.random.default_rng([seed, 99]))
    test = fills(task, np.zeros_like(held), seed, options)
    rows, cols, truth, scale = scored(task)
    predictions = np.stack([test[name][rows, cols] for name in METHODS], axis=1) / scale[:, None]
    target = truth / scale
    out = {name: float(np.sqrt(np.mean((predictions[:, i] - target) ** 2))) for i, name in enumerate(METHODS)}

    def squared_errors(weights: np.ndarray, at: np.ndarray | slice = slice(None)) -> np.ndarray:
        return (predictions[at] @ weights - target[at]) ** 2

    weights = np.eye(len(METHODS))[0]  # too few cells to hide: the model alone, as TabDiffImputer does
    if held.sum() >= MIN_HELD:
        on_held = fills(task, held, seed, options)
        h_rows, h_cols = np.nonzero(held)
        h_scale = column_scale(x)[h_cols]
        h_predictions = np.stack([on_held[name][h_rows, h_cols] for name in METHODS], axis=1) / h_scale[:, None]
        weights = convex_weights(h_predictions, x[h_rows, h_cols] / h_scale)
    out["blend"] = float(np.sqrt(squared_errors(weights).mean()))
    out["table oracle"] = float(np.sqrt(squared_errors(convex_weights(predictions, target)).mean()))
    squared = np.concatenate(
        [squared_errors(convex_weights(predictions[cols == j], target[cols == j]), cols == j) for j in np.unique(cols)]
    )
    out["column oracle"] = float(np.sqrt(squared.mean()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tables", nargs="+", default=None, help="held-out table names (default: all)")
    parser.add_argument("--holdout", type=float, default=0.1, help="share of known numeric cells hidden for the blend")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    options = dict(OmegaConf.load(CONFIG).baseline_options)  # the evaluation's settings of the classical imputers
    records = []
    for seed in args.seeds:
        for task in make_tasks(missing_rate=0.3, seed=seed, tables=args.tables):
            start = time.perf_counter()
            records.append({"table": task.name, "seed": seed, **table_figures(task, seed, args.holdout, options)})
            print(f"{task.name} seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)
    means = pd.DataFrame(records).groupby("table").mean(numeric_only=True).drop(columns="seed")
    means["best single"] = means[list(METHODS)].min(axis=1)
    ratios = means.div(means["missforest"], axis=0)
    print(f"\nnRMSE as a ratio to MissForest's (means over seeds {args.seeds}):\n")
    print(ratios.round(3).to_string())
    print("\nmedian over tables:\n")
    print(ratios.median().round(4).to_string())


if __name__ == "__main__":
    main()
