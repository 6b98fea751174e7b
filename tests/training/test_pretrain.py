"""End-to-end pretraining on tiny configs: smoke run, resume, DDP on CPU, export and reload."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from tabdiff.checkpoint import load_exported
from tabdiff.diffusion import GaussianDiffusion
from tabdiff.training.module import TabDiffusionModule
from tabdiff.training.train import train

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"


def smoke_cfg(tmp_path: Path, *overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("pretrain", overrides=["experiment=smoke", f"output_dir={tmp_path}", *overrides])
    with open_dict(cfg):
        cfg.callbacks.zero_shot = None  # scored in its own test; keeps these runs short
    return cfg


def test_smoke_training_lowers_the_loss_on_fixed_prior_batches(tmp_path):
    cfg = smoke_cfg(tmp_path, "trainer.max_steps=60", "trainer.val_check_interval=30", "module.lr=3e-3")
    metrics, objects = train(cfg)
    module, datamodule = objects["module"], objects["datamodule"]
    batch = datamodule.val_dataloader().dataset[0]
    after = module.batch_losses(batch, module.step_generator(-1, 0))["mse"].item()
    fresh = train(smoke_cfg(tmp_path / "fresh", "trainer.max_steps=0"))[1]["module"]
    before = fresh.batch_losses(batch, fresh.step_generator(-1, 0))["mse"].item()
    assert after < 0.9 * before, (before, after)
    assert objects["trainer"].global_step == 60
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()
    assert objects["export"].exists() and objects["export"].with_suffix(".json").exists()
    assert "val/loss" in metrics


def test_train_metrics_reach_the_logger_every_log_every_n_steps(tmp_path):
    # the module skips its per-step self.log calls on steps the logger does not write (they cost ~2 ms each):
    # the CSV must still hold every train metric on exactly the steps Lightning writes
    train(smoke_cfg(tmp_path, "trainer.max_steps=12", "trainer.log_every_n_steps=5", "trainer.val_check_interval=12"))
    rows = list(csv.DictReader(open(next(tmp_path.glob("csv/version_*/metrics.csv")))))
    written = [r for r in rows if r.get("train/loss")]
    assert [int(r["step"]) for r in written] == [4, 9]
    for row in written:
        for name in ("train/mse", "train/cells"):
            assert float(row[name]) > 0, name


def test_the_module_logs_only_on_steps_the_logger_writes():
    model = instantiate(OmegaConf.load(CONF / "model" / "tiny.yaml"))
    module = TabDiffusionModule(model, GaussianDiffusion(10, "cosine", learn_variance=True, prediction="x0"))
    assert module._logger_writes_this_step()  # no trainer: always
    for every, step, stop, dev_run, expected in [
        (5, 4, False, False, True),
        (5, 5, False, False, False),
        (5, 3, True, False, True),
        (0, 4, False, False, False),
        (5, 5, False, 3, True),  # fast_dev_run=3: Lightning writes every step
    ]:
        module._trainer = SimpleNamespace(
            log_every_n_steps=every, global_step=step, should_stop=stop, fast_dev_run=dev_run
        )
        assert module._logger_writes_this_step() is expected, (every, step, stop, dev_run)


def test_trainable_patterns_train_only_the_named_parameters(tmp_path):
    start = train(smoke_cfg(tmp_path / "start", "trainer.max_steps=0"))[1]["module"]
    before = _weights(start)
    module = train(smoke_cfg(tmp_path / "frozen", "trainer.max_steps=5", "module.lr=3e-3", "module.trainable=[blocks.0.mlp.*]"))[1]["module"]  # fmt: skip
    after = _weights(module)
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all(name.startswith("blocks.0.mlp.") for name in changed), changed
    with pytest.raises(ValueError, match="'ridg_gate.\\*' matches no parameter"):
        TabDiffusionModule(start.model, start.diffusion, trainable=["ridg_gate.*"])


def _weights(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.model.state_dict().items()}


def test_resume_from_last_checkpoint_matches_a_straight_run(tmp_path):
    # the learning-rate schedule is fixed by decay_steps, not by each run's max_steps: a resumed run keeps it
    fixed = "module.decay_steps=20"
    straight = train(smoke_cfg(tmp_path / "straight", "trainer.max_steps=20", fixed))[1]
    first = train(smoke_cfg(tmp_path / "split", "trainer.max_steps=10", fixed))[1]
    assert first["trainer"].global_step == 10
    ckpt = tmp_path / "split" / "checkpoints" / "last.ckpt"
    saved = torch.load(ckpt, map_location="cpu", weights_only=False)  # written by this test
    assert "current_model_state" in saved  # the EMA callback's copy of the live weights
    for name in ("state_dict", "current_model_state"):
        keys = list(saved[name])
        assert keys and all(k.startswith("model.") for k in keys)  # the weights once, not again under `_forward.`
        for key in keys:  # as checkpoints saved before 2026-11-28 had them: they must still resume
            saved[name]["_forward." + key[len("model.") :]] = saved[name][key].clone()
    torch.save(saved, ckpt)
    resumed = train(smoke_cfg(tmp_path / "split", "trainer.max_steps=20", fixed, f"ckpt_path={ckpt}"))[1]
    assert resumed["trainer"].global_step == 20
    a, b = _weights(straight["module"]), _weights(resumed["module"])
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6, msg=name)


def test_export_then_load_in_a_fresh_process_gives_identical_outputs(tmp_path):
    objects = train(smoke_cfg(tmp_path, "trainer.max_steps=5"))[1]
    export = objects["export"]
    model = objects["module"].model.eval()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 3, model.config.n_channels, generator=gen)
    t = torch.tensor([3, 70])
    known = torch.rand(2, 5, 3, generator=gen) > 0.5
    torch.save({"x": x, "t": t, "known": known}, tmp_path / "inputs.pt")
    with torch.no_grad():
        expected = model(x, t, known_mask=known, x_known=x)
    code = (
        # the same thread count as this process (tests/conftest.py): reductions then run in the same order
        f"import sys, torch; torch.set_num_threads({torch.get_num_threads()});"
        "from tabdiff.checkpoint import load_exported;"
        "m = load_exported(sys.argv[1]).model; i = torch.load(sys.argv[2]);"
        "torch.save(m(i['x'], i['t'], known_mask=i['known'], x_known=i['x']).detach(), sys.argv[3])"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(export), str(tmp_path / "inputs.pt"), str(tmp_path / "out.pt")], check=True
    )
    assert torch.equal(torch.load(tmp_path / "out.pt"), expected)
    config = json.loads(export.with_suffix(".json").read_text())
    assert config["model"]["d_model"] == model.config.d_model and config["run"]["global_step"] == 5


def test_corrupt_or_mismatched_checkpoints_give_clear_errors(tmp_path):
    export = train(smoke_cfg(tmp_path, "trainer.max_steps=2"))[1]["export"]
    sidecar = export.with_suffix(".json").read_text()
    lone = tmp_path / "lone.safetensors"
    lone.write_bytes(export.read_bytes())
    with pytest.raises(FileNotFoundError, match="settings file"):
        load_exported(lone)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    bad.with_suffix(".json").write_text(sidecar)
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_exported(bad)
    config = json.loads(sidecar)
    config["model"]["d_model"] *= 2
    export.with_suffix(".json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="do not match"):
        load_exported(export)
    broken_ckpt = tmp_path / "broken.ckpt"
    broken_ckpt.write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="not a readable Lightning checkpoint"):
        load_exported(broken_ckpt)
    # the Lightning checkpoint itself loads, with the same weights as the export
    from_ckpt = load_exported(tmp_path / "checkpoints" / "last.ckpt").model
    export.with_suffix(".json").write_text(sidecar)
    from_export = load_exported(export).model
    for name, value in from_export.state_dict().items():
        assert torch.equal(value, from_ckpt.state_dict()[name]), name


def test_ddp_on_two_cpu_processes_runs(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "pretrain.py"),
            "experiment=smoke",
            "trainer=ddp_cpu",
            "trainer.max_steps=4",
            "trainer.val_check_interval=4",
            "callbacks.zero_shot=null",
            f"output_dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "world_size: 2" in result.stderr + result.stdout or "MEMBER: 2/2" in result.stderr + result.stdout
    assert (tmp_path / "export" / "tabdiff.safetensors").exists()


@pytest.mark.parametrize("keep", [True, False])
def test_train_sets_the_allocator_before_building_anything_when_configured(tmp_path, monkeypatch, keep):
    # keep_freed_memory must run before the DataLoader workers exist (they inherit it): stop at the first build
    calls = []

    class Built(Exception):
        pass

    def stop(*args, **kwargs):
        raise Built

    monkeypatch.setattr("tabdiff.training.train.keep_freed_memory", lambda: calls.append("malloc"))
    monkeypatch.setattr("tabdiff.training.train.instantiate", stop)
    with pytest.raises(Built):
        train(smoke_cfg(tmp_path, f"keep_freed_memory={str(keep).lower()}"))
    assert calls == (["malloc"] if keep else [])
