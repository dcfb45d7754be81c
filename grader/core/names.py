"""Suggestions for a mistyped name (an assignment, a component or check id, an overrides key)."""

from __future__ import annotations

import difflib
from typing import Iterable

SHOWN = 12  # names listed at most (then "and N more")


def closest_first(name: str, valid: Iterable[str]) -> list[str]:
    """Every name of ``valid``, the most similar to ``name`` first (``difflib`` ratio)."""
    names = list(dict.fromkeys(str(v) for v in valid))
    return difflib.get_close_matches(str(name), names, n=len(names), cutoff=0.0) if names else []


def valid_names(name: str, valid: Iterable[str], shown: int = SHOWN) -> str:
    """``valid, closest first: a, b, c (and 4 more)``, or ``none are defined``."""
    names = closest_first(name, valid)
    if not names:
        return "none are defined"
    more = f" (and {len(names) - shown} more)" if len(names) > shown else ""
    return "valid, closest first: " + ", ".join(names[:shown]) + more
