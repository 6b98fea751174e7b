"""Columns with more categories than the model codes one per channel (issue 14): accuracy, and time. Prints figures.

    python scripts/bench_categories.py                       # bundled checkpoint, 3 seeds
    python scripts/bench_categories.py --checkpoint outputs/<run>/export/tabdiff.safetensors --seeds 0

Two tables: `grunfeld` (bundled, 220 rows: 11 firms by their investment, value and capital over 20 years)
and `cities` (synthetic, 600 rows: 40 cities, the city a function of a noisy (lat, lon), 8 cities 6x as
frequent as the others). Imputation hides 30% of the category cells (MCAR) and scores the accuracy of the
filled ones, split into cells whose category has a channel of its own and those sharing the "other"
channel; classification predicts the category of a random 30% of rows from the others. References: the
mode, k-nearest neighbours (k=5 on standardized numeric columns, the mean for their missing cells), and
for classification LogisticRegression (scaled). Medians over seeds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[1]


def cities(seed: int, n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).uniform(0, 10, size=(40, 2))
    weights = np.r_[np.full(8, 6.0), np.ones(32)]
    city = rng.choice(40, size=n, p=weights / weights.sum())
    place = centres[city] + rng.normal(scale=0.15, size=(n, 2))
    return pd.DataFrame({"lat": place[:, 0], "lon": place[:, 1], "city": [f"city{c:02d}" for c in city]})


def tables(seed: int) -> dict[str, tuple[pd.DataFrame, str]]:
    grunfeld = pd.read_parquet(ROOT / "data" / "tables" / "grunfeld.parquet")
    return {"grunfeld": (grunfeld, "firm"), "cities": (cities(seed), "city")}


def features(frame: pd.DataFrame, target: str) -> np.ndarray:
    numeric = frame.drop(columns=[target]).select_dtypes("number")
    return numeric.fillna(numeric.mean()).to_numpy(dtype=np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=None, help="default: the bundled checkpoint")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()

    from tabdiff import TabDiffClassifier, TabDiffImputer

    rows = []
    for seed in args.seeds:
        for name, (table, target) in tables(seed).items():
            rng = np.random.default_rng(1000 + seed)
            truth = table[target].astype(object).to_numpy()
            hidden = rng.random(len(table)) < 0.3
            given = table.copy()
            given.loc[hidden, target] = None
            start = time.perf_counter()
            imputer = TabDiffImputer(args.checkpoint, progress=False, random_state=seed).fit(given)
            filled = imputer.transform(given)[target].astype(object).to_numpy()
            seconds = time.perf_counter() - start
            rare_levels = set(
                np.asarray(imputer.encoder_.categories_[target], dtype=object)[imputer.encoder_.rare_levels(target)]
            )
            is_rare = np.array([v in rare_levels for v in truth])
            known = ~hidden
            knn = make_pipeline(StandardScaler(), KNeighborsClassifier(5)).fit(
                features(given, target)[known], truth[known]
            )
            knn_pred = knn.predict(features(given, target)[hidden])
            mode = pd.Series(truth[known]).mode()[0]
            row = {"table": name, "seed": seed, "levels": len(set(truth)), "task": "impute",
                   "tabdiff": np.mean(filled[hidden] == truth[hidden]),
                   "tabdiff_frequent": np.mean(filled[hidden & ~is_rare] == truth[hidden & ~is_rare]),
                   "tabdiff_other": np.mean(filled[hidden & is_rare] == truth[hidden & is_rare]) if (hidden & is_rare).any() else np.nan,
                   "mode": np.mean(truth[hidden] == mode), "knn": np.mean(knn_pred == truth[hidden]), "tabdiff_s": seconds}  # fmt: skip
            rows.append(row)
            # classification: predict the category of held-out rows from the other columns
            test = hidden
            x = table.drop(columns=[target])
            start = time.perf_counter()
            model = TabDiffClassifier(args.checkpoint, progress=False, random_state=seed).fit(x[~test], truth[~test])
            predicted = model.predict(x[test])
            seconds = time.perf_counter() - start
            logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
            logreg.fit(features(table, target)[~test], truth[~test])
            rows.append({"table": name, "seed": seed, "levels": len(set(truth)), "task": "classify",
                         "tabdiff": np.mean(predicted == truth[test]), "mode": np.mean(truth[test] == mode),
                         "knn": np.mean(knn.fit(features(table, target)[~test], truth[~test]).predict(features(table, target)[test]) == truth[test]),
                         "logreg": np.mean(logreg.predict(features(table, target)[test]) == truth[test]),
                         "tabdiff_s": seconds})  # fmt: skip
            print(pd.DataFrame(rows[-2:]).round(3).to_string(index=False), flush=True)
    result = pd.DataFrame(rows).groupby(["task", "table"]).median(numeric_only=True).drop(columns=["seed"])
    print("\nmedians over seeds (accuracy; tabdiff_s = wall seconds, fit + predict)")
    print(result.round(3).to_string())


if __name__ == "__main__":
    main()
