"""The bot: runs flows (`models.Flow`) in conversations.

It is called by messaging's inbound processing for every new inbound message
(`on_inbound`, registered in `apps.py`), inside that message's transaction, so the answer, the
application's changes and the bot's next messages (`outbox.message_queue`) commit together or not
at all. It never sends anything itself.

One inbound message:
0. Only messenger conversations (WhatsApp, Telegram, Viber, Instagram) have a bot: an SMS or
   e-mail reply (say, to the code's SMS) goes to the inbox for a person.
1. A conversation with an open run: if a person took it over (`bot_active` is off) the bot is
   silent. "status" (S1.8) is answered at any step. Otherwise the message answers the current
   step: valid → stored, the flow goes on; not valid → the step's error and the question again
   (after `MAX_INVALID` wrong answers a person takes over).
2. A link token (Telegram ``/start <token>``, Viber ``conversation_started`` context) names an
   application: its flow continues here, at the code check if this messenger is not yet the
   application's contact (S1.4).
3. The contact has an open application (the person answers the WhatsApp welcome): its flow
   starts (or moves here from another messenger).
4. A first message (or a keyword) starts the matching flow, creating an application.

Steps that need nothing from the person (send a message, set a status, send a code …) run one
after another until a step waits for an answer or the flow ends.

Documents: a photo's attachment is fetched by the worker after the message is processed, so the
bot accepts the photo by its declared type and the real check happens later. When the flow
reaches the manager's review step, `_settle_documents` (also run by the periodic
`tasks.check_documents` and at the person's next message) asks again for a photo the worker
rejected — at the end, not in the middle of other questions — and moves the application to
"In review" once every document is stored.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from slotwise.core.errors import ValidationError
from slotwise.customers.models import Contact, Identity
from slotwise.customers.phones import to_e164
from slotwise.messaging.models import (
    AttachmentStatus,
    Conversation,
    Message,
)
from slotwise.messaging.outbox import message_queue

from . import services
from .models import (
    ASK_KINDS,
    CLOSED_STATUSES,
    FUNNEL_RANK,
    OPEN_RUN_STATES,
    Application,
    ApplicationDocument,
    ApplicationSource,
    ApplicationStatus,
    ApplicationStatusChange,
    Flow,
    FlowRun,
    FlowStep,
    RunState,
    StepKind,
    Trigger,
    Validation,
)
from .verification import (
    TooManyCodes,
    application_id_from_token,
    code_check,
    code_outstanding,
)

logger = logging.getLogger("slotwise.onboarding.engine")

#: wrong answers to one step before a person takes over
MAX_INVALID = 5
#: words that show the person their status at any time (S1.8), in every language we speak
STATUS_WORDS = frozenset(
    {"status", "/status", "статус", "/статус", "mijn status", "läge", "кабинет", "/cabinet"}
)
BOT_PURPOSE = "onboarding.bot"
MESSENGER_MEDIA = ("whatsapp", "telegram", "viber", "instagram")
_START_TEXT = re.compile(r"^/start(?:@\w+)?\s+(\S+)\s*$")


@dataclass
class Ctx:
    """What the engine needs while it handles one message (or one manager's decision)."""

    run: FlowRun
    conversation: Conversation
    application: Application | None
    steps: list[FlowStep]
    language: str
    fallback: str
    muted: bool = False
    by_key: dict[str, FlowStep] = field(default_factory=dict)
    data_before: str = ""

    def __post_init__(self) -> None:
        self.by_key = {s.key: s for s in self.steps}
        self.data_before = _dump(self.application.data) if self.application else ""

    @property
    def flow(self) -> Flow:
        return self.run.flow


# --- entry points -----------------------------------------------------------------------------


def on_inbound(message: Message) -> None:
    """The inbound hook (see the module docstring). Any error is logged and swallowed in a
    savepoint: a bot bug must not lose the person's message."""
    if message.direction != Message.Direction.IN or message.kind == "call":
        return
    if not message.conversation_id:
        return
    try:
        with transaction.atomic():
            _on_inbound(message)
    except Exception:
        logger.exception("onboarding bot failed on message %s", message.pk)


def _on_inbound(message: Message) -> None:
    conversation = (
        Conversation.objects.select_related("channel", "contact", "organisation")
        .select_for_update(of=("self",))
        .get(pk=message.conversation_id)
    )
    if conversation.channel.medium not in MESSENGER_MEDIA:
        return  # SMS, e-mail, calls, the in-app chat: people answer there, not the bot
    data = message.data or {}
    event = data.get("event", "")
    if event == "unsubscribed":
        return
    muted = event == "conversation_started" and not data.get("subscribed")
    run = _open_run(conversation)
    token = str(data.get("start") or data.get("context") or _start_in_text(message.body) or "")
    application = _application_for_token(token, conversation) if token else None
    if application is not None:
        _link_start(conversation, message, application, run, muted=muted)
        return
    if muted:
        return  # opened the chat, can't be written to yet: wait for their first message
    if run is not None:
        if not conversation.bot_active:
            if run.state == RunState.WAITING:
                run.state = RunState.HANDED_OVER
                run.save(update_fields=["state", "updated_at"])
            return  # a person has the conversation: the bot is silent
        ctx = _ctx(run, conversation)
        if run.state == RunState.HANDED_OVER:  # handed back to the bot
            run.state = RunState.WAITING
        if event or (not message.body and not message.kind == "media"):
            _reprompt(ctx)  # subscribed / opened the chat again: the question they missed
        elif _is_status_request(message.body, run.flow) and not run.data.get("link_contact"):
            _say(ctx, status_text(ctx.application, ctx.language, ctx.fallback))
        else:
            _answer(ctx, message)
        _save(ctx)
        return
    if conversation.assignee_id and not conversation.bot_active:
        return  # a person handles this conversation
    application = services.open_application(conversation.contact_id)
    if application is not None and application.organisation_id == conversation.organisation_id:
        _start_for_application(conversation, message, application, muted=muted)
        return
    closed = (
        Application.objects.filter(contact_id=conversation.contact_id, status__in=CLOSED_STATUSES)
        .select_related("flow", "contact", "organisation")
        .order_by("-created_at")
        .first()
    )
    if closed is not None:
        if _is_status_request(message.body, closed.flow) and not muted:
            language, fallback = _languages(closed.contact, conversation)
            _queue(conversation, status_text(closed, language, fallback))
        return
    flow = _flow_for(conversation, message)
    if flow is None:
        return
    application = None
    if flow.creates_application:
        application = _application_from_messenger(conversation, flow)
    run = _run_start(flow, conversation, application)
    ctx = _ctx(run, conversation, muted=muted)
    _execute(ctx)
    _save(ctx)


def on_message_failed(message: Message) -> None:
    """messaging's failed-message hook: a welcome that could not be delivered (S1.3)."""
    if message.purpose != services.WELCOME_PURPOSE:
        return
    services.welcome_failed(message=message)


def on_takeover(conversation, actor=None, *args, **kwargs) -> None:
    """messaging's takeover hook: a person took the conversation over; the bot's run there
    stops (it resumes where it was if the conversation is handed back to the bot)."""
    FlowRun.objects.filter(conversation_id=conversation.pk, state=RunState.WAITING).update(
        state=RunState.HANDED_OVER, updated_at=timezone.now()
    )


def manager_decided(*, application: Application) -> None:
    """After Approve / Reject: the flow goes on past its "wait for a manager" step (the final
    message, S1.7), or the person is told the decision."""
    run = _latest_run(application)
    conversation = run.conversation if run else services.driver_conversation(application)
    approved = application.status == ApplicationStatus.APPROVED
    if run is not None:
        ctx = _ctx(run, run.conversation)
        ctx.application = application
        if approved:
            final = _final_after_wait(ctx)
            if final is not None:
                run.state = RunState.WAITING
                _goto(ctx, final)
                _execute(ctx)
                _save(ctx)
                return
        else:
            _finish(ctx, RunState.DONE)
    if conversation is None:
        if approved:
            phone = application.contact.phone or application.data.get("phone", "")
            if phone:
                services.sms_send(
                    application=application,
                    phone=phone,
                    body=_decision_text(application),
                    purpose="onboarding.final",
                )
        return
    text = _decision_text(application)
    if run is not None:
        ctx = _ctx(run, run.conversation)
        ctx.application = application
        _say(ctx, text)
        _save(ctx)
    else:
        _queue(conversation, text)


def question_asked(*, application: Application, conversation: Conversation) -> None:
    """A manager asked the person for more (S1.6): the bot passes the next answer to the
    review instead of treating it as an answer to a step."""
    run = _latest_run(application)
    if run is None:
        flow = application.flow or services.default_flow(application.organisation_id)
        if flow is None:
            return
        run = _run_start(flow, conversation, application)
        wait = next((s for s in flow.steps.all() if s.kind == StepKind.WAIT_FOR_MANAGER), None)
        run.step = wait
    if run.conversation_id != conversation.pk:
        _close_other_runs(conversation, keep=run)
        run.conversation = conversation
    run.data["question"] = True
    if run.state not in OPEN_RUN_STATES:
        run.state = RunState.WAITING
        run.finished_at = None
    run.save()


# --- documents --------------------------------------------------------------------------------


def documents_state(application: Application) -> tuple[list, list]:
    """(pending, rejected) current documents of the application."""
    pending, rejected = [], []
    for doc in application.documents.filter(replaced=False).select_related("attachment"):
        if doc.attachment.status == AttachmentStatus.PENDING:
            pending.append(doc)
        elif doc.attachment.status == AttachmentStatus.REJECTED:
            rejected.append(doc)
    return pending, rejected


def documents_recheck(*, application: Application) -> str:
    """Look at the application's documents after the worker fetched them: ask again for a
    rejected one, or move a complete application on to the review. Returns what it did."""
    run = _latest_run(application, open_only=True)
    if run is not None and run.step is not None and run.step.kind != StepKind.WAIT_FOR_MANAGER:
        return "later"  # still collecting: a rejected photo is asked for at the end
    if run is not None and run.conversation.bot_active and run.state == RunState.WAITING:
        ctx = _ctx(run, run.conversation)
        ctx.application = application
        done = _settle_documents(ctx)
        _save(ctx)
        return done
    pending, rejected = documents_state(application)
    if rejected or pending:
        return "waiting"
    if application.status == ApplicationStatus.DOCUMENTS_RECEIVED:
        services.status_set(
            application=application, status=ApplicationStatus.IN_REVIEW, by_bot=True
        )
        return "in_review"
    return "nothing"


def check_documents_pending(*, limit: int = 500) -> dict[str, int]:
    """The periodic job: applications waiting for their documents' check, and open ones with a
    rejected document the bot hasn't asked for again."""
    ids = set(
        Application.objects.filter(status=ApplicationStatus.DOCUMENTS_RECEIVED).values_list(
            "pk", flat=True
        )[:limit]
    )
    ids |= set(
        ApplicationDocument.objects.filter(
            replaced=False, attachment__status=AttachmentStatus.REJECTED
        )
        .exclude(application__status__in=CLOSED_STATUSES)
        .values_list("application_id", flat=True)[:limit]
    )
    counts: dict[str, int] = {}
    for pk in sorted(ids):
        with transaction.atomic():
            application = (
                Application.objects.select_for_update(of=("self",))
                .select_related("contact", "organisation", "flow")
                .filter(pk=pk)
                .first()
            )
            if application is None:
                continue
            done = documents_recheck(application=application)
        counts[done] = counts.get(done, 0) + 1
    return counts


# --- starting runs ----------------------------------------------------------------------------


def _start_in_text(text: str) -> str:
    match = _START_TEXT.match(text or "")
    return match.group(1) if match else ""


def _application_for_token(token: str, conversation: Conversation) -> Application | None:
    pk = application_id_from_token(token)
    if pk is None:
        return None
    return (
        Application.objects.filter(pk=pk, organisation_id=conversation.organisation_id)
        .select_related("contact", "organisation", "flow")
        .first()
    )


def _open_run(conversation: Conversation) -> FlowRun | None:
    return (
        FlowRun.objects.filter(conversation=conversation, state__in=OPEN_RUN_STATES)
        .select_related("flow", "step", "application__contact", "application__organisation")
        .select_for_update(of=("self",))
        .first()
    )


def _latest_run(application: Application, *, open_only: bool = False) -> FlowRun | None:
    qs = FlowRun.objects.filter(application=application)
    if open_only:
        qs = qs.filter(state__in=OPEN_RUN_STATES)
    return (
        qs.select_related(
            "flow",
            "step",
            "conversation__channel",
            "conversation__contact",
            "conversation__organisation",
        )
        .order_by("-updated_at", "-id")
        .first()
    )


def _close_other_runs(conversation: Conversation, *, keep: FlowRun | None = None) -> None:
    qs = FlowRun.objects.filter(conversation=conversation, state__in=OPEN_RUN_STATES)
    if keep is not None and keep.pk:
        qs = qs.exclude(pk=keep.pk)
    qs.update(state=RunState.CANCELLED, finished_at=timezone.now(), updated_at=timezone.now())


def _run_start(flow: Flow, conversation: Conversation, application: Application | None) -> FlowRun:
    _close_other_runs(conversation)
    steps = list(flow.steps.all())
    run = FlowRun.objects.create(
        organisation_id=conversation.organisation_id,
        flow=flow,
        conversation=conversation,
        application=application,
        step=steps[0] if steps else None,
        step_entered_at=timezone.now(),
    )
    if not conversation.bot_active:
        Conversation.objects.filter(pk=conversation.pk).update(bot_active=True)
        conversation.bot_active = True
    if application is not None and application.flow_id is None:
        application.flow = flow
        application.save(update_fields=["flow", "updated_at"])
    return run


def _flow_for(conversation: Conversation, message: Message) -> Flow | None:
    flows = list(
        Flow.objects.filter(organisation_id=conversation.organisation_id, active=True).order_by(
            "id"
        )
    )
    text = _normal(message.body)
    for flow in flows:
        if flow.trigger == Trigger.KEYWORD and text:
            words = {_normal(w) for w in flow.keywords.split(",") if w.strip()}
            if text in words and (flow.channel_id in (None, conversation.channel_id)):
                return flow
    # Events without words (Viber's "opened the chat") don't make a conversation old.
    earlier = (
        Message.objects.filter(conversation=conversation)
        .exclude(pk=message.pk)
        .exclude(direction=Message.Direction.IN, body="")
        .exists()
    )
    if earlier:
        return None
    for flow in flows:
        if flow.trigger == Trigger.FIRST_CONTACT and flow.channel_id in (
            None,
            conversation.channel_id,
        ):
            return flow
    return None


def _application_from_messenger(conversation: Conversation, flow: Flow) -> Application:
    """Someone wrote to the bot first (no name or phone known yet): an application for the
    contact the message created."""
    contact = conversation.contact
    now = timezone.now()
    application = Application.objects.create(
        organisation_id=conversation.organisation_id,
        contact=contact,
        unit=flow.unit or contact.unit,
        flow=flow,
        source=ApplicationSource.MESSENGER,
        status=ApplicationStatus.NEW,
        status_changed_at=now,
        data={"phone": contact.phone} if contact.phone else {},
    )
    ApplicationStatusChange.objects.create(
        application=application, to_status=ApplicationStatus.NEW, at=now, by_bot=True
    )
    services.status_set(application=application, status=ApplicationStatus.CONTACTED, by_bot=True)
    return application


def _start_for_application(
    conversation: Conversation, message: Message, application: Application, *, muted: bool
) -> None:
    """The contact has an open application: continue its run here, or start its flow."""
    run = _latest_run(application, open_only=True)
    if run is not None and run.conversation_id != conversation.pk:
        if not run.conversation.bot_active and run.state == RunState.HANDED_OVER:
            return  # a person is talking to them elsewhere
        _close_other_runs(conversation, keep=run)
        run.conversation = conversation
        if not conversation.bot_active:
            Conversation.objects.filter(pk=conversation.pk).update(bot_active=True)
            conversation.bot_active = True
        ctx = _ctx(run, conversation, muted=muted)
        ctx.application = application
        if _is_status_request(message.body, run.flow):
            _say(ctx, status_text(application, ctx.language, ctx.fallback))
        else:
            _answer(ctx, message)
        _save(ctx)
        return
    flow = application.flow or services.default_flow(application.organisation_id)
    if flow is None or not flow.active:
        return
    if application.status == ApplicationStatus.MESSAGE_NOT_SENT:
        services.status_set(
            application=application, status=ApplicationStatus.CONTACTED, by_bot=True
        )
    run = _run_start(flow, conversation, application)
    ctx = _ctx(run, conversation, muted=muted)
    ctx.application = application
    if _is_status_request(message.body, flow):
        _say(ctx, status_text(application, ctx.language, ctx.fallback))
    _execute(ctx)
    _save(ctx)


def _link_start(
    conversation: Conversation,
    message: Message,
    application: Application,
    run: FlowRun | None,
    *,
    muted: bool,
) -> None:
    """The person opened the SMS link in a messenger (S1.4): the application's flow continues
    in this conversation; a messenger that is not yet the application's contact must type the
    code first."""
    language, fallback = _languages(application.contact, conversation)
    stranger = conversation.contact_id != application.contact_id
    if application.is_closed:
        if not muted and not stranger:
            _queue(conversation, status_text(application, language, fallback))
        return
    own = _latest_run(application, open_only=True)
    if own is not None and own.conversation_id != conversation.pk:
        _close_other_runs(conversation, keep=own)
        own.conversation = conversation
        own.state = RunState.WAITING
        run = own
    elif run is not None and run.application_id != application.pk:
        _close_other_runs(conversation)
        run = None
    if not conversation.bot_active:
        Conversation.objects.filter(pk=conversation.pk).update(bot_active=True)
        conversation.bot_active = True
    flow = (
        (run.flow if run else None)
        or application.flow
        or services.default_flow(application.organisation_id)
    )
    if flow is None:
        return
    fresh = run is None
    if fresh:
        run = _run_start(flow, conversation, application)
    ctx = _ctx(run, conversation, muted=muted)
    ctx.application = application
    if stranger:
        run.data["link_contact"] = conversation.contact_id
        check = next((s for s in ctx.steps if s.kind == StepKind.CHECK_CODE), None)
        if check is not None and not fresh and run.step is not None:
            if run.step.position > check.position:
                run.data["return_to"] = run.step.key
                _goto(ctx, check)
    if fresh or run.step is None or run.step.kind not in ASK_KINDS | {StepKind.CHECK_CODE}:
        _execute(ctx)
    else:
        _prompt(ctx, run.step)
    _save(ctx)


# --- the context ------------------------------------------------------------------------------


def _languages(contact: Contact, conversation: Conversation) -> tuple[str, str]:
    organisation = conversation.organisation
    fallback = organisation.default_language if organisation else "en"
    return (contact.language or fallback), fallback


def _ctx(run: FlowRun, conversation: Conversation, *, muted: bool = False) -> Ctx:
    application = run.application
    contact = application.contact if application is not None else conversation.contact
    language, fallback = _languages(contact, conversation)
    steps = list(run.flow.steps.all())
    ctx = Ctx(
        run=run,
        conversation=conversation,
        application=application,
        steps=steps,
        language=language,
        fallback=fallback,
        muted=muted,
    )
    if run.step_id is not None:
        run.step = ctx.by_key.get(run.step.key, run.step) if run.step else None
    return ctx


def _dump(data) -> str:
    return json.dumps(data, sort_keys=True, default=str)


def _save(ctx: Ctx) -> None:
    ctx.run.save()
    application = ctx.application
    if application is not None and application.pk:
        if _dump(application.data) != ctx.data_before:
            Application.objects.filter(pk=application.pk).update(
                data=application.data, updated_at=timezone.now()
            )
            ctx.data_before = _dump(application.data)


def _goto(ctx: Ctx, step: FlowStep | None) -> None:
    ctx.run.step = step
    ctx.run.step_entered_at = timezone.now()
    ctx.run.data.pop("wait_told", None)


def _following(ctx: Ctx, step: FlowStep, key: str = "") -> FlowStep | None:
    key = key or step.next_step
    if key:
        return ctx.by_key.get(key)
    index = next((i for i, s in enumerate(ctx.steps) if s.pk == step.pk), None)
    if index is None or index + 1 >= len(ctx.steps):
        return None
    return ctx.steps[index + 1]


def _finish(ctx: Ctx, state: str) -> None:
    ctx.run.state = state
    ctx.run.finished_at = timezone.now()
    ctx.run.step = None


# --- saying things ----------------------------------------------------------------------------


class _Values(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _render(ctx: Ctx, text: str) -> str:
    if not text:
        return ""
    application = ctx.application
    contact = application.contact if application is not None else ctx.conversation.contact
    data = dict(application.data if application is not None else {})
    data.update(ctx.run.answers)
    flow = ctx.flow
    values = _Values(
        {k: v for k, v in data.items() if isinstance(v, str | int | float)},
    )
    values.setdefault("first_name", data.get("first_name") or contact.first_name)
    values.setdefault("last_name", data.get("last_name") or contact.last_name)
    values.setdefault("phone", data.get("phone") or contact.phone)
    values["company"] = ctx.conversation.organisation.name
    values["offer_version"] = flow.offer_version
    values["offer_url"] = flow.offer_url
    values["offer_link"] = f": {flow.offer_url}" if flow.offer_url else ""
    values["name"] = values["first_name"]
    if application is not None:
        with translation.override(ctx.language):
            values["status"] = str(application.get_status_display())
    try:
        return text.format_map(values)
    except (ValueError, IndexError):  # a stray brace in an admin's text: send it as written
        return text


def _queue(conversation: Conversation, text: str, buttons=()) -> Message | None:
    if not text:
        return None
    return message_queue(
        conversation=conversation, body=text, buttons=buttons, by_bot=True, purpose=BOT_PURPOSE
    )


def _say(ctx: Ctx, text: str, buttons=()) -> Message | None:
    if ctx.muted or not text:
        return None
    ctx.run.bot_messages += 1
    return _queue(ctx.conversation, text, buttons)


def _step_text(ctx: Ctx, step: FlowStep) -> str:
    return _render(ctx, step.text_for(ctx.language, ctx.fallback))


def _prompt(ctx: Ctx, step: FlowStep, prefix: str = "") -> None:
    text = _step_text(ctx, step)
    if prefix:
        text = f"{prefix}\n\n{text}" if text else prefix
    buttons = (
        step.choice_labels(ctx.language, ctx.fallback) if step.kind == StepKind.ASK_CHOICE else ()
    )
    _say(ctx, text, buttons)


def _t(ctx: Ctx, message, **values) -> str:
    """A built-in bot sentence (a `gettext_lazy` string) in the person's language."""
    with translation.override(ctx.language):
        text = str(message)
        return text % values if values else text


def _reprompt(ctx: Ctx) -> None:
    """Ask the current question again (the person couldn't see it: a muted start)."""
    step = ctx.run.step
    if step is None:
        return
    if step.kind in ASK_KINDS or step.kind == StepKind.CHECK_CODE:
        _prompt(ctx, step)
    elif step.kind == StepKind.WAIT_FOR_MANAGER:
        _say(ctx, _step_text(ctx, step))
    else:
        _execute(ctx)


# --- running steps ----------------------------------------------------------------------------


def _known(ctx: Ctx, step: FlowStep):
    """The answer the application already has for this step, or None."""
    if not step.field:
        return None
    application = ctx.application
    if step.kind == StepKind.ASK_PHOTO:
        if application is None or not application.pk:
            return None
        docs = application.documents.filter(kind=step.field, replaced=False).exclude(
            attachment__status=AttachmentStatus.REJECTED
        )
        return True if docs.exists() else None
    value = ctx.run.answers.get(step.field)
    if value in (None, "") and application is not None:
        value = application.data.get(step.field)
    return None if value in (None, "") else value


def _after_choice(ctx: Ctx, step: FlowStep, value) -> FlowStep | None:
    for choice in step.choices or []:
        if str(choice.get("value")) == str(value) and choice.get("next"):
            return ctx.by_key.get(str(choice["next"]))
    return _following(ctx, step)


def _code_not_needed(ctx: Ctx) -> bool:
    """The code proves the phone and accepts the offer: not needed again once both hold for the
    contact this conversation belongs to."""
    application = ctx.application
    if application is None:
        return True
    return bool(
        application.offer_accepted_at
        and ctx.conversation.contact_id == application.contact_id
        and not ctx.run.data.get("link_contact")
    )


def _code_phone(ctx: Ctx) -> str:
    application = ctx.application
    return str(
        ctx.run.answers.get("phone")
        or (application.data.get("phone") if application else "")
        or (application.contact.phone if application else "")
        or ""
    )


def _execute(ctx: Ctx) -> None:
    """Run steps from the current one until one waits for the person or the flow ends."""
    run = ctx.run
    for _guard in range(200):
        step = run.step
        if step is None:
            if run.state == RunState.WAITING:
                _finish(ctx, RunState.DONE)
            return
        kind = step.kind
        if kind in ASK_KINDS:
            known = _known(ctx, step) if step.skip_if_known else None
            if known is not None:
                nxt = (
                    _after_choice(ctx, step, known)
                    if kind == StepKind.ASK_CHOICE
                    else _following(ctx, step)
                )
                _goto(ctx, nxt)
                continue
            _prompt(ctx, step)
            return
        if kind in (StepKind.SEND_MESSAGE, StepKind.SHOW_STATUS):
            if kind == StepKind.SHOW_STATUS and ctx.application is not None:
                _say(ctx, status_text(ctx.application, ctx.language, ctx.fallback))
            else:
                _say(ctx, _step_text(ctx, step))
            _goto(ctx, _following(ctx, step))
            continue
        if kind == StepKind.SEND_CODE:
            if not _code_not_needed(ctx):
                if not _send_code(ctx, step):
                    return
            _goto(ctx, _following(ctx, step))
            continue
        if kind == StepKind.CHECK_CODE:
            if _code_not_needed(ctx):
                _goto(ctx, _following(ctx, step))
                continue
            _prompt(ctx, step)
            return
        if kind == StepKind.SET_STATUS:
            if ctx.application is not None and step.status:
                services.status_set(application=ctx.application, status=step.status, by_bot=True)
            _goto(ctx, _following(ctx, step))
            continue
        if kind == StepKind.WAIT_FOR_MANAGER:
            application = ctx.application
            if application is None or application.status == ApplicationStatus.APPROVED:
                _goto(ctx, _following(ctx, step))
                continue
            if application.status == ApplicationStatus.REJECTED:
                _finish(ctx, RunState.DONE)
                return
            if _settle_documents(ctx) == "asked_again":
                return  # a rejected photo: asked for again
            if run.data.get("waiting_since_key") != step.key:
                run.data["waiting_since_key"] = step.key
                _say(ctx, _step_text(ctx, step))
            return
        if kind == StepKind.HANDOVER:
            _say(ctx, _step_text(ctx, step))
            _hand_over(ctx)
            _goto(ctx, _following(ctx, step))
            return
        if kind == StepKind.FINAL_MESSAGE:
            _say(ctx, _step_text(ctx, step))
            _finish(ctx, RunState.DONE)
            return
        _goto(ctx, _following(ctx, step))  # an unknown kind: skip it
    logger.error("flow %s loops (run %s)", ctx.flow.pk, run.pk)
    _hand_over(ctx)


def _hand_over(ctx: Ctx) -> None:
    ctx.run.state = RunState.HANDED_OVER
    Conversation.objects.filter(pk=ctx.conversation.pk).update(bot_active=False)
    ctx.conversation.bot_active = False


def _send_code(ctx: Ctx, step: FlowStep) -> bool:
    """Send a code by SMS unless one (e.g. the SMS link's) is still valid. False: the flow
    can't go on (no phone, too many codes) and a person is told."""
    application = ctx.application
    phone = _code_phone(ctx)
    if not phone:
        _say(ctx, _t(ctx, gettext_lazy("I need your phone number first.")))
        ask = next((s for s in ctx.steps if s.kind == StepKind.ASK_PHONE), None)
        if ask is not None:
            _goto(ctx, ask)
            _prompt(ctx, ask)
        return False
    if code_outstanding(contact=application.contact) is None:
        try:
            services.code_send(application=application, phone=phone)
        except TooManyCodes:
            _say(
                ctx, _t(ctx, gettext_lazy("Too many codes were sent; a manager will contact you."))
            )
            _hand_over(ctx)
            return False
        if application.status in (
            ApplicationStatus.NEW,
            ApplicationStatus.CONTACTED,
            ApplicationStatus.MESSAGE_NOT_SENT,
        ):
            services.status_set(
                application=application, status=ApplicationStatus.CODE_SENT, by_bot=True
            )
    _say(ctx, _step_text(ctx, step))
    return True


def _settle_documents(ctx: Ctx) -> str:
    """Ask again for a photo the worker rejected; at the review step, move the application to
    "Documents received" while photos are still being checked and to the step's status (In
    review) once every one is stored."""
    application = ctx.application
    run = ctx.run
    if application is None:
        return "nothing"
    pending, rejected = documents_state(application)
    if rejected:
        doc = rejected[0]
        ask = next(
            (s for s in ctx.steps if s.kind == StepKind.ASK_PHOTO and s.field == doc.kind), None
        )
        ApplicationDocument.objects.filter(pk__in=[d.pk for d in rejected]).update(replaced=True)
        if ask is None:
            return "rejected"
        reason = doc.attachment.rejected_reason or _t(
            ctx, gettext_lazy("the file could not be read")
        )
        services.status_set(
            application=application, status=ApplicationStatus.COLLECTING, by_bot=True
        )
        run.data.pop("waiting_since_key", None)
        _goto(ctx, ask)
        _prompt(
            ctx,
            ask,
            prefix=_t(
                ctx,
                gettext_lazy("The photo “%(document)s” could not be used: %(reason)s"),
                document=ask.label_for(ctx.language, ctx.fallback),
                reason=reason,
            ),
        )
        return "asked_again"
    step = run.step
    if step is None or step.kind != StepKind.WAIT_FOR_MANAGER:
        return "nothing"
    if application.status in CLOSED_STATUSES:
        return "nothing"
    if pending:
        if application.status != ApplicationStatus.DOCUMENTS_RECEIVED:
            services.status_set(
                application=application, status=ApplicationStatus.DOCUMENTS_RECEIVED, by_bot=True
            )
        return "waiting"
    wanted = step.status or ApplicationStatus.IN_REVIEW
    if application.status != wanted and not run.data.get("question"):
        services.status_set(application=application, status=wanted, by_bot=True)
        return "in_review"
    return "nothing"


def _final_after_wait(ctx: Ctx) -> FlowStep | None:
    step = ctx.run.step
    if step is not None and step.kind == StepKind.WAIT_FOR_MANAGER:
        return _following(ctx, step)
    waits = [s for s in ctx.steps if s.kind == StepKind.WAIT_FOR_MANAGER]
    if waits:
        return _following(ctx, waits[-1])
    return next((s for s in ctx.steps if s.kind == StepKind.FINAL_MESSAGE), None)


def _decision_text(application: Application) -> str:
    with translation.override(application.contact.language or "en"):
        if application.status == ApplicationStatus.APPROVED:
            return _(
                "Your application is approved. Welcome to %(company)s! A manager will send you "
                "the instructions to start."
            ) % {"company": application.organisation.name}
        return _("We are sorry: your application was not approved. Reason: %(reason)s") % {
            "reason": application.reason
        }


# --- answers ----------------------------------------------------------------------------------


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", (text or "").strip().casefold()).strip(" .!?")


def _is_status_request(text: str, flow: Flow | None) -> bool:
    word = _normal(text)
    if not word:
        return False
    if word in STATUS_WORDS:
        return True
    extra = flow.status_keywords if flow is not None else ""
    return word in {_normal(w) for w in extra.split(",") if w.strip()}


def _answer(ctx: Ctx, message: Message) -> None:
    """The person's message answers the current step."""
    run = ctx.run
    step = run.step
    if step is None:
        return
    kind = step.kind
    if kind == StepKind.WAIT_FOR_MANAGER:
        if _settle_documents(ctx) == "asked_again":
            return  # a photo the worker rejected comes first
        _answer_while_waiting(ctx, message)
        return
    if kind == StepKind.CHECK_CODE:
        _answer_code(ctx, step, message)
        return
    if kind not in ASK_KINDS:
        _execute(ctx)
        return
    try:
        value = _validate(ctx, step, message)
    except ValidationError as exc:
        specific = getattr(exc, "code", None) == "rejected"  # say what was wrong with the file
        _invalid(ctx, step, " ".join(exc.messages), specific=specific)
        return
    _store(ctx, step, value, message)
    run.data.pop("invalid", None)
    nxt = _after_choice(ctx, step, value) if kind == StepKind.ASK_CHOICE else _following(ctx, step)
    _goto(ctx, nxt)
    _execute(ctx)


def _invalid(ctx: Ctx, step: FlowStep, error: str, *, specific: bool = False) -> None:
    counts = ctx.run.data.setdefault("invalid", {})
    counts[step.key] = counts.get(step.key, 0) + 1
    if counts[step.key] >= MAX_INVALID:
        _say(ctx, _t(ctx, gettext_lazy("I'll pass you to a manager, who will help you.")))
        _hand_over(ctx)
        return
    custom = "" if specific else _render(ctx, step.error_for(ctx.language, ctx.fallback))
    _prompt(ctx, step, prefix=custom or error)


def _validate(ctx: Ctx, step: FlowStep, message: Message):
    """The answer's value, or a translated ValidationError."""
    text = (message.body or "").strip()
    with translation.override(ctx.language):
        if step.kind == StepKind.ASK_PHOTO:
            attachments = list(message.attachments.all())
            if not attachments:
                raise ValidationError(_("Please send a photo of the document."))
            allowed = ("image/",)
            if step.validation == Validation.IMAGE_OR_PDF:
                allowed = ("image/", "application/pdf")
            good = [
                a
                for a in attachments
                if (a.content_type or "").startswith(allowed)
                and a.status != AttachmentStatus.REJECTED
            ]
            if not good:
                rejected = next((a for a in attachments if a.rejected_reason), None)
                if rejected is not None:
                    raise ValidationError(rejected.rejected_reason, code="rejected")
                raise ValidationError(
                    _("This is not a photo. Please send a photo of the document.")
                )
            return [a.pk for a in good]
        if step.kind == StepKind.ASK_PHONE:
            shared = (message.data or {}).get("contact") or {}
            raw = str(shared.get("phone") or "") or text
            if not raw and message.data.get("sender_phone"):
                raw = str(message.data["sender_phone"])
            if not raw:
                raise ValidationError(_("Please type your phone number."))
            return to_e164(raw, ctx.conversation.organisation.country)
        if step.kind == StepKind.ASK_CHOICE:
            return _match_choice(ctx, step, text, message)
        if not text:
            raise ValidationError(_("Please answer with text."))
        if len(text) > 500:
            raise ValidationError(_("Please answer in at most 500 characters."))
        return _validate_text(step, text)


def _validate_text(step: FlowStep, text: str):
    if step.validation == Validation.PHONE:
        return to_e164(text)
    if step.validation == Validation.EMAIL:
        try:
            validate_email(text)
        except ValidationError:
            raise ValidationError(_("Please type a valid e-mail address.")) from None
        return text.lower()
    if step.validation == Validation.DATE:
        for fmt in ("%d.%m.%Y", "%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y"):
            try:
                return datetime.strptime(text, fmt).date().isoformat()
            except ValueError:
                continue
        raise ValidationError(
            _("Please type a date like %(example)s.")
            % {"example": date(1990, 5, 31).strftime("%d.%m.%Y")}
        )
    if step.validation == Validation.NUMBER:
        compact = text.replace(" ", "")
        if not re.fullmatch(r"\d+", compact):
            raise ValidationError(_("Please type a number."))
        return compact
    if step.validation == Validation.PATTERN and step.pattern:
        try:
            ok = re.fullmatch(step.pattern, text) is not None
        except re.error:
            ok = True  # a broken pattern in the admin must not block people
        if not ok:
            raise ValidationError(_("That doesn't look right; please check and type it again."))
    return text


def _match_choice(ctx: Ctx, step: FlowStep, text: str, message: Message) -> str:
    choices = step.choices or []
    wanted = {_normal(text), _normal(str((message.data or {}).get("button_id", "")))}
    wanted.discard("")
    for index, choice in enumerate(choices, 1):
        names = {_normal(str(choice.get("value", ""))), str(index)}
        names |= {_normal(str(label)) for label in (choice.get("labels") or {}).values()}
        if wanted & names:
            return str(choice.get("value", ""))
    raise ValidationError(_("Please choose one of the options."))


def _store(ctx: Ctx, step: FlowStep, value, message: Message) -> None:
    application = ctx.application
    if step.kind == StepKind.ASK_PHOTO:
        if application is not None:
            _add_documents(application, step.field or step.key, value)
        ctx.run.answers[step.field or step.key] = len(value)
        return
    if not step.field:
        return
    ctx.run.answers[step.field] = value
    if application is None:
        return
    application.data[step.field] = value
    if step.field == "full_name":
        first, _sep, last = str(value).partition(" ")
        application.data.setdefault("first_name", first)
        application.data.setdefault("last_name", last)
        contact = application.contact
        if not contact.phone and contact.user_id is None:
            Contact.objects.filter(pk=contact.pk).update(
                first_name=first[:120], last_name=last[:120]
            )
            contact.first_name, contact.last_name = first[:120], last[:120]


def _add_documents(application: Application, kind: str, attachment_ids: list[int]) -> None:
    ApplicationDocument.objects.filter(application=application, kind=kind, replaced=False).update(
        replaced=True
    )
    ApplicationDocument.objects.bulk_create(
        ApplicationDocument(application=application, kind=kind, attachment_id=pk)
        for pk in attachment_ids
    )


def _answer_code(ctx: Ctx, step: FlowStep, message: Message) -> None:
    application = ctx.application
    if application is None:
        _goto(ctx, _following(ctx, step))
        _execute(ctx)
        return
    result = code_check(contact=application.contact, text=message.body)
    if result.ok:
        try:
            with transaction.atomic():
                _code_accepted(ctx, result.code)
        except ValidationError as exc:  # e.g. both contacts have a login: a person decides
            logger.warning("application %s: messenger not linked: %s", application.pk, exc)
            ctx.application = ctx.run.application = application  # as before the rollback
            application.refresh_from_db()
            _say(ctx, _t(ctx, gettext_lazy("Thank you! A manager will finish this step.")))
            _hand_over(ctx)
            return
        return_to = ctx.run.data.pop("return_to", "")
        nxt = ctx.by_key.get(return_to) if return_to else _following(ctx, step)
        _goto(ctx, nxt)
        _execute(ctx)
        return
    if result.reason == "wrong":
        _invalid_code(
            ctx,
            step,
            _t(
                ctx,
                gettext_lazy("That code is not right. Attempts left: %(left)s."),
                left=result.attempts_left,
            ),
        )
        return
    # expired, out of attempts or none: a fresh code by SMS
    phone = _code_phone(ctx)
    try:
        if not phone:
            raise TooManyCodes({"code": ["no phone"]})
        services.code_send(application=application, phone=phone)
    except TooManyCodes:
        _say(ctx, _t(ctx, gettext_lazy("Too many codes were sent; a manager will contact you.")))
        _hand_over(ctx)
        return
    _say(
        ctx,
        _t(
            ctx,
            gettext_lazy("That code can't be used any more. We have sent you a new one by SMS."),
        ),
    )


def _invalid_code(ctx: Ctx, step: FlowStep, error: str) -> None:
    custom = _render(ctx, step.error_for(ctx.language, ctx.fallback))
    _say(ctx, custom or error)


def _code_accepted(ctx: Ctx, code) -> None:
    """The right code (S1.4): this messenger becomes the application's contact's (the contact
    the message created is merged into it), the phone is proven, and the offer is accepted."""
    from slotwise.customers.services import consent_record, contact_update, identity_link

    application = ctx.application
    conversation = ctx.conversation
    run = ctx.run
    target = application.contact
    phone = _code_phone(ctx)
    if conversation.contact_id == target.pk and phone and target.phone != phone:
        # Wrote to the bot first: the phone they proved may belong to a contact we know.
        known = services._contact_by_phone(conversation.organisation_id, phone)
        if known is not None and known.pk != target.pk:
            application = _fold_application(application, into_contact=known)
            ctx.application = application
            run.application = application
            _merge(source=target, target=known)
            target = known
        else:
            try:
                contact_update(contact=target, phone=phone)
            except ValidationError:
                logger.warning("application %s: phone %s not set", application.pk, phone)
    elif conversation.contact_id != target.pk:
        source = Contact.objects.get(pk=conversation.contact_id)
        other = services.open_application(source.pk)
        if other is not None and other.pk != application.pk:
            other.delete()  # the bot's own, seconds old: this application is the person's
        _merge(source=source, target=target)
    conversation.refresh_from_db(fields=["contact"])
    target.refresh_from_db()
    application.contact = target
    medium = conversation.channel.medium
    try:
        identity_link(contact=target, kind=medium, external_id=conversation.address, verified=True)
    except ValidationError:
        logger.warning("identity %s:%s belongs elsewhere", medium, conversation.address)
    if phone:
        Identity.objects.filter(
            organisation_id=target.organisation_id, kind="phone", external_id=phone
        ).update(verified=True, verified_at=timezone.now())
    version = (code.offer_version if code else "") or ctx.flow.offer_version
    consent_record(contact=target, kind="offer", version=version, channel=medium)
    application.offer_accepted_at = timezone.now()
    application.offer_version = version
    application.data.setdefault("phone", phone)
    application.save(update_fields=["offer_accepted_at", "offer_version", "contact", "updated_at"])
    run.data.pop("link_contact", None)
    services.status_set(application=application, status=ApplicationStatus.VERIFIED, by_bot=True)


def _merge(*, source: Contact, target: Contact) -> None:
    from slotwise.customers.services import contact_merge

    contact_merge(source=source, target=target, actor=None)


def _fold_application(application: Application, *, into_contact: Contact) -> Application:
    """The bot's application (made when a stranger wrote first) when the proven phone shows the
    person already has an open application: the data goes into that one, which the run
    continues; the bot's is deleted."""
    other = services.open_application(into_contact.pk)
    if other is None:
        return application
    for key, value in application.data.items():
        other.data.setdefault(key, value)
    other.save(update_fields=["data", "updated_at"])
    ApplicationDocument.objects.filter(application=application).update(application=other)
    FlowRun.objects.filter(application=application).update(application=other)
    if other.flow_id is None:
        other.flow_id = application.flow_id
        other.save(update_fields=["flow", "updated_at"])
    application.delete()
    return Application.objects.select_related("contact", "organisation", "flow").get(pk=other.pk)


def _answer_while_waiting(ctx: Ctx, message: Message) -> None:
    application = ctx.application
    run = ctx.run
    attachments = list(message.attachments.all())
    if run.data.get("question") or attachments:
        if application is not None:
            extra = application.data.setdefault("extra", [])
            if message.body:
                extra.append({"text": message.body[:2000], "at": timezone.now().isoformat()})
            if attachments:
                ApplicationDocument.objects.bulk_create(
                    ApplicationDocument(application=application, kind="extra", attachment=a)
                    for a in attachments
                )
        if run.data.pop("question", None):
            _say(ctx, _t(ctx, gettext_lazy("Thank you, I have passed it on to the manager.")))
            run.data["wait_told"] = True
            _settle_documents(ctx)
        return
    if not run.data.get("wait_told"):
        run.data["wait_told"] = True
        custom = _render(ctx, run.step.error_for(ctx.language, ctx.fallback))
        _say(
            ctx,
            custom
            or _t(
                ctx,
                gettext_lazy(
                    "Your application is being checked by a manager, who will write to you "
                    "here. Type “status” to see where it stands."
                ),
            ),
        )


# --- the person's cabinet (S1.8) --------------------------------------------------------------

NEXT_STEPS = {
    ApplicationStatus.NEW: gettext_noop(
        "Answer the bot's questions to continue your registration."
    ),
    ApplicationStatus.MESSAGE_NOT_SENT: gettext_noop("A manager will contact you."),
    ApplicationStatus.CONTACTED: gettext_noop(
        "Answer the bot's questions to continue your registration."
    ),
    ApplicationStatus.CODE_SENT: gettext_noop("Type the 6-digit code we sent you by SMS."),
    ApplicationStatus.VERIFIED: gettext_noop("Send the documents the bot asks for."),
    ApplicationStatus.COLLECTING: gettext_noop("Send the documents the bot asks for."),
    ApplicationStatus.DOCUMENTS_RECEIVED: gettext_noop("We are checking your documents."),
    ApplicationStatus.IN_REVIEW: gettext_noop("A manager is reviewing your application."),
    ApplicationStatus.APPROVED: gettext_noop(
        "You can start working: see the instructions we sent you."
    ),
    ApplicationStatus.REJECTED: gettext_noop("Your application was not approved."),
}


def status_text(application: Application, language: str, fallback: str = "") -> str:
    """The person's status, documents and next step, in their language (S1.8)."""
    flow = application.flow
    photo_steps = (
        [s for s in flow.steps.all() if s.kind == StepKind.ASK_PHOTO] if flow is not None else []
    )
    docs: dict[str, list] = {}
    for doc in application.documents.filter(replaced=False).select_related("attachment"):
        docs.setdefault(doc.kind, []).append(doc)
    collected = (
        FUNNEL_RANK.get(application.status, 0) >= FUNNEL_RANK[ApplicationStatus.DOCUMENTS_RECEIVED]
    )
    with translation.override(language):
        lines = [_("Your application: %(status)s") % {"status": application.get_status_display()}]
        if photo_steps or docs:
            lines.append(_("Documents:"))
            labels = {s.field: s.label_for(language, fallback) for s in photo_steps if s.field}
            for kind in list(labels) + [k for k in docs if k not in labels]:
                found = docs.get(kind, [])
                if not found:
                    if collected:
                        continue  # a document this person's answers didn't need
                    mark = _("not received yet")
                elif any(d.attachment.status == AttachmentStatus.REJECTED for d in found):
                    mark = _("could not be used, please send it again")
                elif any(d.attachment.status == AttachmentStatus.PENDING for d in found):
                    mark = _("received, being checked")
                else:
                    mark = _("received")
                name = labels.get(kind) or (_("Other files") if kind == "extra" else kind)
                lines.append(f"• {name}: {mark}")
        lines.append(_("Next step: %(next)s") % {"next": _(NEXT_STEPS[application.status])})
        if application.status == ApplicationStatus.REJECTED and application.reason:
            lines.append(application.reason)
        return "\n".join(lines)
