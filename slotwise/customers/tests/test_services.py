import pytest
from django.core.exceptions import ValidationError

from slotwise.customers import services
from slotwise.customers.models import Consent, Contact, Identity, TimelineEntry
from slotwise.customers.phones import to_e164
from slotwise.tests_factories import OrganisationFactory

pytestmark = pytest.mark.django_db


def counts():
    return (Contact.objects.count(), Identity.objects.count(), TimelineEntry.objects.count())


@pytest.fixture
def org():
    return OrganisationFactory(country="NL", default_language="nl")


def test_to_e164():
    assert to_e164("06 12345678", "NL") == "+31612345678"
    assert to_e164("+46 70 123 45 67", "NL") == "+46701234567"
    for bad in ("", "abc", "12"):
        with pytest.raises(ValidationError):
            to_e164(bad, "NL")


def test_contact_create(org):
    contact = services.contact_create(
        organisation=org, first_name=" Anna ", phone="0612345678", email="Anna@Example.COM"
    )
    assert contact.first_name == "Anna"
    assert contact.phone == "+31612345678"
    assert contact.email == "anna@example.com"
    assert contact.language == "nl"
    assert set(contact.identities.values_list("kind", "external_id")) == {
        ("phone", "+31612345678"),
        ("email", "anna@example.com"),
    }
    assert contact.timeline.filter(kind="contact.created").count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"phone": "12345"}, "phone"),
        ({"phone": "not a phone"}, "phone"),
        ({"email": "not-an-email"}, "email"),
        ({"first_name": "  "}, "first_name"),
    ],
)
def test_contact_create_malformed_writes_nothing(org, kwargs, field):
    before = counts()
    with pytest.raises(ValidationError) as exc:
        services.contact_create(organisation=org, **{"first_name": "Bob", **kwargs})
    assert field in exc.value.message_dict
    assert counts() == before


def test_contact_create_duplicates_write_nothing(org):
    services.contact_create(
        organisation=org, first_name="Anna", phone="+31612345678", email="anna@example.com"
    )
    before = counts()
    with pytest.raises(ValidationError) as exc:
        services.contact_create(organisation=org, first_name="Other", email="ANNA@example.com")
    assert list(exc.value.message_dict) == ["email"]
    assert counts() == before
    with pytest.raises(ValidationError) as exc:
        services.contact_create(organisation=org, first_name="Other", phone="06-1234 5678")
    assert list(exc.value.message_dict) == ["phone"]
    assert counts() == before
    with pytest.raises(ValidationError) as exc:
        services.contact_create(
            organisation=org, first_name="Other", phone="0612345678", email="anna@example.com"
        )
    assert set(exc.value.message_dict) == {"phone", "email"}
    assert counts() == before


def test_duplicate_in_other_org_is_fine(org):
    services.contact_create(organisation=org, first_name="Anna", phone="+31612345678")
    other = OrganisationFactory(country="NL")
    services.contact_create(organisation=other, first_name="Anna", phone="+31612345678")
    assert Contact.objects.filter(phone="+31612345678").count() == 2


def test_duplicate_via_linked_identity(org):
    anna = services.contact_create(organisation=org, first_name="Anna")
    services.identity_link(contact=anna, kind="phone", external_id="+31612345678")
    before = counts()
    with pytest.raises(ValidationError) as exc:
        services.contact_create(organisation=org, first_name="Bob", phone="0612345678")
    assert "phone" in exc.value.message_dict
    assert counts() == before


def test_identity_link_to_other_contact_refused(org):
    anna = services.contact_create(organisation=org, first_name="Anna")
    bob = services.contact_create(organisation=org, first_name="Bob")
    identity = services.identity_link(contact=anna, kind="telegram", external_id="anna_tg")
    assert identity.contact == anna and not identity.verified
    with pytest.raises(ValidationError) as exc:
        services.identity_link(contact=bob, kind="telegram", external_id="anna_tg")
    assert "external_id" in exc.value.message_dict
    identity.refresh_from_db()
    assert identity.contact == anna
    # Linking again to the same contact is idempotent and can verify.
    again = services.identity_link(
        contact=anna, kind="telegram", external_id="anna_tg", verified=True
    )
    assert again.pk == identity.pk and again.verified and again.verified_at
    assert Identity.objects.filter(kind="telegram").count() == 1


def test_consent_record_writes_timeline(org):
    anna = services.contact_create(organisation=org, first_name="Anna")
    consent = services.consent_record(
        contact=anna, kind="privacy", version="2024-01", channel="sms"
    )
    assert Consent.objects.get() == consent
    assert consent.accepted_at is not None
    entry = anna.timeline.get(kind="consent.accepted")
    assert "privacy" in entry.summary and "2024-01" in entry.summary
    assert entry.data == {"channel": "sms"}
    assert entry.organisation == org


def test_contact_update_and_history(org):
    anna = services.contact_create(organisation=org, first_name="Anna", email="anna@example.com")
    history_before = anna.history.count()
    services.contact_update(contact=anna, last_name="Jansen", phone="0612345678")
    anna.refresh_from_db()
    assert anna.last_name == "Jansen" and anna.phone == "+31612345678"
    assert anna.history.count() == history_before + 1
    latest = anna.history.first()
    assert latest.history_type == "~" and latest.last_name == "Jansen"
    assert anna.identities.filter(kind="phone", external_id="+31612345678").exists()
    entry = anna.timeline.get(kind="contact.updated")
    assert set(entry.data["fields"]) == {"last_name", "phone"}
    with pytest.raises(ValidationError) as exc:
        services.contact_update(contact=anna, organisation=None)
    assert "organisation" in exc.value.message_dict


def test_simple_history_records_change(org):
    contact = Contact.objects.create(organisation=org, first_name="Hist")
    assert contact.history.count() == 1
    contact.notes = "called back"
    contact.save()
    assert contact.history.count() == 2
    assert contact.history.first().notes == "called back"
    assert contact.history.last().history_type == "+"
