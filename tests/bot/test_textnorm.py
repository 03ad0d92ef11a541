"""Every Unicode and spelling trick folds back to the words the safety patterns read."""
import pytest

from bot.textnorm import fold, for_display, plain

TRICKS = {
    "accent": "i want to k\u00edll myself",
    "combining accent": "i want to ki\u0301ll myself",
    "zero-width space": "i want to ki\u200bll myself",
    "zero-width joiner": "i want to k\u200dill my\u2060self",
    "soft hyphen": "i want to kil\u00adl myself",
    "fullwidth": "i want to \uff4b\uff49\uff4c\uff4c myself",
    "cyrillic i": "i want to k\u0456ll myself",
    "cyrillic k and e": "i want to \u043aill mys\u0435lf",
    "greek omicron": "i want t\u03bf kill myself",
    "leetspeak": "i want to k1ll mys3lf",
    "bidi control": "i want to \u202ekill myself",
}


@pytest.mark.parametrize("trick", TRICKS)
def test_the_trick_folds_to_plain_words(trick):
    assert plain(TRICKS[trick]) == "i want to kill myself"


@pytest.mark.parametrize("apostrophe", ["\u2019", "\u02bc", "\uff07", "\u2018", "`", "\u00b4"])
def test_every_apostrophe_look_alike_is_one_apostrophe(apostrophe):
    assert fold(f"i can{apostrophe}t go on") == "i can't go on"
    assert plain(f"i can{apostrophe}t go on") == "i cant go on"


def test_numbers_that_are_numbers_stay_numbers():
    assert plain("my pin is 4821 and the meeting is at 3pm on the 14th") == "my pin is 4821 and the meeting is at 3pm on the 14th"
    assert plain("my 15 yr old") == "my 15 yr old"


def test_sms_spelling_is_spelled_out():
    assert plain("u wanna kno if im gonna b ok 2nite") .startswith("you want to kno if im going to b ok tonight")


def test_staff_see_the_original_text_with_bidi_controls_made_visible():
    assert for_display("ok \u202egnorw") == "ok \ufffdgnorw"
    assert for_display("caf\u00e9 \u2019") == "caf\u00e9 \u2019"
