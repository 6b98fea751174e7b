"""report.md and plots from a results frame (`tabdiff.evaluation.runner`).

Summaries are medians over tables of the seed-averaged figure of each table, so one large or odd table
cannot move them much; the per-table detail follows each summary.
"""

from __future__ import annotations

import math
from dataclasses import asdict, is_dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tabdiff.evaluation.icl_probe import probe_summary

# (column, header, lower is better) per task; the first one orders the summary
SUMMARY_METRICS = {
    "imputation": [("nrmse", "nRMSE", True), ("cat_accuracy", "cat. accuracy", False)],
    "classification": [
        ("accuracy", "accuracy", False),
        ("roc_auc", "ROC-AUC", False),
        ("log_loss", "log loss", True),
        ("ece", "ECE", True),
    ],
    "regression": [("r2", "R^2", False), ("coverage", "coverage", False), ("interval_width", "width/std", True)],
}  # fmt: skip


# baselines whose per-table wins the summary counts (issue 12's bars: MissForest, LogisticRegression, Ridge)
REFERENCES = {"imputation": ("mean", "missforest"), "classification": ("logreg",), "regression": ("ridge",)}


def per_table(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """(table x method) seed-averaged `metric` of the successful runs of one task/setting's rows."""
    ok = results[results.status == "ok"]
    return ok.pivot_table(index="table", columns="method", values=metric, aggfunc="mean", sort=False)


def summary(results: pd.DataFrame, task: str) -> pd.DataFrame:
    """One row per method: medians over tables, tables scored, wall time; sorted by the first metric."""
    metrics = SUMMARY_METRICS[task]
    columns = {}
    for metric, header, _ in metrics:
        columns[f"{header} (median)"] = per_table(results, metric).median()
    first, _, lower = metrics[0]
    scores = per_table(results, first)
    for reference in REFERENCES[task]:  # per-table wins against the baselines users pick instead
        if reference in scores:
            wins = scores.lt(scores[reference], axis=0) if lower else scores.ge(scores[reference], axis=0)
            columns[f"{'beats' if lower else '>='} {reference} on"] = wins.sum().astype(str) + f"/{len(scores)}"
    if task == "imputation":
        columns["nRMSE (mean)"] = scores.mean()
    columns["tables"] = per_table(results, "wall_s").count()
    columns["wall s/table (median)"] = per_table(results, "wall_s").median()
    columns["wall s (total)"] = results[results.status == "ok"].groupby("method", sort=False)["wall_s"].sum()
    frame = pd.DataFrame(columns)
    return frame.sort_values(f"{metrics[0][1]} (median)", ascending=lower, na_position="last")


def md_table(frame: pd.DataFrame, *, index: str | None = None, digits: int = 3) -> str:
    """A pipe table; floats rounded, NaN as a dash."""
    frame = frame.reset_index() if index is not None else frame
    if index is not None:
        frame = frame.rename(columns={frame.columns[0]: index})

    def cell(value) -> str:
        if isinstance(value, float | np.floating):
            return "–" if math.isnan(value) else f"{value:.{digits}f}"
        return str(value)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * frame.shape[1]]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def write_report(
    results: pd.DataFrame, out_dir: str | Path, *, meta: dict | None = None, plots: bool = True
) -> dict[str, Path]:
    """Write report.md (and plots/ when `plots`) under `out_dir`; returns their paths by name."""
    out_dir = Path(out_dir)
    meta = meta or {}
    paths: dict[str, Path] = {}
    if plots:
        paths |= write_plots(results, out_dir / "plots")
    lines = ["# tabdiff zero-shot evaluation", ""]
    config = meta.get("config")
    if config is not None:
        settings = asdict(config) if is_dataclass(config) else dict(config)
        lines += [
            f"- checkpoint: `{settings.get('checkpoint') or 'bundled (data/checkpoints/tabdiff-small.safetensors)'}`",
            f"- tables: {results.table.nunique()} held-out, rows <= {settings.get('max_rows')}, "
            f"columns <= {settings.get('max_cols')}; seeds {list(settings.get('seeds', []))}",
        ]
    if "wall_s" in meta:
        lines.append(f"- total wall time: {meta['wall_s']:.1f} s")
    lines += [f"- runs: {len(results)} ({(results.status == 'ok').sum()} ok, "
              f"{(results.status == 'skipped').sum()} skipped, {(results.status == 'failed').sum()} failed)", ""]  # fmt: skip
    lines += [
        "Medians over tables of each table's seed-averaged figure. nRMSE: RMSE on the masked numeric cells, "
        "each column scaled by its std (column means score about 1.0). Wall time per method includes "
        "fitting and, for tabdiff, encoding and every ensemble member (the checkpoint is loaded once). "
        "Regression coverage is that of the central interval (hgb: two quantile-loss models; tabdiff: "
        "`predict_quantiles` with the same setting, whose one-step DDIM draws are mean estimates: the interval "
        "then holds only the ensemble's spread).",
        "",
    ]
    for task in ("imputation", "classification", "regression"):
        rows = results[results.task == task]
        for setting, group in rows.groupby("setting", sort=False):
            lines += [f"## {task.capitalize()}: {setting}", "", md_table(summary(group, task), index="method"), ""]
            metric, header, _ = SUMMARY_METRICS[task][0]
            lines += [f"Per table ({header}):", "", md_table(per_table(group, metric), index="table"), ""]
            plot = paths.get(f"{task}_{setting}")
            if plot is not None:
                lines += [f"![{task} {setting}]({plot.relative_to(out_dir)})", ""]
    probe = probe_summary(results)
    if not probe.empty:
        lines += [
            "## In-context learning probe (regression tables from known models)",
            "",
            "Mean R^2 over the probe tables of each family and number of context rows; `oracle` predicts E[y | x] "
            "exactly (the Bayes-optimal R^2 of those test rows). The last columns are tabdiff's share of Ridge's "
            "and of the oracle's mean R^2.",
            "",
            md_table(probe.reset_index()),
            "",
        ]
    draws = draws_summary(results)
    if not draws.empty:
        lines += [
            "## Multiple imputation: the draws as a distribution",
            "",
            "Medians over tables of each table's seed-averaged figure. CRPS of the m draws per hidden numeric cell "
            "(standardized like nRMSE; a point method's single value: its MAE), coverage of the central 50/80/90% "
            "bands of the draws' distribution (from the true value's rank among the draws: calibrated draws cover "
            "the level whatever m), Brier and log score of the draws' category frequencies. References: "
            "`marginal` draws each cell from its column's observed values, `mice` is MICE with posterior sampling.",
            "",
            md_table(draws, index="method"),
            "",
        ]
    generation = generation_summary(results)
    if not generation.empty:
        lines += [
            "## Generation: new rows like each table's",
            "",
            "Each table's rows split into the rows a generator is given and a real holdout (never seen); as many "
            "new rows as given rows. Medians over tables of each table's seed-averaged figure: `ks` (numeric "
            "columns) and `tv` (categorical: total variation) against the given rows, `assoc_diff` the mean "
            "absolute difference of pairwise associations, `c2st_auc` a gradient-boosting classifier's "
            "cross-validated ROC-AUC telling given from new rows (0.5: indistinguishable), `mle_ratio` the "
            "holdout score of a model trained on the new rows over one trained on the given rows, `dcr_ratio` the "
            "new rows' median distance to their closest given row over the holdout's (below 1: closer than fresh "
            "real rows), `exact_copies` the share of new rows equal to a given row (`holdout_exact_copies`: the "
            "same for real holdout rows). `c2st < copula`: tables where the method's C2ST AUC is below the "
            "Gaussian copula's.",
            "",
            md_table(generation, index="method"),
            "",
        ]
    lines += ["## Wall time per method (all runs)", "", md_table(_wall_times(results), index="method", digits=2), ""]
    if "quality_vs_time" in paths:
        lines += ["## Quality vs. time over tabdiff sampler settings", "",
                  f"![quality vs time]({paths['quality_vs_time'].relative_to(out_dir)})", ""]  # fmt: skip
    problems = results[results.status != "ok"]
    if len(problems):
        detail = problems.groupby(["method", "status", "error"], sort=False).size().rename("runs").reset_index()
        lines += ["## Skipped and failed runs", "", md_table(detail), ""]
    paths["report"] = out_dir / "report.md"
    paths["report"].write_text("\n".join(lines))
    return paths


