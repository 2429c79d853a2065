"""Where the repository is: datasets' default folders live under it (no Dagster import: the CLI
reads it before deciding whether it needs Dagster at all)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout: prism_pipeline/core/ is two below
