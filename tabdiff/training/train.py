"""`train(cfg)`: build everything from a Hydra config, fit, export. The `@hydra.main` wrapper is in scripts/."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tabdiff.allocator import keep_freed_memory
from tabdiff.checkpoint import BUNDLED_CHECKPOINT, export_model, load_exported
from tabdiff.experts import ExpertConfig
from tabdiff.training.callbacks import TablesSeen
from tabdiff.training.module import TabDiffusionModule

log = logging.getLogger(__name__)


def _instantiate_group(group: DictConfig | None) -> list[Any]:
    """A config group of named entries (callbacks, loggers) -> a list of objects."""
    if not group:
        return []
    return [instantiate(entry) for entry in group.values() if entry is not None and "_target_" in entry]


def warm_start(model: torch.nn.Module, path: str | Path) -> None:
    """Load denoiser weights from an export (`bundled`: the checkpoint shipped with tabdiff, wherever it is
    installed); its model settings must be the configured model's."""
    path = BUNDLED_CHECKPOINT if str(path) == "bundled" else path
    source = load_exported(path).model
    if source.config != model.config:
        raise ValueError(
            f"init_from={path}: its model settings {source.config} differ from the config's {model.config}"
        )
    model.load_state_dict(source.state_dict())


def train(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    """Pretrain per `cfg` (conf/pretrain.yaml). Returns (final metrics, objects: module, trainer, datamodule, export)."""
    L.seed_everything(cfg.seed, workers=True)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    if cfg.get("keep_freed_memory", False):
        keep_freed_memory()  # before the DataLoader workers start: they inherit it
    model = instantiate(cfg.model)
    if cfg.get("init_from"):
        warm_start(model, cfg.init_from)
        log.info("warm-started the denoiser from %s", cfg.init_from)
    diffusion = instantiate(cfg.diffusion)
    encoder = OmegaConf.to_container(cfg.encoder, resolve=True)
    module_args = OmegaConf.to_container(cfg.module, resolve=True)
    # the checkpoint tells inference how many categories a column may code one per channel: the most the prior
    # drew (measured: channels the prior never used give noise, and a 40-city column was imputed 0% right)
    prior_categories = OmegaConf.select(cfg, "prior.columns.max_categories")
    export_encoder = dict(encoder)
    if prior_categories is not None:
        export_encoder["coded_categories"] = max(2, min(int(prior_categories), int(encoder["max_categories"])))
    experts = ExpertConfig.from_dict(OmegaConf.to_container(cfg.experts, resolve=True) if cfg.get("experts") else None)
    module = TabDiffusionModule(model, diffusion, encoder=export_encoder, seed=cfg.seed, experts=experts, **module_args)
    datamodule = instantiate(cfg.data, encoder=encoder)
    trainer: L.Trainer = instantiate(
        cfg.trainer, callbacks=_instantiate_group(cfg.get("callbacks")), logger=_instantiate_group(cfg.get("logger"))
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    wall = time.perf_counter() - start

    export = None
    if cfg.get("export_path") and trainer.is_global_zero:
        # after fit the EMA callback has copied the average into the module: the export holds EMA weights
        run = {"name": cfg.name, "global_step": trainer.global_step, "wall_seconds_this_run": round(wall, 1)}
        seen = [cb.tables for cb in trainer.callbacks if isinstance(cb, TablesSeen)]
        if seen:
            run["tables_seen"] = seen[0]
        config = module.export_config() | {"run": run}
        export = export_model(module.model, config, cfg.export_path)
        log.info("exported %s (step %d)", export, trainer.global_step)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    return metrics, {"module": module, "trainer": trainer, "datamodule": datamodule, "export": export}
