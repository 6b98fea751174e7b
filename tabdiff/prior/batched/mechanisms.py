"""Random functions from a node's parents to the node, for a batch of tables: small MLPs and tree ensembles.

The batched counterpart of `tabdiff/prior/mechanisms.py`: every table gets its own fresh random function
(an MLP with its own depth, widths, gain and activations, or a sum of random trees with their own depths),
drawn from the same ranges. Shapes are padded to the largest the config allows and the unused parts are
masked to have no effect, so a few tensor ops evaluate all tables at once.

Functions are drawn for n tables x N nodes at once (the SCM draws every node's function before its
topological loop) and applied one node at a time. Within a node, each MLP layer sees its tables sorted:
first those that use the layer, grouped by activation kind (one call per kind present, so a table pays only
for its own activation), then those passing their state through; tree tables follow, then skipped ones.
Parameters are stored in these orders, and `step` permutes the hidden state from one layer's order to the next.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

from tabdiff.prior.batched.ops import log_uniform, randint
from tabdiff.prior.mechanisms import ALL_ACTIVATIONS, MechanismConfig

_ACTIVATIONS: tuple[Callable[[torch.Tensor], torch.Tensor], ...] = tuple(
    {
        "identity": lambda x: x,
        "tanh": torch.tanh,
        "relu": torch.relu,
        "leaky_relu": lambda x: F.leaky_relu(x, 0.1),
        "sin": torch.sin,
        "abs": torch.abs,
        "square": lambda x: (x * x).clamp(max=100.0),  # clipped as in the reference: chained squares stay finite
        "step": lambda x: (x > 0).to(x.dtype),
        "sigmoid": torch.sigmoid,
        "elu": F.elu,
    }[a]
    for a in ALL_ACTIVATIONS
)  # indexed like ALL_ACTIVATIONS
_GROUPS = 4  # per layer: 0 uses the layer, 1 passes through it (MLP tables), 2 tree, 3 skipped


class NodeLayout(NamedTuple):
    """How one node's n tables are grouped: MLP tables first (in each layer's order), then trees, then skipped."""

    n_mlp: int
    n_tree: int
    n_active: tuple[int, ...]  # per hidden layer: the MLP tables that use it come first, the others pass through
    segments: tuple[tuple[tuple[int, int, int], ...], ...]  # per layer and output: (activation, start, end) runs


class MechanismParams(NamedTuple):
    """Random MLPs and tree ensembles, (n, N, ...) tensors for n tables of N nodes; `node(j)` drops the N axis.

    Rows along n are positions in a layer's order (see the module docstring), not tables. The MLP weights hold
    only the rows some node reads: w_first the most tables any node runs through its first hidden layer, w_hidden
    and b_hidden the most through a later one (n1, n2 <= n), w_out and b_out the most MLP tables of a node (m).
    """

    step: torch.Tensor  # (n, N, L + 1) long: rows of the previous order to take into layer l's (L: output layer)
    restore: torch.Tensor  # (n, N) long: table t's output is at row restore[t] of the output order
    output_order: torch.Tensor  # (n, N) long: the table at each row of the output order
    w_first: torch.Tensor  # (n1, N, P, D) first hidden layer, scaled by gain / sqrt(n_parents), 0 for non-parents
    w_hidden: torch.Tensor  # (n2, N, L - 1, D, D) later layers, scaled by gain / sqrt(width), 0 rows past the width
    b_hidden: torch.Tensor  # (max(n1, n2), N, L, 1, D)
    w_out: torch.Tensor  # (m, N, D, 1) output weights, reading the last used layer
    b_out: torch.Tensor  # (m, N, 1, 1)
    split_feature: torch.Tensor  # (n, N, T * I) parent slot of each internal node, trees of I = 2^depth_max - 1
    split_at: torch.Tensor  # (n, N, T * I) flat (row * P + slot) index of each split's threshold value
    leaf: torch.Tensor  # (n, N, T * 2^depth_max) leaf values, repeated below a shallower tree's leaves, 0 if unused
    layout: tuple[NodeLayout, ...]  # per node

    def node(self, j: int) -> MechanismParams:
        """Node j's functions for the n tables: (n, ...) tensors and a one-node layout."""
        return MechanismParams(*(t[:, j] for t in self[:-1]), (self.layout[j],))


