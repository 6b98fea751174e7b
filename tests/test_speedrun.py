"""The speedrun (scripts/speedrun.py, docs/speedrun.md): a budget in wall time, the export scored on fixed probes with
cached baselines, the records appended and rendered."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Timer
from omegaconf import OmegaConf

from tabdiff.checkpoint import load_exported
from tabdiff.diffusion import GaussianDiffusion
from tabdiff.evaluation import speedrun as sr
from tabdiff.evaluation.speedrun import SpeedrunProbes, baseline_results, speedrun_figures
from tabdiff.evaluation.speedrun_records import MARKER, append_record, read_records
from tabdiff.speedrun import speedrun_config, speedrun_probes
from tabdiff.training.callbacks import TablesSeen
from tabdiff.training.module import TabDiffusionModule, warmup_cosine_time
from tabdiff.training.train import train

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("speedrun_script", ROOT / "scripts" / "speedrun.py")
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)

# a tiny network on tiny prior tables, and probes cut to one held-out table and one probe table: seconds
TINY = [
    "model=tiny",
    "prior.rows=[6,12]",
    "prior.cols=[2,5]",
    "data.batch_size=4",
    "data.real_fraction=0",
    "diffusion.timesteps=100",
    "trainer.enable_progress_bar=false",
    "speedrun.probes.tables=[penguins]",
    "speedrun.probes.max_rows=40",
    "speedrun.probes.max_cols=4",
    "speedrun.probes.probe.families=[linear]",
    "speedrun.probes.probe.context_rows=[16]",
    "speedrun.probes.probe.n_test=16",
    "speedrun.probes.probe.n_tables=1",
    "speedrun.probes.probe.n_features=3",
]
curve_spec = importlib.util.spec_from_file_location("speedrun_curve", ROOT / "scripts" / "speedrun_curve.py")
curve_script = importlib.util.module_from_spec(curve_spec)
curve_spec.loader.exec_module(curve_script)
RECORD_FIELDS = {
    "date", "commit", "change", "minutes", "seed", "steps", "tables_seen", "parameters", "train_seconds",
    "probe_seconds", "baselines_built", "baselines_key", "figures", "targets_met",
}  # fmt: skip


def test_a_speedrun_trains_scores_and_records_with_the_baselines_cached(tmp_path, capsys, monkeypatch):
    docs, baselines = tmp_path / "docs", tmp_path / "baselines.json"
    docs.mkdir()
    (docs / "speedrun.md").write_text("# Speedrun\n\nhow to run it\n\n" + MARKER + "\n\nold table\n")
    argv = ["--minutes", "0.03", "--seed", "0", "--change", "tiny | test", "--docs", str(docs),
            "--baselines", str(baselines), "--threads", "1"]  # fmt: skip

    first = script.main([*argv, "--out", str(tmp_path / "run0"), "--", *TINY])
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])  # the last line printed is the record
    assert line == first and RECORD_FIELDS <= set(line)
    assert line["minutes"] == 0.03 and line["seed"] == 0 and line["change"] == "tiny | test"
    assert line["steps"] > 0 and line["tables_seen"] == 4 * line["steps"] and line["parameters"] > 0
    assert line["train_seconds"] < 15 and line["baselines_built"] and baselines.exists()
    figures = line["figures"]
    assert math.isfinite(figures["imputation_ratio_missforest"]) and math.isfinite(figures["classification_accuracy"])
    assert {"icl_linear_16_ridge", "icl_linear_16_optimum", "classification_roc_auc"} <= set(figures)
    assert set(line["targets_met"]) == set(sr.TARGETS)

    export = tmp_path / "run0" / "speedrun.safetensors"
    loaded = load_exported(export)
    assert json.loads(export.with_suffix(".json").read_text())["run"]["tables_seen"] == line["tables_seen"]
    assert sum(p.numel() for p in loaded.model.parameters()) == line["parameters"]
    assert (tmp_path / "run0" / "probes.csv").exists()

    # the second run takes the baselines from the cache: they are never computed again
    evaluate = sr.evaluate

    def no_baselines(config, **kwargs):
        assert not config.imputers and not config.classifiers and not config.probe_baselines, "baselines recomputed"
        return evaluate(config, **kwargs)

    monkeypatch.setattr(sr, "evaluate", no_baselines)
    second = script.main([*argv, "--seed", "1", "--out", str(tmp_path / "run1"), "--", *TINY])
    assert not second["baselines_built"] and second["baselines_key"] == first["baselines_key"]
    cached = json.loads(baselines.read_text())
    assert cached["key"] == first["baselines_key"]

    records = read_records(docs)
    assert [r["seed"] for r in records] == [0, 1]
    markdown = (docs / "speedrun.md").read_text()
    assert markdown.startswith("# Speedrun\n\nhow to run it") and "old table" not in markdown
    rows = [row for row in markdown.split(MARKER)[1].splitlines() if row.startswith("| 20")]
    assert len(rows) == 2 and "tiny / test" in rows[0]
    assert (docs / "speedrun.png").stat().st_size > 0


def test_the_budget_stops_training_and_the_learning_rate_ends_annealed(tmp_path):
    cfg = speedrun_config(minutes=0.02, seed=0, out=tmp_path, threads=1, overrides=[*TINY, "module.warmup_steps=1"])
    _, objects = train(cfg)
    trainer = objects["trainer"]
    timer = next(cb for cb in trainer.callbacks if isinstance(cb, Timer))
    assert 1.2 <= timer.time_elapsed("train") < 10
    lr = trainer.lr_scheduler_configs[0].scheduler.get_last_lr()[0]
    # the cosine over the budget is near its floor (min_lr_ratio x lr) once the budget is spent
    assert lr <= cfg.module.lr * (cfg.module.min_lr_ratio + 0.05), lr
    assert not (tmp_path / "checkpoints").exists()  # nothing but training inside the budget


def test_the_time_schedule_warms_up_in_steps_and_anneals_over_the_budget():
    assert warmup_cosine_time(0, 10, 0.0, 0.1) == pytest.approx(0.1)
    assert warmup_cosine_time(50, 10, 0.0, 0.1) == pytest.approx(1.0)
    assert warmup_cosine_time(50, 10, 0.5, 0.1) == pytest.approx(0.55)
    assert warmup_cosine_time(50, 10, 1.0, 0.1) == pytest.approx(0.1)
    assert warmup_cosine_time(50, 10, 3.0, 0.1) == pytest.approx(0.1)  # constant past the budget


def test_the_module_reads_the_trainers_clock():
    model = instantiate(OmegaConf.load(ROOT / "conf" / "model" / "tiny.yaml"))
    diffusion = GaussianDiffusion(10, "cosine", learn_variance=True, prediction="x0")
    module = TabDiffusionModule(model, diffusion, decay_minutes=1.0)
    timer = Timer(duration={"minutes": 1})
    timer._offset = 42.0  # as restored from a checkpoint: 42 s already spent
    module._trainer = SimpleNamespace(callbacks=[timer])
    assert module.train_seconds() == pytest.approx(42.0)
    with pytest.raises(ValueError, match="not both"):
        TabDiffusionModule(model, diffusion, decay_steps=5, decay_minutes=1.0)


def test_tables_seen_counts_every_table_and_survives_a_checkpoint():
    counter = TablesSeen()
    batch = SimpleNamespace(shape=(8, 5, 3))
    for _ in range(3):
        counter.on_train_batch_end(SimpleNamespace(world_size=2), None, None, batch, 0)
    assert counter.tables == 48
    resumed = TablesSeen()
    resumed.load_state_dict(counter.state_dict())
    assert resumed.tables == 48


def test_the_configured_probes_are_the_packages_defaults(tmp_path):
    probes = speedrun_probes(speedrun_config(minutes=30, seed=0, out=tmp_path))
    defaults = SpeedrunProbes(baseline_options=probes.baseline_options)
    assert probes == defaults
    assert probes.probe.context_rows == (64, 256, 1024) and probes.tables is None and probes.max_rows is None
    # the reduced evaluation's MissForest (conf/evaluate.yaml), not the library's 100 x 10 default
    assert (probes.baseline_options.forest_trees, probes.baseline_options.forest_max_iter) == (50, 5)


def test_the_baselines_key_follows_the_tasks(tmp_path):
    probe = sr.ProbeConfig(families=("linear",), context_rows=(8,), n_test=8, n_tables=1, n_features=2)
    forest = sr.BaselineOptions(forest_trees=5, forest_max_iter=1)  # a cheap MissForest: this test is about the key
    small = dict(max_rows=30, max_cols=4, probe=probe, baseline_options=forest)
    one = SpeedrunProbes(tables=("penguins",), **small)
    assert one.key == SpeedrunProbes(tables=("penguins",), **small).key
    assert one.key != SpeedrunProbes(tables=("wine",), **small).key
    assert one.key != SpeedrunProbes(tables=("penguins",), seed=1, **small).key
    assert one.key != SpeedrunProbes(tables=("penguins",), missing_rate=0.2, **small).key
    # a stale cache is rebuilt, a fresh one is read back
    path = tmp_path / "baselines.json"
    path.write_text(json.dumps({"key": "stale", "rows": []}))
    rows, built = baseline_results(one, path)
    assert built and json.loads(path.read_text())["key"] == one.key
    again, built = baseline_results(one, path)
    assert not built and len(again) == len(rows) > 0


def test_figures_are_shares_of_the_baselines_medians_over_tables():
    rows = []
    for table, ours, forest in (("a", 0.8, 1.0), ("b", 0.9, 0.6), ("c", 1.0, 1.0)):
        rows += [{"table": table, "task": "imputation", "method": m, "nrmse": v, "status": "ok"}
                 for m, v in (("tabdiff", ours), ("missforest", forest))]  # fmt: skip
    for table, ours, lr in (("p", 0.7, 0.8), ("q", 0.9, 0.9)):
        rows += [{"table": table, "task": "classification", "method": m, "accuracy": v, "roc_auc": v + 0.1,
                  "status": "ok"} for m, v in (("tabdiff", ours), ("logreg", lr))]  # fmt: skip
    for method, r2 in (("tabdiff", 0.4), ("ridge", 0.5), ("oracle", 0.8)):
        rows.append({"table": "linear#0", "task": "icl_probe", "method": method, "r2": r2, "status": "ok",
                     "probe_family": "linear", "n_context": 256})  # fmt: skip
    figures = speedrun_figures(pd.DataFrame(rows))
    assert figures["imputation_ratio_missforest"] == pytest.approx(1.0)  # median of 0.8, 1.5, 1.0
    assert figures["imputation_beats_missforest"] == 1
    assert figures["classification_accuracy"] == pytest.approx(0.8)
    assert figures["classification_at_least_logreg"] == 1
    assert figures["icl_linear_256_ridge"] == pytest.approx(0.8)
    assert figures["icl_linear_256_optimum"] == pytest.approx(0.5)
    assert sr.meets_targets(figures) == {
        "icl_linear_256_ridge": True, "imputation_ratio_missforest": True, "classification_accuracy": True,
    }  # fmt: skip


def test_records_render_with_targets_in_bold_and_missing_figures_as_dashes(tmp_path):
    record = {"date": "2026-12-07T10:00:00+00:00", "commit": "abc", "change": "", "minutes": 30.0, "seed": 0,
              "steps": 5000, "tables_seen": 160000, "parameters": 437000,
              "figures": {"icl_linear_256_ridge": 0.7, "imputation_ratio_missforest": 1.1,
                          "classification_accuracy": np.nan}}  # fmt: skip
    paths = append_record(record, tmp_path, plot=False)
    row = paths["markdown"].read_text().splitlines()[-1]
    assert "**0.700**" in row and "| 1.100 |" in row and "| – |" in row and "5,000" in row
    assert "plot" not in paths


def test_the_curve_validates_every_few_steps_at_equal_steps(tmp_path, capsys):
    """scripts/speedrun_curve.py: a step budget (no clock), one validation row every --every steps with both figures."""
    curve = curve_script.main(["--steps", "4", "--every", "2", "--out", str(tmp_path), "--tables", "1",
                               "--max-rows", "30", "--probe-rows", "16", "--probe-tables", "1", "--", *TINY[:7]])  # fmt: skip
    assert curve["step"].tolist() == [1, 3]
    assert np.isfinite(curve["val/zs_nrmse"]).all() and np.isfinite(curve["val/icl_r2_share"]).all()
    assert "val/zs_nrmse" in capsys.readouterr().out
