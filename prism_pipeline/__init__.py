"""prism-pipeline: the PRISM Alignment dataset's derived layers as Dagster assets.

The code location's single ``dagster.Definitions`` is ``prism_pipeline.definitions.defs``
(``workspace.yaml`` and ``[tool.dagster]`` point there). This package module imports nothing,
so importing a pure module (``prism_pipeline.sampling.balanced``) does not build the definitions.
"""
