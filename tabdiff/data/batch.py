"""A batch of encoded tables padded to one shape, as the training step and the samplers consume it."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from tabdiff.encoding import EncodedTable


@dataclass
class TableBatch:
    """B tables padded to R rows and C columns with K channels per cell.

    `observed_mask` says which cells have a ground truth (real tables have NaNs: no loss there);
    `known_mask` says which cells are given to the model as conditioning (a subset of the observed ones).
    """

    cells: torch.Tensor  # (B, R, C, K) float32, clean encoded cells; 0 where missing or padding
    observed_mask: torch.Tensor  # (B, R, C) bool, True = the ground truth of the cell is known
    known_mask: torch.Tensor  # (B, R, C) bool, True = the cell is conditioning (always observed)
    channel_mask: torch.Tensor  # (B, C, K) bool, True where the column uses the channel
    column_kind: torch.Tensor  # (B, C) long, 0 numeric / 1 categorical
    row_pad_mask: torch.Tensor  # (B, R) bool, True = padding row
    col_pad_mask: torch.Tensor  # (B, C) bool, True = padding column

    def to(self, device: torch.device | str, **kwargs: bool) -> TableBatch:
        """Every tensor moved to `device` (Lightning calls this with non_blocking=True on CUDA)."""
        return TableBatch(**{f.name: getattr(self, f.name).to(device, **kwargs) for f in fields(self)})

    def pin_memory(self) -> TableBatch:
        """Page-locked copies (DataLoader(pin_memory=True) calls this), so copies to a GPU can overlap compute."""
        return TableBatch(**{f.name: getattr(self, f.name).pin_memory() for f in fields(self)})

    def put(self, i: int, table: EncodedTable, known_mask: np.ndarray | torch.Tensor) -> None:
        """Overwrite slot `i` with one encoded table no larger than the batch (padded, as stack_tables pads).

        `known_mask` (rows, cols) is intersected with the table's observed cells.
        """
        r, c = table.known_mask.shape
        device = self.cells.device
        self.cells[i] = 0.0
        self.cells[i, :r, :c] = table.cells.to(device)
        self.observed_mask[i] = False
        self.observed_mask[i, :r, :c] = table.known_mask.to(device)
        self.known_mask[i] = False
        self.known_mask[i, :r, :c] = (
            torch.as_tensor(known_mask, dtype=torch.bool, device=device) & self.observed_mask[i, :r, :c]
        )
        self.channel_mask[i] = False
        self.channel_mask[i, :c] = table.channel_mask.to(device)
        self.column_kind[i] = 0
        self.column_kind[i, :c] = table.column_kind.to(device)
        self.row_pad_mask[i] = True
        self.row_pad_mask[i, :r] = False
        self.col_pad_mask[i] = True
        self.col_pad_mask[i, :c] = False

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return tuple(self.cells.shape)  # type: ignore[return-value]

    def loss_cells(self, conditioned: torch.Tensor | None = None) -> torch.Tensor:
        """(B, R, C, K) bool: cells whose ground truth is known, not padding, in a used channel.

        `conditioned` (B,) marks tables trained conditionally: their known cells are inputs, not targets.
        """
        cells = self.observed_mask & ~self.row_pad_mask[:, :, None] & ~self.col_pad_mask[:, None, :]
        if conditioned is not None:
            cells = cells & ~(self.known_mask & conditioned[:, None, None])
        return cells[..., None] & self.channel_mask[:, None, :, :]


def stack_tables(tables: list[EncodedTable], known_masks: list[torch.Tensor]) -> TableBatch:
    """Pad encoded tables to the largest rows and columns among them and stack them into a TableBatch.

    `known_masks[i]` (rows_i, cols_i) is table i's conditioning pattern; it is intersected with the
    observed cells so that a missing cell is never given as known.
    """
    if not tables or len(tables) != len(known_masks):
        raise ValueError(f"need one known mask per table, got {len(tables)} tables and {len(known_masks)} masks")
    n_rows = max(t.cells.shape[0] for t in tables)
    n_cols = max(t.cells.shape[1] for t in tables)
    n_channels = tables[0].cells.shape[2]
    batch = len(tables)
    out = TableBatch(
        cells=torch.zeros(batch, n_rows, n_cols, n_channels),
        observed_mask=torch.zeros(batch, n_rows, n_cols, dtype=torch.bool),
        known_mask=torch.zeros(batch, n_rows, n_cols, dtype=torch.bool),
        channel_mask=torch.zeros(batch, n_cols, n_channels, dtype=torch.bool),
        column_kind=torch.zeros(batch, n_cols, dtype=torch.long),
        row_pad_mask=torch.ones(batch, n_rows, dtype=torch.bool),
        col_pad_mask=torch.ones(batch, n_cols, dtype=torch.bool),
    )
    for i, (table, known) in enumerate(zip(tables, known_masks, strict=True)):
        if table.cells.shape[2] != n_channels:
            raise ValueError(f"table {i} has {table.cells.shape[2]} channels per cell, the first has {n_channels}")
        out.put(i, table, known)
    return out
