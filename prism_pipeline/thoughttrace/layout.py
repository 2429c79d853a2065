"""ThoughtTrace's published record layout and vocabularies (``/work/shared``'s FORMAT.md, the
official README and the Hugging Face card SCAI-JHU/ThoughtTrace): the one place its keys, their
orders and its label sets are written. Plain data: no pandas, no Dagster.

``ThoughtTrace.jsonl`` holds one conversation per line::

    {id, model_name, model_provider, created_at, updated_at, task_summary, task_expectation,
     survey_answers: [ {age, gender, education, occupation, frequency, purposes} ] (one or none),
     messages: [ {id, timestamp, type, content, reasons | reactions: [ {content, timestamp, label} ]} ]}

A message carries exactly one thought list: ``reasons`` (why the user sent it) on a user
message, ``reactions`` (how the user took it) on an assistant message; either may be empty.
"""

from __future__ import annotations

RAW_FILE = "ThoughtTrace.jsonl"

# Published key orders (the release's ThoughtTrace.jsonl is written in them).
CONVERSATION_KEYS = ("id", "model_name", "model_provider", "created_at", "updated_at", "task_summary",
                     "task_expectation", "survey_answers", "messages")
SURVEY_KEYS = ("age", "gender", "education", "occupation", "frequency", "purposes")
MESSAGE_KEYS = ("id", "timestamp", "type", "content")  # then its thought list
THOUGHT_KEYS = ("content", "timestamp", "label")

MESSAGE_TYPES = ("user", "assistant")
THOUGHT_LIST_OF_TYPE = {"user": "reasons", "assistant": "reactions"}
THOUGHT_LISTS = tuple(THOUGHT_LIST_OF_TYPE.values())
KIND_OF_LIST = {"reasons": "reason", "reactions": "reaction"}  # a thought's kind column
THOUGHT_KINDS = tuple(KIND_OF_LIST.values())

# The published vocabularies: 7 reasons (task_motivation is the largest, 36.9% of reasons) and
# 5 reactions (the last three mark dissatisfaction).
REASON_LABELS = ("task_motivation", "task_continuation", "task_reorientation", "context_grounding_and_constraints",
                 "content_expectation", "style_expectation", "social_and_others")
REACTION_LABELS = ("explicit_affirmation", "partial_satisfaction", "content_relevance", "presentation_style",
                   "scope_fit")
LABELS_OF_KIND = {"reason": REASON_LABELS, "reaction": REACTION_LABELS}
LABELS = REASON_LABELS + REACTION_LABELS
FREQUENCIES = ("1", "2", "3", "4", "5")  # survey `frequency`: how often they use chat models

# Derived tables and release files (columns in release order).
MESSAGES_COLUMNS = ("conversation_id", "user_id", "message_index", "message_id", "type", "timestamp", "content")
THOUGHTS_COLUMNS = ("conversation_id", "user_id", "message_index", "thought_index", "kind", "label", "timestamp",
                    "content")
USERS_COLUMNS = ("user_id", *SURVEY_KEYS, "num_conversations")
METADATA_COLUMNS = ("conversation_id", "user_id", "text_kind", "message_index", "thought_index", "language_flag",
                    "en_flag", "pii_flag", "pii_manual_flag", "moderation_flag")
STATS_KEYS = ("users", "conversations", "messages", "turns", "thoughts", "thoughts_by_label", "models")
