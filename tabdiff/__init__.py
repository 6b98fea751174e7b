"""tabdiff: an in-context tabular diffusion foundation model."""

__version__ = "0.1.0"
