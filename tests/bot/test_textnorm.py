"""Every Unicode and spelling trick folds back to the words the safety patterns read."""
import pytest

from bot.textnorm import corrected, fold, for_display, plain, spelled_out

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


@pytest.mark.parametrize("typed, read", [
    ("s0 t1red. g0nna end 1t 2n1ght", "so tired going to end it tonight"),  # short words, and digits first
    ("1 w4nt t0 d13", "1 want to die"),
    ("every1 h8s me", "everyone h8s me"),  # an SMS spelling is spelled out, not read as leetspeak
])
def test_leetspeak_in_short_words_and_words_that_start_with_a_digit_is_undone(typed, read):
    assert plain(typed) == read


def test_numbers_that_are_numbers_stay_numbers():
    assert plain("my pin is 4821 and the meeting is at 3pm on the 14th") == "my pin is 4821 and the meeting is at 3pm on the 14th"
    assert plain("my 15 yr old") == "my 15 yr old"
    assert plain("20mg at 10pm, 4ever in the 90s, 1st and 2nd, my 13yo, 10k") == \
        "20mg at 10pm 4ever in the 90s 1st and 2nd my 13yo 10k"
    # An age after "he's" or "I'm" is not "for" or "to": "can't find Mason, he's 4".
    assert plain("cant find mason, hes 4, im 2 streets away. talk 2 me") == "cant find mason hes 4 im 2 streets away talk to me"


def test_sms_spelling_is_spelled_out():
    assert plain("u wanna kno if im gonna b ok 2nite") == "you want to know if im going to be ok tonight"


def test_the_classifier_reads_sms_spelling_spelled_out_with_its_punctuation():
    assert spelled_out("y r they doin a review? i dnt get it") == "why are they doing a review? i dont get it"
    assert spelled_out("I\u02bcm ok") == "i'm ok"
    assert spelled_out("its 2 years since, and i have 4 kids") == "its 2 years since, and i have 4 kids"


def test_staff_see_the_original_text_with_bidi_controls_made_visible():
    assert for_display("ok \u202egnorw") == "ok \ufffdgnorw"
    assert for_display("caf\u00e9 \u2019") == "caf\u00e9 \u2019"


def test_a_typing_slip_becomes_the_known_word_and_real_words_stay():
    known = {"the": 0, "when": 1, "where": 2, "review": 3, "investigation": 4, "abuse": 5, "meeting": 6}
    assert corrected("is the reveiw an investgation", known) == "is the review an investigation"
    assert corrected("abusing", known) == "abusing"  # an inflection of a known word is a word
    assert corrected("wher is the meetng", known) == "wher is the meeting"  # too short to guess


def test_risk_verbs_typed_without_their_g_are_spelled_out():
    assert plain("feel like overdosin tonite") == "feel like overdosing tonight"
    assert plain("hes hittin n punchin her") == "hes hitting and punching her"


def test_overdosed_in_short_is_spelled_out_but_odd_stays_odd():
    assert plain("OD'd on me antideppresents") == "overdosed on me antidepressants"
    assert plain("he ODed last night, that was odd") == "he overdosed last night that was odd"


def test_two_word_slips_are_read_as_meant_only_beside_the_word_that_shows_it():
    assert plain("i took the hole box, better off with out me") == "i took the whole box better off without me"
    assert spelled_out("ive got the peels out, counting them") == "ive got the pills out, counting them"
    assert plain("a hole in the wall, potato peels, with outside help") == "a hole in the wall potato peels with outside help"
