"""The parts of tabdiff import one way (docs/design.md, "Parts, and what each may import"): every import of a
tabdiff module from another part, lazy ones included, is one the table allows, so no part imports one above it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tabdiff"
BASE = {"resources", "sorting", "allocator"}
ALLOWED = {  # part -> the parts it may import (docs/design.md)
    "resources": set(),
    "sorting": set(),
    "allocator": set(),
    "encoding": {"sorting"},
    "prior": {"sorting"},
    "data": {"encoding", "prior", "resources"},
    "model": set(),
    "diffusion": set(),
    "experts": set(),
    "checkpoint": {"model", "diffusion", "experts", "resources"},
    "objective": {"data", "diffusion", "experts"},
    "training": {"checkpoint", "objective", "data", "diffusion", "experts"} | BASE,
    "inference": {"checkpoint", "objective", "data", "diffusion", "encoding", "experts"},
    "evaluation": {"inference", "checkpoint", "data", "prior", "experts", "resources"},
    "speedrun": {"training", "evaluation", "checkpoint", "resources"},
    "__init__": {"inference"},
}


def imports_between_parts() -> set[tuple[str, str, str]]:
    """(file, its part, the part it imports) for every import of another part of tabdiff."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        part = path.relative_to(PACKAGE).with_suffix("").parts[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                pieces = name.split(".")
                if pieces[0] == "tabdiff" and len(pieces) > 1 and pieces[1] != part:
                    found.add((str(path.relative_to(PACKAGE)), part, pieces[1]))
    return found


def test_every_part_is_in_the_design_table() -> None:
    parts = {p.relative_to(PACKAGE).with_suffix("").parts[0] for p in PACKAGE.rglob("*.py")}
    assert parts <= set(ALLOWED), f"parts missing from docs/design.md's table: {sorted(parts - set(ALLOWED))}"


def test_parts_import_only_what_the_design_allows() -> None:
    wrong = sorted((f, part, other) for f, part, other in imports_between_parts() if other not in ALLOWED[part])
    assert not wrong, f"imports that run against docs/design.md's layering: {wrong}"


def test_training_and_inference_do_not_import_each_other() -> None:
    pairs = {(part, other) for _, part, other in imports_between_parts()}
    assert ("training", "inference") not in pairs and ("inference", "training") not in pairs
