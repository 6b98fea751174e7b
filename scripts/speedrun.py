"""The speedrun (docs/speedrun.md): train from scratch for a wall-time budget, score the network on fixed probes.

    python scripts/speedrun.py --minutes 30 --seed 0 --out outputs/sr0
    python scripts/speedrun.py --minutes 30 --seed 1 --out outputs/sr1 --change "lr 1e-3, d_model 96" \\
        -- module.lr=1e-3 model.d_model=96
    python scripts/speedrun.py --refresh-baselines       # recompute data/speedrun_baselines.json (~15 min), then exit

Trains `experiment=speedrun` (conf/experiment/speedrun.yaml; anything after `--` overrides it, as on the
`tabdiff-pretrain` command line), writes OUT/speedrun.safetensors + OUT/speedrun.json (the export), OUT/probes.csv
and OUT/record.json, appends the record to docs/speedrun.md (--docs DIR elsewhere), and prints it as the last line.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from tabdiff.speedrun import BASELINES, DOCS, refresh_baselines, run_speedrun, speedrun_config


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    overrides: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, overrides = argv[:at], argv[at + 1 :]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="wall minutes of training (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (a record takes seeds 0 and 1)")
    parser.add_argument("--out", default="outputs/speedrun", help="the run's folder (export, logs, probe results)")
    parser.add_argument("--change", default="", help="the recipe change, in words, for the records table")
    parser.add_argument("--docs", default=str(DOCS), help="folder of speedrun.md / .jsonl / .png (default docs/)")
    parser.add_argument("--no-record", action="store_true", help="append nothing to the records")
    parser.add_argument("--baselines", default=str(BASELINES), help="the baselines cache (JSON)")
    parser.add_argument("--refresh-baselines", action="store_true", help="recompute the baselines cache and exit")
    parser.add_argument("--threads", type=int, default=2, help="torch and BLAS threads (default 2: the record CPU)")
    parser.add_argument("--progress", action="store_true", help="progress bars over the probes")
    return parser.parse_args(argv), overrides


def main(argv: list[str] | None = None) -> dict | None:
    args, overrides = parse(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    cfg = speedrun_config(minutes=args.minutes, seed=args.seed, out=args.out, threads=args.threads, overrides=overrides)
    if args.refresh_baselines:
        seconds = refresh_baselines(cfg, args.baselines, progress=True)
        print(json.dumps({"baselines": args.baselines, "seconds": round(seconds, 1)}))
        return None
    record = run_speedrun(
        cfg,
        change=args.change,
        overrides=overrides,
        docs_dir=None if args.no_record else args.docs,
        baselines_path=args.baselines,
        progress=args.progress,
    )
    print(json.dumps(record, sort_keys=True), flush=True)
    return record


if __name__ == "__main__":
    main()
