"""The speedrun's records: one JSON line per run in speedrun.jsonl (the machine-readable source), rendered into the
records table of speedrun.md and the plot speedrun.png beside it.

speedrun.md keeps whatever is written above `MARKER` (how to run it, what counts as a record, the targets); the
table below it is rewritten from the JSON lines at every append, so the three files never disagree.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from tabdiff.evaluation.speedrun import TARGETS

JSONL, MARKDOWN, PLOT = "speedrun.jsonl", "speedrun.md", "speedrun.png"
MARKER = (
    "<!-- records: rendered from speedrun.jsonl by tabdiff/evaluation/speedrun_records.py; edit above this line -->"
)
DEFAULT_INTRO = """# Speedrun

`python scripts/speedrun.py --minutes 30 --seed 0 --out outputs/sr0 --change "what changed"`: train from scratch for
the budget, score the export on the fixed probes, append a row here. See the repository's docs/speedrun.md.
"""
# (figure, header) of the records table; the figures with a target are bold where they reach it
COLUMNS = [
    ("icl_linear_64_ridge", "linear 64"),
    ("icl_linear_256_ridge", "linear 256"),
    ("icl_linear_1024_ridge", "linear 1,024"),
    ("icl_glm_256_ridge", "GLM 256"),
    ("icl_tree_256_optimum", "tree 256 (÷ optimum)"),
    ("imputation_ratio_missforest", "imputation ÷ MissForest"),
    ("classification_accuracy", "class. accuracy"),
    ("classification_roc_auc", "ROC AUC"),
]
# the plot's panels: (title, [(figure, label)], target figure or None)
PANELS = [
    ("linear probe, share of Ridge's R^2", [(f"icl_linear_{n}_ridge", f"{n} rows") for n in (64, 256, 1024)],
     "icl_linear_256_ridge"),
    ("GLM (÷ Ridge) and tree (÷ optimum), 256 rows",
     [("icl_glm_256_ridge", "GLM ÷ Ridge"), ("icl_tree_256_optimum", "tree ÷ optimum")], None),
    ("imputation: median nRMSE ratio to MissForest", [("imputation_ratio_missforest", "tabdiff")],
     "imputation_ratio_missforest"),
    ("classification: median accuracy", [("classification_accuracy", "tabdiff")], "classification_accuracy"),
]  # fmt: skip


def read_records(docs_dir: str | Path) -> list[dict]:
    path = Path(docs_dir) / JSONL
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_record(record: dict, docs_dir: str | Path, *, plot: bool = True) -> dict[str, Path]:
    """Append `record` to speedrun.jsonl under `docs_dir`, then render speedrun.md (and speedrun.png)."""
    docs_dir = Path(docs_dir)
    docs_dir.mkdir(parents=True, exist_ok=True)
    with (docs_dir / JSONL).open("a") as out:
        out.write(json.dumps(record, sort_keys=True) + "\n")
    return render(docs_dir, plot=plot)


def render(docs_dir: str | Path, *, plot: bool = True) -> dict[str, Path]:
    """speedrun.md's table (and speedrun.png) from speedrun.jsonl; the text above the marker is kept."""
    docs_dir = Path(docs_dir)
    records = read_records(docs_dir)
    markdown = docs_dir / MARKDOWN
    intro = markdown.read_text().split(MARKER)[0].rstrip() if markdown.exists() else DEFAULT_INTRO.rstrip()
    markdown.write_text(intro + "\n\n" + MARKER + "\n\n" + records_table(records) + "\n")
    paths = {"markdown": markdown, "records": docs_dir / JSONL}
    if plot and records:
        paths["plot"] = plot_records(records, docs_dir / PLOT)
    return paths


def records_table(records: list[dict]) -> str:
    """The records as a pipe table, oldest first."""
    header = ["date", "commit", "change", "minutes", "seed", "steps", "tables seen", "parameters"]
    header += [name for _, name in COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in records:
        figures = r.get("figures", {})
        cells = [
            str(r.get("date", ""))[:16].replace("T", " "),
            f"`{r.get('commit', '')}`",
            str(r.get("change", "")).replace("|", "/") or "–",
            f"{r.get('minutes', float('nan')):g}",
            str(r.get("seed", "")),
            f"{r.get('steps', 0):,}",
            f"{r.get('tables_seen', 0):,}",
            f"{r.get('parameters', 0):,}",
        ]
        cells += [_figure(figures, name) for name, _ in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _figure(figures: dict, name: str) -> str:
    value = figures.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{value:.3f}"
    if name in TARGETS:
        direction, target = TARGETS[name]
        if (value >= target) if direction == ">=" else (value <= target):
            text = f"**{text}**"
    return text


def plot_records(records: list[dict], path: str | Path) -> Path:
    """The probes against training minutes, one marker per run, coloured by its change; targets dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    changes = list(dict.fromkeys(str(r.get("change") or "–") for r in records))
    colours = {change: plt.cm.tab10(i % 10) for i, change in enumerate(changes)}
    markers = "osD^v<>"
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    for ax, (title, series, target) in zip(axes.flat, PANELS, strict=True):
        for k, (name, _) in enumerate(series):
            for change in changes:
                points = [
                    (r["minutes"], r["figures"][name])
                    for r in records
                    if str(r.get("change") or "–") == change and r.get("figures", {}).get(name) is not None
                ]
                if points:
                    x, y = zip(*points, strict=True)
                    ax.scatter(x, y, color=colours[change], marker=markers[k % len(markers)], s=30)
        if target is not None:
            direction, value = TARGETS[target]
            ax.axhline(value, color="grey", linestyle="--", linewidth=1)
            ax.annotate(f"target {direction} {value:g} at 30 min", (0.01, 0.95), xycoords="axes fraction",
                        fontsize=7, color="grey", va="top")  # fmt: skip
        if len(series) > 1:  # the series apart by marker, in grey: the colours are the changes
            ax.legend(handles=[plt.Line2D([], [], marker=markers[k % len(markers)], linestyle="", color="grey",
                                          label=label) for k, (_, label) in enumerate(series)],
                      fontsize=7, loc="lower right")  # fmt: skip
        ax.set_xlim(left=0)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("training minutes (2-core CPU)", fontsize=8)
        ax.tick_params(labelsize=7)
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=colours[c], label=c[:60]) for c in changes]
    fig.legend(handles=handles, loc="lower center", ncol=min(3, len(changes)), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.04 + 0.025 * math.ceil(len(changes) / 3), 1, 1))
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
