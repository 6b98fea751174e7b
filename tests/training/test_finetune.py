"""`tabdiff-pretrain experiment=finetune`: a user's folder of tables -> an export the estimators load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from tabdiff import TabDiffImputer
from tabdiff.data.sources import user_tables
from tabdiff.training.train import train
from tests.training.test_pretrain import CONF


def _folder(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "tables"
    folder.mkdir()
    z = rng.normal(size=(60, 1))
    pd.DataFrame(z @ rng.normal(size=(1, 4)), columns=list("abcd")).to_csv(folder / "one.csv", index=False)
    frame = pd.DataFrame({"x": rng.normal(size=40), "kind": rng.choice(["u", "v"], 40)})
    frame.to_parquet(folder / "two.parquet")
    (folder / "notes.txt").write_text("not a table")
    return folder


def test_user_tables_lists_the_folders_tables_and_refuses_an_empty_one(tmp_path):
    sources = user_tables(_folder(tmp_path))
    assert [s.name for s in sources] == ["one", "two"]
    with pytest.raises(ValueError, match="does not exist"):
        user_tables(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no .csv or .parquet"):
        user_tables(tmp_path / "empty")
    with pytest.raises(ValueError, match="no tables given"):
        user_tables()


def test_finetune_experiment_trains_on_the_folder_and_exports_a_loadable_checkpoint(tmp_path):
    folder = _folder(tmp_path)
    overrides = ["experiment=finetune", f"tables={folder}", f"output_dir={tmp_path / 'run'}",
                 "trainer.max_steps=2", "trainer.val_check_interval=2", "trainer.enable_progress_bar=false",
                 "prior.rows=[8,24]", "prior.cols=[2,5]", "callbacks.zero_shot=null"]  # fmt: skip
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("pretrain", overrides=overrides)
    _, objects = train(cfg)
    assert {t.name for t in objects["datamodule"].real_tables} == {"one", "two"}
    assert objects["trainer"].global_step == 2
    table = pd.read_csv(folder / "one.csv").mask(np.random.default_rng(1).random((60, 4)) < 0.2)
    filled = TabDiffImputer(checkpoint=objects["export"], progress=False, random_state=0).fit_transform(table)
    assert not filled.isna().any().any()
