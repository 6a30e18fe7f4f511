import pytest
from django.core.exceptions import ValidationError

from slotwise.org.postcodes import display, key_in_range, normalise, parse_ranges


@pytest.mark.parametrize(
    ("country", "postcode", "key"),
    [
        ("NL", "1012 AB", "1012"),
        ("NL", "1012ab", "1012"),
        ("NL", "1012", "1012"),
        ("SE", "114 55", "11455"),
        ("SE", "11455", "11455"),
        ("RU", "101000", "101000"),
        ("US", "90012", "90012"),
        ("US", "90012-1234", "90012"),
        ("NL", "  1012 AB  ", "1012"),
    ],
)
def test_normalise(country, postcode, key):
    assert normalise(country, postcode) == key


@pytest.mark.parametrize(
    ("country", "postcode"),
    [
        ("NL", "12 AB"),
        ("NL", "ABCD"),
        ("SE", "1145"),
        ("RU", "10100"),
        ("US", "9001"),
        ("NL", ""),
        ("NL", None),
    ],
)
def test_normalise_rejects_invalid(country, postcode):
    with pytest.raises(ValidationError) as exc:
        normalise(country, postcode)
    assert exc.value.code == "postcode"


def test_normalise_unsupported_country():
    with pytest.raises(ValidationError) as exc:
        normalise("DE", "10115")
    assert exc.value.code == "country"


def test_display():
    assert display("SE", "11455") == "114 55"
    assert display("NL", "1012ab") == "1012 AB"
    assert display("US", "90012") == "90012"


def test_parse_ranges():
    assert parse_ranges("1000-1099, 1200") == [("1000", "1099"), ("1200", "1200")]
    assert parse_ranges("10 - 19;\n 30") == [("10", "19"), ("30", "30")]
    assert parse_ranges("1000-1099,,") == [("1000", "1099")]


@pytest.mark.parametrize(
    "spec",
    ["", "  ,  ", "abc", "1000-", "1000-99", "1099-1000", "1000-1099-1200", "1234567", "12AB"],
)
def test_parse_ranges_errors(spec):
    with pytest.raises(ValidationError):
        parse_ranges(spec)


def test_key_in_range():
    assert key_in_range("1012", "1000", "1099")
    assert key_in_range("1012", "10", "10")
    assert not key_in_range("1112", "1000", "1099")
    assert not key_in_range("10", "1000", "1099")  # key shorter than the range
