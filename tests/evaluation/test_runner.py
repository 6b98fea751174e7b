"""The evaluation end to end on the `tiny` setting, through the Hydra config as `tabdiff-evaluate` runs it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from tabdiff.evaluation import baselines as bl
from tabdiff.evaluation.cli import CONF_DIR, evaluation_config, run
from tabdiff.evaluation.runner import EvaluationConfig, evaluate, run_evaluation


def _cfg(*overrides: str):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("evaluate", overrides=list(overrides))


def test_tiny_setting_writes_results_report_and_plots(tiny_checkpoint, tmp_path):
    results, paths = run(_cfg("evaluation=tiny", f"checkpoint={tiny_checkpoint}", f"output_dir={tmp_path}"))
    assert (results.status == "ok").all(), results.loc[results.status != "ok", ["method", "error"]]
    on_disk = pd.read_csv(tmp_path / "results.csv")
    assert len(on_disk) == len(results)
    assert not (tmp_path / "results.partial.jsonl").exists()  # only while the evaluation runs
    imputation = on_disk[on_disk.task == "imputation"]
    methods = {"mean", "knn", "mice", "missforest", "mice+knn", "tabdiff", "tabdiff-ddim2"}
    assert set(imputation.table) == {"penguins", "linnerud"} and set(imputation.method) == methods
    assert len(imputation) == 2 * len(methods) and (imputation.setting == "mcar-0.3").all()
    assert imputation.nrmse.notna().all() and imputation.wall_s.gt(0).all()
    assert imputation.loc[imputation.table == "penguins", "cat_accuracy"].notna().all()
    classification = on_disk[on_disk.task == "classification"]
    assert set(classification.table) == {"penguins"}
    assert set(classification.method) == {"logreg", "rf", "hgb", "tabdiff"}
    assert classification[["accuracy", "roc_auc", "log_loss"]].notna().all().all()
    regression = on_disk[on_disk.task == "regression"]
    assert set(regression.table) == {"linnerud"} and set(regression.method) == {"ridge", "rf", "hgb", "tabdiff"}
    assert regression.set_index("method").coverage[["hgb", "tabdiff"]].notna().all()
    probe = on_disk[on_disk.task == "icl_probe"]
    assert set(probe.setting) == {"linear-16", "linear-48", "tree-16", "tree-48"}
    assert set(probe.method) == {"oracle", "ridge", "hgb", "tabdiff"} and probe.r2.notna().all()
    report = (tmp_path / "report.md").read_text()
    for heading in ("## Imputation: mcar-0.3", "## Classification", "## Regression", "## In-context learning probe",
                    "## Wall time per method"):  # fmt: skip
        assert heading in report
    for name in ("imputation_mcar-0.3", "classification_split-0.3", "regression_split-0.3", "quality_vs_time"):
        assert paths[name].is_file() and paths[name].stat().st_size > 1000


def test_a_stopped_evaluation_keeps_its_finished_runs_and_resumes(tmp_path, monkeypatch, caplog):
    """Each run's row is appended to the partial file as it finishes, and each run is logged: when the
    evaluation is stopped (here: Ctrl-C in the third run), the runs before it are on disk, and a resumed one
    reruns only the others."""
    config = EvaluationConfig(tables=("penguins", "linnerud"), tasks=("imputation",), max_rows=30, max_cols=5,
                              imputers=("mean", "knn"), tabdiff=())  # fmt: skip
    path = tmp_path / "partial.jsonl"
    with caplog.at_level("INFO", logger="tabdiff.evaluation.runner"):
        results = evaluate(config, progress=False, partial_path=path)
    assert len(results) == 4 and "run 4/4: imputation" in caplog.text
    partial = pd.read_json(path, lines=True)
    pd.testing.assert_frame_equal(partial[["table", "method"]], results[["table", "method"]])
    np.testing.assert_allclose(partial.nrmse, results.nrmse)

    impute, calls = bl.impute_baseline, []

    def interrupted(name, *args, **kwargs):
        calls.append(name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return impute(name, *args, **kwargs)

    monkeypatch.setattr(bl, "impute_baseline", interrupted)
    path.unlink()
    with pytest.raises(KeyboardInterrupt):
        evaluate(config, progress=False, partial_path=path)
    kept = pd.read_json(path, lines=True)
    pd.testing.assert_frame_equal(kept[["table", "method"]], results[["table", "method"]].iloc[:2])

    calls.clear()  # resumed: the two finished runs come from the file, the other two run
    monkeypatch.setattr(bl, "impute_baseline", lambda name, *a, **k: calls.append(name) or impute(name, *a, **k))
    resumed = evaluate(config, progress=False, partial_path=path, finished=kept)
    assert len(calls) == 2 and len(pd.read_json(path, lines=True)) == 4
    pd.testing.assert_frame_equal(resumed[["table", "method", "status"]], results[["table", "method", "status"]])
    np.testing.assert_allclose(resumed.nrmse, results.nrmse)


def test_resume_takes_the_finished_runs_of_the_output_folder(tmp_path):
    config = EvaluationConfig(tables=("penguins",), tasks=("imputation",), max_rows=30, max_cols=5,
                              imputers=("mean", "knn"), tabdiff=())  # fmt: skip
    first, _ = run_evaluation(config, tmp_path, progress=False, plots=False)
    finished = first.iloc[:1].assign(nrmse=123.0)  # a marker: a resumed run is read, not redone
    finished.to_json(tmp_path / "results.partial.jsonl", orient="records", lines=True)
    again, _ = run_evaluation(config, tmp_path, progress=False, plots=False, resume=True)
    assert again.nrmse.tolist() == [123.0, first.nrmse.iloc[1]]
    assert not (tmp_path / "results.partial.jsonl").exists()
    fresh, _ = run_evaluation(config, tmp_path, progress=False, plots=False)  # without resume: all runs again
    assert fresh.nrmse.tolist() == first.nrmse.tolist()
    assert _cfg("resume=true").resume is True and _cfg().resume is False


def test_every_named_setting_composes():
    for setting in ("reduced", "full", "tiny"):
        config = evaluation_config(_cfg(f"evaluation={setting}", "output_dir=/tmp/unused"))
        assert config.tabdiff and config.sweep
    default = evaluation_config(_cfg("output_dir=/tmp/unused"))
    assert default.max_rows is None and default.max_cols is None  # whole tables, as users have them
    assert "icl_probe" in default.tasks and 256 in default.probe.context_rows
    quick = evaluation_config(_cfg("evaluation=quick", "output_dir=/tmp/unused"))
    assert (quick.max_rows, quick.max_cols) == (200, 16)
    full = evaluation_config(_cfg("evaluation=full", "output_dir=/tmp/unused"))
    assert set(full.mechanisms) == {"mcar", "mar", "mnar"} and set(full.rates) == {0.1, 0.3, 0.5}
    assert len(full.seeds) >= 3 and {s.sampler for s in full.sweep} == {"ddim", "conditional", "repaint"}


def test_a_setting_name_used_twice_or_by_a_baseline_says_where():
    clash = "tabdiff.settings=[{name: tabdiff+mice+knn, blend: [mice, knn]}]"  # the reduced sweep has that name
    with pytest.raises(ValueError, match=r"'tabdiff\+mice\+knn' appears in tabdiff.settings and tabdiff.sweep"):
        evaluation_config(_cfg(clash, "output_dir=/tmp/unused"))
    assert evaluation_config(_cfg(clash, "tabdiff.sweep=[]", "output_dir=/tmp/unused")).tabdiff[0].blend
    with pytest.raises(ValueError, match="'mice' appears in draws.settings and the baselines"):
        evaluation_config(_cfg("draws.settings=[{name: mice, sampler: conditional}]", "output_dir=/tmp/unused"))


def test_evaluation_refuses_a_pretraining_table(tiny_checkpoint, tmp_path):
    with pytest.raises(ValueError, match="pretraining table"):
        run(_cfg("evaluation=tiny", "tables=[iris]", f"checkpoint={tiny_checkpoint}", f"output_dir={tmp_path}"))


def test_a_missing_checkpoint_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint=PATH"):
        run(_cfg("evaluation=tiny", f"checkpoint={tmp_path}/none.safetensors", f"output_dir={tmp_path}"))


def test_uninstallable_baselines_are_skipped_with_the_reason_and_unknown_ones_refused():
    config = EvaluationConfig(
        tables=("penguins",), tasks=("imputation", "classification"), max_rows=30, max_cols=5,
        imputers=("mean", "hyperimpute"), classifiers=("tabpfn",), tabdiff=(),
    )  # fmt: skip
    results = evaluate(config, progress=False).set_index("method")
    assert results.loc["mean", "status"] == "ok"
    assert results.loc["hyperimpute", "status"] == "skipped" and "tensorflow" in results.loc["hyperimpute", "error"]
    assert results.loc["tabpfn", "status"] == "skipped" and "weights" in results.loc["tabpfn", "error"]
    with pytest.raises(ValueError, match="unknown imputation baseline"):
        EvaluationConfig(imputers=("magic",))


def test_a_blend_setting_and_the_blend_without_the_model_run_through_the_config(tiny_checkpoint, tmp_path):
    overrides = ["evaluation=tiny", "tasks=[imputation,regression]", f"checkpoint={tiny_checkpoint}",
                 f"output_dir={tmp_path}", "tabdiff.sweep=[]", "imputation.baselines=[mice,mice+knn]",
                 "supervised.regressors=[ridge]",
                 "tabdiff.settings=[{name: tabdiff, n_ensemble: 1},{name: tabdiff+mice, n_ensemble: 1, blend: [mice]}]"]  # fmt: skip
    results, _ = run(_cfg(*overrides))
    assert (results.status == "ok").all(), results.loc[results.status != "ok", ["method", "error"]]
    imputation = results[results.task == "imputation"].set_index(["table", "method"])
    assert set(imputation.index.get_level_values("method")) == {"mice", "mice+knn", "tabdiff", "tabdiff+mice"}
    assert (imputation.xs("tabdiff+mice", level="method").blend == "mice").all()
    blended, alone = imputation.xs("tabdiff+mice", level="method"), imputation.xs("tabdiff", level="method")
    assert (blended.nrmse != alone.nrmse).any()  # the blend changed the fills
    # a blend setting is imputation-only: the regressor runs as the model alone
    regression = results[results.task == "regression"].set_index("method")
    assert regression.loc["tabdiff", "r2"] == regression.loc["tabdiff+mice", "r2"]


def test_generation_task_scores_tabdiff_and_the_baselines_on_given_and_held_out_rows(
    tiny_checkpoint, tmp_path, monkeypatch
):
    from tabdiff.inference.generator import TabDiffGenerator

    overrides = ["evaluation=tiny", "tasks=[generation]", f"checkpoint={tiny_checkpoint}", f"output_dir={tmp_path}",
                 "generation.settings=[{name: tabdiff-gen, sampler: conditional, n_steps: 2, n_ensemble: 1},"
                 "{name: tabdiff-target, sampler: conditional, n_steps: 1, n_ensemble: 1, target: true}]"]  # fmt: skip
    targets, sample = [], TabDiffGenerator.sample

    def recording(self, n_rows, **kwargs):
        targets.append((self.n_steps, self.target))
        return sample(self, n_rows, **kwargs)

    monkeypatch.setattr(TabDiffGenerator, "sample", recording)
    results, paths = run(_cfg(*overrides))
    assert (results.status == "ok").all(), results.loc[results.status != "ok", ["method", "error"]]
    assert set(results.task) == {"generation"} and set(results.table) == {"penguins", "linnerud"}
    assert set(results.method) == {"copula", "bootstrap", "smote", "tabdiff-gen", "tabdiff-target"}
    # `target: true` passes each table's label (penguins: species) to the generator; other settings pass none
    assert {t for steps, t in targets if steps == 2} == {None} and "species" in {
        t for steps, t in targets if steps == 1
    }
    assert results[["ks", "assoc_diff", "c2st_auc", "dcr_ratio", "exact_copies"]].notna().all().all()
    assert results.loc[results.table == "penguins", ["tv", "mle_ratio"]].notna().all().all()  # species: classification
    assert results.loc[results.method == "tabdiff-target", "mle_ratio"].notna().any()
    assert results.n_rows.le(40).all() and results.wall_s.gt(0).all()  # linnerud has 20 rows
    report = paths["report"].read_text()
    assert "## Generation: new rows like each table's" in report and "c2st < copula" in report
    with pytest.raises(ValueError, match="unknown generation baseline"):
        run(_cfg(*overrides, "generation.baselines=[magic]"))