def draw_mechanisms(
    g: torch.Generator,
    cfg: MechanismConfig,
    parent_mask: torch.Tensor,
    is_tree: torch.Tensor,
    n_rows: int,
    active: torch.Tensor | None = None,
) -> MechanismParams:
    """Fresh random functions for n tables x N nodes.

    parent_mask (n, N, P) bool, >= 1 True per active node; is_tree (n, N) bool; active (n, N) bool, default all:
    the (table, node) pairs that need a function (the others output 0 at no cost).
    """
    dev = g.device
    batch, n_slots = parent_mask.shape[:-1], parent_mask.shape[-1]
    n_layers, width_max = cfg.max_hidden_layers, cfg.hidden_range[1]
    d = max(n_slots, width_max)  # the MLP state: parents padded, or a hidden layer padded

    # per table: the MLP's shape; its weight scale uses each layer's real fan-in (parents, then the width)
    n_hidden = randint(g, 0, n_layers, batch)
    width = randint(g, cfg.hidden_range[0], width_max, batch + (n_layers,))
    gain = log_uniform(g, *cfg.weight_scale_range, batch)
    units = torch.arange(d, device=dev)
    in_mask = torch.cat([F.pad(parent_mask, (0, d - n_slots))[..., None, :], units < width[..., None]], dim=-2)
    fan_in = torch.cat([parent_mask.sum(-1, keepdim=True), width], dim=-1).clamp(min=1)  # (n, N, L + 1)
    in_scale = in_mask * (gain[..., None] / fan_in.sqrt())[..., None]  # (n, N, L + 1, D): 0 for padding, non-parents
    out_scale = torch.gather(in_scale, -2, n_hidden[..., None, None].expand(batch + (1, d)))  # the last used layer
    kinds = torch.tensor([ALL_ACTIVATIONS.index(a) for a in cfg.activations], device=dev)
    activation = kinds[randint(g, 0, len(cfg.activations) - 1, batch + (n_layers + 1,))]  # (n, N, L + 1)

    # each layer's order: sort tables by (group, activation)
    layer = torch.arange(n_layers + 1, device=dev)
    group = torch.where((layer < n_hidden[..., None]) | (layer == n_layers), 0, 1)
    group = torch.where(is_tree[..., None], 2, group)
    if active is not None:
        group = torch.where(active[..., None], group, 3)
    n_kinds = len(ALL_ACTIVATIONS)
    key = group * n_kinds + activation  # (n, N, L + 1)
    order = torch.argsort(key, dim=0, stable=True)  # [i, j, l]: the table at row i of layer l's order
    restore = torch.argsort(order, dim=0)
    identity = torch.arange(batch[0], device=dev)[:, None, None].expand(batch + (1,))
    step = torch.gather(torch.cat([identity, restore[..., :-1]], -1), 0, order)  # order_{l-1} rows -> order_l rows
    counts = F.one_hot(key, _GROUPS * n_kinds).sum(0).tolist()  # (N, L + 1, groups x kinds): one sync for all nodes

    def in_order(t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Rows of a per-table tensor t (n, N, ...) in an order index (n, N, ...)."""
        return torch.gather(t, 0, index.view(index.shape + (1,) * (t.dim() - index.dim())).expand_as(t))

    layout = tuple(_layout(node, n_kinds) for node in counts)

    # everything else is i.i.d. across tables, so it is drawn directly in the layer's order: only what depends on
    # a table's own draws (scales) or inputs (parents) is gathered. A layer's weights are read only by the rows
    # that use it (the first n_active of its order), so rows past the most any node uses are not drawn at all
    # (a second hidden layer: about a fifth of the tables)
    rows_used = [max(node.n_active[layer] for node in layout) for layer in range(n_layers)]
    n_first, n_hidden_rows = (rows_used or [0])[0], max(rows_used[1:], default=0)
    n_out = max(node.n_mlp for node in layout)
    in_scale = in_order(in_scale, order)  # row i of level l: the table at row i of layer l's order
    out_scale = in_order(out_scale, order[..., n_layers, None])[:n_out, :, 0, :]
    w_first = torch.randn((n_first,) + batch[1:] + (n_slots, d), generator=g, device=dev)
    w_first = w_first * in_scale[:n_first, :, 0, :n_slots, None]
    w_hidden = torch.randn((n_hidden_rows,) + batch[1:] + (max(n_layers - 1, 0), d, d), generator=g, device=dev)
    w_hidden = w_hidden * in_scale[:n_hidden_rows, :, 1:n_layers, :, None]
    b_hidden = 0.5 * torch.randn((max(rows_used, default=0),) + batch[1:] + (n_layers, 1, d), generator=g, device=dev)
    w_out = (torch.randn((n_out,) + batch[1:] + (d,), generator=g, device=dev) * out_scale)[..., None]
    b_out = 0.5 * torch.randn((n_out,) + batch[1:] + (1, 1), generator=g, device=dev)

    # trees in the output order: heap order per tree (children of i are 2i+1, 2i+2), padded to the deepest allowed
    n_trees, depth_max = cfg.max_trees, cfg.tree_depth_range[1]
    n_internal, n_leaves = 2**depth_max - 1, 2**depth_max
    tree_parents = in_order(parent_mask, order[..., n_layers])
    slots = torch.sort((~tree_parents).to(torch.uint8), dim=-1, stable=True).indices  # real parents first
    n_parents = tree_parents.sum(-1, keepdim=True)
    rank = randint(g, 0, (n_parents - 1).clamp(min=0), batch + (n_trees * n_internal,))
    split_feature = torch.gather(slots, -1, rank)  # uniform among the real parents
    split_row = randint(g, 0, n_rows - 1, batch + (n_trees * n_internal,))  # threshold: a random row's value
    depth = randint(g, cfg.tree_depth_range[0], depth_max, batch + (n_trees, 1))
    leaf = torch.randn(batch + (n_trees, n_leaves), generator=g, device=dev)
    # a depth-d tree as a depth_max one: each deep leaf takes the value of its depth-d ancestor (index >> shift)
    leaf = torch.gather(leaf, -1, torch.arange(n_leaves, device=dev) >> (depth_max - depth))
    used = torch.arange(n_trees, device=dev) < randint(g, 1, n_trees, batch)[..., None]  # 1..max_trees trees
    return MechanismParams(
        step=step,
        restore=restore[..., n_layers],
        output_order=order[..., n_layers],
        w_first=w_first,
        w_hidden=w_hidden,
        b_hidden=b_hidden,
        w_out=w_out,
        b_out=b_out,
        split_feature=split_feature,
        split_at=split_row * n_slots + split_feature,
        leaf=(leaf * used[..., None]).flatten(-2),
        layout=layout,
    )


def _layout(counts: list[list[int]], n_kinds: int) -> NodeLayout:
    """A node's groups from its (layer, group * n_kinds + activation) counts."""
    segments = []
    for layer in counts:
        runs, start = [], 0
        for kind, count in enumerate(layer[:n_kinds]):
            if count:
                runs.append((kind, start, start + count))
                start += count
        segments.append(tuple(runs))
    out = counts[-1]
    return NodeLayout(
        n_mlp=sum(out[: 2 * n_kinds]),
        n_tree=sum(out[2 * n_kinds : 3 * n_kinds]),
        n_active=tuple(sum(layer[:n_kinds]) for layer in counts[:-1]),
        segments=tuple(segments),
    )


def _activate(z: torch.Tensor, segments: tuple[tuple[int, int, int], ...]) -> torch.Tensor:
    """Activations on z (m, ...) whose rows are sorted by kind: one call per run of a kind."""
    if len(segments) == 1:
        return _ACTIVATIONS[segments[0][0]](z)
    return torch.cat([_ACTIVATIONS[kind](z[start:end]) for kind, start, end in segments])


def mlp_mechanisms(p: MechanismParams, x: torch.Tensor) -> torch.Tensor:
    """One node's random MLPs (p = params.node(j)) on the parents x (n, rows, P) -> (m, rows).

    MLP tables only: the output rows are the first m rows of the node's output order.
    """
    (layout,) = p.layout
    m, d = layout.n_mlp, p.w_first.shape[-1]
    h = x.index_select(0, p.step[:m, 0])  # (m, rows, P) in layer 0's order
    for layer, n_on in enumerate(layout.n_active):
        if layer:
            h = h.index_select(0, p.step[:m, layer])
        if n_on:
            w = p.w_first[:n_on] if layer == 0 else p.w_hidden[:n_on, layer - 1]
            z = _activate(torch.bmm(h[:n_on], w) + p.b_hidden[:n_on, layer], layout.segments[layer])
            rest = h[n_on:] if layer else F.pad(h[n_on:], (0, d - h.shape[-1]))
            h = torch.cat([z, rest]) if n_on < m else z  # tables without this layer pass their state on
        elif layer == 0:
            h = F.pad(h, (0, d - h.shape[-1]))
    if layout.n_active:
        h = h.index_select(0, p.step[:m, -1])
    else:
        h = F.pad(h, (0, d - h.shape[-1]))
    z = (torch.bmm(h, p.w_out[:m]) + p.b_out[:m])[..., 0]  # (m, rows)
    return _activate(z, layout.segments[-1])


def tree_mechanisms(p: MechanismParams, x: torch.Tensor) -> torch.Tensor:
    """One node's random tree ensembles (p = params.node(j)) on the parents x (n, rows, P) -> (t, rows).

    Tree tables only: the output rows are rows m..m+t of the node's output order. Each row walks down every
    tree at once: per level, a gather of its current split's feature and threshold.
    """
    (layout,) = p.layout
    part = slice(layout.n_mlp, layout.n_mlp + layout.n_tree)
    x = x.index_select(0, p.output_order[part])
    n, rows, n_slots = x.shape
    n_splits, n_cells = p.split_feature.shape[-1], p.leaf.shape[-1]
    n_trees = n_cells - n_splits  # T * 2^D leaves minus T * (2^D - 1) internal nodes
    n_internal, n_leaves = n_splits // n_trees, n_cells // n_trees
    threshold = torch.gather(x.reshape(n, rows * n_slots), 1, p.split_at[part])
    threshold = threshold[:, None, :].expand(n, rows, n_splits)
    feature = p.split_feature[part, None, :].expand(n, rows, n_splits)
    base = torch.arange(0, n_splits, n_internal, device=x.device)  # (T,) first internal node of each tree
    node = base.expand(n, rows, n_trees)  # flat index base + heap index of each row's current node per tree
    for _ in range(n_leaves.bit_length() - 1):
        right = torch.gather(x, 2, torch.gather(feature, 2, node)) > torch.gather(threshold, 2, node)
        node = torch.add(1 - base, node, alpha=2) + right  # heap step i -> 2i + 1 + right
    # heap index minus I is the leaf number within the tree
    leaf_at = node + (torch.arange(0, n_cells, n_leaves, device=x.device) - base - n_internal)
    return torch.gather(p.leaf[part, None, :].expand(n, rows, n_cells), 2, leaf_at).sum(-1)  # (t, rows)


def apply_mechanisms(p: MechanismParams, x: torch.Tensor) -> torch.Tensor:
    """One node's functions (p = params.node(j)) on the parents x (n, rows, P) -> (n, rows), 0 where skipped."""
    (layout,) = p.layout
    n, rows = x.shape[:2]
    parts = []
    if layout.n_mlp:
        parts.append(mlp_mechanisms(p, x))
    if layout.n_tree:
        parts.append(tree_mechanisms(p, x))
    if layout.n_mlp + layout.n_tree < n or not parts:
        parts.append(x.new_zeros((n - layout.n_mlp - layout.n_tree, rows)))
    return torch.cat(parts).index_select(0, p.restore)


def mechanism(
    g: torch.Generator, cfg: MechanismConfig, x: torch.Tensor, parent_mask: torch.Tensor, is_tree: torch.Tensor
) -> torch.Tensor:
    """One fresh random function per table on its parents: x (n, rows, p) -> (n, rows), not yet standardised.

    parent_mask (n, p) bool marks the real parents (>= 1 per table; the other slots have no effect);
    is_tree (n,) bool picks a tree ensemble (mechanisms.tree_mechanism) over a random MLP (mechanisms.mlp_mechanism).
    """
    params = draw_mechanisms(g, cfg, parent_mask[:, None], is_tree[:, None], x.shape[1])
    return apply_mechanisms(params.node(0), x)
