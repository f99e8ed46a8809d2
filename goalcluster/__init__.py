"""goalcluster: cluster a corpus of texts the way you mean it, and explain each cluster.

>>> import goalcluster
>>> result = goalcluster.cluster(texts, goal="why the customer was unhappy")
>>> for c in result.clusters:
...     print(c.name, c.size, c.explanation)
"""

from goalcluster.api import cluster, discover, resume
from goalcluster.results import Cluster, ClusteringResult, DocumentAssignment

__version__ = "0.1.0"
__all__ = ["Cluster", "ClusteringResult", "DocumentAssignment", "cluster", "discover", "resume"]
