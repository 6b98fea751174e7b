"""Odd files as users have them, through the CLI (issue 14): each gets a filled table, or exit status 2 with
one line that names the problem and its fix. The list is the closing note's "odd inputs tried"."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabdiff.inference.cli import main
from tabdiff.inference.files import read_table

N = 40


def base() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=N).round(3)
    frame = pd.DataFrame(
        {"x": x, "y": (2 * x + rng.normal(scale=0.1, size=N)).round(3), "kind": rng.choice(["a", "b"], N)}
    )
    frame.loc[[3, 9, 17], "y"] = np.nan
    frame.loc[[5, 11], "kind"] = None
    return frame


def write(text: str, name: str, encoding: str = "utf-8") -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(text.encode(encoding))
        return path

    return make


def frame_to(name: str, **options) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        frame = options.pop("frame", None)
        frame = base() if frame is None else frame
        if name.endswith(".gz"):
            with gzip.open(path, "wt") as handle:
                frame.to_csv(handle, index=False)
        elif name.endswith(".parquet"):
            frame.to_parquet(path)
        elif name.endswith(".feather"):
            frame.to_feather(path)
        elif name.endswith(".xlsx"):
            frame.to_excel(path, index=False)
        else:
            frame.to_csv(path, **{"index": False, **options})
        return path

    return make


def with_column(**columns) -> pd.DataFrame:
    frame = base()
    for name, values in columns.items():
        frame[name] = values
    return frame


DATES = pd.Timestamp("2021-01-01") + pd.to_timedelta(np.arange(N) * 3, unit="D")
TEXT_NUMBERS = [f"{v:.1f}" for v in np.linspace(0, 50, N)]
TEXT_NUMBERS[6] = "oops"
# name -> (file maker, "filled" or a fragment of the one-line error)
ODD_FILES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "comma.csv": (frame_to("t.csv"), "filled"),
    "semicolon-decimal-comma.csv": (frame_to("t.csv", sep=";", decimal=","), "filled"),
    "tab.tsv": (frame_to("t.tsv", sep="\t"), "filled"),
    "tab-as.txt": (frame_to("t.txt", sep="\t"), "filled"),
    "pipe.csv": (frame_to("t.csv", sep="|"), "filled"),
    "utf8-bom.csv": (write("\ufeffx,y\n1,2\n2,\n3,6\n4,8\n", "t.csv"), "filled"),
    "latin1.csv": (write("ville,x\nMontréal,1\nQuébec,\nMontréal,3\nQuébec,4\n", "t.csv", "cp1252"), "filled"),
    "gzip.csv.gz": (frame_to("t.csv.gz"), "filled"),
    "parquet": (frame_to("t.parquet"), "filled"),
    "feather": (frame_to("t.feather"), "filled"),
    "excel.xlsx": (frame_to("t.xlsx"), "filled"),
    "iso-dates.csv": (frame_to("t.csv", frame=with_column(when=DATES.where(np.arange(N) % 7 != 1))), "filled"),
    "day-first-dates.csv": (
        frame_to("t.csv", frame=with_column(when=DATES.strftime("%d/%m/%Y").where(np.arange(N) % 7 != 1))),
        "filled",
    ),
    "many-categories.csv": (frame_to("t.csv", frame=with_column(state=[f"S{k % 25}" for k in range(N)])), "filled"),
    "identifier-column.csv": (frame_to("t.csv", frame=with_column(uid=[f"u{k:03d}" for k in range(N)])), "filled"),
    "constant-column.csv": (frame_to("t.csv", frame=with_column(c=7.0)), "filled"),
    "boolean-text.csv": (
        frame_to("t.csv", frame=with_column(ok=np.where(np.arange(N) % 3, "True", "False"))),
        "filled",
    ),
    "index-column.csv": (frame_to("t.csv", index=True), "filled"),
    "quoted-commas.csv": (write('name,x\n"Smith, J",1\n"Doe, A",\n"Smith, J",3\n"Roe, B",4\n', "t.csv"), "filled"),
    "na-markers.csv": (write("x,y\n1,NA\n2,N/A\n3,6\nnan,8\n5,\n", "t.csv"), "filled"),
    "stray-word.csv": (frame_to("t.csv", frame=with_column(amount=TEXT_NUMBERS)), "'oops' in row 6"),
    "question-marks.csv": (
        write("x,y\n" + "".join(f"{k},{'?' if k % 9 == 0 else 2 * k}\n" for k in range(1, 40)), "t.csv"),
        "--non-numeric missing",
    ),
    "all-missing-column.csv": (frame_to("t.csv", frame=with_column(empty=np.nan)), "no observed value"),
    "header-only.csv": (write("x,y\n", "t.csv"), "is empty"),
    "empty.csv": (write("", "t.csv"), "is empty"),
    "json.json": (write("{}", "t.json"), "expected one of"),
    "broken-zip.csv.zip": (write("PK", "t.csv.zip"), "could not be read as zip"),
    "missing-file.csv": (lambda folder: folder / "nope.csv", "no such file"),
    "binary-garbage.csv": (write("\x00\x01\x02garbage\xff", "t.csv"), "filled|error"),
}


@pytest.mark.parametrize("name", list(ODD_FILES))
def test_an_odd_file_gets_a_filled_table_or_one_line(checkpoint_path, tmp_path, capsys, name):
    make, expected = ODD_FILES[name]
    source = make(tmp_path)
    out = tmp_path / "out.csv"
    status = main(["impute", str(source), "-o", str(out), "--checkpoint", checkpoint_path, "-q", "--seed", "0"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if status == 0:
        assert expected in ("filled", "filled|error"), f"{name}: expected an error with {expected!r}"
        given, filled = read_table(source).frame, read_table(out).frame  # the output keeps the input's dialect
        assert filled.shape == given.shape
        passed_through = [c for c in given.columns if given[c].dropna().nunique() == given[c].notna().sum() > 16]
        assert not filled.drop(columns=passed_through).isna().any().any()
    else:
        assert status == 2
        lines = [line for line in err.splitlines() if "error:" in line]
        assert len(lines) == 1, err
        assert expected == "filled|error" or expected in lines[0], lines[0]


def test_a_stray_word_is_filled_with_non_numeric_missing(checkpoint_path, tmp_path):
    source = ODD_FILES["question-marks.csv"][0](tmp_path)
    out = tmp_path / "out.csv"
    args = ["impute", str(source), "-o", str(out), "--checkpoint", checkpoint_path, "-q", "--non-numeric", "missing"]
    assert main(args) == 0
    filled = pd.read_csv(out)
    assert pd.to_numeric(filled["y"], errors="coerce").notna().all()
