"""Table files as users have them (issue 14): CSV dialects, Feather, Excel, and the CLI on them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tabdiff.inference.cli import main
from tabdiff.inference.files import read_table, write_table

OPTIONS = ["--seed", "0", "--quiet"]


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=30).round(3)
    return pd.DataFrame({"x": x, "y": (2 * x + 1).round(3), "kind": rng.choice(["a", "b"], size=30)})


@pytest.mark.parametrize(
    ("sep", "decimal", "suffix"),
    [
        (",", ".", ".csv"),
        (";", ",", ".csv"),
        (";", ".", ".csv"),
        ("\t", ".", ".tsv"),
        ("\t", ",", ".txt"),
        ("|", ".", ".csv"),
    ],
)
def test_csv_dialects_are_sniffed(tmp_path, sep, decimal, suffix):
    path = tmp_path / f"t{suffix}"
    frame().to_csv(path, sep=sep, decimal=decimal, index=False)
    table = read_table(path)
    assert (table.sep, table.decimal) == (sep, decimal)
    pd.testing.assert_frame_equal(table.frame, frame())


def test_a_file_that_parses_to_one_column_warns_and_sep_fixes_it(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a;b\n1;2\n3;4\n5;6\n")  # sniffable, so force the wrong separator to see the warning
    with pytest.warns(UserWarning, match="one column.*--sep ';'"):
        assert read_table(path, sep=",").frame.shape == (3, 1)
    assert read_table(path, sep=";").frame.shape == (3, 2)


@pytest.mark.parametrize("suffix", [".parquet", ".feather", ".xlsx"])
def test_binary_formats_round_trip(tmp_path, suffix):
    path = tmp_path / f"t{suffix}"
    write_table(frame(), path)
    pd.testing.assert_frame_equal(read_table(path).frame, frame())


def test_bad_files_get_clear_errors(tmp_path):
    (tmp_path / "t.json").write_text("{}")
    with pytest.raises(ValueError, match=r"expected one of \.csv"):
        read_table(tmp_path / "t.json")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="is empty"):
        read_table(tmp_path / "empty.csv")
    with pytest.raises(ValueError, match="expected a .csv"):
        write_table(frame(), tmp_path / "out.json")


def test_cli_imputes_a_semicolon_decimal_comma_file_and_writes_it_back_the_same_way(checkpoint_path, tmp_path):
    given = frame()
    given.loc[[1, 4, 9], "x"] = np.nan
    given.loc[[2, 5], "kind"] = np.nan
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    given.to_csv(source, sep=";", decimal=",", index=False)
    assert main(["impute", str(source), "-o", str(out), "--checkpoint", checkpoint_path, *OPTIONS]) == 0
    assert ";" in out.read_text().splitlines()[0]
    filled = pd.read_csv(out, sep=";", decimal=",")
    assert filled.shape == given.shape and not filled.isna().any().any()
    known = given.notna()
    pd.testing.assert_frame_equal(filled.where(known), given.where(known))


def test_cli_one_column_warning_is_one_line(checkpoint_path, tmp_path, capsys):
    source = tmp_path / "in.csv"
    source.write_text("a;b\n1;2\n;4\n5;6\n")
    args = ["impute", str(source), "-o", str(tmp_path / "o.csv"), "--sep", ",", "--checkpoint", checkpoint_path]
    main([*args, *OPTIONS])
    err = capsys.readouterr().err
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 1 and "--sep ';'" in warning[0] and "Traceback" not in err


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=hnp.arrays(np.float64, st.integers(1, 30), elements=st.floats(-1e12, 1e12, allow_nan=False, width=64)))
def test_csv_floats_come_back_bit_identical(values, tmp_path) -> None:
    """A float written to CSV is read back exactly, whatever pandas parses by default (pandas 2.0's fast parser was
    off in the last bit)."""
    path = tmp_path / "floats.csv"
    pd.DataFrame({"x": values, "y": np.arange(len(values), dtype=float)}).to_csv(path, index=False)
    back = read_table(path).frame["x"].to_numpy()
    np.testing.assert_array_equal(back.view(np.int64), values.view(np.int64))
