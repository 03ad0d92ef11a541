"""Every promise in the partnership's leaflet is made, as the leaflet makes it, by the answers that carry it.

bot/leaflet_map.yml says which FAQ answers carry each promise of each leaflet section;
the leaflet itself is read from shared/leaflet/leaflet.md beside the repository.
"""
import re

import pytest
import yaml

from bot.replies import replies
from bot.settings import REPO_ROOT, get_settings

LEAFLET = REPO_ROOT.parent / "shared" / "leaflet" / "leaflet.md"
LEAFLET_MAP = yaml.safe_load((REPO_ROOT / "bot" / "leaflet_map.yml").read_text())
DOMAIN = {}
for _path in sorted((REPO_ROOT / "bot" / "domain").glob("*.yml")):
    DOMAIN.update(yaml.safe_load(_path.read_text()).get("responses", {}))
FAQ_TOPICS = sorted(name.removeprefix("utter_faq/") for name in DOMAIN if name.startswith("utter_faq/"))
SOURCE_LINE = "From the leaflet: "


def leaflet_headings() -> list[str]:
    """The leaflet's headings as a reader sees them ('## **Contact Us**' -> 'Contact Us').

    The file's one top-level heading is a note about the copy, not part of the leaflet.
    """
    found = re.findall(r"^#{2,6}\s+(.+?)\s*$", LEAFLET.read_text(), flags=re.MULTILINE)
    return [re.sub(r"\s+", " ", heading.replace("*", "")).strip() for heading in found]


def sections() -> dict[str, list[dict]]:
    return {section["title"]: section["promises"] for section in LEAFLET_MAP["sections"]}


def promises():
    for title, listed in sections().items():
        for promise in listed:
            yield title, promise


def answer(topic: str, channel: str) -> str:
    return next(v["text"] for v in DOMAIN[f"utter_faq/{topic}"] if v.get("channel") == channel)


def leaflet_topics() -> set[str]:
    return {topic for _, promise in promises() for topic in promise["answers"]}


def test_every_section_of_the_map_is_a_section_of_the_leaflet():
    headings = leaflet_headings()
    assert LEAFLET_MAP["title"] in headings
    missing = [title for title in sections() if title not in headings]
    assert not missing, f"not headings of {LEAFLET}: {missing}"


def test_every_section_of_the_leaflet_is_in_the_map():
    unmapped = [h for h in leaflet_headings() if h != LEAFLET_MAP["title"] and h not in sections()]
    assert not unmapped, f"leaflet sections with no promises mapped: {unmapped}"


@pytest.mark.parametrize("title, promise", list(promises()), ids=lambda p: p["id"] if isinstance(p, dict) else "")
def test_every_promise_has_answers_that_exist(title, promise):
    assert promise["answers"], f"{promise['id']} ({title}) has no answer"
    unknown = [topic for topic in promise["answers"] if topic not in FAQ_TOPICS]
    assert not unknown, f"{promise['id']} names answers that do not exist: {unknown}"


def promise_answers():
    for title, promise in promises():
        for topic in promise["answers"]:
            for channel in promise.get("channels", ["sms", "web"]):
                yield pytest.param(promise, topic, channel, id=f"{promise['id']}-{topic}-{channel}")


@pytest.mark.parametrize("promise, topic, channel", list(promise_answers()))
def test_each_answer_makes_its_promise_in_so_many_words(promise, topic, channel):
    text = answer(topic, channel).lower()
    missing = [words for words in promise["words"] if words.lower() not in text]
    assert not missing, f"utter_faq/{topic} ({channel}) does not say {missing}: {promise['leaflet']}"


def test_every_answer_is_from_the_leaflet_or_a_signpost_and_not_both():
    signposts = set(LEAFLET_MAP["signposts"])
    assert not (signposts & leaflet_topics())
    assert set(FAQ_TOPICS) == signposts | leaflet_topics()


