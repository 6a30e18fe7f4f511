"""The catalogue of services and goods: the services (`catalogue_item_save`,
`catalogue_item_archive`) with their field errors, and the page (list, add, edit, archive, put
back) with who may reach it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from slotwise.core.errors import ValidationError
from slotwise.org.roles import Role
from slotwise.tests_factories import make_unit
from slotwise.workorders import services
from slotwise.workorders.catalogue import catalogue_item_archive, catalogue_item_save
from slotwise.workorders.models import CatalogueItem, Source

from .fixtures import World, make_org, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def w():
    return World()


def item(w, **kwargs):
    data = {"kind": "goods", "name": "Valve", "unit_price": "12.50", "tax_rate": "10"}
    data.update(kwargs)
    return catalogue_item_save(organisation=w.org, actor=w.manager.user, **data)


# --- services ---------------------------------------------------------------------------------


def test_save_adds_and_changes_an_item(w):
    valve = item(w, code="V-1", unit_label="pcs")
    assert valve.pk and valve.organisation_id == w.org.pk and valve.active
    assert valve.unit_price == Decimal("12.50") and valve.tax_rate == Decimal("10")
    assert valve.history.first().history_user_id == w.manager.user_id
    changed = catalogue_item_save(
        organisation=w.org, item=valve, unit_price="14,00", name=" Brass valve "
    )
    valve.refresh_from_db()
    assert changed.pk == valve.pk
    assert valve.name == "Brass valve" and valve.unit_price == Decimal("14.00")
    assert valve.code == "V-1" and valve.kind == "goods"  # untouched fields stay


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "  "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"kind": "labour"}, "kind"),
        ({"unit_price": ""}, "unit_price"),
        ({"unit_price": "-1"}, "unit_price"),
        ({"unit_price": "abc"}, "unit_price"),
        ({"unit_price": "NaN"}, "unit_price"),
        ({"unit_price": "1.005"}, "unit_price"),
        ({"unit_price": "1e12"}, "unit_price"),
        ({"tax_rate": "101"}, "tax_rate"),
        ({"tax_rate": "-0.5"}, "tax_rate"),
        ({"code": "c" * 41}, "code"),
        ({"unit_label": "u" * 21}, "unit_label"),
    ],
)
def test_save_refuses_bad_input_field_by_field(w, data, field):
    with pytest.raises(ValidationError) as err:
        item(w, **data)
    assert field in err.value.message_dict
    assert not CatalogueItem.objects.filter(organisation=w.org).exists()


def test_zero_price_is_an_answer(w):
    free = item(w, name="Sealing tape", unit_price="0", tax_rate="0")
    assert free.unit_price == Decimal("0")


def test_code_unique_among_active_items(w):
    first = item(w, code="V-1")
    with pytest.raises(ValidationError) as err:
        item(w, name="Other", code="v-1")
    assert "code" in err.value.message_dict
    catalogue_item_archive(item=first)
    second = item(w, name="Other", code="V-1")  # the archived one no longer holds the code
    with pytest.raises(ValidationError) as err:
        catalogue_item_archive(item=first, restore=True)
    assert "code" in err.value.message_dict
    first.refresh_from_db()
    assert not first.active and second.active


def test_archive_and_restore(w):
    valve = item(w)
    archived = catalogue_item_archive(item=valve, actor=w.manager.user)
    assert not archived.active
    valve.refresh_from_db()
    assert not valve.active
    assert catalogue_item_archive(item=valve, restore=True).active


def test_another_organisations_item_is_refused(w):
    other = make_org()
    with pytest.raises(ValidationError) as err:
        catalogue_item_save(organisation=other, item=item(w), name="Mine now")
    assert "item" in err.value.message_dict


def test_archived_item_keeps_the_orders_lines(w):
    valve = item(w)
    order = services.work_order_create(
        organisation=w.org,
        contact=w.contact,
        source=Source.PHONE,
        title="Tap",
        unit=w.team,
        lines=[
            services.LineInput(kind="goods", name="", quantity="2", unit_price="12.50", item=valve)
        ],
    )
    catalogue_item_archive(item=valve)
    catalogue_item_save(organisation=w.org, item=valve, unit_price="99")
    line = order.lines.get()
    assert line.name == "Valve" and line.unit_price == Decimal("12.50")
    order.refresh_from_db()
    assert order.total == Decimal("25.00")


# --- the page ---------------------------------------------------------------------------------


def test_page_lists_adds_edits_and_archives(client, w):
    client.force_login(w.manager.user)
    valve = item(w)
    page = client.get(reverse("workorders:catalogue"))
    assert page.status_code == 200
    assert "Valve" in page.content.decode()
    response = client.post(
        reverse("workorders:catalogue"),
        {
            "kind": "service",
            "name": "Drain cleaning",
            "code": "",
            "unit_label": "h",
            "unit_price": "95",
            "tax_rate": "0",
        },
    )
    assert response.status_code == 302
    added = CatalogueItem.objects.get(name="Drain cleaning")
    assert added.kind == "service" and added.unit_price == Decimal("95.00")
    edit = reverse("workorders:catalogue_item", args=[valve.pk])
    page = client.get(edit)
    assert page.status_code == 200 and page.context["form"].initial["tax_rate"] == "10"
    response = client.post(
        edit,
        {
            "kind": "goods",
            "name": "Valve ½″",
            "code": "V",
            "unit_label": "",
            "unit_price": "13",
            "tax_rate": "100",
        },
    )
    assert response.status_code == 302
    valve.refresh_from_db()
    assert valve.name == "Valve ½″" and valve.tax_rate == Decimal("100")
    assert client.get(edit).context["form"].initial["tax_rate"] == "100"
    response = client.post(reverse("workorders:catalogue_archive", args=[valve.pk]))
    assert response.status_code == 302
    valve.refresh_from_db()
    assert not valve.active
    page = client.get(reverse("workorders:catalogue"))
    assert [i.pk for i in page.context["items"]] == [added.pk]
    assert page.context["archived_count"] == 1
    page = client.get(reverse("workorders:catalogue"), {"archived": "1"})
    assert [i.pk for i in page.context["archived"]] == [valve.pk]
    client.post(reverse("workorders:catalogue_archive", args=[valve.pk]), {"restore": "1"})
    valve.refresh_from_db()
    assert valve.active


def test_page_bad_input_shows_field_errors_and_saves_nothing(client, w):
    client.force_login(w.manager.user)
    response = client.post(
        reverse("workorders:catalogue"),
        {"kind": "goods", "name": "", "unit_price": "-3", "tax_rate": "x"},
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert {"name", "unit_price", "tax_rate"} <= set(errors)
    body = response.content.decode()
    assert 'data-field="unit_price"' in body
    assert not CatalogueItem.objects.exists()
    valve = item(w)
    response = client.post(
        reverse("workorders:catalogue_item", args=[valve.pk]),
        {"kind": "goods", "name": "Valve", "unit_price": "", "tax_rate": "0"},
    )
    assert response.status_code == 400
    assert "unit_price" in response.context["form"].errors
    valve.refresh_from_db()
    assert valve.unit_price == Decimal("12.50")


def test_page_access(client, w):
    valve = item(w)
    urls = [
        reverse("workorders:catalogue"),
        reverse("workorders:catalogue_item", args=[valve.pk]),
    ]
    # Technicians and call-centre operators don't manage the catalogue.
    operator = make_staff(w.org, unit=w.team, roles=(Role.CALL_CENTRE,), hours=())
    for staff in (w.tech, operator):
        client.force_login(staff.user)
        for url in urls:
            assert client.get(url).status_code == 403
        assert (
            client.post(reverse("workorders:catalogue_archive", args=[valve.pk])).status_code == 403
        )
    # Another organisation's manager: their own catalogue, not this one's items.
    other = make_org()
    stranger = make_staff(other, unit=make_unit(other, "HQ"), roles=(Role.MANAGER,), hours=())
    client.force_login(stranger.user)
    assert client.get(urls[0]).status_code == 200
    assert "Valve" not in client.get(urls[0]).content.decode()
    assert client.get(urls[1]).status_code == 404
    assert client.post(reverse("workorders:catalogue_archive", args=[valve.pk])).status_code == 404
    valve.refresh_from_db()
    assert valve.active
    client.logout()
    assert client.get(urls[0]).status_code == 302
