"""Which case and gender a number takes: from the words before it and the noun after it.

The words before a number govern its case (a preposition, a compound preposition such as
«в течение», a transitive verb whose object it is); the noun after it shows the case the
writer meant («в 3 комнатах» is prepositional though «в» usually takes the accusative) and
gives the numeral its gender («1 подпись» — «одна»).
"""

from __future__ import annotations

import re
from collections import defaultdict

from lidia.text.morphology import WordForm, analyze, gender_of
from lidia.text.numbers import plural_category

__all__ = [
    "count_agreement",
    "counted_noun",
    "date_case",
    "governed_cases",
    "next_noun",
    "word_before",
    "words_before",
]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Prepositions and comparatives -> the cases they govern, most usual first.
_PREPOSITION_CASES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        _words(
            "до от после около из без для у кроме более менее свыше порядка вплоть против "
            "возле вместо больше меньше старше младше дороже дешевле накануне среди позже "
            "раньше выше ниже дольше"
        ),
        ("g",),
    ),
    **dict.fromkeys(_words("к ко согласно благодаря"), ("d",)),
    **dict.fromkeys(_words("о об обо при"), ("p",)),
    **dict.fromkeys(_words("через про сквозь"), ("a",)),
    **dict.fromkeys(_words("в во на"), ("a", "p")),
    **dict.fromkeys(_words("с со"), ("g", "i")),
    **dict.fromkeys(_words("за"), ("a", "i")),
    **dict.fromkeys(_words("по"), ("a", "d", "p")),
    **dict.fromkeys(_words("под над перед между"), ("i",)),
}
# Compound prepositions, by their last two words: all govern the genitive but «с».
_COMPOUND_CASES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        [
            "в течение", "в течении", "в размере", "в количестве", "в пределах", "в районе",
            "в возрасте", "в объёме", "в объеме", "на протяжении", "по истечении", "в ходе",
            "в срок", "не более", "не менее", "не позднее", "не позже", "не раньше",
            "не ранее", "в виде", "в счёт", "в счет", "со стороны", "в адрес", "в сумме",
        ],
        ("g",),
    ),
    **dict.fromkeys(["вместе с", "наряду с", "сравнению с", "связи с"], ("i",)),
}  # fmt: skip
_WORD = re.compile(r"([а-яёa-z]+)[ \u00a0]*$", re.IGNORECASE)


def words_before(text: str, pos: int, count: int = 2) -> list[str]:
    """Up to `count` lowercased words just before `pos`, nearest last; punctuation stops it."""
    words: list[str] = []
    end = pos
    while len(words) < count:
        m = _WORD.search(text, max(0, end - 40), end)
        if not m:
            break
        words.insert(0, m.group(1).lower())
        end = m.start()
    return words


def word_before(text: str, pos: int) -> str:
    """The lowercased word just before `pos` (empty if punctuation intervenes)."""
    words = words_before(text, pos, 1)
    return words[0] if words else ""


def case_after(word: str) -> str:
    """The usual case after the preposition `word` ("n" if it is none)."""
    return _PREPOSITION_CASES.get(word, ("n",))[0]


# Verbs and predicatives (by lemma) whose object is not in the accusative: «не хватает пяти
# минут», «равно двум», «является одним».
_VERB_CASES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        _words(
            "хватать хватить недоставать достигать достичь достигнуть избегать избежать "
            "бояться лишиться лишаться касаться коснуться добиться добиваться нет"
        ),
        ("g",),
    ),
    **dict.fromkeys(
        _words(
            "равняться равный соответствовать помогать помочь звонить позвонить подлежать "
            "доверять радоваться"
        ),
        ("d",),
    ),
    **dict.fromkeys(
        _words(
            "являться стать становиться оказаться оказываться обладать владеть пользоваться "
            "воспользоваться заниматься руководить управлять располагать ограничиться "
            "ограничиваться обойтись обходиться гордиться измеряться исчисляться"
        ),
        ("i",),
    ),
}
_GOVERNING_POS = frozenset(["VERB", "INFN", "ADJS", "PRTS", "ADVB", "PRED", "CONJ", "GRND"])


def _verb_cases(word: str) -> tuple[str, ...]:
    """Cases a verb (or «равно», «равен») governs for its object; () if it is none."""
    forms = analyze(word)
    for form in forms:
        if form.pos in _GOVERNING_POS and form.lemma in _VERB_CASES:
            return _VERB_CASES[form.lemma]
    if forms and forms[0].pos in ("VERB", "INFN") and forms[0].transitive:
        return ("a", "n")  # the object of «займёт», «поставьте», «оплатите»
    return ()


def _agreeing_word_cases(word: str) -> tuple[str, ...]:
    """Cases of an adjective or pronoun standing before a numeral: «всех», «этих», «первые».

    The numeral phrase agrees with it: «у всех 5 сотрудников» is «у всех пяти сотрудников».
    """
    forms = analyze(word)
    if not forms or forms[0].pos not in ("ADJF", "PRTF") or forms[0].fixed:
        return ()
    cases: list[str] = []
    for form in forms:
        if form.pos in ("ADJF", "PRTF") and form.plural and form.case not in cases:
            cases.append(form.case)
    return tuple(cases)