@pytest.mark.parametrize("topic", sorted(leaflet_topics()))
def test_a_web_answer_from_the_leaflet_ends_naming_a_section_it_comes_from(topic):
    last_line = answer(topic, "web").rstrip().splitlines()[-1]
    assert last_line.startswith(SOURCE_LINE), f"utter_faq/{topic} (web) does not end with its source"
    named = last_line.removeprefix(SOURCE_LINE)
    assert named in leaflet_headings(), f"utter_faq/{topic} names '{named}', which is not a leaflet section"
    carried = {title for title, promise in promises() if topic in promise["answers"]}
    assert named in carried, f"utter_faq/{topic} names '{named}' but carries promises of {sorted(carried)}"


@pytest.mark.parametrize("topic", FAQ_TOPICS)
def test_sms_answers_and_signposts_do_not_name_the_leaflet(topic):
    assert "leaflet" not in answer(topic, "sms").lower()
    if topic in LEAFLET_MAP["signposts"]:
        assert SOURCE_LINE not in answer(topic, "web")


def every_text():
    """Every response in the domain and every reply in replies.yml, by name."""
    for name, variants in DOMAIN.items():
        for variant in variants:
            yield f"{name} ({variant.get('channel') or 'any'})", variant["text"]
    for name, variants in replies().items():
        for channel, text in variants.items():
            yield f"replies.yml:{name} ({channel})", text


# What the content review against the leaflet found wrong or risky. Each phrase is
# looked for in lower case.
CLAIMS_THE_LEAFLET_DOES_NOT_MAKE = {
    "not an enquiry about you": "a report may describe the child's life at home",
    "the review is extended": "usually the review goes on and publication waits for criminal proceedings",
    "blam": "raises the idea of blame unprompted",
    "known or suspected": "the leaflet says 'possible' abuse or neglect",
    "either way": "reads as cold",
    "hold anyone to account": "reads as cold",
    "usually offered": "the Lead Reviewer will arrange to meet the family to share the key learning",
    "usually meet": "practitioners and managers will be invited to a meeting",
    "about six months": "reviews should normally be completed within six months",
    "should treat you": "the family will be treated with courtesy and sensitivity",
    "you can bring someone": "bringing someone is something a family can ask for",
    "you can take breaks": "breaks are something a family can ask for",
    "e-mail": "we write 'email'",
    "if you are verified": "jargon to a parent",
}


@pytest.mark.parametrize("name, text", list(every_text()))
def test_no_text_makes_a_claim_the_leaflet_does_not(name, text):
    found = {phrase: why for phrase, why in CLAIMS_THE_LEAFLET_DOES_NOT_MAKE.items() if phrase in text.lower()}
    assert not found, f"{name}: {found}"


@pytest.mark.parametrize("topic", FAQ_TOPICS)
def test_no_answer_starts_with_yes_or_no(topic):
    """The classifier may send a question that is not a yes-or-no one to any answer."""
    for channel in ("sms", "web"):
        assert not re.match(r"(yes|no)\b", answer(topic, channel).strip(), flags=re.IGNORECASE), topic


# Facts from statutory guidance, not the partnership's promises: they must read as how things work in England.
ENGLAND_WIDE_FACTS = ("NSPCC", "Department for Education", "at least a year", "Children's Funeral Fund",
                      "criminal trial")


@pytest.mark.parametrize("topic", FAQ_TOPICS)
def test_facts_from_guidance_read_as_how_it_works_in_england(topic):
    for channel in ("sms", "web"):
        text = answer(topic, channel)
        if any(fact in text for fact in ENGLAND_WIDE_FACTS):
            assert "England" in text, f"utter_faq/{topic} ({channel}) reads as the partnership's own promise"


def test_the_partnerships_contact_details_answer_is_its_own():
    """The contact answer gives the partnership's details, filled from bot/partnership.yml."""
    slots = get_settings().partnership.as_slots()
    for channel in ("sms", "web"):
        filled = answer("contact", channel).format(**slots)
        assert slots["partnership_email"] in filled and slots["partnership_website"] in filled
