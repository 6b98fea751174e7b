"""An in-context ridge regression per table: each numeric (optionally also categorical) cell predicted linearly from
its row's other cells.

The denoiser's attention has to learn regression across rows from the prior; the small model learns it slowly
(on a rank-3 Gaussian table of 256 x 16 it imputed at nRMSE 0.42 where MICE's linear regressions reach 0.13).
This closed form gives every cell a linear prediction fitted on the table's own known cells; `experts.mix` mixes its
x0 estimate (`ridge_x0`) into each unknown cell's output, outside the network. TabPFN v2 likewise computes features
from the context table (SVD components) before its transformer.

For table b and numeric column j, with z the known numeric cells (normal scores; unknown cells and other
columns' categorical cells read as 0, the column mean) and m_j the rows where column j is known:

    A_j = sum_{i in m_j} z_i^(-j) z_i^(-j)^T + lam_j I,   beta_j = A_j^-1 sum_{i in m_j} z_i^(-j) z_ij,
    lam_j = ridge_base + ridge_per_row * |m_j|,           pred_ij = z_i^(-j) . beta_j

where z_i^(-j) is row i without column j. Zero-filled predictors lose much (one fit: nRMSE 0.35 on that table), so
the fit is repeated `rounds` times with each unknown predictor cell set to the previous round's prediction, as
chained-equation imputation (MICE) does, with all columns at once. A known cell gets its leave-one-out prediction instead,
z_ij - (z_ij - pred_ij) / (1 - h_ij) with h_ij = z_i^(-j)^T A_j^-1 z_i^(-j), so known cells give
honest residuals: how far to trust the column's predictions.

With categorical columns (`ExpertConfig.columns='all'`) the features are every used channel: a numeric column's normal
score and a categorical column's one-hot channels (+1 / -1, 0 when unknown), plus an intercept. Column j's targets are
all its channels, fitted together (same rows, same predictors). For a categorical column this is a linear probability
model: E[channel] = 2 P(category) - 1 is exactly the x0 the network predicts for that cell, so the same mix applies.
The categorical columns' one-hot predictors also give numeric targets what a practitioner's one-hot Ridge has.
A linear probability model masks classes (three classes in order along a predictor: the middle one never scores
highest), so with `logistic_steps` > 0 a categorical column's unknown cells instead get 2 p - 1 from a multinomial
logistic regression on the same rows and predictors (`logistic_refit`: Boehning's bound, whose steps reuse the
ridge's Cholesky factor); held-out tables, 30 steps: classification log loss lower on 6 of 6 tables, categorical
imputation accuracy 0.703 -> 0.711, about 10% more time (50% on a table of 30 categorical columns).

How much of an unknown cell's output is the ridge's (`experts.mix`): an even share, or with
`share='precision'` `precision_share`, v / (v + u): u = `unexplained`, the share of the column's variance
the ridge's leave-one-out predictions leave, against an assumed share v for the network. Where a column is nearly
linear in the others (u small, as in a low-rank table) the output is nearly the ridge's; where the ridge explains
little the network's.
Cost per table: rows x cols x features^2 (features = numeric columns + categorical channels).

With `gaussian_iters` (`ExpertConfig.gaussian_iters`) a numeric column known on at least 10 rows per feature takes,
instead of the chained ridge's prediction, a multivariate normal's conditional mean given exactly the row's known
cells (`gaussian_conditional`, fitted by EM), and its conditional variance scales the cell's error variance
(`cell_scale`); the column's leave-one-out fit (`unexplained`) stays the ridge's. Held-out imputation, 3 seeds: median
ratio to MissForest 0.955 -> 0.949. Cost: rows x features^3 per EM step.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

RIDGE_BASE = 1.0  # lam_j's floor: a handful of rows never gives a wild fit
RIDGE_PER_ROW = 0.01  # lam_j's growth with the rows that fit it (a 1% shrinkage of the normal scores' Gram matrix)
GAUSSIAN_ROWS_PER_FEATURE = 10  # a column takes the Gaussian's means with at least this many known rows per feature
ROUNDS = 3  # chained fits (rank-3 256 x 16 table, 30% MCAR: nRMSE 0.35 / 0.22 / 0.17 after 1 / 2 / 3; MICE 0.13)


class RidgeFit(NamedTuple):
    """What `ridge_features` returns (module docstring)."""

    pred: torch.Tensor  # (B, R, C, K) the prediction (leave-one-out on known cells), 0 where not available
    available: torch.Tensor  # (B, C) bool: predicted columns
    residual_var: torch.Tensor  # (B, C, K) mean squared leave-one-out residual per channel (>= 1e-3)
    unexplained: torch.Tensor  # (B, C) share of the column's variance its leave-one-out predictions leave (1 - R^2)
    cell_scale: torch.Tensor  # (B, R, C) each cell's error variance as a multiple of its column's (1: the same)


def ridge_features(
    x_known: torch.Tensor,
    known_mask: torch.Tensor,
    numeric: torch.Tensor,
    *,
    categorical: torch.Tensor | None = None,
    channel_mask: torch.Tensor | None = None,
    rounds: int = ROUNDS,
    logistic_steps: int = 0,
    gaussian_iters: int = 0,
) -> RidgeFit:
    """In-context ridge predictions of every numeric (and, with `categorical`, categorical) cell from its row's other
    cells.

    Args:
        x_known: float (B, R, C, K) the clean cells, read only where `known_mask` (NaN elsewhere is fine).
        known_mask: bool (B, R, C), True = known real cell (padding must be False).
        numeric: bool (B, C), True for real numeric columns (channel 0).
        categorical: bool (B, C) real categorical columns, whose one-hot channels (+1 / -1, `channel_mask`) are then
            predicted and read as predictors, with an intercept (one-hot channels are not centred, normal scores
            are); None = numeric columns only, no intercept.
        channel_mask: bool (B, C, K) channels each column uses, read for categorical columns; None = all.
        rounds: fits; after each, unknown predictor cells take the round's predictions (chained equations).
        logistic_steps: 0 = categorical columns' unknown cells get the linear probability model; N > 0 = a
            multinomial logistic regression on the last round's predictors instead (`logistic_refit`, N steps),
            2 p - 1 per channel. Known cells keep the linear model's leave-one-out prediction and residual_var.
        gaussian_iters: 0 = numeric columns by the chained ridge; N > 0 = by a multivariate normal's conditional
            means given each row's known cells (`gaussian_conditional`, N EM steps, on the same features), with
            their conditional variances in `cell_scale`.

    Returns a `RidgeFit`:
        pred: float32 (B, R, C, K) the prediction (leave-one-out on known cells), 0 where `available` is False and on
            unused channels.
        available: bool (B, C) predicted columns with >= 2 known rows and a cell of another column to predict from.
        residual_var: float32 (B, C, K) mean squared leave-one-out residual over each column's known cells (>= 1e-3).
        unexplained: float32 (B, C) sum over the column's channels of residual_var / sum of the known cells'
            variance: 1 - the leave-one-out R^2 (in [1e-3, 4]; 1 where not available). How far to trust the column's
            predictions (`precision_share`).
        cell_scale: float32 (B, R, C) how far each cell's error variance differs from its column's: with
            `gaussian_iters`, a numeric cell's conditional variance over the mean of its column's known cells' (in
            [0.1, 1e4]: above 1 where the row's informative cells are missing); 1 elsewhere.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    B, R, C, K = x_known.shape
    device = x_known.device
    with torch.autocast(device_type=device.type, enabled=False):
        first = torch.arange(K, device=device) == 0
        slot_used = numeric[..., None] & first  # (B, C, K) the cells' channels that are features
        if categorical is not None:
            used = channel_mask if channel_mask is not None else torch.ones(B, C, K, dtype=torch.bool, device=device)
            slot_used = slot_used | (categorical[..., None] & used)
        target = slot_used.any(-1)  # (B, C) columns the ridge predicts
        # the used (column, channel) slots gathered to the front: F features per table, padded with unused slots
        slot_used = slot_used.reshape(B, C * K)
        n_feat = max(int(slot_used.sum(1).max()), 1)
        slot = torch.argsort((~slot_used).to(torch.int8), dim=1, stable=True)[:, :n_feat]  # (B, F)
        valid = slot_used.gather(1, slot)  # (B, F)
        col_of = slot // K  # (B, F)
        m = (known_mask & target[:, None, :]).float()  # (B, R, C) rows that fit each column
        # targets: only the first k channels any column uses (1 for numeric columns), not all K
        channels = slot_used.view(B, C, K).any(1).any(0)  # (K,)
        k = int(channels.int().cumsum(0).argmax()) + 1  # the last used channel's index + 1 (1 when none is used)
        target_slot = slot_used.view(B, 1, C, K)[..., :k]  # (B, 1, C, k)
        cells = torch.where(known_mask[..., None] & slot_used.view(B, 1, C, K), x_known.float(), 0.0)  # (B, R, C, K)
        y = cells[..., :k]  # (B, R, C, k) known target channels
        z = cells.reshape(B, R, C * K).gather(2, slot[:, None, :].expand(B, R, n_feat))  # (B, R, F) known features
        known_feature = known_mask.gather(2, col_of[:, None, :].expand(B, R, n_feat)) & valid[:, None, :]  # (B, R, F)
        off = (col_of[:, None, :] != torch.arange(C, device=device)[None, :, None]) & valid[:, None, :]  # (B, C, F)
        if categorical is not None:  # the intercept: a feature always 1, never dropped
            z = torch.cat([z, torch.ones(B, R, 1, device=device)], dim=-1)
            known_feature = F.pad(known_feature, (0, 1), value=True)
            off = F.pad(off, (0, 1), value=True)
        off = off.float()
        eye = torch.eye(z.shape[-1], device=device)
        n_c = m.sum(1)  # (B, C)
        lam = RIDGE_BASE + RIDGE_PER_ROW * n_c
        predictors = z
        for round_ in range(rounds):
            # (B, C, F, F) over the rows where column c is known, column c's own features dropped
            gram = torch.einsum("brc,brf,brg->bcfg", m, predictors, predictors)
            gram = gram * (off[:, :, :, None] * off[:, :, None, :])
            chol = torch.linalg.cholesky(gram + lam[..., None, None] * eye)  # positive definite: lam >= 1
            rhs = torch.einsum("brc,brf,brck->bcfk", m, predictors, y) * off[..., None]  # (B, C, F, k)
            beta = torch.cholesky_solve(rhs, chol)  # (B, C, F, k)
            pred = torch.einsum("brf,bcfk->brck", predictors, beta)  # (B, R, C, k)
            if round_ < rounds - 1:  # unknown cells: this round's predictions
                filled = F.pad(pred, (0, K - k)).reshape(B, R, C * K)
                filled = filled.gather(2, slot[:, None, :].expand(B, R, n_feat))  # (B, R, F)
                predictors = torch.where(known_feature, z, F.pad(filled, (0, z.shape[-1] - n_feat)))
        # leverage of each row in column c's last fit: h_rc = p_r^(-c)^T A_c^-1 p_r^(-c)
        p_minus = predictors[:, None, :, :] * off[:, :, None, :]  # (B, C, R, F)
        # A_c^-1 formed and multiplied: cholesky_solve with R right-hand sides per column is slower on a CPU
        solved = p_minus @ torch.cholesky_inverse(chol)  # (B, C, R, F)
        leverage = (p_minus * solved).sum(-1).transpose(1, 2)  # (B, R, C)
        loo = y - (y - pred) / (1.0 - leverage).clamp(min=1e-3)[..., None]
        pred = torch.where(m[..., None] > 0, loo, pred)
        enough = n_c >= GAUSSIAN_ROWS_PER_FEATURE * valid.sum(1, keepdim=True)  # (B, C) see below
        gaussian = gaussian_iters > 0 and bool((numeric & enough).any())  # else the EM would go unused
        cell_var = torch.zeros_like(m)
        if gaussian:
            feats = (z[..., :n_feat], known_feature[..., :n_feat])
            # EM's regression of a column is a maximum-likelihood one (its covariance penalty barely shrinks a column
            # known on few rows): below 10 known rows per feature the ridge's penalised fit stays (ICL probe, linear
            # tables, 16 / 64 context rows: R^2 0.50 / 0.72 with the ridge, 0.27 / 0.66 with the Gaussian)
            pred, cell_var = with_gaussian(pred, *feats, slot, numeric & enough, K, gaussian_iters)
        # the logistic answers a categorical column's unknown cells only: fitted for the columns that have one in some
        # table (padding rows count as unknown). A classifier's features are usually all known, so it fits only the
        # label: 1,000 rows x 10 numeric + 30 categorical features, fit + predict_proba 36 -> 17 s on this CPU
        unknown = (m == 0).any(1)  # (B, C) columns with a row that does not fit them
        refit = categorical & unknown if categorical is not None and logistic_steps > 0 else torch.zeros_like(unknown)
        cols = torch.nonzero(refit.any(0))[:, 0]
        if len(cols):
            softmax_slot = (target_slot & categorical[:, None, :, None])[:, :, cols]  # (B, 1, C', k) their channels
            sub = (m[:, :, cols], (y[:, :, cols] + 1.0) / 2.0, softmax_slot, off[:, cols], chol[:, cols], lam[:, cols])
            logistic = logistic_refit(predictors, *sub, logistic_steps)
            answered = torch.where(softmax_slot & (sub[0][..., None] == 0), 2.0 * logistic - 1.0, pred[:, :, cols])
            pred = pred.index_copy(2, cols, answered)
        rows = n_c.clamp(min=1.0)[..., None]  # (B, C, 1)
        residual_var = ((y - loo) ** 2 * m[..., None]).sum(1) / rows  # (B, C, k)
        mean_y = (y * m[..., None]).sum(1) / rows
        variance = ((y**2 * m[..., None]).sum(1) / rows - mean_y**2).clamp(min=0.0)  # (B, C, k) the known cells'
        on = target_slot[:, 0].float()  # (B, C, k) each column's channels
        unexplained = (residual_var * on).sum(-1) / (variance * on).sum(-1).clamp(min=1e-6)  # (B, C)
        has_predictor = off[:, :, :n_feat].sum(-1) > 0  # (B, C) a feature of another column (not the intercept)
        available = target & (n_c >= 2) & has_predictor
        pred = F.pad(torch.where(available[:, None, :, None] & target_slot, pred, 0.0), (0, K - k))  # (B, R, C, K)
        residual_var = F.pad(residual_var.clamp(min=1e-3), (0, K - k), value=1e-3)  # (B, C, K)
        unexplained = torch.where(available, unexplained.clamp(1e-3, 4.0), 1.0)
        cell_scale = torch.ones_like(m)
        if gaussian:  # numeric cells: the Gaussian's variance against its mean over the column's known cells
            known_var = (cell_var * m).sum(1) / n_c.clamp(min=1.0)  # (B, C)
            ratio = cell_var / known_var[:, None, :].clamp(min=1e-6)
            cell_scale = torch.where((numeric & available & (known_var > 0))[:, None, :], ratio.clamp(0.1, 1e4), 1.0)
        return RidgeFit(pred, available, residual_var, unexplained, cell_scale)


