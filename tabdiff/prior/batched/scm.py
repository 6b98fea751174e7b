"""Structural causal model tables for a batch: a random DAG, a random mechanism per node, a subset observed.

The batched counterpart of `tabdiff/prior/scm.py` (`SCMPrior.sample`): each table has its own node and root
counts, noise kind and level, parents, mechanisms and observed columns, drawn from the same distributions.
Nodes are padded to the most any table can have; every node's random draws (parents, MLP / tree parameters,
root values, noise) are made before one loop over node index j in topological order, vectorised over tables.
"""

from __future__ import annotations

import math
from typing import get_args

import torch

from tabdiff.prior.batched.mechanisms import apply_mechanisms, draw_mechanisms
from tabdiff.prior.batched.ops import (
    bernoulli,
    log_uniform,
    randint,
    standardize,
    student_t,
    uniform,
)
from tabdiff.prior.draws import Noise
from tabdiff.prior.scm import SCMConfig

_ROOT_DISTS = ("normal", "uniform", "mixture")
NOISE_KINDS: tuple[Noise, ...] = get_args(Noise)  # the kinds draws.noise knows, in a fixed order


def scm(g: torch.Generator, cfg: SCMConfig, n: int, n_rows: int, n_cols: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n SCM tables -> values (n, rows, cols) and target_col (n,) long: the effect "target" column, or -1 if none."""
    dev = g.device
    if n == 0:
        return torch.zeros((0, n_rows, n_cols), device=dev), torch.zeros(0, dtype=torch.long, device=dev)
    lo, hi = cfg.hidden_node_range
    n_max = n_cols + math.floor(n_cols * hi + 0.5)  # most nodes any table can have
    n_nodes = (n_cols + torch.round(n_cols * uniform(g, lo, hi, (n,)))).long().clamp(max=n_max)
    n_roots = torch.round(n_nodes * uniform(g, *cfg.root_frac_range, (n,))).long().clamp(min=1)
    # no node from r_max on is a root
    r_max = min(n_max, math.ceil(n_max * cfg.root_frac_range[1]) + 1)
    node = torch.arange(n_max, device=dev)
    is_root = node < n_roots[:, None]  # (n, N)

    parents, parent_mask = _draw_parents(g, cfg.max_parents, n, n_max)  # (n, N, P) both
    is_tree = bernoulli(g, cfg.tree_prob, (n, n_max))
    params = draw_mechanisms(
        g, cfg.mechanism, parent_mask, is_tree, n_rows, active=~is_root & (node < n_nodes[:, None])
    )
    noise_kind = torch.tensor([NOISE_KINDS.index(k) for k in cfg.noise_dists], device=dev)
    noise_kind = noise_kind[randint(g, 0, len(cfg.noise_dists) - 1, (n,))]
    # one noise level per table, varied per node; drawn per (table, node) as the reference draws per node
    noise_scale = log_uniform(g, *cfg.noise_range, (n, 1)) * uniform(g, 0.5, 2.0, (n, n_max))
    node_noise = _node_noise(g, noise_kind, n_max, n_rows) * noise_scale[..., None]  # (n, N, rows)

    # node-major (n, N, rows), so that a node's column is contiguous
    nodes = torch.zeros((n, n_max, n_rows), device=dev)
    nodes[:, :r_max] = _root_values(g, cfg, n, n_rows, r_max)
    for j in range(1, n_max):
        if not (params.layout[j].n_mlp or params.layout[j].n_tree):
            continue  # a root, or padding, in every table
        x = torch.gather(nodes, 1, parents[:, j, :, None].expand(-1, -1, n_rows)).transpose(1, 2)  # (n, rows, P)
        value = standardize(apply_mechanisms(params.node(j), x), dim=1) + node_noise[:, j]
        if j < r_max:
            value = torch.where(is_root[:, j, None], nodes[:, j], value)
        nodes[:, j] = value
    observed, target_col = _observe(g, cfg, n_nodes, n_roots, n_max, n_cols)
    values = torch.gather(nodes, 1, observed[:, :, None].expand(-1, -1, n_rows))  # (n, cols, rows)
    return standardize(values, dim=2).transpose(1, 2).contiguous(), target_col


def _node_noise(g: torch.Generator, kind: torch.Tensor, n_nodes: int, n_rows: int) -> torch.Tensor:
    """Unit-scale noise (n, nodes, rows) of each table's kind (n,) indexing NOISE_KINDS, as draws.noise per node.

    Tables are sorted by kind so that each kind draws only its own numbers (ops.noise draws every kind for every
    entry, which dominates a large table on a CPU); a student-t gets its own df per (table, node).
    """
    dev = g.device
    order = torch.argsort(kind, stable=True)
    parts = []
    for k, count in enumerate(torch.bincount(kind, minlength=len(NOISE_KINDS)).tolist()):
        if not count:
            continue
        shape = (count, n_nodes, n_rows)
        if NOISE_KINDS[k] == "gaussian":
            parts.append(torch.randn(shape, generator=g, device=dev))
        elif NOISE_KINDS[k] == "laplace":
            # Exp(1) = -log(1 - v) with v uniform in [0, 1) (finite), a random sign, scale 1/sqrt(2)
            u = torch.rand(shape, generator=g, device=dev)
            left = u < 0.5
            e = -torch.log1p(-torch.where(left, 2.0 * u, 2.0 * u - 1.0))
            parts.append(torch.where(left, -e, e) / math.sqrt(2.0))
        elif NOISE_KINDS[k] == "student_t":
            parts.append(student_t(g, uniform(g, 2.5, 10.0, (count, n_nodes, 1)), shape))
        else:
            parts.append(uniform(g, -math.sqrt(3.0), math.sqrt(3.0), shape))
    return torch.cat(parts).index_select(0, torch.argsort(order))


def _draw_parents(g: torch.Generator, max_parents: int, n: int, n_max: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Parent slots of every node: indices (n, N, P) and which slots are real (n, N, P), 1..min(P, j) for node j.

    numpy's choice(j, k, replace=False, p=recency) draws k parents one after another; the top k of
    log(weight) + Gumbel noise has the same distribution (Efraimidis & Spirakis), for all nodes at once.
    """
    dev = g.device
    n_slots = max(1, min(max_parents, n_max - 1))
    node = torch.arange(n_max, device=dev)
    # favour recent nodes as parents, so chains grow deep instead of everything hanging off the roots
    log_recency = torch.log1p(node.to(torch.get_default_dtype()))  # weight i + 1 for node i
    gumbel = -torch.log(-torch.log(torch.rand((n, n_max, n_max), generator=g, device=dev).clamp(min=1e-30)))
    earlier = node[None, :] < node[:, None]  # (N, N): [j, i] = i is before j
    keys = torch.where(earlier, log_recency + gumbel, float("-inf"))
    parents = torch.topk(keys, n_slots, dim=-1).indices  # best keys first: the first k are the k parents
    n_parents = randint(g, 1, node.clamp(min=1, max=n_slots), (n, n_max))  # node 0 is always a root
    return parents, torch.arange(n_slots, device=dev) < n_parents[..., None]


def _root_values(g: torch.Generator, cfg: SCMConfig, n: int, n_rows: int, n_nodes: int) -> torch.Tensor:
    """Root causes (n, nodes, rows), each node its own distribution (scm.root_values)."""
    dev = g.device
    kinds = torch.tensor([_ROOT_DISTS.index(d) for d in cfg.root_dists], device=dev)
    kind = kinds[randint(g, 0, len(cfg.root_dists) - 1, (n, n_nodes, 1))]
    z = torch.randn((n, n_nodes, n_rows), generator=g, device=dev)
    u = torch.rand((n, n_nodes, n_rows), generator=g, device=dev)  # uniform roots, or the mixture component
    # clustered causes: 2..4 well-separated modes of random widths
    n_modes = randint(g, 2, 4, (n, n_nodes, 1))
    centre = 2.0 * torch.randn((n, n_nodes, 4), generator=g, device=dev)
    width = uniform(g, 0.1, 1.0, (n, n_nodes, 4))
    mode = torch.floor(u * n_modes).long().clamp(max=3)  # (n, nodes, rows)
    mixture = torch.gather(centre, 2, mode) + torch.gather(width, 2, mode) * z
    return torch.where(kind == 0, z, torch.where(kind == 1, 2.0 * u - 1.0, mixture))


def _observe(
    g: torch.Generator, cfg: SCMConfig, n_nodes: torch.Tensor, n_roots: torch.Tensor, n_max: int, n_cols: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Which nodes become columns (n, cols), in which order, and the target column (n,) (-1: none).

    As SCMPrior._observe: with effect_target_prob (if there is a non-root node) the last column is one of the
    last three non-root nodes and the others a random subset of the rest; with sort_prob the subset keeps
    topological order, else it is shuffled.
    """
    dev = g.device
    n = n_nodes.shape[0]
    node = torch.arange(n_max, device=dev)
    effect = bernoulli(g, cfg.effect_target_prob, (n,)) & (n_nodes > n_roots)
    target = randint(g, torch.maximum(n_roots, n_nodes - 3), n_nodes - 1, (n,))
    # argsort of random keys: a random subset in random order; padding nodes last, the target just before them
    keys = torch.rand((n, n_max), generator=g, device=dev)
    keys = torch.where(node >= n_nodes[:, None], 3.0, keys)
    keys = torch.where(effect[:, None] & (node == target[:, None]), 2.0, keys)
    chosen = torch.argsort(keys, dim=1)[:, :n_cols]
    last = torch.arange(n_cols, device=dev) == n_cols - 1
    target_slot = effect[:, None] & last  # (n, cols)
    chosen = torch.where(target_slot, target[:, None], chosen)
    # topological order for the subset; the target (pushed past every node) stays last
    ordered = torch.sort(torch.where(target_slot, n_max, chosen), dim=1).values
    ordered = torch.where(target_slot, chosen, ordered)
    observed = torch.where(bernoulli(g, cfg.sort_prob, (n, 1)), ordered, chosen)
    return observed, torch.where(effect, n_cols - 1, -1)
