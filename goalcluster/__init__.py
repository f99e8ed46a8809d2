"""goalcluster: cluster a corpus of texts the way you mean it, and explain each cluster."""

__version__ = "0.1.0"
