"""A `.ckpt` is a pickle: loading one must never run code (issue 14). A planted payload is refused, not run."""

from __future__ import annotations

import os

import pytest
import torch
from _tables import mixed_frame

from tabdiff.checkpoint import export_lightning_checkpoint, load_exported
from tabdiff.inference.cli import main


class _Payload:
    """Unpickling this calls os.system: with a full unpickler, the command runs."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


@pytest.fixture()
def planted(tmp_path):
    """(a .ckpt that looks like tabdiff's but carries a payload, the file the payload would create)."""
    marker = tmp_path / "payload-ran"
    ckpt = tmp_path / "model.ckpt"
    torch.save({"tabdiff": {"format_version": 1}, "state_dict": {}, "hook": _Payload(f"touch {marker}")}, ckpt)
    return ckpt, marker


def test_the_payload_would_run_under_a_full_unpickler(planted):
    ckpt, marker = planted  # proves the fixture is a real attack, so the tests below can fail
    torch.load(ckpt, weights_only=False)
    assert marker.exists()


def test_load_exported_refuses_a_planted_ckpt_without_running_it(planted):
    ckpt, marker = planted
    with pytest.raises(ValueError, match="refused.*safetensors"):
        load_exported(ckpt)
    assert not marker.exists()


def test_export_refuses_a_planted_ckpt_without_running_it(planted, tmp_path):
    ckpt, marker = planted
    with pytest.raises(ValueError, match="refused"):
        export_lightning_checkpoint(ckpt, tmp_path / "out.safetensors")
    assert not marker.exists() and not (tmp_path / "out.safetensors").exists()


def test_cli_refuses_a_planted_ckpt_in_one_line_with_status_2(planted, tmp_path, capsys):
    ckpt, marker = planted
    csv_table = tmp_path / "table.csv"
    mixed_frame(12).drop(columns=["nb", "cat"]).to_csv(csv_table, index=False)
    status = main(["impute", str(csv_table), "-o", str(tmp_path / "out.csv"), "--checkpoint", str(ckpt), "-q"])
    err = capsys.readouterr().err
    assert status == 2 and not marker.exists()
    assert err.count("\n") == 1 and "refused" in err and "Traceback" not in err
