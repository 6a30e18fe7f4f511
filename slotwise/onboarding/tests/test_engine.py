"""The bot engine, step kind by step kind, through console channels (the real inbound pipeline
and outbox, no provider)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from slotwise.customers.models import Consent, Contact, Identity
from slotwise.messaging.models import Conversation, Message, VerificationCode
from slotwise.onboarding import services
from slotwise.onboarding.engine import status_text
from slotwise.onboarding.models import (
    Application,
    ApplicationStatus,
    Flow,
    FlowRun,
    FlowStep,
    RunState,
    StepKind,
    Trigger,
    Validation,
)
from slotwise.onboarding.verification import (
    MAX_ATTEMPTS,
    application_id_from_token,
    code_check,
    code_issue,
    link_token,
)

from .conftest import Driver, last_code, pump

pytestmark = pytest.mark.django_db

PHONE = "+79161234567"
WA = "79161234567"


def _create(org, **kwargs):
    return services.application_create(
        organisation=org,
        first_name=kwargs.pop("first_name", "Ivan"),
        last_name=kwargs.pop("last_name", "Petrov"),
        phone=kwargs.pop("phone", PHONE),
        source="api",
        **kwargs,
    )


def _fresh(application) -> Application:
    return Application.objects.get(pk=application.pk)


# --- creating and the welcome (S1.2, S1.3) ------------------------------------------------------


def test_create_queues_the_whatsapp_welcome_template(org, flow, consoles):
    application = _create(org)
    welcome = application.welcome_message
    assert welcome.channel_config == consoles["whatsapp"] and welcome.to == WA
    assert welcome.template == {"name": "driver_welcome", "language": "en", "params": ["Ivan"]}
    assert welcome.by_bot and application.status == ApplicationStatus.CONTACTED
    assert application.data["phone"] == PHONE and application.flow == flow
    assert application.contact.phone == PHONE


def test_no_whatsapp_channel_is_message_not_sent(org, flow):
    application = _create(org)
    assert application.status == ApplicationStatus.MESSAGE_NOT_SENT
    assert "WhatsApp" in application.last_error


def test_bad_phone_is_a_field_error_and_nothing_is_written(org, flow, consoles):
    with pytest.raises(services.ValidationError) as exc:
        _create(org, phone="12")
    assert "phone" in exc.value.message_dict
    assert not Application.objects.exists() and not Contact.objects.exists()


def test_existing_contact_is_reused_but_not_twice_open(org, flow, consoles):
    first = _create(org)
    with pytest.raises(services.ValidationError):
        _create(org, phone="8 916 123-45-67")
    services.application_reject(application=first, actor=None, reason="no licence")
    second = _create(org)
    assert second.contact_id == first.contact_id


def test_failed_welcome_marks_message_not_sent(org, flow, consoles):
    from slotwise.messaging.outbox import message_failed

    application = _create(org)
    message_failed(message=application.welcome_message, error="131026 not on WhatsApp")
    application = _fresh(application)
    assert application.status == ApplicationStatus.MESSAGE_NOT_SENT
    assert "131026" in application.last_error


# --- the WhatsApp road through the template -----------------------------------------------------


def _whatsapp_to_code(org, consoles):
    application = _create(org)
    pump()
    driver = Driver(consoles["whatsapp"], WA, name="Ivan", phone=PHONE)
    driver.says("Hi")
    return application, driver


def test_answering_the_welcome_starts_the_flow_and_sends_a_code(org, flow, consoles):
    application, driver = _whatsapp_to_code(org, consoles)
    replies = driver.replies()
    assert replies[-3].startswith("Hello, Ivan!")  # after the template: welcome, code, check
    assert PHONE in replies[-2] and "code" in replies[-1]
    assert _fresh(application).status == ApplicationStatus.CODE_SENT
    sms = Message.objects.filter(channel_config=consoles["sms"]).get()
    assert sms.to == PHONE and sms.contact_id == application.contact_id
    run = FlowRun.objects.get()
    assert run.step.key == "check_code" and run.conversation.bot_active
    # The phone and name were known: not asked.
    assert not any("phone number?" in r for r in replies)


def test_wrong_code_then_right_code_accepts_the_offer(org, flow, consoles):
    application, driver = _whatsapp_to_code(org, consoles)
    driver.says("000000" if last_code(PHONE) != "000000" else "111111")
    assert f"Attempts left: {MAX_ATTEMPTS - 1}" in driver.last()
    driver.says(last_code(PHONE))
    application = _fresh(application)
    assert application.status == ApplicationStatus.COLLECTING
    assert application.offer_accepted_at is not None and application.offer_version == "2025-1"
    consent = Consent.objects.get(contact=application.contact)
    assert (consent.kind, consent.version, consent.channel) == ("offer", "2025-1", "whatsapp")
    assert "FRONT" in driver.last()
    assert VerificationCode.objects.get().used_at is not None


def test_documents_to_review_approve_and_final_message(org, flow, consoles, manager):
    application, driver = _whatsapp_to_code(org, consoles)
    driver.says(last_code(PHONE))
    driver.says("here it is")  # text instead of a photo: asked again
    assert driver.last().startswith("Please send a photo")
    driver.photo()
    driver.photo()
    driver.photo()
    assert "own car" in driver.last()
    driver.says("2")  # the fleet car: no registration certificate
    application = _fresh(application)
    assert application.status == ApplicationStatus.IN_REVIEW
    assert application.data["car"] == "fleet"
    kinds = sorted(application.documents.values_list("kind", flat=True))
    assert kinds == ["licence_back", "licence_front", "passport"]
    assert "manager will check" in driver.last()
    driver.says("when?")
    assert "status" in driver.last()
    services.application_approve(application=application, actor=manager)
    pump()
    application = _fresh(application)
    assert application.status == ApplicationStatus.APPROVED
    assert application.manager_actions == 1
    assert "Congratulations, Ivan" in driver.last() and PHONE in driver.last()
    assert FlowRun.objects.get().state == RunState.DONE
    # After the end the cabinet still answers (S1.8).
    driver.says("status")
    assert "Approved" in driver.last() and "Passport: received" in driver.last()


def test_choice_buttons_and_branch(org, flow, consoles):
    application, driver = _whatsapp_to_code(org, consoles)
    driver.says(last_code(PHONE))
    for _ in range(3):
        driver.photo()
    question = Message.objects.filter(to=WA, direction="out").order_by("-id").first()
    assert question.data["buttons"] == ["My own car", "A fleet car"]
    driver.says("my own CAR!")
    assert "registration certificate" in driver.last()
    driver.photo()
    assert _fresh(application).status == ApplicationStatus.IN_REVIEW


def test_a_photo_that_is_not_an_image_is_asked_again_at_once(org, flow, consoles):
    application, driver = _whatsapp_to_code(org, consoles)
    driver.says(last_code(PHONE))
    driver.photo(b"not really a jpeg", "image/jpeg")  # stored inline: checked on arrival
    assert "not accepted" in driver.last() and "FRONT" in driver.last()
    driver.photo()
    assert "BACK" in driver.last()


def test_a_photo_the_worker_rejects_later_is_asked_for_again_at_the_end(org, flow, consoles):
    application, driver = _whatsapp_to_code(org, consoles)
    driver.says(last_code(PHONE))
    driver.photo(lost=True)  # accepted by its declared type; the fetch fails afterwards
    assert "BACK" in driver.last()  # the collection goes on
    driver.photo()
    driver.photo()
    driver.says("A fleet car")
    text = driver.last()
    assert "could not be used" in text and "FRONT" in text
    assert _fresh(application).status == ApplicationStatus.COLLECTING
    driver.photo()
    application = _fresh(application)
    assert application.status == ApplicationStatus.IN_REVIEW
    assert "manager will check" in driver.last()
    # Nothing else was asked again; the lost photo is kept as replaced.
    assert application.documents.filter(replaced=False).count() == 3
    assert application.documents.filter(replaced=True).count() == 1


def test_status_keyword_at_any_step_in_the_persons_language(org, flow, consoles):
    application, driver = _whatsapp_to_code(org, consoles)
    Contact.objects.filter(pk=application.contact_id).update(language="ru")
    driver.says("Статус")
    text = driver.last()
    assert "Документы" in text or "Documents" in text  # catalogues are filled at the end
    assert "ЛИЦЕВОЙ" not in text
    assert FlowRun.objects.get().step.key == "check_code"  # not taken as an answer


def test_russian_driver_gets_russian_steps(org, flow, consoles):
    application = _create(org, language="ru")
    Contact.objects.filter(pk=application.contact_id).update(language="ru")
    pump()
    driver = Driver(consoles["whatsapp"], WA, phone=PHONE)
    driver.says("Привет")
    assert driver.replies()[-3].startswith("Здравствуйте, Ivan!")
    assert "Введите здесь код" in driver.last()


def test_the_bot_is_silent_after_a_takeover_and_resumes_when_handed_back(
    org, flow, consoles, manager
):
    application, driver = _whatsapp_to_code(org, consoles)
    services.application_take_over(application=application, actor=manager)
    before = len(driver.replies())
    driver.says(last_code(PHONE))
    assert len(driver.replies()) == before
    run = FlowRun.objects.get()
    assert run.state == RunState.HANDED_OVER
    assert _fresh(application).status == ApplicationStatus.CODE_SENT
    assert _fresh(application).manager_actions == 1
    Conversation.objects.filter(pk=run.conversation_id).update(bot_active=True)
    driver.says(last_code(PHONE))
    assert _fresh(application).status == ApplicationStatus.COLLECTING


def test_invalid_answers_hand_over_after_a_while(org, consoles):
    flow = Flow.objects.create(organisation=org, name="Quiz", slug="quiz")
    FlowStep.objects.create(
        flow=flow,
        position=1,
        key="born",
        kind=StepKind.ASK_TEXT,
        field="born",
        validation=Validation.DATE,
        text={"en": "When were you born?"},
    )
    driver = Driver(consoles["telegram"], "5001", name="Olga Ivanova")
    driver.says("hello")
    assert driver.last() == "When were you born?"
    for _ in range(4):
        driver.says("yesterday")
        assert driver.last().startswith("Please type a date like")
    driver.says("yesterday")
    assert "manager" in driver.last()
    assert FlowRun.objects.get().state == RunState.HANDED_OVER
    assert not Conversation.objects.get().bot_active


@pytest.mark.parametrize(
    ("validation", "pattern", "bad", "good", "stored"),
    [
        (Validation.EMAIL, "", "not-mail", "Olga@Example.com", "olga@example.com"),
        (Validation.NUMBER, "", "twelve", "1 234", "1234"),
        (Validation.DATE, "", "31.02.1990", "31.05.1990", "1990-05-31"),
        (Validation.PATTERN, r"[A-Z]{2}\d{6}", "ab1", "AB123456", "AB123456"),
    ],
)
def test_text_validations(org, consoles, validation, pattern, bad, good, stored):
    flow = Flow.objects.create(organisation=org, name="Q", slug="q", creates_application=False)
    FlowStep.objects.create(
        flow=flow,
        position=1,
        key="q",
        kind=StepKind.ASK_TEXT,
        field="answer",
        validation=validation,
        pattern=pattern,
        text={"en": "Question?"},
        error_text={"en": ""},
    )
    FlowStep.objects.create(
        flow=flow, position=2, key="bye", kind=StepKind.FINAL_MESSAGE, text={"en": "Bye {answer}"}
    )
    driver = Driver(consoles["telegram"], "6001")
    driver.says("hi")
    driver.says(bad)
    assert driver.last().endswith("Question?") and driver.last() != "Question?"
    driver.says(good)
    assert driver.last() == f"Bye {stored}"
    run = FlowRun.objects.get()
    assert run.answers == {"answer": stored} and run.state == RunState.DONE
    assert not Application.objects.exists()


def test_keyword_flow_show_status_and_handover(org, flow, consoles):
    help_flow = Flow.objects.create(
        organisation=org,
        name="Help",
        slug="help",
        trigger=Trigger.KEYWORD,
        keywords="help, помощь",
        creates_application=False,
    )
    FlowStep.objects.create(
        flow=help_flow,
        position=1,
        key="menu",
        kind=StepKind.ASK_CHOICE,
        field="topic",
        text={"en": "What do you need?"},
        choices=[
            {"value": "person", "next": "human", "labels": {"en": "A person"}},
            {"value": "nothing", "next": "", "labels": {"en": "Nothing"}},
        ],
    )
    FlowStep.objects.create(
        flow=help_flow,
        position=2,
        key="human",
        kind=StepKind.HANDOVER,
        text={"en": "A colleague will answer you here."},
    )
    driver = Driver(consoles["viber"], "vb-1")
    driver.says("Помощь")
    assert driver.last() == "What do you need?"
    driver.says("A person")
    assert driver.last() == "A colleague will answer you here."
    assert FlowRun.objects.get().state == RunState.HANDED_OVER
    driver.says("hello?")
    assert driver.last() == "A colleague will answer you here."  # silent now


def test_status_text_lists_documents(org, flow, consoles):
    application, driver = _whatsapp_to_code(org, consoles)
    driver.says(last_code(PHONE))
    driver.photo()
    text = status_text(_fresh(application), "en")
    assert "Collecting data" in text
    assert "Driving licence (front): received" in text
    assert "Passport: not received yet" in text
    assert "Next step: Send the documents" in text


def test_a_messenger_first_contact_creates_an_application(org, flow, consoles):
    existing = Contact.objects.create(organisation=org, first_name="Known", phone=PHONE)
    Identity.objects.create(organisation=org, contact=existing, kind="phone", external_id=PHONE)
    driver = Driver(consoles["telegram"], "777", name="Vanya")
    driver.says("/start")
    application = Application.objects.get()
    assert application.source == "messenger" and application.status == "contacted"
    assert "phone number" in driver.last()
    driver.says("8 (916) 123 45 67")
    assert "full name" in driver.last()
    driver.says("Ivan Petrov")
    assert PHONE in driver.replies()[-2]
    assert _fresh(application).status == ApplicationStatus.CODE_SENT
    driver.says(last_code(PHONE))
    # The proven phone is a contact we knew: the Telegram contact was merged into it.
    application = Application.objects.get()
    assert application.contact_id == existing.pk
    assert application.status == ApplicationStatus.COLLECTING
    assert Contact.objects.filter(organisation=org).count() == 1
    assert Identity.objects.get(kind="telegram", external_id="777").contact_id == existing.pk
    assert set(Message.objects.values_list("contact_id", flat=True)) == {existing.pk}
    assert "FRONT" in driver.last()


def test_first_contact_with_a_new_phone_sets_it(org, flow, consoles):
    driver = Driver(consoles["telegram"], "778", name="Anna")
    driver.says("hi")
    driver.says("+7 926 000 11 22")
    driver.says("Anna Smirnova")
    driver.says(last_code("+79260001122"))
    application = Application.objects.get()
    assert application.contact.phone == "+79260001122"
    assert application.contact.first_name == "Anna" and application.contact.last_name == "Smirnova"
    assert application.status == ApplicationStatus.COLLECTING


# --- codes and tokens ---------------------------------------------------------------------------


def test_code_hash_attempts_expiry_and_rate_limit(org):
    contact = Contact.objects.create(organisation=org, first_name="A")
    row, code = code_issue(contact=contact)
    assert code not in row.code_hash and len(code) == 6
    wrong = "000000" if code != "000000" else "111111"
    for left in range(MAX_ATTEMPTS - 1, 0, -1):
        assert code_check(contact=contact, text=wrong).attempts_left == left
    assert code_check(contact=contact, text=wrong).reason == "attempts"
    assert code_check(contact=contact, text=code).reason == "attempts"  # too late
    row, code = code_issue(contact=contact)
    VerificationCode.objects.filter(pk=row.pk).update(expires_at=timezone.now())
    assert code_check(contact=contact, text=code).reason == "expired"
    row, code = code_issue(contact=contact)
    assert code_check(contact=contact, text=f"my code is {code[:3]} {code[3:]}").ok is False
    assert code_check(contact=contact, text=f"{code[:3]} {code[3:]}").ok
    for _ in range(2):
        code_issue(contact=contact)
    with pytest.raises(services.ValidationError):
        code_issue(contact=contact)


def test_link_tokens_are_signed(org, flow, consoles):
    application = _create(org)
    token = link_token(application)
    assert len(token) <= 64 and all(c.isalnum() or c in "_-" for c in token)
    assert application_id_from_token(token) == application.pk
    assert application_id_from_token(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert application_id_from_token("1_abc") is None
    assert application_id_from_token("") is None


def test_a_link_that_cannot_be_merged_goes_to_a_person(org, flow, consoles, manager):
    """Both the application's contact and the messenger's contact have a login: the merge
    refuses, nothing half-done stays, and a manager takes it from there."""
    from slotwise.tests_factories import UserFactory

    application = _create(org)
    Contact.objects.filter(pk=application.contact_id).update(user=UserFactory())
    services.application_send_link(application=application, actor=manager)
    pump()
    viber = Driver(consoles["viber"], "vb-x")
    viber.says(data={"event": "conversation_started", "context": link_token(application)})
    Contact.objects.filter(identities__external_id="vb-x").update(user=UserFactory())
    viber.says(last_code(PHONE))
    assert "manager will finish" in viber.last()
    assert Contact.objects.count() == 2
    assert _fresh(application).status == ApplicationStatus.CODE_SENT
    assert not Conversation.objects.get(channel=consoles["viber"]).bot_active


def test_an_sms_reply_goes_to_people_not_the_bot(org, flow, consoles):
    application, driver = _whatsapp_to_code(org, consoles)
    sms = Driver(consoles["sms"], PHONE, phone=PHONE)
    sms.says(last_code(PHONE))  # answered the code's SMS by SMS
    assert _fresh(application).status == ApplicationStatus.CODE_SENT
    run = FlowRun.objects.get()
    assert run.conversation.channel == consoles["whatsapp"] and run.step.key == "check_code"
    assert Message.objects.filter(to=PHONE, direction="out").count() == 1  # only the code SMS
