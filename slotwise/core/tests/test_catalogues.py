"""Every user-facing string has a Swedish, Russian and Dutch translation (ARCHITECTURE rule 8)."""

import re
from pathlib import Path

import pytest

LOCALE = Path(__file__).resolve().parents[2] / "locale"


def _entries(language: str):
    text = (LOCALE / language / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8") + "\n"
    for block in text.split("\n\n"):
        if "msgid" not in block or block.lstrip().startswith("#~"):
            continue
        msgid = "".join(
            re.findall(
                r'^(?:msgid )?"(.*)"$', block.split("msgid_plural")[0].split("msgstr")[0], re.M
            )
        )
        if not msgid:
            continue  # the header
        strs = re.findall(r'^msgstr(?:\[\d\])? ((?:".*"\n?)+)', block + "\n", re.M)
        values = ["".join(re.findall(r'"(.*)"', s)) for s in strs]
        yield msgid, values, "#, fuzzy" in block or ", fuzzy" in block


@pytest.mark.parametrize("language", ["sv", "ru", "nl"])
def test_catalogue_is_complete(language):
    entries = list(_entries(language))
    assert entries, f"the {language} catalogue is empty"
    missing = [msgid for msgid, values, fuzzy in entries if fuzzy or not values or not all(values)]
    assert not missing, f"{len(missing)} untranslated or fuzzy in {language}: {missing[:10]}"


@pytest.mark.parametrize("language", ["sv", "ru", "nl"])
def test_placeholders_are_kept(language):
    for msgid, values, _fuzzy in _entries(language):
        wanted = sorted(re.findall(r"%\(\w+\)[sd]", msgid))
        for value in filter(None, values):
            assert sorted(re.findall(r"%\(\w+\)[sd]", value)) == wanted, (language, msgid, value)
