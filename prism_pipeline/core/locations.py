"""Where the repository's default folders are (no Dagster import: the CLI reads it before
deciding whether it needs Dagster at all)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout: prism_pipeline/core/ is two below
# Where each folder is when its variable is unset: the repository's bundled sample and outputs.
DEFAULT_DIRS = {
    "PRISM_RAW_DIR": REPO_ROOT / "data" / "raw",
    "PRISM_OUTPUT_DIR": REPO_ROOT / "data" / "release",
    "PRISM_STATE_DIR": REPO_ROOT / "data" / "state",
    "PRISM_REFERENCE_DIR": REPO_ROOT / "data" / "reference",
}
