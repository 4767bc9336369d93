"""Data sets: the papers' synthetic generators (``synthetic``) and real data (``real``: MNIST
from its IDX files, scikit-learn's digits, the preprocessing and seeded splits)."""

from .real import Split, classification_split, load_digits, load_mnist, one_hot

__all__ = ["Split", "classification_split", "load_digits", "load_mnist", "one_hot"]
