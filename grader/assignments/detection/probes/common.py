"""Helpers every probe module shares: the submission's submodules, seeded generators, tensors
from rows."""

from __future__ import annotations

import importlib

import torch


def _mod(pkg, name: str):
    return importlib.import_module(pkg.__name__ + "." + name)


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _t(rows, dtype=torch.float32):
    return torch.tensor(rows, dtype=dtype)
