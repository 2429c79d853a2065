"""prism-pipeline: the PRISM Alignment dataset's derived layers as Dagster assets.

``prism_pipeline.defs`` is the code location's single ``dagster.Definitions``.
"""

from prism_pipeline.definitions import defs

__all__ = ["defs"]
