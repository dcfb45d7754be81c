"""The report model and its writers, one module per format (``grader.core.report`` gathers
them under one name)."""
