"""The variable-size table denoiser (TabPFN-v2-style alternating attention, DiT-style conditioning).

A batch of B tables padded to R rows and C columns arrives as cells (B, R, C, K). Each cell is embedded
on its own, then L blocks alternate attention across the columns of a row (`attn_between_cols`) and
across the rows of a column (`attn_between_rows`). There is no positional encoding: rows are a set, and
columns are told apart only by random per-column identifiers, so the network is equivariant to row
order (and to column order when the identifiers move with the columns) and accepts any (R, C).
In-context experts (closed-form fits on the known cells) are not part of the network: `tabdiff.experts` mixes them
into its output outside `forward`.

The network knows nothing of diffusion schedules: it maps (x_t, t, conditioning) to K outputs per cell
(what they mean, eps / x0 / v, is the diffusion core's business), plus K variance-interpolation values
when `learn_variance` is set (mean part first, then variance part, as tabdiff.diffusion expects).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from einops import repeat
from torch import nn
from torch.utils.checkpoint import checkpoint

from tabdiff.model.layers import Block, FinalLayer, TimestepEmbedder, key_pad_to_attn_mask

VarianceActivation = Literal["none", "tanh"]
ValueEmbedding = Literal["linear", "rbf"]
RBF_RANGE = 3.0  # the RBF centres span [-3, 3] normal scores (the encoder clips at 5)
COL_ID_BLOCK = 64  # default column ids are drawn in blocks of this many columns, one seed per block


@dataclass(frozen=True)
class DenoiserConfig:
    n_channels: int = 16  # K: channels per cell (the encoder's max categories); numeric columns use channel 0
    d_model: int = 64  # width of every cell's hidden vector
    depth: int = 4  # number of blocks (attn_between_cols + attn_between_rows + MLP each)
    n_heads: int = 4  # attention heads; must divide d_model
    mlp_ratio: float = 4.0  # MLP hidden width = mlp_ratio * d_model
    id_dim: int = 16  # size of the random per-column identifier
    learn_variance: bool = True  # output 2K channels: K mean-part, then K variance-interpolation values v
    variance_activation: VarianceActivation = "none"  # v raw (as guided-diffusion) or tanh into [-1, 1]
    conditional: bool = True  # embed known_mask / x_known; False = unconditional (pure RePaint) network
    col_id_seed: int = 0  # seed of the default column ids (used when forward gets col_ids=None)
    dropout: float = 0.0  # dropout in attention weights, MLP hidden and residual branches
    time_freq_dim: int = 128  # number of sinusoidal timestep features fed to the timestep MLP
    grad_checkpoint: bool = False  # recompute blocks in backward (training only): memory for compute
    value_embedding: ValueEmbedding = "linear"  # a numeric value: channel 0 of a linear map; rbf: + n_rbf bumps of it
    n_rbf: int = 16  # with value_embedding="rbf": Gaussian bumps at even centres over [-3, 3] normal scores
    thinking_rows: int = 0  # learned rows added to every table: attention across rows has spare slots to work in

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        if self.variance_activation not in ("none", "tanh"):
            raise ValueError(f"variance_activation must be 'none' or 'tanh', got {self.variance_activation!r}")
        if self.value_embedding not in ("linear", "rbf"):
            raise ValueError(f"value_embedding must be 'linear' or 'rbf', got {self.value_embedding!r}")
        if self.n_rbf < 2 or self.thinking_rows < 0:
            raise ValueError(f"n_rbf must be >= 2 and thinking_rows >= 0, got {self.n_rbf}, {self.thinking_rows}")

    @property
    def n_out(self) -> int:
        """Output channels per cell: K, or 2K with a learned variance."""
        return 2 * self.n_channels if self.learn_variance else self.n_channels


def default_col_ids(n_cols: int, id_dim: int, seed: int, device: torch.device | str) -> torch.Tensor:
    """Standard-normal column ids from a seeded generator. -> (n_cols, id_dim), float32 on `device`.

    Drawn on the CPU in blocks of COL_ID_BLOCK columns, block k from seed + k, so column j's id depends
    on neither the device nor the number of columns: padding a table with extra columns keeps its ids.
    """
    blocks = []
    for k in range((n_cols + COL_ID_BLOCK - 1) // COL_ID_BLOCK):
        gen = torch.Generator().manual_seed(seed + k)
        blocks.append(torch.randn(COL_ID_BLOCK, id_dim, generator=gen))
    ids = torch.cat(blocks) if blocks else torch.zeros(0, id_dim)
    return ids[:n_cols].to(device)


class TabularDenoiser(nn.Module):
    """Denoiser for tables of any shape; see the module docstring and `forward`."""

    def __init__(self, config: DenoiserConfig) -> None:
        super().__init__()
        self.config = config
        K, d = config.n_channels, config.d_model
        # per-cell embedding
        self.x_t_proj = nn.Linear(K, d)  # the noisy cell
        if config.conditional:
            self.x_known_proj = nn.Linear(K, d, bias=False)  # the clean value, where known
            self.known_embed = nn.Parameter(torch.zeros(d))  # "this cell is known"
        if config.value_embedding == "rbf":  # a richer input per numeric value than one channel of a linear map
            self.register_buffer("rbf_centres", torch.linspace(-RBF_RANGE, RBF_RANGE, config.n_rbf), persistent=False)
            self.x_t_rbf = nn.Linear(config.n_rbf, d, bias=False)
            if config.conditional:
                self.x_known_rbf = nn.Linear(config.n_rbf, d, bias=False)
        if config.thinking_rows:
            self.thinking = nn.Parameter(torch.zeros(config.thinking_rows, d))  # (T, d) rows the table does not have
        self.kind_embed = nn.Embedding(2, d)  # column kind: 0 numeric, 1 categorical
        self.col_id_proj = nn.Linear(config.id_dim, d, bias=False)  # random column identifier
        # timestep conditioning, blocks, head
        self.t_embed = TimestepEmbedder(d, config.time_freq_dim)
        self.blocks = nn.ModuleList(
            Block(d, config.n_heads, config.mlp_ratio, config.dropout) for _ in range(config.depth)
        )
        self.final = FinalLayer(d, config.n_out)
        self._init_weights()

    def _init_weights(self) -> None:
        """DiT's init: xavier linears, zero biases; adaLN gates and the output head at zero (identity start).

        So the network starts at output 0 with identity blocks. The first backward reaches only the head's
        linear; the first optimizer step moves it, the second moves the gates, and from the third backward
        on every parameter gets gradient (tests/model/test_denoiser.py checks exactly this).
        """
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.normal_(self.kind_embed.weight, std=0.02)
        if self.config.thinking_rows:
            nn.init.normal_(self.thinking, std=0.02)
        if self.config.conditional:
            nn.init.normal_(self.known_embed, std=0.02)
        for layer in (self.t_embed.mlp[0], self.t_embed.mlp[2]):
            nn.init.normal_(layer.weight, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.adaln[-1].weight)
            nn.init.zeros_(block.adaln[-1].bias)
        for layer in (self.final.adaln[-1], self.final.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def n_parameters(self) -> int:
        """Number of parameters."""
        return sum(p.numel() for p in self.parameters())

    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        *,
        known_mask: torch.Tensor | None = None,
        x_known: torch.Tensor | None = None,
        channel_mask: torch.Tensor | None = None,
        column_kind: torch.Tensor | None = None,
        row_pad_mask: torch.Tensor | None = None,
        col_pad_mask: torch.Tensor | None = None,
        col_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict per-cell outputs for a batch of padded tables.

        Args:
            x_t: float (B, R, C, K) noisy cells; values on padding or unused channels are ignored.
            t: long (B,) diffusion timestep of each table.
            known_mask: bool (B, R, C), True = observed cell (conditioning), or None = nothing known.
                Ignored by an unconditional network (config.conditional False).
            x_known: float (B, R, C, K) clean cells, read only where known_mask is True (elsewhere it may
                hold anything, NaN included). Required when known_mask is given to a conditional network.
            channel_mask: bool (B, C, K), True where the column uses the channel; None = all used.
            column_kind: long (B, C), 0 numeric / 1 categorical; None = all numeric.
            row_pad_mask: bool (B, R), True = padding row; None = no padding.
            col_pad_mask: bool (B, C), True = padding column; None = no padding.
            col_ids: float (B, C, id_dim) column identifiers; None = `default_col_ids` from config.col_id_seed.

        Returns:
            (B, R, C, K), or (B, R, C, 2K) with learn_variance (the K mean-part channels first, then the K
            variance values v, which the diffusion core maps through (v + 1) / 2; raw, or tanh-bounded per
            config.variance_activation). Zero on padding cells and unused channels.
        """
        cfg = self.config
        B, R, C, K = x_t.shape
        if K != cfg.n_channels:
            raise ValueError(f"x_t has {K} channels, the model expects n_channels={cfg.n_channels}")
        device = x_t.device

        channel_mask, column_kind, real_cell = _defaults(x_t, channel_mask, column_kind, row_pad_mask, col_pad_mask)
        if col_ids is None:
            col_ids = default_col_ids(C, cfg.id_dim, cfg.col_id_seed, device).expand(B, C, cfg.id_dim)
        used = real_cell[..., None] & channel_mask[:, None]  # (B, R, C, K) real cell, used channel

        # per-cell embedding; torch.where (not a product) so NaN in ignored inputs cannot leak
        h = self.x_t_proj(torch.where(used, x_t, 0.0))  # (B, R, C, d)
        numeric = (column_kind == 0)[:, None] & used[..., 0]  # (B, R, C) real numeric cells
        if cfg.value_embedding == "rbf":
            h = h + self._rbf(self.x_t_rbf, x_t, numeric)
        if cfg.conditional and known_mask is not None:
            if x_known is None:
                raise ValueError("a conditional call with known_mask needs x_known")
            known = known_mask & real_cell  # (B, R, C)
            h = h + self.x_known_proj(torch.where(known[..., None] & used, x_known, 0.0))
            h = h + torch.where(known[..., None], self.known_embed, 0.0)
            if cfg.value_embedding == "rbf":
                h = h + self._rbf(self.x_known_rbf, x_known, numeric & known)
        col_embed = self.kind_embed(column_kind) + self.col_id_proj(col_ids.to(h.dtype))  # (B, C, d)
        h = h + col_embed[:, None]  # broadcast over rows
        T = cfg.thinking_rows
        if T:  # learned rows (same for every table, told apart from each other only by their content) before the rows
            thinking = self.thinking.to(h.dtype)[None, :, None, :] + col_embed[:, None]  # (B, T, C, d)
            h = torch.cat([thinking, h], dim=1)  # (B, T + R, C, d)
            pad = torch.zeros(B, T, dtype=torch.bool, device=device)
            row_pad_mask = None if row_pad_mask is None else torch.cat([pad, row_pad_mask], dim=1)
            R = R + T

        c = self.t_embed(t)  # (B, d)
        cols_attn_mask = key_pad_to_attn_mask(
            None if col_pad_mask is None else repeat(col_pad_mask, "b c -> (b r) c", r=R)
        )  # (B*R, 1, 1, C)
        rows_attn_mask = key_pad_to_attn_mask(
            None if row_pad_mask is None else repeat(row_pad_mask, "b r -> (b c) r", c=C)
        )  # (B*C, 1, 1, R)
        for block in self.blocks:
            if cfg.grad_checkpoint and self.training:
                h = checkpoint(block, h, c, cols_attn_mask, rows_attn_mask, use_reentrant=False)
            else:
                h = block(h, c, cols_attn_mask, rows_attn_mask)

        out = self.final(h[:, T:], c)  # (B, R, C, n_out): the thinking rows give no output
        if cfg.learn_variance:
            if cfg.variance_activation == "tanh":
                mean_part, var_part = out.split(K, dim=-1)
                out = torch.cat([mean_part, torch.tanh(var_part)], dim=-1)
            used = repeat(used, "b r c k -> b r c (two k)", two=2)  # (B, R, C, 2K), mean part first
        return torch.where(used, out, 0.0)

    def _rbf(self, proj: nn.Module, cells: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        """(B, R, C, d) `proj` of Gaussian bumps of each numeric cell's value (channel 0), 0 elsewhere."""
        centres = self.rbf_centres.to(cells.dtype)
        width = 2 * RBF_RANGE / (self.config.n_rbf - 1)
        value = torch.where(numeric, cells[..., 0], 0.0)[..., None]  # (B, R, C, 1)
        bumps = torch.exp(-0.5 * ((value - centres) / width) ** 2)  # (B, R, C, n_rbf)
        return proj(torch.where(numeric[..., None], bumps, 0.0))


def _defaults(cells, channel_mask, column_kind, row_pad_mask, col_pad_mask):
    """`forward`'s optional masks filled in for `cells` (B, R, C, K): (channel_mask (B, C, K), column_kind (B, C),
    real_cell (B, R, C): True off padding), on the cells' device."""
    B, R, C, K = cells.shape
    device = cells.device
    if channel_mask is None:
        channel_mask = torch.ones(B, C, K, dtype=torch.bool, device=device)
    if column_kind is None:
        column_kind = torch.zeros(B, C, dtype=torch.long, device=device)
    real_cell = torch.ones(B, R, C, dtype=torch.bool, device=device)  # (B, R, C) not padding
    if row_pad_mask is not None:
        real_cell = real_cell & ~row_pad_mask[:, :, None]
    if col_pad_mask is not None:
        real_cell = real_cell & ~col_pad_mask[:, None, :]
    return channel_mask, column_kind, real_cell