DRAW_METRICS = ("crps", "cov50", "cov80", "cov90", "brier", "log_score", "n_draws", "wall_s")


def draws_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Task multiple_imputation: per method, the median over tables of each table's seed-mean metrics."""
    rows = results[(results.task == "multiple_imputation") & (results.status == "ok")]
    if rows.empty:
        return pd.DataFrame()
    present = [m for m in DRAW_METRICS if m in rows]
    per_table = rows.groupby(["method", "table"], sort=False)[present].mean()
    return per_table.groupby(level="method", sort=False).median()


GENERATION_METRICS = (
    "ks", "tv", "assoc_diff", "c2st_auc", "mle_ratio", "dcr_ratio", "exact_copies", "holdout_exact_copies", "wall_s",
)  # fmt: skip


def generation_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Task generation: per method, the median over tables of each table's seed-mean metrics, and on how many
    tables its C2ST AUC is below the Gaussian copula's."""
    rows = results[(results.task == "generation") & (results.status == "ok")]
    if rows.empty:
        return pd.DataFrame()
    present = [m for m in GENERATION_METRICS if m in rows]
    per_table = rows.groupby(["method", "table"], sort=False)[present].mean()
    out = per_table.groupby(level="method", sort=False).median()
    if "c2st_auc" in per_table and "copula" in per_table.index.get_level_values("method"):
        copula = per_table.loc["copula", "c2st_auc"]
        wins = {}
        for method, group in per_table.groupby(level="method", sort=False):
            auc = group.droplevel("method")["c2st_auc"]
            common = auc.index.intersection(copula.index)
            wins[method] = f"{int((auc[common] < copula[common]).sum())}/{len(common)}"
        out["c2st < copula"] = pd.Series(wins)
    return out


