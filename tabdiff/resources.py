"""Where the configs (`conf/`) and bundled files (`data/`) are: the source tree, or an installed wheel.

A source checkout or editable install reads them next to the package (`<repo>/conf`, `<repo>/data`); a built
wheel ships them as data files under `<prefix>/share/tabdiff/` (pyproject.toml, `[tool.setuptools.data-files]`).
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def resource_dir(name: str) -> Path:
    """`conf` or `data`: the source tree's folder when it is there, else the installed copy (the source path
    when neither exists, so that error messages name where it was looked for)."""
    source = REPO / name
    if source.is_dir():
        return source
    for prefix in (sysconfig.get_path("data"), sys.prefix, sys.base_prefix):
        installed = Path(prefix) / "share" / "tabdiff" / name
        if installed.is_dir():
            return installed
    return source
