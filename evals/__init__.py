"""Measurements on real labeled data: ``python -m evals --help``."""
