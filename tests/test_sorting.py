"""tabdiff.sorting: numpy-backed sorts on the CPU return what torch.sort returns."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tabdiff.sorting import sort_last, sorted_last


@settings(max_examples=60, deadline=None)
@given(
    shape=st.tuples(st.integers(0, 4), st.integers(1, 5), st.integers(1, 40)),
    distinct=st.integers(1, 50),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.int64]),
    transposed=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_sorts_match_torch_sort(shape, distinct, dtype, transposed, seed):
    """Values equal torch.sort's (ties and infinities included, any strides); the indices put x in that order."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, distinct, shape, generator=g).to(dtype)
    if dtype.is_floating_point and x.numel():
        x.view(-1)[0] = torch.inf
    if transposed:
        x = x.transpose(0, -1)
    expected = torch.sort(x, dim=-1).values
    assert torch.equal(sorted_last(x), expected)
    values, order = sort_last(x)
    assert torch.equal(values, expected)
    assert torch.equal(torch.gather(x, -1, order), expected)
    assert torch.equal(torch.sort(order, dim=-1).values, torch.arange(x.shape[-1]).expand_as(order))
