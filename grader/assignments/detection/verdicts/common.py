"""What the verdict modules share: the registry of the checks, the probes package loaded by path
(to rebuild the public checks' inputs in the parent) and the output-shape guard ``_shaped``."""

from __future__ import annotations

from pathlib import Path

import torch

from grader.core import api
from grader.core.api import Checks, failed
from grader.core.assignment import import_path

CHECKS = Checks()

# The probes package, loaded here to rebuild the public checks' inputs in the parent.
P = import_path(Path(__file__).resolve().parents[1] / "probes", "_grader_detection_probe_builders")


def _shaped(template):
    """Decorator: the verdict runs only on output with ``template``'s structure (dict keys; a tensor
    where ``template`` has one; None: anything), else the check fails with one line: a forged or
    truncated output is the submission's failure, not a verdict's crash."""
    def wrap(verdict):
        def checked(actual, expected):
            problem = api.structure_problem(actual, template, "your output", rule="keys")
            if problem:
                return failed(f"incomplete or malformed output: {problem}")
            return verdict(actual, expected)

        checked.__name__ = verdict.__name__
        checked.__doc__ = verdict.__doc__
        return checked
    return wrap


_T = torch.zeros(0)  # a tensor slot in a template
_ASSIGNMENT = {"gt_index": _T, "labels": _T, "boxes": _T, "scores": _T}
_BACKBONE_CASE = {"all": None, "trainable": None, "outside": None}
