"""`tabdiff` command line: impute a table, or predict a target column, from CSV / Parquet / Feather / Excel files.

    tabdiff impute INPUT.csv -o OUTPUT.csv [--checkpoint PATH] [--experts none] [--sampler auto] [--n-steps N] ...
    tabdiff predict --target COL --train TRAIN.csv --test TEST.csv -o OUT.csv [--task classification]
    tabdiff generate INPUT.csv -n 1000 -o SYNTHETIC.csv [--condition sex=F] [--target label] [--rounds 2] ...

`predict` picks the task from the training target when --task is not given: a non-numeric or boolean
target, or an integer one with at most 10 distinct values, is classification; anything else regression.
Classification writes the predicted class and one `proba_<class>` column per class. CSV dialects are
sniffed (see `tabdiff.inference.files`; `--sep` / `--decimal` override). Any failure exits with status 2
and a one-line message (TABDIFF_DEBUG=1 shows the traceback); warnings are one line each.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import pandas as pd
from pandas.api import types as ptypes

from tabdiff.experts import EXPERT_CHOICES
from tabdiff.experts.blend import CLASSICAL
from tabdiff.inference.files import SUFFIXES, read_table, write_table
from tabdiff.inference.frames import NON_NUMERIC
from tabdiff.inference.generator import STARTS
from tabdiff.inference.inpaint import SAMPLER_CHOICES
from tabdiff.inference.plan import CONTEXT_CHOICES

MAX_INTEGER_CLASSES = 10  # an integer target with at most this many distinct values is a class label


def pick_task(target: pd.Series) -> str:
    """classification for non-numeric, boolean, or integer targets with few values; else regression."""
    if not ptypes.is_numeric_dtype(target.dtype) or ptypes.is_bool_dtype(target.dtype):
        return "classification"
    if ptypes.is_integer_dtype(target.dtype) and target.nunique() <= MAX_INTEGER_CLASSES:
        return "classification"
    return "regression"


def _estimator_options(args: argparse.Namespace) -> dict:
    return {
        "checkpoint": args.checkpoint,
        "experts": args.experts,
        "sampler": args.sampler,
        "n_steps": args.n_steps,
        "n_samples": args.n_samples,
        "n_ensemble": args.n_ensemble,
        "max_rows": args.max_rows,
        "max_cols": args.max_cols,
        "context": args.context,
        "adapt_steps": args.adapt_steps,
        "non_numeric": args.non_numeric,
        "device": args.device,
        "progress": not args.quiet,
        "random_state": args.seed,
    }


def run_impute(args: argparse.Namespace) -> None:
    from tabdiff.inference.imputer import TabDiffImputer

    source = read_table(args.input, sep=args.sep, decimal=args.decimal)
    frame = source.frame
    start = time.perf_counter()
    imputer = TabDiffImputer(**_estimator_options(args), blend=tuple(args.blend or ()))
    filled = imputer.fit_transform(frame)
    seconds = time.perf_counter() - start
    write_table(filled, args.output, like=source)
    if not args.quiet:
        missing = frame.isna().sum()
        print(
            f"tabdiff impute: filled {int(missing.sum())} missing cells in {int((missing > 0).sum())} of "
            f"{frame.shape[1]} columns ({frame.shape[0]} rows) in {seconds:.1f} s with sampler={args.sampler} "
            f"-> {args.output}",
            file=sys.stderr,
        )
        if args.blend:
            weights = ", ".join(f"{name} {w:.2f}" for name, w in getattr(imputer, "blend_weights_", {}).items())
            print(f"tabdiff impute: numeric cells blended with weights {weights}", file=sys.stderr)


def run_predict(args: argparse.Namespace) -> None:
    from tabdiff.inference.predictors import TabDiffClassifier, TabDiffRegressor

    source = read_table(args.train, sep=args.sep, decimal=args.decimal)
    train, test = source.frame, read_table(args.test, sep=args.sep, decimal=args.decimal).frame
    if args.target not in train.columns:
        raise ValueError(f"target column {args.target!r} is not in {args.train} (columns: {list(train.columns)[:20]})")
    features = [c for c in train.columns if c != args.target]
    absent = [c for c in features if c not in test.columns]
    if absent:
        raise ValueError(f"{args.test} lacks the feature column(s) {absent[:10]} of {args.train}")
    task = args.task or pick_task(train[args.target])
    estimator = (TabDiffClassifier if task == "classification" else TabDiffRegressor)(**_estimator_options(args))
    estimator.fit(train[features], train[args.target])
    out = pd.DataFrame(index=test.index)
    if task == "classification":
        proba = estimator.predict_proba(test[features])
        out[args.target] = estimator.classes_[proba.argmax(axis=1)]
        for k, label in enumerate(estimator.classes_):
            out[f"proba_{label}"] = proba[:, k]
    else:
        out[args.target] = estimator.predict(test[features])
    write_table(out, args.output, like=source)


def parse_condition(text: str, column: pd.Series) -> object:
    """`--condition col=value`'s value, read in the column's type (numbers, booleans, dates, or one of its
    categories written as text)."""
    name = column.name
    observed = column.dropna()
    if ptypes.is_bool_dtype(column.dtype) or (len(observed) and observed.map(type).isin([bool]).all()):
        lowered = text.strip().lower()
        if lowered not in {"true", "false", "1", "0"}:
            raise ValueError(f"--condition {name}={text}: column {name!r} holds booleans; write true or false")
        return lowered in {"true", "1"}
    if ptypes.is_datetime64_any_dtype(column.dtype):
        return pd.Timestamp(text)
    if ptypes.is_numeric_dtype(column.dtype):
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"--condition {name}={text}: column {name!r} holds numbers") from None
        return int(value) if ptypes.is_integer_dtype(column.dtype) and value.is_integer() else value
    matches = [value for value in observed.unique() if str(value) == text]
    if not matches:
        shown = sorted(map(str, observed.unique()))[:20]
        raise ValueError(f"--condition {name}={text}: {text!r} is not a value of column {name!r} (values: {shown})")
    return matches[0]


def run_generate(args: argparse.Namespace) -> None:
    from tabdiff.inference.generator import TabDiffGenerator

    source = read_table(args.input, sep=args.sep, decimal=args.decimal)
    frame = source.frame
    conditions = {}
    for item in args.condition or []:
        name, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"--condition {item!r}: write COLUMN=VALUE, e.g. --condition sex=F")
        if name not in frame.columns:
            raise ValueError(
                f"--condition {item!r}: {name!r} is not a column of {args.input} ({list(frame.columns)[:20]})"
            )
        conditions[name] = parse_condition(text, frame[name])
    if args.target is not None and args.target not in frame.columns:
        raise ValueError(f"--target {args.target!r} is not a column of {args.input} ({list(frame.columns)[:20]})")
    start = time.perf_counter()
    generator = TabDiffGenerator(
        checkpoint=args.checkpoint, experts=args.experts, sampler=args.sampler, n_steps=args.n_steps, start=args.start,
        rounds=args.rounds,
        target=args.target, max_rows=args.max_rows, max_cols=args.max_cols, adapt_steps=args.adapt_steps, non_numeric=args.non_numeric, device=args.device,
        progress=not args.quiet, random_state=args.seed,
    )  # fmt: skip
    rows = generator.fit(frame).sample(args.n_rows, conditions=conditions)
    seconds = time.perf_counter() - start
    write_table(rows, args.output, like=source)
    if not args.quiet:
        print(
            f"tabdiff generate: {args.n_rows} rows like the {frame.shape[0]} x {frame.shape[1]} table in {seconds:.1f} s "
            f"with sampler={args.sampler} -> {args.output}",
            file=sys.stderr,
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tabdiff", description="In-context imputation, prediction and generation with tabdiff."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    impute = commands.add_parser("impute", help="fill the missing cells of a CSV / Parquet table")
    impute.add_argument("input", help=f"the table ({' '.join(SUFFIXES)}); empty cells are missing")
    impute.add_argument(
        "--blend", nargs="+", choices=list(CLASSICAL), metavar="IMPUTER",
        help=f"blend the model's numeric fills with these imputers' ({', '.join(CLASSICAL)}), weighted per table "
        "by how well each fills known cells hidden for the purpose, e.g. --blend mice knn",
    )  # fmt: skip
    predict = commands.add_parser("predict", help="predict a target column of TEST from TRAIN")
    predict.add_argument("--target", required=True, help="the target column of TRAIN")
    predict.add_argument("--train", required=True, help="labelled rows (a table file, as for impute)")
    predict.add_argument("--test", required=True, help="rows to predict (a target column there is ignored)")
    predict.add_argument(
        "--task", choices=["classification", "regression"],
        help=f"default: classification for a non-numeric or boolean target, or an integer one with at most "
        f"{MAX_INTEGER_CLASSES} distinct values; regression otherwise",
    )  # fmt: skip
    generate = commands.add_parser("generate", help="make new rows like those of a table (synthetic data)")
    generate.add_argument("input", help=f"the table ({' '.join(SUFFIXES)}) whose rows the new ones resemble")
    generate.add_argument("-n", "--n-rows", type=int, required=True, help="how many rows to generate")
    generate.add_argument(
        "--condition", action="append", metavar="COLUMN=VALUE",
        help="every generated row holds this value (repeat for several columns), e.g. --condition sex=F",
    )  # fmt: skip
    generate.add_argument(
        "--start", choices=list(STARTS), default="rows",
        help="rows: each new row starts as a random real row whose cells are all regenerated (default); "
        "blank: fully unknown rows inpainted at once",
    )  # fmt: skip
    generate.add_argument(
        "--rounds", type=int, default=2,
        help="with --start rows: regeneration rounds, each redrawing its own random part of every row given the "
        "rest (default 2: half, then the other half)",
    )  # fmt: skip
    generate.add_argument(
        "--target", metavar="COLUMN",
        help="the label a model will learn from the new rows: regenerated once more given each whole new row",
    )  # fmt: skip
    for sub in (impute, predict, generate):
        sub.add_argument(
            "-o",
            "--output",
            required=True,
            help="where to write the result (.csv, .tsv, .parquet, .feather or .xlsx; a CSV keeps the input's separator)",
        )
        sub.add_argument(
            "--sep", help="CSV separator, e.g. ';' or '\\t' (default: sniffed among , ; tab |)", type=_separator
        )
        sub.add_argument("--decimal", choices=[".", ","], help="CSV decimal mark (default: ',' when sniffed)")
        sub.add_argument("--checkpoint", help="a .safetensors export or .ckpt (default: the bundled checkpoint)")
        sub.add_argument(
            "--experts", choices=list(EXPERT_CHOICES), default="checkpoint",
            help="in-context experts mixed into the network's estimate: those the checkpoint names (default), or "
            "none (the network alone)",
        )  # fmt: skip
        generating = sub is generate
        sub.add_argument(
            "--sampler", choices=list(SAMPLER_CHOICES), default="conditional" if generating else "auto",
            help="conditional (default for generate), or auto (default otherwise): one-pass ddim for point estimates, "
            "the conditional sampler for draws; any other: one sampler for everything",
        )  # fmt: skip
        sub.add_argument(
            "--n-steps", type=int, default=20 if generating else None,
            help="sampling steps (default: 20 for generate; else the sampler's: auto one pass for points, ddim 1, "
            "conditional 50, repaint 250)",
        )  # fmt: skip
        if not generating:
            sub.add_argument("--n-samples", type=int, default=1, help="draws per ensemble member")
            sub.add_argument("--n-ensemble", type=int, default=4, help="ensemble members (row/column permutations)")
            sub.add_argument(
                "--context", choices=list(CONTEXT_CHOICES), default="random",
                help="context rows of a chunk above --max-rows: a random subsample (default) or the nearest rows",
            )  # fmt: skip
        sub.add_argument("--max-rows", type=int, default=512, help="rows per chunk the model sees at once")
        sub.add_argument("--max-cols", type=int, default=64, help="columns the model sees at once")
        sub.add_argument(
            "--adapt-steps",
            type=int,
            default=0,
            help="fine-tune a copy of the model on this table first, at most N steps (default 0: none)",
        )
        sub.add_argument(
            "--non-numeric",
            choices=list(NON_NUMERIC),
            default="error",
            help="cells that are not numbers in a column of numbers: refuse the file (default, naming the cell) "
            "or treat them as missing",
        )
        sub.add_argument("--device", help="cpu or cuda (default: cuda when available)")
        sub.add_argument("--seed", type=int, help="random seed (same seed, same output)")
        sub.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


def _separator(text: str) -> str:
    sep = {"\\t": "\t", "tab": "\t"}.get(text, text)
    if len(sep) != 1:
        raise argparse.ArgumentTypeError(f"a separator is one character (or '\\t'), got {text!r}")
    return sep


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; any failure is one line on stderr and exit status 2 (TABDIFF_DEBUG=1 shows the traceback)."""
    parser = build_parser()
    args = parser.parse_args(argv)

    def one_line(message, category, filename, lineno, file=None, line=None):  # warnings as one line each
        print(f"tabdiff {args.command}: warning: {message}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line
            {"impute": run_impute, "predict": run_predict, "generate": run_generate}[args.command](args)
    except Exception as err:  # noqa: BLE001 - the CLI's contract: one line, status 2
        if os.environ.get("TABDIFF_DEBUG"):
            raise
        known = isinstance(err, (FileNotFoundError, ValueError, TypeError, OSError))
        detail = " ".join(str(err).split()) or type(err).__name__
        prefix = "" if known else f"{type(err).__name__}: "
        print(f"tabdiff {args.command}: error: {prefix}{detail}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