def gaussian_conditional(z: torch.Tensor, known: torch.Tensor, iters: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each feature's conditional mean given the row's known features under a multivariate normal fitted to the
    table by EM (the classical "norm" imputation model), with a ridge on the covariance.

    The chained ridge plugs previous predictions in for unknown predictors and fits on them; where many predictors
    are missing (diamonds: carat from the 30% of cuts, colours, dimensions that are gone) that loses what the
    Gaussian conditional keeps: E[x_M | x_O] = mu_M + S_MO S_OO^-1 (x_O - mu_O) uses exactly the row's known cells.
    EM: the E-step gives each row's conditional means and covariance of its unknown features, the M-step
    mu = mean(x_hat), S = mean(x_hat x_hat^T + C) - mu mu^T, then S += (1 / n + 0.01) diag(S) + 1e-4 I (the chained
    ridge's penalty, RIDGE_BASE + RIDGE_PER_ROW n, as a share of the Gram matrix). A known cell's prediction is
    its leave-one-cell-out conditional mean, x_j - (S_OO^-1 (x_O - mu_O))_j / (S_OO^-1)_jj (S fitted with the row:
    leave-one-cell-out, not leave-one-row-out). Each prediction's variance is the model's conditional variance:
    (S - S_:O S_OO^-1 S_O:)_jj for an unknown cell (large where the row's informative cells are missing), 1 /
    (S_OO^-1)_jj for a known one.

    z (B, R, F) features, read where `known` (B, R, F, bool). Cost per iteration: rows x F^3. Rows with no known
    feature (padding) take no part. -> (mean, variance), (B, R, F) each: the conditional means and variances,
    leave-one-cell-out on known cells.
    """
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    B, R, Fn = z.shape
    o = known.float()
    row = known.any(-1).float()  # (B, R) rows that take part
    n_rows = row.sum(1).clamp(min=1.0)  # (B,)
    n_feat = o.sum(1)  # (B, F) known cells per feature
    x = torch.where(known, z, 0.0)
    mu = x.sum(1) / n_feat.clamp(min=1.0)  # (B, F)
    centred = torch.where(known, x - mu[:, None], 0.0)
    var = (centred**2).sum(1) / n_feat.clamp(min=1.0)  # (B, F)
    cov = torch.diag_embed(var)  # start: independent features

    def shrunk(cov: torch.Tensor) -> torch.Tensor:
        diag = torch.diagonal(cov, dim1=-2, dim2=-1)
        return cov + torch.diag_embed((1.0 / n_rows[:, None] + 0.01) * diag + 1e-4)

    def e_step(mu: torch.Tensor, cov: torch.Tensor):
        pair = o[..., :, None] * o[..., None, :]  # (B, R, F, F) known x known
        a = cov[:, None] * pair + torch.diag_embed(1.0 - o)  # S_OO, identity on unknown features
        # S_OO^-1 formed once per row and multiplied: cholesky_solve with F right-hand sides per small system costs
        # more on a CPU (the whole ridge fit 0.81 -> 0.70 s on 4 x 512 x 20 tables, one thread)
        inverse = torch.cholesky_inverse(torch.linalg.cholesky(a))
        xc = torch.where(known, x - mu[:, None], 0.0)[..., None]  # (B, R, F, 1)
        w = inverse @ xc  # S_OO^-1 (x_O - mu_O), 0 on unknown features
        x_hat = torch.where(known, x, mu[:, None] + (cov[:, None] @ w)[..., 0])
        s_o = cov[:, None] * o[..., :, None]  # (B, R, F, F) diag(o) S
        conditional = cov[:, None] - cov[:, None] @ (inverse @ s_o)  # S - S_:O S_OO^-1 S_O:
        conditional = conditional * ((1.0 - o)[..., :, None] * (1.0 - o)[..., None, :])  # only unknown x unknown
        return inverse, w[..., 0], x_hat, conditional

    cov = shrunk(cov)
    for _ in range(iters):
        _, _, x_hat, conditional = e_step(mu, cov)
        weight = row[..., None, None]
        mu = (x_hat * row[..., None]).sum(1) / n_rows[:, None]
        second = ((x_hat[..., :, None] * x_hat[..., None, :] + conditional) * weight).sum(1) / n_rows[:, None, None]
        cov = shrunk(second - mu[..., :, None] * mu[..., None, :])
    inverse, w, x_hat, conditional = e_step(mu, cov)
    inv_diag = torch.diagonal(inverse, dim1=-2, dim2=-1)  # (B, R, F); 1 on unknown features
    loo = x - w / inv_diag
    variance = torch.where(known, 1.0 / inv_diag, torch.diagonal(conditional, dim1=-2, dim2=-1))
    return torch.where(known, loo, x_hat), variance


def with_gaussian(
    pred: torch.Tensor,
    z: torch.Tensor,
    known: torch.Tensor,
    slot: torch.Tensor,
    numeric: torch.Tensor,
    n_channels: int,
    iters: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Numeric columns' predictions (channel 0) replaced by the Gaussian conditional means (`gaussian_conditional`,
    leave-one-cell-out on known cells). pred (B, R, C, k): the chained ridge's prediction (leave-one-out on known
    cells); z, known (B, R, F) the features; slot (B, F) each feature's (column, channel) slot among C x n_channels;
    numeric (B, C) the columns to replace. -> (pred, variance (B, R, C): the Gaussian's conditional variance of each
    replaced cell's prediction, 0 elsewhere)."""
    B, R, C, _ = pred.shape
    mean, variance = gaussian_conditional(z, known, iters)  # (B, R, F)
    index = slot[:, None, :].expand(B, R, slot.shape[1])
    cells = pred.new_zeros(B, R, C * n_channels).scatter(2, index, mean).view(B, R, C, n_channels)[..., 0]
    variance = pred.new_zeros(B, R, C * n_channels).scatter(2, index, variance).view(B, R, C, n_channels)[..., 0]
    replace = numeric[:, None, :, None] & (torch.arange(pred.shape[-1], device=pred.device) == 0)  # (B, 1, C, k)
    variance = torch.where(numeric[:, None, :], variance, 0.0)
    return torch.where(replace, cells[..., None], pred), variance


def logistic_refit(
    predictors: torch.Tensor,
    rows: torch.Tensor,
    one_hot: torch.Tensor,
    slot: torch.Tensor,
    off: torch.Tensor,
    chol: torch.Tensor,
    lam: torch.Tensor,
    steps: int,
) -> torch.Tensor:
    """Class probabilities of every row from a multinomial logistic regression per categorical column, fitted on the
    rows where the column is known by `steps` steps of Boehning's bound (MM) algorithm from beta = 0.

    The softmax's Hessian is bounded by (1/2) X^T X per class, so with the penalty (lam / 4) |beta|^2 each step
        beta <- beta - 2 (X^T X + lam I)^-1 (X^T (P - Y) + (lam / 2) beta)
    never increases the penalized log loss, and reuses the ridge's Cholesky factor of X^T X + lam I (the same rows
    and predictors). predictors (B, R, F); rows (B, R, C) 1.0 where column c is known; one_hot (B, R, C, k) the
    known channels in {0, 1}; slot (B, 1, C, k) the channels of each column's softmax (no channel: ignored);
    off (B, C, F) 1.0 for the features column c may use; chol (B, C, F, F); lam (B, C). -> (B, R, C, k)
    probabilities, 0 off `slot`."""
    beta = torch.zeros(*chol.shape[:3], one_hot.shape[-1], device=predictors.device)  # (B, C, F, k)

    def probabilities(beta: torch.Tensor) -> torch.Tensor:
        logits = torch.einsum("brf,bcfk->brck", predictors, beta)
        return torch.softmax(logits.masked_fill(~slot, -torch.inf), dim=-1).nan_to_num(0.0)  # no slot: 0, not NaN

    for _ in range(steps):
        residual = torch.where(slot, probabilities(beta) - one_hot, 0.0)  # (B, R, C, k)
        grad = torch.einsum("brc,brf,brck->bcfk", rows, predictors, residual) * off[..., None]
        beta = beta - 2.0 * torch.cholesky_solve(grad + 0.5 * lam[..., None, None] * beta, chol)
    return probabilities(beta)


def precision_share(unexplained: torch.Tensor, network_var: float) -> torch.Tensor:
    """(B, C) the ridge's share of an unknown cell's output when the two estimates are weighted by their precision:
    v / (v + u), with u the ridge's `unexplained` variance share (1 - its leave-one-out R^2) and v the network's
    assumed one (`network_var`). 1/2 where the ridge explains 1 - v of the column; towards 1 where it explains nearly
    all (a low-rank table), towards 0 where it explains nothing."""
    return network_var / (network_var + unexplained)


def ridge_x0(pred: torch.Tensor, residual_var: torch.Tensor, x_t: torch.Tensor, alpha_bar: torch.Tensor | None):
    """The ridge's estimate of the clean cells x0 given the noisy cells x_t: the Gaussian posterior mean.

    With the ridge's prediction as prior, x0 ~ N(pred, s^2) (s^2 the column's leave-one-out residual variance),
    and x_t = sqrt(abar) x0 + sqrt(1 - abar) eps:
        E[x0 | x_t] = w pred + (1 - w) x_t / sqrt(abar),   w = (1 - abar) / ((1 - abar) + abar s^2),
    the ridge's prediction at high noise, x_t itself at low noise, so sampling keeps its spread.
    pred, x_t (B, R, C, ...); residual_var (B, R, C, ...) or broadcastable, e.g. (B, 1, C, ...) per column; alpha_bar
    (B,) or None (then the prediction: the abar = 0 limit).
    """
    if alpha_bar is None:
        return pred
    abar = alpha_bar.float().view(-1, *[1] * (pred.dim() - 1))  # (B, 1, 1, ...)
    s2 = residual_var
    denominator = (1.0 - abar) + abar * s2
    return ((1.0 - abar) * pred + abar.sqrt() * s2 * x_t.float()) / denominator
