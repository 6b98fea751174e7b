"""Zero-shot evaluation: `python scripts/evaluate.py evaluation=tiny` (same as the `tabdiff-evaluate` command)."""

from tabdiff.evaluation.cli import main

if __name__ == "__main__":
    main()
