"""Synthetic rows in context: more rows like a table's, rows that hold a condition, and a plot of the marginals.

    python examples/generate_rows.py                  # penguins (bundled, held out from pretraining), 344 new rows
    python examples/generate_rows.py --rows 1000 --out outputs/examples

Writes `penguins_synthetic.csv` (new rows like the table's), `penguins_female.csv` (rows with sex == "female")
and `penguins_marginals.png` (each column's real and synthetic distribution) under --out, and prints the quality
figures of `tabdiff.evaluation.generation.generation_metrics` for tabdiff (without and with `target="species"`)
and for a Gaussian copula, all given the same 70% of the rows and scored against the other 30%.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def plot_marginals(real: pd.DataFrame, synthetic: pd.DataFrame, path: Path) -> Path:
    """One panel per column: histograms (numbers) or category shares (categories) of the real and new rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pandas.api import types as ptypes

    n_cols = 4
    n_rows = -(-real.shape[1] // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 2.6 * n_rows), squeeze=False)
    for ax, name in zip(axes.flat, real.columns, strict=False):
        column = real[name]
        if ptypes.is_numeric_dtype(column.dtype) and not ptypes.is_bool_dtype(column.dtype) and column.nunique() > 10:
            values = column.dropna().to_numpy(np.float64)
            bins = np.histogram_bin_edges(values, bins=20)
            ax.hist(values, bins=bins, density=True, alpha=0.5, label="real")
            ax.hist(
                synthetic[name].dropna().to_numpy(np.float64), bins=bins, density=True, alpha=0.5, label="synthetic"
            )
        else:
            shares = pd.DataFrame(
                {"real": column.value_counts(normalize=True), "synthetic": synthetic[name].value_counts(normalize=True)}
            ).fillna(0.0)
            shares.plot.bar(ax=ax, alpha=0.7, legend=False, rot=30)
            ax.set_xlabel("")
        ax.set_title(str(name), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[real.shape[1] :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=None, help="new rows (default: as many as the table has)")
    parser.add_argument("--out", default=str(ROOT / "outputs" / "examples"), help="where the files go")
    parser.add_argument("--checkpoint", default=None, help="default: the bundled checkpoint")
    args = parser.parse_args()
    from tabdiff import TabDiffGenerator
    from tabdiff.evaluation.generation import generate_baseline, generation_metrics

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    real = pd.read_parquet(ROOT / "data" / "tables" / "penguins.parquet")
    n_rows = args.rows or len(real)

    # 1. a synthetic copy (share it instead of the real rows), and 2. rows that hold a condition
    generator = TabDiffGenerator(args.checkpoint, progress=False, random_state=0).fit(real)
    synthetic = generator.sample(n_rows)
    female = generator.sample(100, conditions={"sex": "female"})
    synthetic.to_csv(out / "penguins_synthetic.csv", index=False)
    female.to_csv(out / "penguins_female.csv", index=False)
    plot = plot_marginals(real, synthetic, out / "penguins_marginals.png")
    print(f"{n_rows} new rows like penguins' {len(real)} -> {out / 'penguins_synthetic.csv'}; marginals -> {plot}")
    print(
        "body mass (g), real females / real males / generated with sex=female: "
        f"{real.loc[real.sex == 'female', 'body_mass_g'].mean():.0f} / "
        f"{real.loc[real.sex == 'male', 'body_mass_g'].mean():.0f} / {female['body_mass_g'].mean():.0f}"
    )

    # 3. how good: tabdiff and a Gaussian copula given the same 70% of the rows, scored against the other 30%
    order = np.random.default_rng(0).permutation(len(real))
    train, holdout = (
        real.iloc[np.sort(order[: int(0.7 * len(real))])],
        real.iloc[np.sort(order[int(0.7 * len(real)) :])],
    )

    def tabdiff(**kwargs):
        return TabDiffGenerator(args.checkpoint, progress=False, random_state=0, **kwargs).fit(train).sample(len(train))

    rows = {
        "tabdiff": tabdiff(),
        # the label a model will be trained on, redrawn once more given each whole new row: for augmenting
        "tabdiff target=species": tabdiff(target="species"),
        "copula": generate_baseline("copula", train, len(train), seed=0),
    }
    scores = pd.DataFrame(
        {
            name: generation_metrics(train, holdout, new, target="species", task="classification")
            for name, new in rows.items()
        }
    ).T
    print(scores[["ks", "tv", "assoc_diff", "c2st_auc", "mle_ratio", "dcr_ratio", "exact_copies"]].round(3).to_string())


if __name__ == "__main__":
    main()
