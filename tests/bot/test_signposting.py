"""The lines each situation gets, from bot/partnership.yml only, sendable by SMS."""
import pytest

from bot.gsm import is_gsm7
from bot.safety import CHILD_AT_RISK, CHILD_SELF_HARM, CRISIS_SELF
from bot.settings import get_settings
from bot.signposting import CATEGORIES, check_in, helpline_summary, pack, signposting


def lines():
    return get_settings().partnership.helplines


def everything(category, channel="sms") -> str:
    return " ".join(signposting(category).for_channel(channel))


def test_risk_to_self_gets_999_or_a_and_e_nhs_111_samaritans_and_shout():
    text = everything(CRISIS_SELF)
    assert f"call {lines()['emergency']['number']} or go to A&E" in text
    assert f"NHS {lines()['nhs_111']['number']}" in text and "mental health option" in text
    assert lines()["samaritans"]["number"] in text
    assert f"text {lines()['shout']['keyword']} to {lines()['shout']['number']}" in text


def test_a_child_at_risk_gets_999_childrens_services_day_and_night_nspcc_with_its_hours_and_childline():
    text = everything(CHILD_AT_RISK)
    services, nspcc = lines()["childrens_services"], lines()["nspcc"]
    assert f"call {lines()['emergency']['number']}" in text
    assert services["number"] in text and services["out_of_hours_number"] in text and services["hours"] in text
    assert nspcc["number"] in text and nspcc["hours"] in text
    assert lines()["childline"]["number"] in text
    assert lines()["samaritans"]["number"] not in text  # the adult lines are not what this family needs


def test_a_child_self_harming_gets_999_or_a_and_e_nhs_111_and_childline():
    text = everything(CHILD_SELF_HARM)
    assert f"call {lines()['emergency']['number']} or go to A&E" in text
    assert f"NHS {lines()['nhs_111']['number']}" in text
    assert lines()["childline"]["number"] in text
    assert lines()["nspcc"]["number"] not in text and lines()["samaritans"]["number"] not in text


@pytest.mark.parametrize("category", CATEGORIES)
def test_each_sms_part_is_gsm7_and_at_most_320_characters_and_nothing_is_lost(category):
    parts = signposting(category).for_channel("sms")
    assert all(is_gsm7(part) and len(part) <= 320 for part in parts), parts
    assert " ".join(parts) == " ".join(signposting(category).web.split("\n\n"))


def test_the_child_lines_need_more_than_one_sms():
    assert len(signposting(CHILD_AT_RISK).for_channel("sms")) >= 2


def test_the_web_gets_one_message_with_a_line_each():
    assert signposting(CHILD_AT_RISK).for_channel("web") == [signposting(CHILD_AT_RISK).web]
    assert signposting(CHILD_AT_RISK).web.count("\n\n") == 3


@pytest.mark.parametrize("category", CATEGORIES)
def test_a_check_in_asks_if_they_are_safe_with_lines_open_day_and_night(category):
    text = check_in(category, "sms")
    assert "safe right now?" in text
    assert f"call {lines()['emergency']['number']}" in text
    assert lines()["nspcc"]["number"] not in text  # not open at night
    assert is_gsm7(text) and len(text) <= 320


def test_an_unknown_situation_gets_the_lines_for_the_writer():
    assert signposting(None) == signposting(CRISIS_SELF)
    assert lines()["samaritans"]["number"] in helpline_summary(category=None)


def test_packing_keeps_whole_lines_in_order():
    assert pack(["a" * 200, "b" * 100, "c" * 30], 320) == ["a" * 200 + " " + "b" * 100, "c" * 30]
