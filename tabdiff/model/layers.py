"""Building blocks of the table denoiser: timestep embedding, attention, adaLN-Zero blocks, output head.

Every tensor here is batch-first. `h` is the cell stream `(B, R, C, d)`; `c` the per-table conditioning
vector `(B, d)` (timestep embedding). Adaptive LayerNorm with zero-initialised gates follows DiT
(Peebles & Xie 2023, "adaLN-Zero"), so each residual block starts as the identity.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal features of integer timesteps (Vaswani et al. 2017; as in DDPM/DiT). (B,) -> (B, dim)"""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]  # (B, half)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb  # (B, dim)


class TimestepEmbedder(nn.Module):
    """Sinusoidal features -> MLP, the conditioning vector `c` of every adaLN."""

    def __init__(self, d_model: int, freq_dim: int) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, d_model), nn.SiLU(), nn.Linear(d_model, d_model))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """t: long (B,) -> c: (B, d)"""
        return self.mlp(timestep_embedding(t, self.freq_dim))


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN: x * (1 + scale) + shift, with shift/scale broadcast from (B, 1, 1, d) over cells."""
    return x * (1 + scale) + shift


def key_pad_to_attn_mask(key_pad_mask: torch.Tensor | None) -> torch.Tensor | None:
    """(N, L) bool, True = padding key -> SDPA boolean mask (N, 1, 1, L), True = may attend.

    A sequence whose keys are all padding (a fully padded table) attends to all of them instead, so no
    query ever sees only masked keys (softmax over nothing is NaN). Such queries are padding themselves,
    and their outputs are zeroed by the head.
    """
    if key_pad_mask is None:
        return None
    all_pad = key_pad_mask.all(dim=-1, keepdim=True)  # (N, 1)
    may_attend = ~key_pad_mask | all_pad  # (N, L)
    return rearrange(may_attend, "n l -> n 1 1 l")


class Attention(nn.Module):
    """Multi-head self-attention over the middle axis of (N, L, d), via scaled_dot_product_attention."""

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        """x: (N, L, d); attn_mask: bool (N, 1, 1, L) True = may attend, or None -> (N, L, d)"""
        q, k, v = rearrange(self.qkv(x), "n l (three h e) -> three n h l e", three=3, h=self.n_heads)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )  # (N, H, L, e)
        return self.proj(rearrange(out, "n h l e -> n l (h e)"))


class Mlp(nn.Module):
    """Per-cell feed-forward: Linear -> GELU -> Linear."""

    def __init__(self, d_model: int, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        hidden = int(d_model * mlp_ratio)
        self.fc1 = nn.Linear(d_model, hidden)
        self.fc2 = nn.Linear(hidden, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(F.gelu(self.fc1(x), approximate="tanh")))


class Block(nn.Module):
    """attn_between_cols, then attn_between_rows, then an MLP; each pre-norm with adaLN-Zero."""

    def __init__(self, d_model: int, n_heads: int, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        self.norm_cols = nn.LayerNorm(d_model, elementwise_affine=False, eps=1e-6)
        self.attn_between_cols = Attention(d_model, n_heads, dropout)
        self.norm_rows = nn.LayerNorm(d_model, elementwise_affine=False, eps=1e-6)
        self.attn_between_rows = Attention(d_model, n_heads, dropout)
        self.norm_mlp = nn.LayerNorm(d_model, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(d_model, mlp_ratio, dropout)
        self.drop = nn.Dropout(dropout)
        # shift, scale, gate for each of the three sub-layers
        self.adaln = nn.Sequential(nn.SiLU(), nn.Linear(d_model, 9 * d_model))

    def forward(
        self,
        h: torch.Tensor,
        c: torch.Tensor,
        cols_attn_mask: torch.Tensor | None,
        rows_attn_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """h: (B, R, C, d); c: (B, d); cols_attn_mask: (B*R, 1, 1, C); rows_attn_mask: (B*C, 1, 1, R)"""
        B = h.shape[0]
        mods = rearrange(self.adaln(c), "b (k d) -> k b 1 1 d", k=9)  # 9 x (B, 1, 1, d)
        shift_c, scale_c, gate_c, shift_r, scale_r, gate_r, shift_m, scale_m, gate_m = mods

        # attention across columns, within each row
        x = rearrange(modulate(self.norm_cols(h), shift_c, scale_c), "b r c d -> (b r) c d")
        x = self.attn_between_cols(x, cols_attn_mask)
        h = h + gate_c * self.drop(rearrange(x, "(b r) c d -> b r c d", b=B))

        # attention across rows, within each column
        x = rearrange(modulate(self.norm_rows(h), shift_r, scale_r), "b r c d -> (b c) r d")
        x = self.attn_between_rows(x, rows_attn_mask)
        h = h + gate_r * self.drop(rearrange(x, "(b c) r d -> b r c d", b=B))

        # per-cell MLP
        h = h + gate_m * self.drop(self.mlp(modulate(self.norm_mlp(h), shift_m, scale_m)))
        return h  # (B, R, C, d)


class FinalLayer(nn.Module):
    """Final adaLN + Linear(d -> n_out) per cell."""

    def __init__(self, d_model: int, n_out: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model, elementwise_affine=False, eps=1e-6)
        self.adaln = nn.Sequential(nn.SiLU(), nn.Linear(d_model, 2 * d_model))
        self.linear = nn.Linear(d_model, n_out)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """h: (B, R, C, d); c: (B, d) -> (B, R, C, n_out)"""
        shift, scale = rearrange(self.adaln(c), "b (k d) -> k b 1 1 d", k=2)
        return self.linear(modulate(self.norm(h), shift, scale))
