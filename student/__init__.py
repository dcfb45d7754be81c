"""Packages of the course assignments (``centernet``, ``detection``)."""
