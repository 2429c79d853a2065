"""prism-pipeline: the PRISM Alignment dataset's derived layers as Dagster assets.

The code location's single ``dagster.Definitions`` is ``prism_pipeline.prism.definitions.defs``
(``workspace.yaml`` and ``[tool.dagster]`` point there). This package module imports only
pandas (below), so importing a pure module (``prism_pipeline.prism.sampling.balanced``) does not
build the definitions.

pandas 3 stores ``str`` columns with pyarrow whenever pyarrow is importable, and the optional
``dask`` extra (dagster-dask, the distributed executor, requires ``dask[dataframe]``) installs it. The
pipeline is built and verified on Python-object strings: the input readers' dtype table,
byte-identical releases, and the state pickles the raw-byte leak scanner reads (one
delimited Python string per value; an arrow buffer runs values together). So the storage is
pinned here, in every process that imports the package (Dagster step processes, dask
workers, detector pool workers), and results do not depend on what else is installed.
"""

import pandas as _pd

_pd.set_option("mode.string_storage", "python")
