"""Test-wide settings."""

from __future__ import annotations

import torch

# the tests run many tiny tensor ops: one thread is faster for them, and keeps results stable when the
# machine's other core is busy (a background pretraining run)
torch.set_num_threads(1)
