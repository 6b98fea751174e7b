"""Mixed-type tables <-> normalized float cells for the diffusion model (contract in ``table_encoder``)."""

from __future__ import annotations

from tabdiff.encoding.columns import ColumnKind
from tabdiff.encoding.numeric import QuantileNormalMap
from tabdiff.encoding.table_encoder import EncodedTable, TableEncoder

__all__ = ["ColumnKind", "EncodedTable", "QuantileNormalMap", "TableEncoder"]
