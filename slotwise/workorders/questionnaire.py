"""The short completion questionnaire (S2.8): the organisation's own `Question` rows, or the
built-in defaults below when it has none."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .models import Question


@dataclass(frozen=True)
class QuestionSpec:
    key: str
    text: str
    kind: str
    required: bool = True


DEFAULT_QUESTIONS = (
    ("finished", gettext_lazy("Is the work finished?"), Question.Kind.YES_NO),
    ("client_checked", gettext_lazy("Did the client check the work?"), Question.Kind.YES_NO),
    ("rating", gettext_lazy("How satisfied was the client (1–5)?"), Question.Kind.RATING),
)


def questions_for(organisation) -> list[QuestionSpec]:
    own = list(Question.objects.filter(organisation=organisation, active=True))
    if own:
        return [QuestionSpec(f"q{q.pk}", q.text, q.kind, q.required) for q in own]
    return [QuestionSpec(key, str(text), kind) for key, text, kind in DEFAULT_QUESTIONS]


def clean_answers(organisation, answers: dict, errors: dict) -> dict:
    """The answers keyed by question, checked; problems go into `errors` as `answers.<key>`."""
    out = {}
    for q in questions_for(organisation):
        raw = answers.get(q.key)
        raw = raw.strip() if isinstance(raw, str) else raw
        if raw in (None, ""):
            if q.required:
                errors[f"answers.{q.key}"] = _("Answer this question.")
            continue
        if q.kind == Question.Kind.YES_NO:
            if raw not in ("yes", "no", True, False):
                errors[f"answers.{q.key}"] = _("Answer yes or no.")
                continue
            raw = "yes" if raw in ("yes", True) else "no"
        elif q.kind == Question.Kind.RATING:
            if str(raw) not in {"1", "2", "3", "4", "5"}:
                errors[f"answers.{q.key}"] = _("Choose a rating from 1 to 5.")
                continue
            raw = int(raw)
        else:
            raw = str(raw)[:1000]
        out[q.key] = {"question": q.text, "answer": raw}
    return out
