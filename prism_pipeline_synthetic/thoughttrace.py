"""Seeded synthetic ThoughtTrace data in the published format (``ThoughtTrace.jsonl``).

The real file cannot be downloaded here, so this module writes a look-alike that exercises every
rule of the pipeline (``prism_pipeline/thoughttrace``; layout in ``thoughttrace/layout.py``).

At ``scale=1`` the structure has the published headline figures exactly: 1,058 users, 2,155
conversations, 17,058 turns (user messages), 10,174 thoughts, 20 models, median 8 turns per
conversation. Other scales multiply every count and round it (at least one conversation per
user and one turn per conversation). Choices (the published figures say nothing finer):

* users: ids ``user{N}`` with N distinct, drawn from 1..1.2 × users (the published ids are
  sparse too), file order by N; 4% of users did one task, the others two (the paper: two
  self-chosen tasks); the conversations left over after one per task go, one each, to random
  tasks as their ``conversation2``;
* turns: a fixed bell-shaped distribution over 1..20 turns with median 8, taken by quantiles
  (so the median is exact), then moved by ±1 on conversations away from the median until the
  total is exact; 1% of conversations end on an unanswered user message;
* thoughts: every conversation's first message carries one ``task_motivation`` reason, and
  reasons number conversations / 0.369, so task_motivation is 36.9% of reasons (5,840 reasons,
  4,334 reactions at scale 1). The other reasons (``REASON_SHARES``: task_continuation 20.5%,
  context_grounding_and_constraints 13.8%, content_expectation 12.4%, task_reorientation 7.6%,
  style_expectation 5.8%, social_and_others 3.0%) go to random user messages (continuation and
  reorientation never on the first); reactions (``REACTION_SHARES``: explicit_affirmation 38%,
  partial_satisfaction 24.5%, content_relevance 17%, presentation_style 12%, scope_fit 8.5%) to
  random assistant messages. Counts per label are exact (largest remainders);
* models: 20 invented display names in the published style (``MODELS``; four are the examples
  the format names), each used at least once, the rest weighted;
* times: conversations created between 2026-03-02 and 2026-04-20 (UTC, ``+00:00``); a reply
  2-40 s after its prompt, the next prompt 15-180 s later; reasons 5-60 s after their message,
  reactions 10-120 s after theirs (so a reaction may be later than the next prompt, as in the
  real data); message ``id`` = its timestamp in epoch milliseconds; ``updated_at`` after the
  last message and thought;
* survey answers: one set per user, the same on each of their conversations; 3% of users have
  none, and 3% of the users with two or more conversations left one of them empty;
* texts (``prism_pipeline_synthetic/texts.py`` where it fits): English prompts on everyday
  topics, long markdown answers; 2% of conversations in another language (es, fr, de, it, ...);
  PII that scrubadub detects in 0.6% of user messages, 1% of answers, 0.3% of reasons and task
  summaries; insults in 0.8% of user messages, 1.5% of reactions and 0.1% of answers; 1% of
  messages with stray whitespace and 0.1% of answers empty (the normalisation's work).

Below 1,058 users a feature whose count rounds to zero still appears once, so the small sample
(``data/thoughttrace/raw``) and the tests see every rule at work.

Determinism: every draw comes from ``numpy.random.default_rng([seed, stream])`` or from a
``random.Random`` seeded with (seed, conversation index): the same (scale, seed) gives the same bytes.

No Dagster import.
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from prism_pipeline.thoughttrace import layout
from prism_pipeline_synthetic import texts as tx

PUBLISHED = {"users": 1058, "conversations": 2155, "turns": 17058, "thoughts": 10174, "models": 20,
             "median_turns": 8}
TASK_MOTIVATION_SHARE = 0.369
REASON_SHARES = {"task_continuation": 20.5, "context_grounding_and_constraints": 13.8, "content_expectation": 12.4,
                 "task_reorientation": 7.6, "style_expectation": 5.8, "social_and_others": 3.0}
REACTION_SHARES = {"explicit_affirmation": 38.0, "partial_satisfaction": 24.5, "content_relevance": 17.0,
                   "presentation_style": 12.0, "scope_fit": 8.5}
NOT_ON_FIRST = ("task_continuation", "task_reorientation")
# Relative frequency of 1..20 turns: median 8 (the quantiles below make it exact).
TURN_WEIGHTS = np.array([3, 4, 5, 6, 7, 9, 11, 12, 10, 8, 6, 4.5, 3, 2, 1.3, 0.8, 0.5, 0.3, 0.2, 0.1])
MODELS = (  # (display name, provider, weight): invented in the published style
    ("Gemini 3 Flash Preview", "Google", 9), ("Gemini 3 Pro Preview", "Google", 6), ("Gemini 2.5 Flash", "Google", 4),
    ("Gemma 3 27B", "Google", 2), ("Claude Opus 4.6", "Anthropic", 7), ("Claude Sonnet 4.6", "Anthropic", 8),
    ("Claude Haiku 4.5", "Anthropic", 4), ("GPT-5.2", "OpenAI", 9), ("GPT-5 mini", "OpenAI", 6),
    ("gpt-oss-120b", "OpenAI", 5), ("gpt-oss-20b", "OpenAI", 3), ("Grok 4.20", "xAI", 6), ("Grok 4 Fast", "xAI", 3),
    ("Llama 4 Maverick", "Meta", 4), ("Llama 4 Scout", "Meta", 2), ("Mistral Large 3", "Mistral AI", 4),
    ("Mistral Medium 3.1", "Mistral AI", 2), ("DeepSeek V3.2", "DeepSeek", 5), ("Qwen3 235B A22B", "Alibaba", 3),
    ("Kimi K2", "Moonshot AI", 2),
)
P_ONE_TASK = 0.04
P_UNANSWERED_END = 0.01
P_NO_ANSWERS, P_PARTIAL_ANSWERS = 0.03, 0.03
P_FOREIGN_CONVERSATION = 0.02
P_PII = {"user": 0.006, "assistant": 0.01, "reason": 0.003, "task_summary": 0.003}
P_TOXIC = {"user": 0.008, "assistant": 0.001, "reaction": 0.015}
P_WHITESPACE, P_EMPTY_ANSWER = 0.01, 0.001
START, SPAN_DAYS = datetime(2026, 3, 2, tzinfo=UTC), 49
# Numpy stream ids: one per purpose, so changing one draw leaves the others.
_S_USERS, _S_TASKS, _S_TURNS, _S_THOUGHTS, _S_MODELS, _S_FEATURES, _S_TIMES, _S_SURVEY = range(8)

_GENDERS = (("Female", 48), ("Male", 47), ("Non-binary", 3), ("Prefer not to say", 2))
_EDUCATION = (("High school", 18), ("Some college", 17), ("Undergraduate", 38), ("Graduate", 22), ("Doctorate", 5))
_FREQUENCY = (("1", 6), ("2", 14), ("3", 26), ("4", 30), ("5", 24))
_OCCUPATIONS = ("Nurse", "Software developer", "Teacher", "Student", "Accountant", "Retail assistant",
                "Graphic designer", "Electrician", "Project manager", "Unemployed", "Retired", "Chef", "Lawyer",
                "Marketing specialist", "Customer service agent", "Researcher", "Carer", "Freelance writer",
                "Data analyst", "Warehouse operative", "Pharmacist", "Civil servant", "Self-employed", "Homemaker")
_PURPOSES = ("Writing", "Coding", "Learning", "Planning", "Research", "Brainstorming", "Entertainment", "Advice",
             "Translation", "Shopping", "Health questions", "Work emails", "Studying")

REASON_TEXTS = {
    "task_motivation": (
        "I want to see if it can help me with {topic}.", "I need help with {topic} and have little time.",
        "I have been meaning to sort out {topic} for weeks.", "Curious whether it knows much about {topic}.",
        "My friend suggested asking an AI about {topic}.", "I picked {topic} because it matters to me right now.",
        "I wanted a quick starting point on {topic}."),
    "task_continuation": (
        "The answer was fine, so I moved on to the next part.", "Following up on the list it gave me.",
        "I wanted more detail on the second point.", "Going deeper now that the basics are covered.",
        "Next step of the same task.", "It was on the right track so I kept going."),
    "task_reorientation": (
        "It misunderstood me, so I changed direction.", "That was not useful, trying a different angle.",
        "I realised I actually wanted something else.", "Starting over with a clearer question.",
        "Switching to a related problem instead."),
    "context_grounding_and_constraints": (
        "I added my budget so it stops suggesting expensive options.",
        "Giving it my constraints: little time and no car.",
        "I told it where I live because the advice depends on it.", "Adding details about my situation.",
        "It needs to know I am a beginner.", "I mentioned the deadline so the plan is realistic."),
    "content_expectation": (
        "I expect a list of concrete steps.", "I want actual numbers, not general advice.",
        "Hoping for a few options to compare.", "I want it to explain why, not just what.",
        "Looking for specific examples."),
    "style_expectation": (
        "I asked for a shorter answer because the last one was too long.", "I want it in plain language.",
        "Asked it to drop the bullet points.", "I prefer a friendly tone.", "I wanted it as a table."),
    "social_and_others": (
        "Just being polite and saying thanks.", "I wanted to see how it reacts to small talk.",
        "Testing whether it has opinions.", "Joking a bit to see what happens."),
}
REACTION_TEXTS = {
    "explicit_affirmation": (
        "This is exactly what I needed.", "Great answer, very clear.", "Helpful and to the point.",
        "I liked this a lot.", "Perfect, I will use this.", "Good, this covers everything I asked."),
    "partial_satisfaction": (
        "Useful, but it ignored my budget.", "Mostly good, a few steps are missing.",
        "Half of it is useful, the rest is generic.", "Fine, though I expected more detail.",
        "Good start but not quite there."),
    "content_relevance": (
        "It went off topic and talked about things I did not ask.", "Not relevant to my situation in any way.",
        "It answered a different question.", "Too generic, nothing specific to {topic}."),
    "presentation_style": (
        "Too long and full of bullet points.", "Hard to read, too many headings.", "Way too formal.",
        "I did not need all this markdown.", "The formatting made it confusing."),
    "scope_fit": (
        "Far too broad for what I asked.", "It only covered a small part of my question.",
        "Too much information for a simple question.", "It went into far more depth than needed."),
}
_SUMMARY = ("I asked for help with {topic}.", "I used the assistant to work on {topic}.",
            "My task was {topic}; I asked several follow-up questions.",
            "I tried to get practical advice about {topic}.")
_SUMMARY_MORE = ("", "", " It gave me a plan I can use.", " Some answers were too long.",
                 " I had to rephrase a few times.", " It was quicker than searching online.")
_EXPECTATION = ("A short, practical answer.", "A step-by-step plan.", "A few options with pros and cons.",
                "Clear explanations without jargon.", "Specific recommendations for {topic}.",
                "Something I could use straight away.", "Accurate facts and honest limits.")
_BULLETS = ("Start small and build a routine.", "Set a clear goal for the first week.",
            "Write down what you spend or do each day.", "Ask someone with experience for feedback.",
            "Keep a simple checklist.", "Review progress every few days.", "Avoid changing too much in one go.",
            "Budget a little extra time for surprises.", "Use free resources before paying for anything.",
            "Celebrate the small wins.")
_HEADINGS = ("Overview", "Key points", "A simple plan", "Step by step", "Things to consider", "Summary")


def _counts(total: int, shares: dict[str, float]) -> dict[str, int]:
    """Largest-remainder counts of ``total`` split by ``shares`` (exact sum)."""
    names = list(shares)
    raw = np.array([shares[n] for n in names], dtype="float64")
    raw = raw / raw.sum() * total
    base = np.floor(raw).astype(int)
    order = np.argsort(-(raw - base), kind="stable")
    base[order[: total - base.sum()]] += 1
    return dict(zip(names, base.tolist()))


def _n(p: float, n: int, small: bool) -> int:
    """How many of n items get a feature of probability p (at least one below full scale)."""
    k = round(p * n)
    return min(n, max(k, 1 if small and n else 0))


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def _pick(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """A mask of k distinct items among n."""
    mask = np.zeros(n, dtype=bool)
    mask[rng.choice(n, size=k, replace=False)] = True
    return mask


def _turns(n_conv: int, total: int, rng: np.random.Generator) -> np.ndarray:
    """Turns per conversation: quantiles of TURN_WEIGHTS (median 8), shuffled, moved to ``total``
    by ±1 on conversations away from the median (which it keeps)."""
    k = np.arange(1, len(TURN_WEIGHTS) + 1)
    cdf = np.cumsum(TURN_WEIGHTS / TURN_WEIGHTS.sum())
    turns = k[np.minimum(np.searchsorted(cdf, (np.arange(n_conv) + 0.5) / n_conv), len(k) - 1)]
    turns = rng.permutation(turns)
    median = int(np.median(turns)) if n_conv else 0
    diff = total - int(turns.sum())
    while diff:
        step = 1 if diff > 0 else -1
        # above the median, staying above; when lowering runs out, lower the ones below it
        eligible = np.flatnonzero(turns > median + (1 if step < 0 else 0))
        if step < 0 and not len(eligible):
            eligible = np.flatnonzero((turns < median) & (turns > 1))
        if step > 0 and not len(eligible):
            eligible = np.arange(n_conv)
        take = rng.choice(eligible, size=min(abs(diff), len(eligible)), replace=False)
        turns[take] += step
        diff -= step * len(take)
    return turns


def _iso_offset(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+00:00"


def _iso_z(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _ms(t: datetime) -> int:
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _weighted(rng: random.Random, pairs) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _survey(rng: random.Random) -> dict:
    purposes = ", ".join(rng.sample(_PURPOSES, rng.choice((1, 1, 2, 2, 3))))
    return {"age": str(min(80, max(18, round(rng.gauss(36, 11))))), "gender": _weighted(rng, _GENDERS),
            "education": _weighted(rng, _EDUCATION), "occupation": rng.choice(_OCCUPATIONS),
            "frequency": _weighted(rng, _FREQUENCY), "purposes": purposes}


def _assistant_text(rng: random.Random, topic: str, model: str) -> str:
    """A long markdown answer: heading, paragraph, bullets, another paragraph."""
    heading = rng.choice(_HEADINGS)
    parts = [f"## {heading}", tx.model_response(rng, "unguided", topic, model)]
    if rng.random() < 0.8:
        parts.append("\n".join(f"* {b}" for b in rng.sample(_BULLETS, rng.randint(3, 6))))
    if rng.random() < 0.6:
        parts.append(f"### {rng.choice(_HEADINGS)}\n" + tx.model_response(rng, "unguided", topic, model))
    return "\n\n".join(parts)


def _thought_text(rng: random.Random, label: str, topic: str) -> str:
    pool = REASON_TEXTS.get(label) or REACTION_TEXTS[label]
    text = rng.choice(pool).format(topic=topic)
    return tx._typo(rng, text) if rng.random() < 0.2 else text


class _Plan:
    """Every count and assignment of one generated file (module doc), drawn with numpy."""

    def __init__(self, scale: float, seed: int):
        small = scale < 1
        self.n_users = n_users = max(1, round(PUBLISHED["users"] * scale))
        n_conv = max(n_users, round(PUBLISHED["conversations"] * scale))
        n_turns = max(n_conv, round(PUBLISHED["turns"] * scale))
        n_thoughts = round(PUBLISHED["thoughts"] * scale)
        # users and their tasks (module doc)
        rng = _rng(seed, _S_USERS)
        self.user_numbers = np.sort(rng.choice(np.arange(1, math.ceil(1.2 * n_users) + 2), n_users, replace=False))
        rng = _rng(seed, _S_TASKS)
        one_task = _pick(rng, n_users, min(n_users, max(round(P_ONE_TASK * n_users), 2 * n_users - n_conv)))
        task_user = np.repeat(np.arange(n_users), np.where(one_task, 1, 2))
        task_no = np.concatenate([np.arange(1, 2 + (not one_task[u])) for u in range(n_users)])
        per_task = np.ones(len(task_user), dtype=int)
        extra = n_conv - len(task_user)
        if extra > 0:
            per_task += np.bincount(rng.choice(len(task_user), extra, replace=extra > len(task_user)),
                                    minlength=len(task_user))
        self.conv_user = np.repeat(task_user, per_task)
        self.conv_task = np.repeat(task_no, per_task)
        self.conv_no = np.concatenate([np.arange(1, k + 1) for k in per_task])
        self.n_conv = n_conv
        # turns, unanswered ends
        rng = _rng(seed, _S_TURNS)
        self.turns = _turns(n_conv, n_turns, rng)
        self.unanswered = _pick(rng, n_conv, _n(P_UNANSWERED_END, n_conv, small))
        n_msgs = 2 * self.turns - self.unanswered
        self.msg_first = np.concatenate(([0], np.cumsum(n_msgs)))
        msg_conv = np.repeat(np.arange(n_conv), n_msgs)
        msg_pos = np.arange(len(msg_conv)) - self.msg_first[msg_conv]
        is_user = msg_pos % 2 == 0
        self.n_messages = len(msg_conv)
        # thoughts: one task_motivation on every first message, the rest on random messages
        rng = _rng(seed, _S_THOUGHTS)
        n_reasons = min(n_thoughts, max(n_conv, round(n_conv / TASK_MOTIVATION_SHARE)))
        reason_counts = _counts(n_reasons - n_conv, REASON_SHARES)
        reaction_counts = _counts(n_thoughts - n_reasons, REACTION_SHARES)
        user_msgs = np.flatnonzero(is_user)
        later_user_msgs = np.flatnonzero(is_user & (msg_pos > 0))
        assistant_msgs = np.flatnonzero(~is_user)
        slots, labels = [self.msg_first[:-1]], [np.full(n_conv, "task_motivation", dtype=object)]
        for label, count in {**reason_counts, **reaction_counts}.items():
            if label in REACTION_SHARES:
                pool = assistant_msgs
            else:
                pool = later_user_msgs if label in NOT_ON_FIRST and len(later_user_msgs) else user_msgs
            slots.append(rng.choice(pool, size=count) if len(pool) else np.zeros(0, dtype=int))
            labels.append(np.full(count, label, dtype=object))
        slot, label = np.concatenate(slots), np.concatenate(labels)
        motivation_first = np.where(label == "task_motivation", 0.0, 1.0) + rng.random(len(slot)) * 0.5
        order = np.lexsort((motivation_first, slot))
        self.thought_msg, self.thought_label = slot[order], label[order]
        self.thought_first = np.searchsorted(self.thought_msg, np.arange(self.n_messages + 1))
        # models: each at least once, then by weight
        rng = _rng(seed, _S_MODELS)
        weights = np.array([m[2] for m in MODELS], dtype="float64")
        models = rng.choice(len(MODELS), size=n_conv, p=weights / weights.sum())
        first = rng.permutation(n_conv)[:min(n_conv, len(MODELS))]
        models[first] = rng.permutation(len(MODELS))[:len(first)]
        self.model = models
        # texts with a feature (module doc)
        rng = _rng(seed, _S_FEATURES)
        self.foreign = _pick(rng, n_conv, _n(P_FOREIGN_CONVERSATION, n_conv, small))
        n_user, n_asst = len(user_msgs), len(assistant_msgs)
        msg_flag = {name: np.zeros(self.n_messages, dtype=bool) for name in ("pii", "toxic", "space", "empty")}
        for name, probs in (("pii", P_PII), ("toxic", P_TOXIC)):
            msg_flag[name][user_msgs[_pick(rng, n_user, _n(probs["user"], n_user, small))]] = True
            msg_flag[name][assistant_msgs[_pick(rng, n_asst, _n(probs["assistant"], n_asst, small))]] = True
        msg_flag["space"] = _pick(rng, self.n_messages, _n(P_WHITESPACE, self.n_messages, small))
        msg_flag["empty"][assistant_msgs[_pick(rng, n_asst, _n(P_EMPTY_ANSWER, n_asst, small))]] = True
        self.msg_flag = msg_flag
        is_reason = np.isin(self.thought_label, layout.REASON_LABELS)
        self.thought_pii = np.zeros(len(slot), dtype=bool)
        self.thought_toxic = np.zeros(len(slot), dtype=bool)
        reasons, reactions = np.flatnonzero(is_reason), np.flatnonzero(~is_reason)
        self.thought_pii[reasons[_pick(rng, len(reasons), _n(P_PII["reason"], len(reasons), small))]] = True
        self.thought_toxic[reactions[_pick(rng, len(reactions), _n(P_TOXIC["reaction"], len(reactions), small))]] = True
        self.summary_pii = _pick(rng, n_conv, _n(P_PII["task_summary"], n_conv, small))
        # survey answers: none for some users, missing on one conversation for some others
        rng = _rng(seed, _S_SURVEY)
        self.no_answers = _pick(rng, n_users, _n(P_NO_ANSWERS, n_users, small))
        multi = np.flatnonzero((np.bincount(self.conv_user, minlength=n_users) > 1) & ~self.no_answers)
        partial = multi[_pick(rng, len(multi), _n(P_PARTIAL_ANSWERS, len(multi), small and len(multi) > 0))]
        self.empty_answers = np.zeros(n_conv, dtype=bool)
        for u in partial:
            self.empty_answers[np.flatnonzero(self.conv_user == u)[-1]] = True
        self.empty_answers |= self.no_answers[self.conv_user]
        rng = _rng(seed, _S_TIMES)
        self.created = rng.uniform(0, SPAN_DAYS * 86400, size=n_conv)


def _conversation(plan: _Plan, c: int, survey: dict, seed: int) -> dict:
    rng = random.Random(f"thoughttrace/{seed}/{c}")
    user = int(plan.user_numbers[plan.conv_user[c]])
    cid = f"user{user}_task{int(plan.conv_task[c])}_conversation{int(plan.conv_no[c])}"
    model, provider, _ = MODELS[int(plan.model[c])]
    topic = rng.choice(tx.TOPICS["unguided"])
    lang = rng.choices(list(tx.LANGUAGE_WEIGHTS), weights=list(tx.LANGUAGE_WEIGHTS.values()))[0] \
        if plan.foreign[c] else "en"
    created = START + timedelta(seconds=float(plan.created[c]), milliseconds=rng.randint(0, 999))
    t = created + timedelta(seconds=rng.uniform(2, 30))
    last = t
    messages = []
    for m in range(int(plan.msg_first[c]), int(plan.msg_first[c + 1])):
        pos = m - int(plan.msg_first[c])
        kind = "user" if pos % 2 == 0 else "assistant"
        if pos:
            t += timedelta(seconds=rng.uniform(2, 40) if kind == "assistant" else rng.uniform(15, 180))
        t = t.replace(microsecond=t.microsecond // 1000 * 1000)
        if kind == "user":
            if lang != "en":
                text = tx.foreign_text(rng, lang, "prompt" if pos == 0 else "followup")
            else:
                text = tx.opening_prompt(rng, "unguided", topic) if pos == 0 else tx.followup_prompt(rng, topic)
        else:
            text = tx.foreign_text(rng, lang, "response", rng.randint(2, 5)) if lang != "en" \
                else _assistant_text(rng, topic, model)
        if plan.msg_flag["toxic"][m]:
            text = f"{text} {tx.toxic_sentence(rng, 'human' if kind == 'user' else 'model')}".strip()
        if plan.msg_flag["pii"][m]:
            text = f"{text} {tx.pii_sentence(rng, 'human' if kind == 'user' else 'model')}".strip()
        if plan.msg_flag["space"][m]:
            text = rng.choice((" ", "\n", "")) + text + rng.choice((" ", "\n", "\n\n", "  "))
        if plan.msg_flag["empty"][m]:
            text = ""
        thoughts = []
        for k in range(int(plan.thought_first[m]), int(plan.thought_first[m + 1])):
            label = str(plan.thought_label[k])
            when = t + timedelta(seconds=rng.uniform(5, 60) if kind == "user" else rng.uniform(10, 120))
            content = _thought_text(rng, label, topic)
            if plan.thought_toxic[k]:  # an angry note about the answer, alone or after the label's text
                insult = tx.toxic_sentence(rng, "human")
                content = insult if rng.random() < 0.5 else f"{content} {insult}"
            if plan.thought_pii[k]:
                content = f"{content} {tx.pii_sentence(rng, 'human')}"
            thoughts.append({"content": content, "timestamp": _iso_z(when), "label": label})
            last = max(last, when)
        messages.append({"id": _ms(t), "timestamp": _iso_z(t), "type": kind, "content": text,
                         layout.THOUGHT_LIST_OF_TYPE[kind]: thoughts})
        last = max(last, t)
    updated = last + timedelta(seconds=rng.uniform(1, 30))
    summary = rng.choice(_SUMMARY).format(topic=topic) + rng.choice(_SUMMARY_MORE)
    if plan.summary_pii[c]:
        summary = f"{summary} {tx.pii_sentence(rng, 'human')}"
    record = {
        "id": cid, "model_name": model, "model_provider": provider, "created_at": _iso_offset(created),
        "updated_at": _iso_offset(updated), "task_summary": summary,
        "task_expectation": rng.choice(_EXPECTATION).format(topic=topic),
        "survey_answers": [] if plan.empty_answers[c] else [survey], "messages": messages,
    }
    return {k: record[k] for k in layout.CONVERSATION_KEYS}


def generate(out_dir: Path, scale: float = 1.0, seed: int = 0) -> dict:
    """Write ``out_dir/ThoughtTrace.jsonl``; return its counts: users, conversations, turns,
    messages, thoughts, models and the median turns per conversation (module doc)."""
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    plan = _Plan(scale, seed)
    surveys = [_survey(random.Random(f"thoughttrace/survey/{seed}/{u}")) for u in range(plan.n_users)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / layout.RAW_FILE, "w", encoding="utf-8", newline="\n") as fh:
        for c in range(plan.n_conv):
            record = _conversation(plan, c, surveys[plan.conv_user[c]], seed)
            fh.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
    return {"users": plan.n_users, "conversations": plan.n_conv, "turns": int(plan.turns.sum()),
            "messages": plan.n_messages, "thoughts": len(plan.thought_label),
            "models": len(np.unique(plan.model)), "median_turns": float(np.median(plan.turns))}
