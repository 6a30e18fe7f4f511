"""Bot flows as data (S1: edited in the admin, no IT needed) and the applications they collect.

A `Flow` is an ordered list of `FlowStep`s. A `FlowRun` is one flow running in one conversation:
where it stands (`step`), what was answered (`answers`) and whether the bot still has the
conversation (`state`). An `Application` is what onboarding produces for the manager: the person
(a contact), the collected data and documents, its status, and every status change with its
time (`ApplicationStatusChange`), from which the supervisor's figures are computed (S1.10).

Texts are stored per language as JSON `{"en": "...", "ru": "..."}`: one step, one place to edit,
every language of the organisation side by side (the admin shows one box per language). The bot
writes in the contact's language, falling back to the organisation's and then to any text the
step has.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from slotwise.core.models import OrgScoped, PublicId, TimeStamped


def pick_language(texts: dict | None, language: str, fallback: str = "") -> str:
    """The text for `language` (then `fallback`, English, any) from a {lang: text} dict."""
    texts = texts or {}
    for code in (language, (language or "").split("-")[0], fallback, "en"):
        if code and texts.get(code):
            return str(texts[code])
    for value in texts.values():
        if value:
            return str(value)
    return ""


class Trigger(models.TextChoices):
    FIRST_CONTACT = "first_contact", _("First message on a channel")
    APPLICATION = "application", _("Application created (the person answers the welcome)")
    KEYWORD = "keyword", _("Keyword")


class StepKind(models.TextChoices):
    SEND_MESSAGE = "send_message", _("Send a message")
    ASK_TEXT = "ask_text", _("Ask for text")
    ASK_PHONE = "ask_phone", _("Ask for a phone number")
    ASK_CHOICE = "ask_choice", _("Ask to choose")
    ASK_PHOTO = "ask_photo", _("Ask for a photo of a document")
    SEND_CODE = "send_code", _("Send a verification code by SMS")
    CHECK_CODE = "check_code", _("Check the code (accepts the offer)")
    SET_STATUS = "set_status", _("Set the application's status")
    WAIT_FOR_MANAGER = "wait_for_manager", _("Wait for a manager's review")
    HANDOVER = "handover", _("Hand over to a person")
    FINAL_MESSAGE = "final_message", _("Final message (ends the flow)")
    SHOW_STATUS = "show_status", _("Show the application's status")


#: steps that wait for the person's answer
ASK_KINDS = frozenset(
    {StepKind.ASK_TEXT, StepKind.ASK_PHONE, StepKind.ASK_CHOICE, StepKind.ASK_PHOTO}
)


class Validation(models.TextChoices):
    NONE = "", _("Any answer")
    PHONE = "phone", _("Phone number (E.164)")
    EMAIL = "email", _("E-mail address")
    DATE = "date", _("Date")
    NUMBER = "number", _("Number")
    PATTERN = "pattern", _("Matches the pattern")
    IMAGE = "image", _("An image")
    IMAGE_OR_PDF = "image_or_pdf", _("An image or a PDF")


class ApplicationStatus(models.TextChoices):
    NEW = "new", _("New")
    MESSAGE_NOT_SENT = "message_not_sent", _("Message not sent")
    CONTACTED = "contacted", _("Contacted")
    CODE_SENT = "code_sent", _("Code sent")
    VERIFIED = "verified", _("Offer accepted")
    COLLECTING = "collecting", _("Collecting data")
    DOCUMENTS_RECEIVED = "documents_received", _("Documents received")
    IN_REVIEW = "in_review", _("In review")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


CLOSED_STATUSES = frozenset({ApplicationStatus.APPROVED, ApplicationStatus.REJECTED})

#: The main road of an application, in order: the funnel's stages (S1.10). "Message not sent"
#: and "Code sent" are detours on the way to "Offer accepted"; "Rejected" ends it anywhere.
FUNNEL = (
    ApplicationStatus.NEW,
    ApplicationStatus.CONTACTED,
    ApplicationStatus.VERIFIED,
    ApplicationStatus.COLLECTING,
    ApplicationStatus.DOCUMENTS_RECEIVED,
    ApplicationStatus.IN_REVIEW,
    ApplicationStatus.APPROVED,
)
#: where each status stands on that road (detours count as the stage they wait in)
FUNNEL_RANK = {
    ApplicationStatus.NEW: 0,
    ApplicationStatus.MESSAGE_NOT_SENT: 0,
    ApplicationStatus.CONTACTED: 1,
    ApplicationStatus.CODE_SENT: 1,
    ApplicationStatus.VERIFIED: 2,
    ApplicationStatus.COLLECTING: 3,
    ApplicationStatus.DOCUMENTS_RECEIVED: 4,
    ApplicationStatus.IN_REVIEW: 5,
    ApplicationStatus.APPROVED: 6,
}


class Flow(OrgScoped):
    """A bot conversation defined as data: its trigger and its steps (inline in the admin)."""

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("short name"), max_length=60)
    trigger = models.CharField(
        _("starts on"), max_length=20, choices=Trigger.choices, default=Trigger.FIRST_CONTACT
    )
    channel = models.ForeignKey(
        "messaging.ChannelConfig",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("only on this channel"),
        help_text=_("Empty: a first message on any messenger starts it."),
    )
    keywords = models.CharField(
        _("keywords"),
        max_length=300,
        blank=True,
        help_text=_("For the keyword trigger: words that start the flow, separated by commas."),
    )
    active = models.BooleanField(_("active"), default=True)
    creates_application = models.BooleanField(
        _("collects an application"),
        default=True,
        help_text=_("The flow fills an application that managers review (driver onboarding)."),
    )
    unit = models.ForeignKey(
        "org.OrgUnit",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("unit handling the applications"),
        help_text=_("Empty: the whole organisation's managers see them."),
    )
    offer_version = models.CharField(
        _("offer version"),
        max_length=40,
        default="1",
        help_text=_("Typing the verification code accepts this version of the offer."),
    )
    offer_url = models.URLField(_("offer (link)"), blank=True)
    welcome_template = models.CharField(
        _("WhatsApp welcome template"),
        max_length=100,
        default="driver_welcome",
        help_text=_(
            "The approved WhatsApp template sent when an application is created; its one "
            "parameter is the first name."
        ),
    )
    status_keywords = models.CharField(
        _("status keywords"),
        max_length=300,
        blank=True,
        help_text=_(
            "Extra words that show the person their status, documents and next step, "
            "separated by commas (status, статус, /status always work)."
        ),
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("bot flow")
        verbose_name_plural = _("bot flows")
        ordering = ["organisation", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "slug"], name="flow_unique_slug")
        ]

    def __str__(self) -> str:
        return self.name


class FlowStep(models.Model):
    """One step. `key` names it for branches (`next_step`, a choice's next step); empty
    `next_step` goes on to the following position."""

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    key = models.SlugField(_("step name"), max_length=60)
    kind = models.CharField(_("kind"), max_length=20, choices=StepKind.choices)
    text = models.JSONField(_("text"), default=dict, blank=True)
    label = models.JSONField(
        _("label"),
        default=dict,
        blank=True,
        help_text=_("What the answer is called on the review page and in the person's status."),
    )
    error_text = models.JSONField(_("text when the answer is not valid"), default=dict, blank=True)
    choices = models.JSONField(
        _("choices"),
        default=list,
        blank=True,
        help_text=_('[{"value": "own", "next": "step", "labels": {"en": "Own car"}}]'),
    )
    field = models.SlugField(
        _("store the answer as"),
        max_length=60,
        blank=True,
        help_text=_("The name of the answer in the application (for a photo: the document)."),
    )
    validation = models.CharField(
        _("check the answer"), max_length=20, choices=Validation.choices, blank=True
    )
    pattern = models.CharField(_("pattern (regular expression)"), max_length=200, blank=True)
    status = models.CharField(
        _("application status"),
        max_length=20,
        choices=ApplicationStatus.choices,
        blank=True,
        help_text=_("For “Set the status” and “Wait for a manager” (default: In review)."),
    )
    next_step = models.SlugField(_("next step"), max_length=60, blank=True)
    skip_if_known = models.BooleanField(
        _("skip when already known"),
        default=True,
        help_text=_("Don't ask for what the application already has (e.g. the phone number)."),
    )

    class Meta:
        verbose_name = _("step")
        verbose_name_plural = _("steps")
        ordering = ["flow", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["flow", "key"], name="flowstep_unique_key")]

    def __str__(self) -> str:
        return f"{self.position}. {self.key} ({self.get_kind_display()})"

    def text_for(self, language: str, fallback: str = "") -> str:
        return pick_language(self.text, language, fallback)

    def label_for(self, language: str = "", fallback: str = "") -> str:
        language = language or get_language() or "en"
        return pick_language(self.label, language, fallback) or self.field or self.key

    def error_for(self, language: str, fallback: str = "") -> str:
        return pick_language(self.error_text, language, fallback)

    def choice_labels(self, language: str, fallback: str = "") -> list[str]:
        return [
            pick_language(c.get("labels"), language, fallback) or str(c.get("value", ""))
            for c in self.choices or []
        ]


class RunState(models.TextChoices):
    WAITING = "waiting", _("Bot waiting for an answer")
    HANDED_OVER = "handed_over", _("Handed over to a person")
    DONE = "done", _("Finished")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_RUN_STATES = (RunState.WAITING, RunState.HANDED_OVER)


class FlowRun(OrgScoped):
    """One flow in one conversation. `data` holds the engine's own bookkeeping (a manager's
    open question, a step to return to, a muted start)."""

    flow = models.ForeignKey(Flow, on_delete=models.PROTECT, related_name="runs")
    conversation = models.ForeignKey(
        "messaging.Conversation", on_delete=models.CASCADE, related_name="flow_runs"
    )
    application = models.ForeignKey(
        "Application", null=True, blank=True, on_delete=models.CASCADE, related_name="runs"
    )
    step = models.ForeignKey(
        FlowStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    answers = models.JSONField(_("answers"), default=dict, blank=True)
    data = models.JSONField(default=dict, blank=True)
    state = models.CharField(
        _("state"), max_length=12, choices=RunState.choices, default=RunState.WAITING
    )
    step_entered_at = models.DateTimeField(_("at this step since"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    bot_messages = models.PositiveIntegerField(_("bot messages"), default=0)

    class Meta:
        verbose_name = _("flow run")
        verbose_name_plural = _("flow runs")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=models.Q(state__in=["waiting", "handed_over"]),
                name="flowrun_one_open_per_conversation",
            )
        ]
        indexes = [models.Index(fields=["state", "updated_at"], name="flowrun_state_updated")]

    def __str__(self) -> str:
        return f"{self.flow} · {self.conversation_id} · {self.state}"


class ApplicationSource(models.TextChoices):
    MANAGER = "manager", _("Entered by a manager")
    API = "api", _("API / web form")
    MESSENGER = "messenger", _("Wrote to the bot")


class Application(OrgScoped, PublicId):
    """A person applying (a driver, S1): the data and documents the bot collected, the status,
    who handles it. Reached by its public id; visible to the organisation's staff of its unit
    (and above), like contacts."""

    Status = ApplicationStatus

    contact = models.ForeignKey(
        "customers.Contact", on_delete=models.CASCADE, related_name="applications"
    )
    unit = models.ForeignKey(
        "org.OrgUnit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("unit"),
    )
    flow = models.ForeignKey(
        Flow,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="applications",
        verbose_name=_("bot flow"),
    )
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=ApplicationStatus.choices,
        default=ApplicationStatus.NEW,
        db_index=True,
    )
    status_changed_at = models.DateTimeField(_("status since"), null=True, blank=True)
    data = models.JSONField(_("collected data"), default=dict, blank=True)
    source = models.CharField(
        _("source"), max_length=12, choices=ApplicationSource.choices, default="manager"
    )
    manager = models.ForeignKey(
        "org.Staff",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("manager"),
    )
    reason = models.TextField(_("reason for rejection"), blank=True)
    last_error = models.TextField(_("why the message was not sent"), blank=True)
    offer_accepted_at = models.DateTimeField(_("offer accepted"), null=True, blank=True)
    offer_version = models.CharField(_("offer version"), max_length=40, blank=True)
    welcome_message = models.ForeignKey(
        "messaging.Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("welcome message"),
    )
    #: what managers did for this application (the S1.11 figure: a manager only reviews)
    manager_actions = models.PositiveIntegerField(_("manager actions"), default=0)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("application")
        verbose_name_plural = _("applications")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organisation", "status", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.contact} · {self.get_status_display()}"

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED_STATUSES


class ApplicationDocument(models.Model):
    """A document photo the bot received for an application: the message's attachment (fetched
    and checked by the worker), under the step's field name (`kind`). A newer document of the
    same kind replaces an older one (`replaced`)."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="documents")
    kind = models.SlugField(_("document"), max_length=60)
    attachment = models.ForeignKey(
        "messaging.Attachment", on_delete=models.CASCADE, related_name="+"
    )
    replaced = models.BooleanField(_("replaced"), default=False)
    created_at = models.DateTimeField(_("received"), auto_now_add=True)

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        ordering = ["application", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.attachment_id}"


class ApplicationStatusChange(models.Model):
    """Every status an application went through, when, and who moved it (a person or the bot):
    the time in each stage and the funnel are computed from these (S1.10)."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="changes")
    from_status = models.CharField(
        _("from"), max_length=20, choices=ApplicationStatus.choices, blank=True
    )
    to_status = models.CharField(_("to"), max_length=20, choices=ApplicationStatus.choices)
    at = models.DateTimeField(_("when"), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("by"),
    )
    by_bot = models.BooleanField(_("by the bot"), default=False)
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("status change")
        verbose_name_plural = _("status changes")
        ordering = ["application", "at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status}"


__all__ = [
    "Application",
    "ApplicationDocument",
    "ApplicationSource",
    "ApplicationStatus",
    "ApplicationStatusChange",
    "Flow",
    "FlowRun",
    "FlowStep",
    "RunState",
    "StepKind",
    "TimeStamped",
    "Trigger",
    "Validation",
]
