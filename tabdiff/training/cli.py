"""The `tabdiff-pretrain` console script: Hydra over conf/pretrain.yaml, then `train(cfg)`."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from tabdiff.resources import resource_dir

CONF_DIR = str(resource_dir("conf"))


@hydra.main(config_path=CONF_DIR, config_name="pretrain", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from tabdiff.training.train import train

    metrics, _ = train(cfg)
    print({k: round(v, 5) for k, v in sorted(metrics.items())})
