"""Pretrain tabdiff: `python scripts/pretrain.py experiment=smoke` (same as the `tabdiff-pretrain` command)."""

from tabdiff.training.cli import main

if __name__ == "__main__":
    main()