def _wall_times(results: pd.DataFrame) -> pd.DataFrame:
    ok = results[results.status == "ok"].groupby(["method", "task"], sort=False)["wall_s"]
    frame = pd.DataFrame({"runs": ok.size(), "median s/run": ok.median(), "total s": ok.sum()}).reset_index()
    return frame.set_index("method").sort_values(["task", "total s"])


# --- plots ---------------------------------------------------------------------------------------------------


def write_plots(results: pd.DataFrame, plot_dir: str | Path) -> dict[str, Path]:
    """Per-table bar charts (nRMSE per imputation setting, accuracy, R^2) and the quality-vs-time plot."""
    import matplotlib

    matplotlib.use("Agg")
    plot_dir = Path(plot_dir)
    plot_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    labels = {"imputation": ("nrmse", "normalized RMSE (lower is better)", 1.0),
              "classification": ("accuracy", "accuracy", None), "regression": ("r2", "R^2", 0.0)}  # fmt: skip
    for (task, setting), group in results.groupby(["task", "setting"], sort=False):
        if task not in labels:
            continue
        metric, ylabel, ref = labels[task]
        table = per_table(group, metric)
        if table.empty:
            continue
        path = plot_dir / f"{task}_{setting}.png"
        _bar_chart(table, f"{task}, {setting}: per table", ylabel, path, ref=ref)
        paths[f"{task}_{setting}"] = path
    path = plot_dir / "quality_vs_time.png"
    if _quality_vs_time(results, path):
        paths["quality_vs_time"] = path
    return paths


def _bar_chart(table: pd.DataFrame, title: str, ylabel: str, path: Path, *, ref: float | None) -> None:
    import matplotlib.pyplot as plt

    methods = list(table.columns)
    width = 0.8 / len(methods)
    x = np.arange(len(table))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(table) + 3), 4))
    for k, method in enumerate(methods):
        style = {"edgecolor": "black", "linewidth": 0.8} if method.startswith("tabdiff") else {}
        ax.bar(x + (k - (len(methods) - 1) / 2) * width, table[method].to_numpy(), width, label=method, **style)
    if ref is not None:
        ax.axhline(ref, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xticks(x, table.index, rotation=45, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _quality_vs_time(results: pd.DataFrame, path: Path) -> bool:
    """Median nRMSE against median wall time per table, on the imputation setting with the most tabdiff settings."""
    import matplotlib.pyplot as plt

    rows = results[(results.task == "imputation") & (results.status == "ok")]
    if rows.empty:
        return False
    counts = rows[rows.family == "tabdiff"].groupby("setting").method.nunique()
    if counts.empty:
        return False
    setting = counts.idxmax()
    group = rows[rows.setting == setting]
    quality, wall = per_table(group, "nrmse").median(), per_table(group, "wall_s").median()
    family = group.groupby("method").family.first()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ours = sorted((m for m in quality.index if family[m] == "tabdiff"), key=lambda m: wall[m])
    ax.plot([wall[m] for m in ours], [quality[m] for m in ours], "o-", color="tab:red", label="tabdiff settings")
    others = [m for m in quality.index if family[m] != "tabdiff"]
    ax.scatter([wall[m] for m in others], [quality[m] for m in others], marker="s", color="tab:grey", label="baselines")
    for m in quality.index:
        ax.annotate(m, (wall[m], quality[m]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("median wall time per table (s, log)")
    ax.set_ylabel("median normalized RMSE")
    ax.set_title(f"quality vs. time, imputation {setting}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
