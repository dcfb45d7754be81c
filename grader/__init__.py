"""Autograder for the object-detection course kit."""

__version__ = "0.1.0"
