"""Seeded generator of release-shaped PRISM data (SPEC §1, §8): not part of the pipeline's runtime;
``prism-pipeline generate`` and the benchmarks use it."""
