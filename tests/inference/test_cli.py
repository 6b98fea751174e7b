from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _tables import mixed_frame

from tabdiff.inference.cli import main, pick_task

OPTIONS = ["--seed", "0", "--quiet"]


@pytest.fixture()
def csv_table(tmp_path) -> Path:
    path = tmp_path / "table.csv"
    mixed_frame(24).drop(columns=["nb", "cat"]).to_csv(path, index=False)
    return path


def test_impute_writes_a_complete_table_with_the_observed_cells(checkpoint_path, csv_table, tmp_path):
    out = tmp_path / "imputed.csv"
    assert main(["impute", str(csv_table), "-o", str(out), "--checkpoint", checkpoint_path, *OPTIONS]) == 0
    given, imputed = pd.read_csv(csv_table), pd.read_csv(out)
    assert imputed.shape == given.shape and not imputed.isna().any().any()
    known = given.notna()
    pd.testing.assert_frame_equal(imputed.where(known), given.where(known), check_dtype=False)


def test_impute_blend_reports_its_weights_and_refuses_an_unknown_imputer(checkpoint_path, tmp_path, capsys):
    given = mixed_frame(80)
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    given.to_csv(source, index=False)
    assert main(["impute", str(source), "-o", str(out), "--checkpoint", checkpoint_path, "--blend", "mice", "knn",
                 "--seed", "0"]) == 0  # fmt: skip
    assert not pd.read_csv(out).isna().any().any()
    assert "blended with weights tabdiff " in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["impute", str(source), "-o", str(out), "--blend", "forest", *OPTIONS])
    assert "invalid choice: 'forest'" in capsys.readouterr().err


def test_impute_parquet_with_sampler_options(checkpoint_path, tmp_path):
    given = mixed_frame(20)
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    given.to_parquet(source)
    args = ["impute", str(source), "-o", str(out), "--checkpoint", checkpoint_path, "--sampler", "conditional",
            "--n-steps", "2", "--n-samples", "2", "--n-ensemble", "2", *OPTIONS]  # fmt: skip
    assert main(args) == 0
    assert not pd.read_parquet(out).isna().any().any()
    adapted = tmp_path / "adapted.parquet"
    assert main(["impute", str(source), "-o", str(adapted), "--checkpoint", checkpoint_path, "--adapt-steps", "3",
                 *OPTIONS]) == 0  # fmt: skip
    assert not pd.read_parquet(adapted).isna().any().any()
    nearest = tmp_path / "nearest.parquet"
    assert main(["impute", str(source), "-o", str(nearest), "--checkpoint", checkpoint_path, "--max-rows", "8",
                 "--context", "nearest", *OPTIONS]) == 0  # fmt: skip
    assert not pd.read_parquet(nearest).isna().any().any()


@pytest.mark.parametrize(("target", "task"), [("obj", "classification"), ("f", "regression")])
def test_predict_classification_and_regression(checkpoint_path, tmp_path, target, task):
    table = mixed_frame(40).dropna(subset=[target])
    table[:20].to_csv(tmp_path / "train.csv", index=False)
    table[20:].drop(columns=[target]).to_csv(tmp_path / "test.csv", index=False)
    out = tmp_path / "pred.csv"
    args = ["predict", "--target", target, "--train", str(tmp_path / "train.csv"), "--test",
            str(tmp_path / "test.csv"), "-o", str(out), "--checkpoint", checkpoint_path, *OPTIONS]  # fmt: skip
    assert main(args) == 0
    pred = pd.read_csv(out)
    assert len(pred) == len(table) - 20 and pred[target].notna().all()
    if task == "classification":
        proba = pred[[c for c in pred.columns if c.startswith("proba_")]]
        assert sorted(proba.columns) == ["proba_u", "proba_v"]
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    else:
        assert list(pred.columns) == ["f"]


