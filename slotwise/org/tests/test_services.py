import datetime

import pytest
from django.core.exceptions import ValidationError

from slotwise.org import services
from slotwise.org.models import Location, OrgUnit, Region, RegionRange
from slotwise.org.roles import Role
from slotwise.org.selectors import regions_matching
from slotwise.tests_factories import OrganisationFactory, StaffFactory, UserFactory, make_unit

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    return OrganisationFactory(country="NL")


def test_region_save_parses_ranges(org):
    region = services.region_save(
        organisation=org, name="Amsterdam", country="NL", postcodes="1000-1099, 1200"
    )
    assert sorted(str(r) for r in region.ranges.all()) == ["1000-1099", "1200"]
    assert regions_matching(org, "1012 AB") == [region]
    assert regions_matching(org, "1200 AA") == [region]
    assert regions_matching(org, "3511 AA") == []
    # Updating replaces the ranges.
    services.region_save(
        organisation=org, name="Amsterdam", country="NL", postcodes="3500-3599", region=region
    )
    assert [str(r) for r in region.ranges.all()] == ["3500-3599"]
    assert Region.objects.count() == 1


@pytest.mark.parametrize("postcodes", ["", "abc", "1099-1000", "10-1000"])
def test_region_save_bad_input_writes_nothing(org, postcodes):
    with pytest.raises(ValidationError) as exc:
        services.region_save(organisation=org, name="Bad", country="NL", postcodes=postcodes)
    assert "postcodes" in exc.value.message_dict
    assert Region.objects.count() == 0
    assert RegionRange.objects.count() == 0


def test_region_update_bad_input_keeps_old_ranges(org):
    region = services.region_save(organisation=org, name="A", country="NL", postcodes="1000-1099")
    with pytest.raises(ValidationError):
        services.region_save(organisation=org, name="B", country="NL", postcodes="x", region=region)
    region.refresh_from_db()
    assert region.name == "A"
    assert [str(r) for r in region.ranges.all()] == ["1000-1099"]


def test_location_create_geocodes(org):
    loc = services.location_create(organisation=org, postcode="1012ab", city="Amsterdam")
    assert loc.postcode == "1012 AB"
    assert loc.country == "NL"
    assert loc.geocoded_by
    assert abs(loc.lat - 52.37) < 0.5 and abs(loc.lng - 4.9) < 0.5


@pytest.mark.parametrize("postcode", ["9999 ZZ", "not a postcode", ""])
def test_location_create_unknown_postcode_writes_nothing(org, postcode):
    with pytest.raises(ValidationError) as exc:
        services.location_create(organisation=org, postcode=postcode)
    assert "postcode" in exc.value.message_dict
    assert Location.objects.count() == 0


def test_org_unit_create_paths(org):
    root = make_unit(org, "Root")
    child = make_unit(org, "Child", root)
    assert root.path == f"/{root.pk}/"
    assert child.path == f"/{root.pk}/{child.pk}/"
    assert child.depth == 1
    other = OrganisationFactory()
    with pytest.raises(ValidationError) as exc:
        services.org_unit_create(organisation=other, name="X", parent=root)
    assert "parent" in exc.value.message_dict
    assert not OrgUnit.objects.filter(name="X").exists()


def test_org_unit_move_updates_descendants(org):
    root = make_unit(org, "Root")
    a = make_unit(org, "A", root)
    b = make_unit(org, "B", root)
    a1 = make_unit(org, "A1", a)
    a11 = make_unit(org, "A11", a1)
    moved = services.org_unit_move(unit=a, parent=b)
    assert moved.parent_id == b.pk
    assert moved.path == f"{b.path}{a.pk}/"
    a1.refresh_from_db()
    a11.refresh_from_db()
    assert a1.path == f"{b.path}{a.pk}/{a1.pk}/"
    assert a11.path == f"{b.path}{a.pk}/{a1.pk}/{a11.pk}/"
    b.refresh_from_db()
    assert b.path == f"/{root.pk}/{b.pk}/"
    # To the top.
    services.org_unit_move(unit=a, parent=None)
    a11.refresh_from_db()
    assert a11.path == f"/{a.pk}/{a1.pk}/{a11.pk}/"


def test_org_unit_move_below_itself_refused(org):
    root = make_unit(org, "Root")
    a = make_unit(org, "A", root)
    a1 = make_unit(org, "A1", a)
    for target in (a, a1):
        with pytest.raises(ValidationError) as exc:
            services.org_unit_move(unit=a, parent=target)
        assert "parent" in exc.value.message_dict
    a.refresh_from_db()
    a1.refresh_from_db()
    assert a.parent_id == root.pk and a.path == f"/{root.pk}/{a.pk}/"
    assert a1.path == f"/{root.pk}/{a.pk}/{a1.pk}/"
    with pytest.raises(ValidationError):
        services.org_unit_move(unit=a, parent=make_unit(OrganisationFactory(), "Elsewhere"))


def test_staff_create_and_leave(org):
    unit = make_unit(org, "Root")
    staff = services.staff_create(
        organisation=org,
        user=UserFactory(),
        unit=unit,
        roles=[Role.MANAGER, Role.MANAGER, Role.TECHNICIAN],
        active_from=datetime.date(2024, 1, 1),
    )
    assert staff.role_set == {Role.MANAGER, Role.TECHNICIAN}
    services.staff_leave(staff=staff, last_day=datetime.date(2024, 6, 30))
    staff.refresh_from_db()
    assert staff.active_to == datetime.date(2024, 6, 30)
    assert staff.is_active_on(datetime.date(2024, 6, 30))
    assert not staff.is_active_on(datetime.date(2024, 7, 1))
    assert staff.history.count() >= 2


def test_staff_leave_before_start_refused(org):
    staff = StaffFactory(unit=make_unit(org, "Root"), active_from=datetime.date(2024, 1, 1))
    with pytest.raises(ValidationError) as exc:
        services.staff_leave(staff=staff, last_day=datetime.date(2023, 12, 31))
    assert "active_to" in exc.value.message_dict
    staff.refresh_from_db()
    assert staff.active_to is None


def test_staff_create_unit_of_other_org_refused(org):
    other_unit = make_unit(OrganisationFactory(), "Other")
    with pytest.raises(ValidationError) as exc:
        services.staff_create(
            organisation=org,
            user=UserFactory(),
            unit=other_unit,
            roles=[],
            active_from=datetime.date(2024, 1, 1),
        )
    assert "unit" in exc.value.message_dict
