"""Every asset's schema check, made by one factory from one asset → Pandera model mapping.

PUDL's pattern (``asset_check_from_schema``): the DataFrameModels in ``schemas.py`` hold each
column's rule; ``core/validation.schema_checks`` turns each entry of ``SCHEMA_CHECKS`` (and the
engine's tables, ``engine_schema_checks``) into a Dagster asset check (failures show as checks in the UI), and the same models fill every
asset's Columns tab. Blocking: the tables the release is built from, so a violation stops
the release (the previous one stays); the rest are ERROR checks that show without stopping it.
"""

from __future__ import annotations

from prism_pipeline.core.validation import SchemaCheck
from prism_pipeline.prism import schemas
from prism_pipeline.prism.inputs.parse import CONVERSATIONS, SURVEY, UTTERANCES, history_locator

SCHEMA_CHECKS: dict[str, SchemaCheck] = {
    "survey_input": SchemaCheck(schemas.SurveySchema, SURVEY.file_name, blocking=True, name="survey_schema"),
    "conversations_input": SchemaCheck(schemas.ConversationsSchema, CONVERSATIONS.file_name, blocking=True,
                                       name="conversations_schema"),
    "conversation_history": SchemaCheck(schemas.ConversationHistorySchema, CONVERSATIONS.file_name, blocking=True,
                                        locate=history_locator),
    # A published utterances.jsonl is only compared with the derived table: non-blocking.
    "utterances_input": SchemaCheck(schemas.UtterancesSchema, UTTERANCES.file_name, optional=True),
    "published_moderation": SchemaCheck(schemas.PublishedModerationSchema, "metadata.jsonl", optional=True),
    "utterances": SchemaCheck(schemas.UtterancesSchema, "utterances", blocking=True),
    "interactions": SchemaCheck(schemas.InteractionsSchema, "interactions", blocking=True),
    # Parsed from sha256-pinned reference files: a failure means the files or the parser changed,
    # and every REP flag would be wrong.
    "census_cells": SchemaCheck(schemas.CensusCellsSchema, "census_cells", blocking=True),
    "balanced_subset": SchemaCheck(schemas.BalancedSubsetSchema, "balanced_subset"),
    "uk_rep_sample": SchemaCheck(schemas.UkRepSampleSchema, "uk_rep_sample"),
    "us_rep_sample": SchemaCheck(schemas.UsRepSampleSchema, "us_rep_sample"),
    "census_weights": SchemaCheck(schemas.CensusWeightsSchema, "census_weights"),
    "text_instances": SchemaCheck(schemas.TextInstancesSchema, "text_instances"),
    "metadata_table": SchemaCheck(schemas.MetadataSchema, "metadata", blocking=True, name="metadata_schema"),
}