def test_task_rule():
    assert pick_task(pd.Series(["a", "b"])) == "classification"
    assert pick_task(pd.Series([True, False])) == "classification"
    assert pick_task(pd.Series([0, 1, 2, 1])) == "classification"
    assert pick_task(pd.Series(range(11))) == "regression"
    assert pick_task(pd.Series([0.5, 1.5])) == "regression"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["impute", "missing.csv", "-o", "out.csv"], "no such file: missing.csv"),
        (["impute", "{table}", "-o", "out.json"], "expected a .csv, .tsv, .parquet"),
        (["predict", "--target", "nope", "--train", "{table}", "--test", "{table}", "-o", "o.csv"], "'nope' is not in"),
    ],
)
def test_bad_paths_and_columns_exit_2_with_a_message(
    checkpoint_path, csv_table, tmp_path, capsys, monkeypatch, args, message
):
    monkeypatch.chdir(tmp_path)
    args = [a.format(table=csv_table) for a in args] + ["--checkpoint", checkpoint_path, "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_console_script_exits_2_with_a_message_on_a_bad_path(tmp_path):
    """One run of the installed `tabdiff` script (successful runs are tested in-process above)."""
    script = Path(sys.executable).parent / "tabdiff"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "tabdiff.inference.cli"]
    args = ["impute", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "out.csv")]
    done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no such file" in done.stderr and "Traceback" not in done.stderr


def test_generate_writes_new_rows_that_hold_the_conditions(checkpoint_path, csv_table, tmp_path):
    out = tmp_path / "synthetic.csv"
    args = ["generate", str(csv_table), "-n", "15", "-o", str(out), "--checkpoint", checkpoint_path,
            "--n-steps", "2", "--condition", "obj=u", "--condition", "b=true", "--condition", "i=7", *OPTIONS]  # fmt: skip
    assert main(args) == 0
    given, rows = pd.read_csv(csv_table), pd.read_csv(out)
    assert list(rows.columns) == list(given.columns) and len(rows) == 15
    assert not rows.isna().any().any()
    assert (rows["obj"] == "u").all() and rows["b"].all() and (rows["i"] == 7).all()
    assert set(rows["s"]) <= set(given["s"].dropna())


def test_generate_takes_the_start_and_rounds_of_the_generator(checkpoint_path, csv_table, tmp_path, capsys):
    base = ["generate", str(csv_table), "-n", "6", "--checkpoint", checkpoint_path, "--n-steps", "1", *OPTIONS]
    for extra in (["--rounds", "3"], ["--start", "blank"]):
        out = tmp_path / f"{extra[1]}.csv"
        assert main([*base, "-o", str(out), *extra]) == 0
        rows = pd.read_csv(out)
        assert len(rows) == 6 and not rows.isna().any().any()
    assert main([*base, "-o", str(tmp_path / "x.csv"), "--rounds", "1"]) == 2
    # one line for the error; --n-steps 1 also gets its one-line warning that one-step rows are no draws
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "rounds must be an integer >= 2" in errors[0]
    assert main([*base, "-o", str(tmp_path / "t.csv"), "--target", "f"]) == 0
    assert len(pd.read_csv(tmp_path / "t.csv")) == 6
    capsys.readouterr()
    assert main([*base, "-o", str(tmp_path / "x.csv"), "--target", "nope"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "--target 'nope' is not a column" in errors[0]


@pytest.mark.parametrize(
    ("condition", "message"),
    [("obj", "COLUMN=VALUE"), ("nope=1", "'nope' is not a column"), ("obj=w", "not a value of column 'obj'"),
     ("b=maybe", "write true or false"), ("f=high", "holds numbers")],
)  # fmt: skip
def test_generate_refuses_a_bad_condition_in_one_line(checkpoint_path, csv_table, tmp_path, capsys, condition, message):
    args = ["generate", str(csv_table), "-n", "3", "-o", str(tmp_path / "x.csv"), "--checkpoint", checkpoint_path,
            "--condition", condition, *OPTIONS]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("tabdiff generate: error:") and message in err and err.count("\n") == 1