def governed_cases(text: str, pos: int) -> tuple[str, ...]:
    """Cases the words before `pos` allow for a number there, the most likely first.

    A preposition (or a compound one) governs the numeral phrase; an adjective or pronoun
    before it lends its own cases («этих 5 дней»), narrowed by a preposition before that
    («в первые 5 минут»); a verb governs its object («не хватает 5 минут»: genitive).
    """
    before = words_before(text, pos, 3)
    if not before:
        return ("n",)
    agreeing = _agreeing_word_cases(before[-1])
    if agreeing:
        before = before[:-1]
    if len(before) >= 2 and " ".join(before[-2:]) in _COMPOUND_CASES:
        governed = _COMPOUND_CASES[" ".join(before[-2:])]
    elif before and before[-1] in _PREPOSITION_CASES:
        governed = _PREPOSITION_CASES[before[-1]]
    elif before and not agreeing:
        governed = _verb_cases(before[-1]) or ("n",)
    else:
        governed = ()
    if agreeing:
        narrowed = tuple(case for case in agreeing if case in governed)
        return narrowed or governed or agreeing
    return governed


def date_case(text: str, pos: int) -> str:
    """The case of a day of the month at `pos`: its preposition's, else the genitive after a
    noun or a verb («приём 5 мая», «приходите 5 мая», «назначен 5 мая»: when), else the
    nominative."""
    governed = governed_cases(text, pos)
    if governed != ("n",):
        return governed[0]
    if _DAY_THEN_DATE.search(text, 0, pos):
        return "g"  # «в четверг, 10 декабря», «завтра, 5 мая»: which day, said as a date
    before = words_before(text, pos, 1)
    forms = analyze(before[0]) if before else ()
    when = forms and forms[0].pos in ("NOUN", "VERB", "INFN", "PRTS") and not forms[0].name
    return "g" if when and before[0] not in _DATE_APPOSITIONS else "n"


# A day named, a comma, then its date: the date says "when" too, in the genitive.
_DAY_THEN_DATE = re.compile(
    r"(?<![а-яё])(?:понедельник|вторник|сред[ауы]|четверг|пятниц[ауы]|суббот[ауы]"
    r"|воскресень[ея]|сегодня|завтра|послезавтра)[ \u00a0]*,[ \u00a0]*$",
    re.IGNORECASE,
)

# Nouns a date stands beside in the nominative: «дата 5 мая», «сегодня 5 мая».
_DATE_APPOSITIONS = _words("дата число сегодня завтра вчера день")


def _skippable(forms: tuple[WordForm, ...]) -> bool:
    """An adjective between a number and its noun: «2 рабочих дня», «3 новые заявки»."""
    return bool(forms) and forms[0].pos in ("ADJF", "PRTF") and not forms[0].fixed


_NEXT_WORD = re.compile(r"[ \u00a0]*([а-яё]+)\b", re.IGNORECASE)
_FUNCTION_POS = frozenset(["PREP", "CONJ", "PRCL", "INTJ"])
# A second number the first one shares its noun with: «от 1 до 2 недель», «1 или 2 минуты»,
# «1 — 2 минуты», «1 из 3 заявок».
_SHARED_NOUN_BRIDGE = re.compile(
    r"[ \u00a0]*(до|по|или|и|из|[–—-])[ \u00a0]*\d+(?:[.,]\d+)?(?:-[а-я]{1,3})?(?!\d)",
    re.IGNORECASE,
)


def counted_noun(text: str, pos: int) -> tuple[tuple[WordForm, ...], str]:
    """The noun a number ending at `pos` counts, and the word before a second number the
    noun stands past ("" when it follows the number itself).

    Past a second number the noun's form belongs to that number, so only its gender tells
    about the first one: «от 1 до 2 недель» is «от одной до двух недель».
    """
    noun = next_noun(text, pos)
    if noun:
        return noun, ""
    m = _SHARED_NOUN_BRIDGE.match(text, pos)
    if m:
        return next_noun(text, m.end()), m.group(1).lower()
    return (), ""


def next_noun(text: str, pos: int) -> tuple[WordForm, ...]:
    """Readings of the noun right after `pos` (past at most two adjectives); () if none."""
    for _ in range(3):
        m = _NEXT_WORD.match(text, pos)
        if not m:
            return ()
        forms = analyze(m.group(1).lower())
        if forms and forms[0].pos in _FUNCTION_POS:
            return ()
        if any(f.pos == "NOUN" for f in forms) and not _skippable(forms):
            return tuple(f for f in forms if f.pos == "NOUN")
        if not _skippable(forms):
            return ()
        pos = m.end()
    return ()


def _cases_a_noun_allows(n: int, form: WordForm) -> tuple[str, ...]:
    """Cases of a number `n` that would leave the counted noun in this form."""
    category = plural_category(n)
    if form.plural_only:
        # «одни сутки», «двое суток», «пять суток», «двух суток»: the noun is always plural.
        if category == "one" or form.case in ("d", "i", "p"):
            return (form.case,)
        return ("n", "a", "g") if form.case == "g" else ()
    if category == "one":
        return () if form.plural else (form.case,)
    if form.plural and form.case in ("d", "i", "p"):
        return (form.case,)
    if form.case != "g":
        return ()
    if category == "few":
        return ("g",) if form.plural else ("n", "a")
    return ("n", "a", "g") if form.plural else ()


def count_agreement(
    n: int, noun: tuple[WordForm, ...], governed: tuple[str, ...]
) -> tuple[str, str]:
    """(case, gender) of the numeral `n` before `noun`, in a context allowing `governed`."""
    weights: dict[str, float] = defaultdict(float)
    gender = gender_of(noun)
    for form in noun:
        if form.fixed:
            continue
        for case in _cases_a_noun_allows(n, form):
            weights[case] += form.score or 1e-3
    for case in governed:
        if case in weights:
            return case, gender
    if weights:
        return max(weights, key=weights.__getitem__), gender
    case = governed[0]
    return ("n" if case == "a" and not noun else case), gender
