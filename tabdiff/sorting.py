"""Sorting along the last dimension of a tensor, fast on the CPU.

torch's CPU sort is several times slower than numpy's SIMD sort on the many short rows the batched prior and the
batched encoder rank (2,048 rows of 256 float32, one thread: torch.sort 9-18 ms, numpy's argsort 2.1 ms, np.sort
0.3 ms). These return what torch.sort does, through numpy for float CPU tensors and through torch elsewhere (CUDA).
"""

from __future__ import annotations

import numpy as np
import torch


def sort_last(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """torch.sort(x, dim=-1) (values, indices; the order among equal values unspecified). On the CPU through numpy's
    SIMD argsort: 2.1 ms against torch's 9-18 ms for 2,048 rows of 256 float32 (one thread), the rank transform's
    cost in the large prior's filter and masks."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64) or x.numel() == 0:
        return torch.sort(x, dim=-1)
    order = torch.from_numpy(np.argsort(x.numpy(), axis=-1))
    return torch.gather(x, -1, order), order


def sorted_last(x: torch.Tensor) -> torch.Tensor:
    """torch.sort(x, dim=-1).values; on the CPU numpy's SIMD sort (0.3 ms against torch's 9 ms for 2,048 x 256)."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64) or x.numel() == 0:
        return torch.sort(x, dim=-1).values
    return torch.from_numpy(np.sort(x.contiguous().numpy(), axis=-1))
