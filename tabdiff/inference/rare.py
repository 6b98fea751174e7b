"""Which of a column's rare categories a cell predicted "other" is: a vote of the nearest rows that hold one.

A column with more categories than the model's channels codes its rare categories in one shared "other"
channel (`TableEncoder.channels_`). The model gives the probability of "other"; how it splits over the rare
categories is decided here, per row, by the `k` nearest rows (Euclidean distance over the encoded cells of
the other columns, unknown cells at 0, the neutral value) whose cell in the column is a known rare category.
Their votes are smoothed towards the categories' observed frequencies (`prior_weight` pseudo-votes), so a
row with no informative neighbours falls back to the frequency split of `TableEncoder.category_probabilities`.
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from tabdiff.encoding import EncodedTable, TableEncoder
from tabdiff.encoding.categorical import category_codes

N_NEIGHBOURS = 5
PRIOR_WEIGHT = 1.0  # pseudo-votes spread by frequency: a unanimous vote of 5 neighbours gives 5/6 + its prior share


def rare_shares(
    encoder: TableEncoder,
    encoded: EncodedTable,
    values: np.ndarray,
    j: int,
    query_rows: np.ndarray,
    *,
    k: int = N_NEIGHBOURS,
    prior_weight: float = PRIOR_WEIGHT,
) -> np.ndarray | None:
    """(len(query_rows), levels) share of the "other" probability each category of column j gets in each
    query row (0 for categories with a channel of their own), or None when column j has no shared channel.

    `values` (rows,) holds column j's cells as given (object, NaN where unknown), aligned with `encoded`.
    """
    name = encoder.columns_[j]
    rare = encoder.rare_levels(name)
    if not rare.any():
        return None
    codes = category_codes(values, encoder.categories_[name])
    known = encoded.known_mask[:, j].numpy()
    rare_codes = np.flatnonzero(rare)
    donors = np.flatnonzero(known & (codes >= 0) & rare[codes.clip(min=0)])
    prior = encoder.channel_share(name)[rare]  # (n_rare,) frequency shares, sum 1
    shares = np.zeros((len(query_rows), len(rare)))
    if len(donors) == 0 or len(query_rows) == 0:
        shares[:, rare] = prior
        return shares
    others = np.delete(np.arange(encoded.cells.shape[1]), j)
    features = encoded.cells[:, others, :].reshape(encoded.cells.shape[0], -1).numpy()  # (rows, (cols-1) * K)
    n_neighbours = min(k, len(donors))
    index = NearestNeighbors(n_neighbors=n_neighbours).fit(features[donors])
    _, nearest = index.kneighbors(features[query_rows])  # (queries, n_neighbours) positions in donors
    votes = np.zeros((len(query_rows), len(rare_codes)))
    position = {code: p for p, code in enumerate(rare_codes)}
    donor_slot = np.array([position[c] for c in codes[donors]])  # (donors,) slot of each donor's category
    np.add.at(votes, (np.repeat(np.arange(len(query_rows)), n_neighbours), donor_slot[nearest].ravel()), 1.0)
    shares[:, rare] = (votes + prior_weight * prior[None, :]) / (n_neighbours + prior_weight)
    return shares
