"""Units of measure after a number, in agreement with it: "5 км" -> "пять километров",
"1,5 кг" -> "одна целая пять десятых килограмма", "-5 °C" -> "минус пять градусов Цельсия",
"3 км/ч" -> "три километра в час", "50 м²" -> "пятьдесят квадратных метров",
"3,2 млн л" -> "три целых две десятых миллиона литров", "3 сут." -> "трое суток".

The table holds the SI units and the abbreviations Russian text uses (ГОСТ 8.417 symbols,
time words «сут.», «нед.», «мес.», counters «шт.», «чел.»); squares and cubes of lengths are
built from the lengths («м²», «м2», «кв. м», «куб. см»).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from lidia.text.grammar import governed_cases, words_before
from lidia.text.morphology import analyze, inflect, inflect_adjective, lemma_gender
from lidia.text.numbers import counted, plural_category, split_number
from lidia.text.patterns import NO_DIGIT_BEFORE, NUM, safe_sub, sentence_end_kept

__all__ = [
    "PER_UNIT",
    "RANGE_START",
    "expand_units",
    "per_unit_words",
    "range_start_words",
    "spoken_measure",
]


class Unit(NamedTuple):
    noun: str  # dictionary form
    adjective: str = ""  # «квадратный», «кубический», «лошадиный»
    after: str = ""  # words said after the noun: «Цельсия», «ртутного столба»


_LENGTHS = {"мм": "миллиметр", "см": "сантиметр", "дм": "дециметр", "м": "метр", "км": "километр"}
_UNITS: dict[str, Unit] = {
    "%": Unit("процент"),
    "°C": Unit("градус", after="Цельсия"),
    "°С": Unit("градус", after="Цельсия"),
    "°F": Unit("градус", after="Фаренгейта"),
    "°": Unit("градус"),
    # multipliers
    "тыс": Unit("тысяча"),
    "млн": Unit("миллион"),
    "млрд": Unit("миллиард"),
    # time
    "мс": Unit("миллисекунда"),
    "с": Unit("секунда"),
    "сек": Unit("секунда"),
    "мин": Unit("минута"),
    "ч": Unit("час"),
    "сут": Unit("сутки"),
    "дн": Unit("день"),
    "нед": Unit("неделя"),
    "мес": Unit("месяц"),
    # length, area, volume
    "мкм": Unit("микрометр"),
    "нм": Unit("нанометр"),
    **{symbol: Unit(noun) for symbol, noun in _LENGTHS.items()},
    "га": Unit("гектар"),
    "сот": Unit("сотка"),
    "мл": Unit("миллилитр"),
    "л": Unit("литр"),
    # mass
    "мг": Unit("миллиграмм"),
    "г": Unit("грамм"),
    "гр": Unit("грамм"),
    "кг": Unit("килограмм"),
    "ц": Unit("центнер"),
    "т": Unit("тонна"),
    # electricity, power, energy, frequency, pressure, sound
    "В": Unit("вольт"),
    "кВ": Unit("киловольт"),
    "мА": Unit("миллиампер"),
    "мАч": Unit("миллиампер-час"),
    "мА·ч": Unit("миллиампер-час"),
    "Ом": Unit("ом"),
    "Вт": Unit("ватт"),
    "кВт": Unit("киловатт"),
    "МВт": Unit("мегаватт"),
    "кВт·ч": Unit("киловатт-час"),
    "кВтч": Unit("киловатт-час"),
    "л.с.": Unit("сила", "лошадиный"),
    "Дж": Unit("джоуль"),
    "кДж": Unit("килоджоуль"),
    "кал": Unit("калория"),
    "ккал": Unit("килокалория"),
    "Гц": Unit("герц"),
    "кГц": Unit("килогерц"),
    "МГц": Unit("мегагерц"),
    "ГГц": Unit("гигагерц"),
    "Па": Unit("паскаль"),
    "кПа": Unit("килопаскаль"),
    "МПа": Unit("мегапаскаль"),
    "атм": Unit("атмосфера"),
    "мм рт. ст.": Unit("миллиметр", after="ртутного столба"),
    "дБ": Unit("децибел"),
    # data
    "бит": Unit("бит"),
    "Кбит": Unit("килобит"),
    "Мбит": Unit("мегабит"),
    "Гбит": Unit("гигабит"),
    **dict.fromkeys(["КБ", "Кб", "кБ"], Unit("килобайт")),
    **dict.fromkeys(["МБ", "Мб"], Unit("мегабайт")),
    **dict.fromkeys(["ГБ", "Гб"], Unit("гигабайт")),
    **dict.fromkeys(["ТБ", "Тб"], Unit("терабайт")),
    # counters
    "шт": Unit("штука"),
    "уп": Unit("упаковка"),
    "чел": Unit("человек"),
    "об": Unit("оборот"),
}
# Squares and cubes of lengths: «м²», «м2», «кв. м», «кв.м»; «см³», «см3», «куб. см».
_SQUARES: dict[str, Unit] = {}
for _symbol, _noun in _LENGTHS.items():
    for _marks, _prefix, _adjective in (("²2", "кв.", "квадратный"), ("³3", "куб.", "кубический")):
        for _mark in _marks:
            _SQUARES[_symbol + _mark] = Unit(_noun, _adjective)
        _SQUARES[f"{_prefix} {_symbol}"] = Unit(_noun, _adjective)
_UNITS.update(_SQUARES)
_MULTIPLIERS = ("тыс", "млн", "млрд")

# The unit after «/»: "км/ч" is "в час", "кг/кг" is "на килограмм", "руб./мес." "в месяц".
_PER_TIME = {
    "ч": "час", "час": "час", "мин": "минута", "с": "секунда", "сек": "секунда",
    "сут": "сутки", "дн": "день", "день": "день", "нед": "неделя", "мес": "месяц",
    "г": "год", "год": "год",
}  # fmt: skip
_PER_OTHER = {
    **{symbol: unit for symbol, unit in _UNITS.items() if symbol not in _PER_TIME},
    "человек": Unit("человек"),
    "чел": Unit("человек"),
}
_PER_PHRASES = {"100 км": "на сто километров"}  # fuel: «6 л/100 км»
_KEYS = {key.replace(" ", ""): key for key in (*_UNITS, *_PER_TIME, *_PER_OTHER, *_PER_PHRASES)}


def _key(symbol: str) -> str:
    """The table key of a written symbol: spaces squeezed out, a final optional dot dropped."""
    squeezed = re.sub(r"\s+", "", symbol)
    return _KEYS.get(squeezed) or _KEYS.get(squeezed.rstrip("."), squeezed)


def _alternation(symbols: list[str]) -> str:
    ordered = sorted(symbols, key=len, reverse=True)
    return "|".join(re.escape(s).replace(r"\ ", r"\s?") for s in ordered)


PER_UNIT = rf"(?:\s*/\s*({_alternation([*_PER_TIME, *_PER_OTHER, *_PER_PHRASES])})\.?(?!\w))"


def per_unit_words(symbol: str) -> str:
    """ "ч" -> "в час", "кг" -> "на килограмм", "м²" -> "на квадратный метр"."""
    key = _key(symbol)
    if key in _PER_PHRASES:
        return _PER_PHRASES[key]
    if key in _PER_TIME:
        return f"в {inflect(_PER_TIME[key], 'a', key == 'сут')}"
    unit = _PER_OTHER[key]
    adjective = inflect_adjective(unit.adjective, "a", False, lemma_gender(unit.noun))
    noun = inflect(unit.noun, "a", False)
    return " ".join(w for w in ("на", adjective, noun, unit.after) if w)


def spoken_measure(number: str, case: str, unit: Unit, multiplier: str | None = None) -> str:
    """A number and its unit in agreement: ("50", "n", м²) -> "пятьдесят квадратных метров"."""
    if multiplier:
        # «3,2 млн л»: the unit after a multiplier is always in the genitive plural.
        adjective = inflect_adjective(unit.adjective, "g", True, "")
        words = [counted(number, case, _UNITS[multiplier].noun), adjective]
        words.append(inflect(unit.noun, "g", True))
    else:
        whole, fraction = split_number(number)
        numeral, _, noun = counted(number, case, unit.noun).rpartition(" ")
        adjective_case, plural = _adjective_form(int(whole), case, bool(fraction))
        gender = lemma_gender(unit.noun)
        words = [numeral, inflect_adjective(unit.adjective, adjective_case, plural, gender), noun]
    return " ".join(w for w in (*words, unit.after) if w)


def range_start_words(number: str, case: str, lemma: str) -> str:
    """The first number of a range sharing the noun `lemma`: ("1", "n", "неделя") -> "одна"."""
    noun = _UNITS[lemma].noun if lemma in _UNITS else lemma
    return counted(number, case, noun).rpartition(" ")[0]


def _adjective_form(n: int, case: str, fraction: bool) -> tuple[str, bool]:
    """(case, plural) of an adjective between a count and its noun: «два квадратных метра»."""
    if fraction:
        return "g", False
    if plural_category(n) == "one":
        return case, False
    return ("g", True) if case in ("n", "a") else (case, True)


# "3-5 дн.": a range shares its unit; the first number agrees with it too.
RANGE_START = rf"(?:({NUM})\s*[–—-]\s*(?=\d))?"
_UNIT = re.compile(
    rf"(?:(?<![^\s(\[])([-−+]))?{NO_DIGIT_BEFORE}{RANGE_START}({NUM})\s*"
    rf"(?:({'|'.join(_MULTIPLIERS)})\.?\s*(?=\S))?"
    rf"(°\s*[CСF]|%|(?:{_alternation([s for s in _UNITS if s not in ('с', 'В', '%')])})"
    rf"(?:\.(?!\w))?(?!\w)|[сВ](?=\s*(?:[.,;:!?)]|/|$)))"
    rf"{PER_UNIT}?"
)
_SIGNS = {"-": "минус ", "−": "минус ", "+": "плюс "}


def expand_units(text: str) -> str:
    """Counted units and their abbreviations, in the case their context asks for.

    "5%" -> "пять процентов", "5 тыс." -> "пять тысяч", "через 10 мин." -> "через десять
    минут", "20 м/с" -> "двадцать метров в секунду"; a lone «с» (seconds) or «В» (volts) is a
    unit only at the end of a phrase ("20 с", not "5 с половиной").
    """

    def repl(m: re.Match[str]) -> str:
        sign, first, number, multiplier, symbol, per = m.groups()
        unit = _UNITS[_key(re.sub(r"°\s*", "°", symbol))]
        if multiplier and unit.noun in ("тысяча", "миллион", "миллиард"):
            return m.group()  # «5 тыс. млн»: not a measure
        case = governed_cases(m.string, m.start())[0]
        words = _SIGNS.get(sign or "", "") + spoken_measure(number, case, unit, multiplier)
        if first:
            words = f"{range_start_words(first, case, multiplier or unit.noun)} — {words}"
        if per:
            words += " " + per_unit_words(per)
        if m.group().endswith("."):
            words += sentence_end_kept(m.string, m.end())
        return words

    text = safe_sub(_UNIT, repl, text)
    return safe_sub(_BARE_SQUARE, _bare_square, text)


# «м²», «кв. м» with no digits before them: «цена за кв. м», «один м²».
_BARE_SQUARE = re.compile(
    rf"(?<![\w\d])({_alternation([s for s in _SQUARES if s[-1] not in '23'])})(?!\w)"
)
_COUNTED_BY_FEW = frozenset(["два", "три", "четыре", "оба", "полтора"])


def _bare_square(m: re.Match[str]) -> str:
    unit = _SQUARES[_key(m.group(1))]
    gender = lemma_gender(unit.noun)
    before = words_before(m.string, m.start(), 1)
    numeral = next((f for f in analyze(before[0]) if f.pos == "NUMR"), None) if before else None
    if numeral is None or numeral.lemma == "один":
        case = numeral.case if numeral else governed_cases(m.string, m.start())[0]
        adjective = inflect_adjective(unit.adjective, case, False, gender)
        return f"{adjective} {inflect(unit.noun, case, False)}"
    if numeral.lemma in _COUNTED_BY_FEW and numeral.case in ("n", "a"):
        return (
            f"{inflect_adjective(unit.adjective, 'g', True, '')} {inflect(unit.noun, 'g', False)}"
        )
    case = "g" if numeral.case in ("n", "a") else numeral.case
    return f"{inflect_adjective(unit.adjective, case, True, '')} {inflect(unit.noun, case, True)}"
