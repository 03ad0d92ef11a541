"""Safety: spotting a crisis in what a family writes, and the signposting they get at once.

`check` runs in the Flask layer on every inbound message on every channel, before
and besides the NLU (whose crisis_self / child_at_risk intents also trigger). It
looks for the shape of a crisis happening now (first person, present tense,
intent or means) so that grief about the past ("my son died in March", "the
police said it wasn't suicide") does not raise an alarm. The helpline numbers
come from bot/partnership.yml and nowhere else.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from bot.settings import Partnership
from bot.wording import Answer

CRISIS_SELF = "crisis_self"
CHILD_AT_RISK = "child_at_risk"
CHILD_SELF_HARM = "child_self_harm"  # a child at risk: self-harm or suicidal now; gets the child lines

# The three outcomes of the safety decision.
CRISIS = "crisis"
CHECK_IN = "check_in"
NONE = "none"


@dataclass(frozen=True)
class SafetyDecision:
    """What the safety decision made of one message.

    `category` says which lines the family needs (CRISIS_SELF, CHILD_AT_RISK or CHILD_SELF_HARM)
    for a crisis or a check-in; `layers` which checks saw it ("keywords", "classifier").
    """
    outcome: str = NONE
    category: str | None = None
    layers: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return self.outcome != NONE

# SMS spelling and slang, word for word, before the patterns look.
_SPELLINGS = {
    "u": "you", "ur": "your", "r": "are", "wanna": "want to", "wana": "want to", "wnt": "want",
    "gonna": "going to", "gna": "going to", "gunna": "going to", "goin": "going", "cnt": "cant",
    "carnt": "cant", "cannot": "cant", "dnt": "dont", "wont": "wont", "myslf": "myself", "meself": "myself",
    "mysef": "myself", "wiv": "with", "rn": "right now", "tabs": "tablets", "pils": "pills",
    "kil": "kill", "killl": "kill", "ded": "dead", "dieing": "dying", "anymore": "any more",
    "nomore": "no more", "tonite": "tonight", "nite": "night", "bruv": "brother", "sis": "sister",
    "kiddies": "kids", "lil": "little", "hurtin": "hurting", "hittin": "hitting", "beatin": "beating",
    "im": "im", "ive": "ive", "hes": "hes", "shes": "shes", "tryna": "trying to", "sucide": "suicide",
    "suicidle": "suicidal", "sucidal": "suicidal", "wkae": "wake", "2": "to", "4": "for", "2nite": "tonight",
    "2night": "tonight", "hav": "have", "nothin": "nothing", "sed": "said", "in2": "into", "chokin": "choking",
    "bro": "brother", "kickin": "kicking", "killin": "killing", "nite": "night", "alot": "a lot", "fella": "boyfriend",
    "ex": "ex", "someones": "someone has", "burnt": "burned", "neighbours": "neighbours", "pics": "pictures",
}

_CHILD = (r"(?:child|children|kids?|baby|babies|toddler|newborn|son|daughter|boy|girl|brother|sister|grandson|"
          r"granddaughter|grandkids|grandchildren|grandchild|nephew|niece|stepson|stepdaughter|little ones?|"
          r"youngest|eldest|twins|\d+ (?:year|yr)s? old)s?")
_VICTIM = rf"(?:{_CHILD}|him|her|them)"
_ME = r"(?:myself|my self)"
_W = r"(?: \w+)"  # one more word

_SELF_PATTERNS = [
    rf"\b(?:kill|hang|top|off|end|drown|poison|shoot|stab|hurt|harm|cut|burn|starve)(?:ing|ed|s)? {_ME}\b",
    r"\bkms\b", r"\bunalive\b", r"\bsuicidal\b", r"\b(?:commit|committing|attempt|attempting) suicide\b",
    r"\b(?:thoughts of|thinking (?:about|of)) (?:suicide|killing|ending)\b",
    r"\b(?:want|wanted|wish|going|plan|planning|ready|about|thinking (?:about|of)|think about|trying|tried|try|"
    r"deserve|rather|need)(?: to)?(?: just)? (?:die|be dead|dying|end (?:it|it all|my life|everything|things|"
    r"this)|take my (?:own )?life|not (?:be here|wake up|exist|be alive|live)|join (?:him|her|them)|be with "
    r"(?:him|her|them) (?:now|again|soon|tonight))\b",
    r"\bend(?:ing)? it all\b", r"\bend(?:ing)? my life\b", r"\b(?:take|taking|took) my (?:own )?life\b",
    r"\bsuicide is all\b", r"\b(?:think|thinking|thought) (?:about|of) (?:suicide|killing myself|ending it)\b",
    r"\bcant take (?:it|this|any more|no more)(?: \w+){0,2} (?:any more|no more|of this)\b",
    r"\bwant (?:it|this|everything)(?: all)? (?:to be )?over\b",
    r"\b(?:nobody|no one|noone|no1) (?:would|will|wud)(?: \w+)? (?:miss me|notice|care)\b",
    r"\b(?:im|i am) ending it\b", r"\b(?:tied|tying|got|bought) (?:the|a) (?:rope|noose)\b",
    r"\bbetter off (?:without me|dead|if i (?:was|were) (?:dead|gone))\b",
    r"\b(?:no|nothing|no point|no reason|whats the point|what is the point)\b(?: \w+){0,3} (?:living|to live|"
    r"going on|to go on|carrying on|to carry on|keep going|keeping going|being here|being alive|waking up|to wake up)\b",
    r"\bcant go on\b", r"\bcant carry on(?: any more| like this|$)",
    rf"\bcant (?:do this|do it|cope|take (?:it|this)|keep going|live like this|live with this){_W}{{0,2}} "
    r"(?:any more|no more|no longer)\b",
    r"\bdont want to (?:be here|live|be alive|wake up|go on|carry on|exist)\b",
    r"\b(?:wont|will not|not going to) (?:be here|be around|wake up)(?: \w+)? (?:much longer|tomorrow|any more|"
    r"for long|by the morning)\b",
    r"\b(?:i|ive|i have|im|i am)(?: \w+){0,3} (?:got|have|taken|took|swallowed|saved|saving|stockpiled|bought|"
    r"holding|counted|counting|collected)(?: \w+){0,4} (?:tablets|pills|paracetamol|painkillers|rope|noose|"
    r"razors?|blades|an overdose)\b",
    r"\b(?:tablets|pills|rope|noose|razor|blade)s?(?: \w+){0,2} (?:here|ready|in front of me|next to me|in my hand)\b",
    r"\b(?:take|taking|do|doing) an overdose\b", r"\boverdos(?:e|ing) (?:tonight|now|today)\b",
    r"\b(?:i|im|ive|been|keep|kept|started|start)(?: \w+){0,2} (?:self ?harm\w*|cutting(?: myself| again)?|"
    r"burning myself)\b",
    r"\b(?:this is|its) my last (?:message|text|txt)\b", r"\bgoodbye (?:everyone|all|forever|world)\b",
    r"\btell (?:my|the) (?:kids|children|family|mum|mam|dad|husband|wife|partner|boys|girls) i (?:love|loved|am sorry|"
    r"m sorry|was sorry)\b",
    r"\b(?:bridge|train tracks|railway|cliff)\b(?: \w+){0,4} (?:jump|end it)\b|\bjump(?:ing)? (?:off|in front of)\b",
    # Danger to the writer right now.
    r"\b(?:going to|gonna|will|wants to|threaten\w*|trying to|says hell|says he will|says shell|says she will)"
    r"(?: \w+){0,2} (?:kill|hurt|stab|attack|strangle|batter|beat) me\b",
    r"\b(?:is|hes|shes|theyre|are|keeps|keep) (?:\w+ )?(?:hitting|hurting|attacking|beating|strangling|choking|"
    r"kicking|punching|stabbing|threatening) me\b",
    r"\bscared for my life\b", r"\bin fear of my life\b",
    r"\b(?:hes|shes|theyre|someone|somebody|theres|there is|a man|he is|she is)\b(?: \w+){0,6} (?:has|got|with|"
    r"holding|waving) (?:a|his|her) (?:knife|gun|weapon|hammer|machete|bat)\b",
    r"\b(?:im|i am) (?:in danger|not safe|locked in|trapped)\b",
    r"\b(?:keep|keeping) myself safe\b", r"\ba danger to myself\b",
    r"\b(?:planned|planning|plan) (?:how|when|where) (?:to|im|i am|i will|ill|i)\b",
    r"\b(?:if|when|once|after) (?:i was|i were|im|i am) (?:gone|dead|not here|not around)\b",
    r"\bnever wake up\b", r"\b(?:nothing|no reason)(?: left)? to (?:live for|stay|stay for|go on for|keep going for)\b",
    r"\b(?:ill|i will|i wont|wont|not)(?: \w+)? be (?:here|around|alive) (?:by|in|tomorrow|much longer|any more|for long|next)\b",
    r"\b(?:in front of|under) a (?:train|bus|lorry|car)\b", r"\bdrive (?:into|off) (?:a|the)\b",
    r"\b(?:walk|walking|jump|jumping) (?:in|into|off)\b(?: \w+){0,2} (?:river|sea|canal|bridge|cliff|roof)\b",
    r"\b(?:river|sea|canal)\b(?: \w+){0,6} (?:walking in|walk in|jump in|jumping in)\b",
    r"\b(?:im|i am|sitting|sat|standing|stood)\b(?: \w+){0,3} (?:on|at) (?:the )?(?:edge of (?:the )?)?(?:bridge|cliff|"
    r"roof|ledge|railway|tracks)\b",
    r"\b(?:theres|there is|ive got|i have|got) a (?:rope|noose)\b", r"\bcar running\b(?: \w+){0,6} garage\b",
    r"\b(?:how many|how much|most)\b(?: \w+){0,3} (?:tablets|pills|paracetamol|painkillers)\b(?: \w+){0,6} "
    r"(?:kill|kills|die|fatal|lethal|overdose)\b",
    r"\b(?:just|already) (?:taken|took|swallowed) (?:all|a load of|loads of|a lot of|too many|the whole|my|a bottle of)"
    r"(?: \w+){0,3} (?:tablets|pills|paracetamol|painkillers)\b",
    r"\bcut(?:ting)? my (?:arms?|wrists?|legs?|thighs?)\b", r"\bbleeding(?: \w+){0,3} from my\b",
    r"\bself ?harm(?:ing|ed)? again\b",
    r"\b(?:hell|shell|theyll|he will|she will|they will|hes going to|shes going to) (?:kill|hurt|stab|batter|finish) me\b",
    r"\bnext time (?:hell|shell|he will|she will) finish\b",
    r"\b(?:just|has just|hes just|shes just)(?: \w+){0,2} (?:punched|hit|kicked|strangled|choked|attacked|stabbed|battered|"
    r"beaten) me\b",
    r"\b(?:locked me in|wont let me (?:leave|out|go))\b", r"\bhiding (?:in|from)\b(?: \w+){0,3}\b",
    r"\bhands? (?:round|around) my (?:neck|throat)\b", r"\b(?:just|has) kicked (?:the|my) (?:front |back )?door in\b",
    r"\b(?:hes|shes|theyre|he is|she is) (?:banging|kicking|smashing|trying to get in)\b",
    r"\bend(?:ing)? it (?:tonight|today|now)\b",
    r"\b(?:written|writing|wrote) (?:letters|notes|a letter|a note|goodbye) (?:to|for) (?:everyone|all|my|the)\b",
    r"\b(?:going to|gonna|want to|will|ill|be) (?:join|joining|be with) (?:him|her|them|my\b(?: \w+){0,2})(?: \w+){0,3} "
    r"(?:tonight|today|now|soon|before)\b",
]

_CHILD_PATTERNS = [
    rf"\b(?:is|are|hes|shes|theyre|keeps|keep|still|again|now)\b(?: \w+){{0,2}} (?:hitting|hurting|beating|"
    rf"punching|kicking|slapping|smacking|strangling|choking|shaking|burning|starving|abusing|touching|grooming|"
    rf"battering|threatening|raping|molesting)(?: \w+){{0,3}} {_CHILD}\b",
    rf"\b{_CHILD}\b(?: \w+){{0,3}} (?:is|are|s) (?:being|getting) (?:hit|hurt|beaten|abused|starved|touched|"
    rf"groomed|neglected|battered|threatened|raped|molested)\b",
    r"\b(?:told me|tells me|said|says|has told me|disclosed|confided)\b(?: \w+){0,6} (?:touches|touched|touching|"
    r"hurts|hits|abuses|abused|interferes|interfered|molested|raped|makes (?:her|him|them) do|does things)\b",
    rf"\b{_CHILD}\b(?: \w+){{0,4}} (?:home alone|left alone|on (?:their|his|her) own|alone in the house|no food|"
    rf"not been fed|havent eaten|starving|locked in|locked out)\b",
    rf"\b(?:left|leaving|leaves)(?: \w+){{0,2}} {_CHILD}\b(?: \w+){{0,3}} (?:alone|on (?:their|his|her) own)\b",
    rf"\bno food for (?:the |my )?{_CHILD}\b",
    rf"\b(?:hes|shes|theyre|has|have|he has|she has)(?: \w+){{0,2}} (?:taken|took|grabbed|snatched|run off with|"
    rf"ran off with)(?: \w+){{0,2}} {_CHILD}\b",
    rf"\b(?:scared|afraid|frightened|worried|terrified)\b(?: \w+){{0,4}} (?:going to|gonna|will|might|is going to)"
    rf"(?: \w+){{0,2}} (?:hurt|harm|kill|hit|touch|take|batter)\b(?: \w+){{0,3}} {_CHILD}\b",
    r"\b(?:has|have|got|keeps getting|keeps coming home with|turned up with|came home with|came to school with)"
    r"(?: \w+){0,2} (?:bruises|bruising|marks|burns|a black eye)\b",
    r"\b(?:is|are|being|getting) groomed\b|\bgrooming (?:her|him|them|my|our)\b",
    rf"\b(?:is|are|hes|shes|theyre|keeps|keep|still|again)\b(?: \w+){{0,2}} (?:hitting|hurting|beating|punching|kicking|"
    rf"slapping|smacking|strangling|choking|shaking|burning|abusing|touching|battering|threatening) (?:him|her|them)\b",
    rf"\b(?:hits|hurts|beats|kicks|punches|slaps|smacks|chokes|strangles|shakes|burns|starves|abuses|touches|locks|"
    rf"squeezes|bites|whips|threatens)\b(?: \w+){{0,2}} {_VICTIM}\b",
    rf"\b(?:just|has just|hes just|shes just)(?: \w+){{0,2}} (?:hit|threw|thrown|punched|kicked|burned|shook|hurt|"
    rf"strangled|choked|smacked|slapped)(?: \w+){{0,2}} {_VICTIM}\b",
    rf"\b(?:burned|burnt)(?: \w+){{0,2}} {_CHILD} with\b",
    rf"\b(?:hell|shell|theyll|he will|she will|they will|going to|gonna)(?: \w+)? (?:kill|hurt|harm|batter|take) "
    rf"(?:the |my |our |his |her )?(?:{_CHILD}|them)\b",
    rf"\b{_CHILD}\b(?: \w+){{0,3}} (?:is|are|s) being(?: \w+)? (?:abused|hurt|hit|beaten|touched|groomed|exploited)\b",
    r"\b(?:is|are|s|been|hes|shes|theyre|left)(?: \w+){0,3} (?:alone|on (?:their|his|her) own)(?: \w+){0,2} "
    r"(?:now|tonight|all night|all day|for hours|for days|again)\b",
    r"\b(?:doesnt|dont|never|wont|isnt|not) (?:feed|feeding|fed) (?:him|her|them|the)\b",
    r"\b(?:at|to|in) (?:a|an|some|this) (?:older )?mans (?:flat|house|car|place)\b",
    rf"\b(?:leaving|leaves|left) (?:her|his|their|the|a|my)(?: \w+)? {_CHILD} (?:in the car|alone|on (?:their|his|her) "
    r"own|outside)\b",
    rf"\b(?:someone has|a man has|a woman has|hes|shes|has)(?: just)? (?:taken|grabbed|snatched|dragged|took)(?: \w+){{0,2}}"
    rf" {_CHILD}\b",
    rf"\bdrag(?:ged|ging)? a(?: \w+)? {_CHILD}\b",
    r"\b(?:told me|tells me|said|says|has told me)\b(?: \w+){0,6} (?:puts|locks|squeezes|chokes|strangles|burns|beats|"
    r"kicks|slaps|smacks|bites|whips|comes into|comes in)\b",
    r"\bcomes? (?:in|into) (?:her|his|their) (?:room|bed)\b",
    r"\bshow(?:ed|ing|s)? (?:her|him|them|my \w+) (?:his|her) (?:willy|penis|privates|private parts|bits)\b",
    r"\b(?:made to|forced to|making (?:him|her|them)) (?:sell|carry|deliver) drugs\b",
    r"\bgiving (?:her|him|them) (?:drugs|alcohol|vodka|weed)\b", r"\bblackmail(?:ing|ed)? (?:him|her|them|my)\b",
    rf"\b(?:using|taking|doing|smoking) (?:heroin|crack|drugs|coke|cocaine)(?: \w+){{0,3}} (?:in front of|around|with) "
    rf"(?:them|the|{_CHILD})\b",
    r"\bolder (?:men|man|lads|boys)\b(?: \w+){0,8} (?:picked up|picking (?:her|him) up|cars?|drugs|drunk)\b",
]

# Two-part signs: each alone is common in grief; together with a child, now, they are not.
_IMPAIRED_CARER = re.compile(r"\b(?:hes|shes|theyre|is|are|been)\b (?:\w+ )?(?:drunk|drinking|high|off (?:his|her|their) "
                             r"(?:head|face)|wasted|out of it|smashed|passed out|on drugs)\b")
_NEGLECT_NOW = re.compile(r"\b(?:is|are|s|living|theres|there is|got|has|have)\b(?: \w+){0,4} (?:no food|nothing to eat|"
                          r"no heating)\b|\bdog bowl\b")
_GROOMING_ASK = re.compile(r"\b(?:pictures|photos|nudes|secrets|secret|meet up|to meet (?:her|him)|not to tell)\b")
_ONLINE = re.compile(r"\b(?:online|snapchat|instagram|roblox|tiktok|facebook|whatsapp|messaging|messages|texting)\b")
_CHILD_WORD = re.compile(rf"\b{_CHILD}\b|\b(?:hes|shes|theyre|only|aged) \d{{1,2}}\b")
_SELF = [re.compile(p) for p in _SELF_PATTERNS]
_CHILD_RE = [re.compile(p) for p in _CHILD_PATTERNS]


# Grief about something that has happened, with nothing of the writer's own wish or of danger now:
# when only the classifier (not the patterns above) calls such a message a crisis, it is overruled.
_PAST_HARM = re.compile(r"\b(?:died|passed away|killed|murdered|funeral|inquest|coroner|prison|jail|jailed|convicted|"
                        r"sentenced|post mortem|trial)\b")
_WISH_OR_DANGER_NOW = re.compile(r"\b(?:i|im|ive|id)\b(?: \w+){0,3} (?:want|wish|going to|need|cant|dont want|will|"
                                 r"scared|terrified|frightened|worried)\b|\b(?:right now|tonight|help me|please help|"
                                 r"with (?:him|her|them) now|keeps|again)\b")
_DEATH_WISH = re.compile(r"\b(?:should (?:have|of) died|want to die|die too|be dead)\b")
_CARRY_IT_OUT = re.compile(r"\b(?:going to|will|ill) (?:make (?:that|it) happen|do it)\b")


def normalise(text: str) -> str:
    """Lower case, no apostrophes, words only, SMS spelling spelled out."""
    text = text.lower().replace("\u2019", "'").replace("'", "")
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    return " ".join(_SPELLINGS.get(word, word) for word in words)


def check(text: str) -> str | None:
    """CRISIS_SELF or CHILD_AT_RISK if the message looks like a crisis happening now, else None."""
    plain = normalise(text)
    if any(p.search(plain) for p in _SELF) or (_DEATH_WISH.search(plain) and _CARRY_IT_OUT.search(plain)):
        return CRISIS_SELF
    if any(p.search(plain) for p in _CHILD_RE):
        return CHILD_AT_RISK
    if _CHILD_WORD.search(plain) and (
        _IMPAIRED_CARER.search(plain) or _NEGLECT_NOW.search(plain)
        or (_GROOMING_ASK.search(plain) and _ONLINE.search(plain))
    ):
        return CHILD_AT_RISK
    return None


def decide(text: str) -> SafetyDecision:
    """The one safety decision for a message, in every state of a conversation (provisional: keywords only)."""
    kind = check(text)
    if kind is None:
        return SafetyDecision()
    return SafetyDecision(CRISIS, kind, frozenset({"keywords"}))


def classifier_alarm_stands(text: str) -> bool:
    """Whether the NLU classifier's crisis intent stands for a message `check` found nothing in.

    It does not for a word or two ("abuse?" is a question about the review), nor for grief about
    what has happened with no wish of the writer's own and no sign of danger now.
    """
    plain = normalise(text)
    if len(plain.split()) <= 2:
        return False
    return not (_PAST_HARM.search(plain) and not _WISH_OR_DANGER_NOW.search(plain))


def signposting(kind: str, partnership: Partnership) -> Answer:
    lines = _lines(kind, partnership.helplines)
    return Answer(sms=" ".join(lines), web="\n\n".join(lines))


def helpline_summary(partnership: Partnership) -> str:
    """The helplines in one line, for reminders while a family waits for staff."""
    helplines = partnership.helplines
    return f"If you are in danger, call {helplines['emergency']['number']}. " + _listen(helplines)


def _listen(helplines: dict) -> str:
    samaritans, shout = helplines["samaritans"], helplines["shout"]
    return (
        f"{samaritans['name']}: call {samaritans['number']} ({samaritans['hours']}). "
        f"{shout['name']}: text {shout['keyword']} to {shout['number']}."
    )


def _lines(kind: str, helplines: dict) -> list[str]:
    emergency, nspcc, listen = helplines["emergency"]["number"], helplines["nspcc"], _listen(helplines)
    if kind == CHILD_AT_RISK:
        return [
            f"Thank you for telling me. If a child is in danger right now, call {emergency}.",
            f"{nspcc['name']}: call {nspcc['number']}.",
            listen,
        ]
    return [
        f"I'm so sorry you're going through this. If you are in danger right now, call {emergency}.",
        listen,
    ]
