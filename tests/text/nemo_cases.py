"""NVIDIA NeMo-text-processing's public Russian test cases: an outside check of `lidia.text`.

The cases are read at run time from the shared folder beside the repository
(`<repo>/../shared/benchmarks/nemo-ru-tn/`, see its README), never copied into it. Each line
is `expected~input`; the same input on several lines lists several accepted readings.

The "fair" subset leaves out what the shared README lists as the references' own defects:
misspelt or ungrammatical expected outputs, bare numbers of `test_cases_ordinal.txt` whose
case no sentence decides, and the file NeMo's own tests do not use. 125 inputs remain.

NeMo's tests accept an output found among up to 100 candidates of its grammar, so one line is
one acceptable reading, not the only one. `ALSO_ACCEPTED` adds, for some inputs, the other
readings a Russian listener takes as right, each with the reason; they are accepted from
every normaliser alike, and the files are never rewritten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NEMO_DIR = REPO.parent / "shared" / "benchmarks" / "nemo-ru-tn"

# The defects the shared README names: their expected outputs are misspelt or ungrammatical.
DEFECTIVE_INPUTS = frozenset(
    ["1,3", "46664", "12 кг", "12кг", "4,2-килограммовый мешок", "4 кг/кг", "1/кг", "9мешок"]
)
UNUSED_FILES = frozenset(["test_cases_cardinal_normalize_with_audio.txt"])

# input -> (other readings accepted, why). Judged by ear, for every normaliser alike.
ALSO_ACCEPTED: dict[str, tuple[tuple[str, ...], str]] = {
    "1126": (
        ("тысяча сто двадцать шесть",),
        "NeMo accepts «тысяча» without «одна» for 1000, 1001, 1013, 1026 and 1100",
    ),
    "2-б-34": (
        ("два б тридцать четыре",),
        "a group of digits in a code is read as a number as well as digit by digit",
    ),
    "06.03.2006": (
        ("шестое марта две тысячи шестого года", "шестого марта две тысячи шестого года"),
        "«года» after the year is optional",
    ),
    "01-01-86": (
        ("первое января восемьдесят шестого года", "первое января восемьдесят шестого",
         "первого января восемьдесят шестого года"),
        "a date alone is read in the nominative (the dictionary reading) as well as the "
        "genitive; «года» after the year is optional",
    ),
    "2/3/1906": (
        ("второе марта тысяча девятьсот шестого года",),
        "«года» after the year is optional",
    ),
    "6/3/1006г.": (
        ("шестое марта тысяча шестого года",),
        "the reference itself",
    ),
    "03-фев-2002": (
        ("третье февраля две тысячи второго года", "третье февраля две тысячи второго",
         "третьего февраля две тысячи второго года"),
        "a date alone: nominative or genitive; «года» optional",
    ),
    "31.01.06": (
        ("тридцать первое января ноль шестого года", "тридцать первое января ноль шестого",
         "тридцать первого января ноль шестого года"),
        "a date alone: nominative or genitive; «года» optional",
    ),
    "31 руб.": (
        ("тридцать один рубль",),
        "a sum alone is in the nominative; the reference's «тридцать одного рубля» is a "
        "genitive that only a governing word could ask for",
    ),
    "2,03 руб.": (
        ("два рубля три копейки",),
        "a decimal sum of roubles is said in roubles and kopecks; the reference's "
        "«две целых три сотых рублей» is also ungrammatical (a fraction takes «рубля»)",
    ),
    "18000 долл. США": (
        ("восемнадцать тысяч долларов сэ шэ а",),
        "the letter Ш in an acronym is said «шэ»",
    ),
    "3-х": (
        ("трёх",),
        "«-х» after 2, 3 or 4 is more often the cardinal («в 3-х экземплярах») than the ordinal",
    ),
    "1-е": (("первое",), "«-е» alone is the neuter singular as well as the plural"),
    "2-е": (("второе",), "«-е» alone is the neuter singular (NeMo reads «3-е» as «третье»)"),
    "5-е": (("пятое",), "«-е» alone is the neuter singular as well as the plural"),
    "13:05": (("тринадцать ноль пять",), "clock times are said as two numbers as well"),
    "02:03": (("два ноль три",), "clock times are said as two numbers as well"),
    "01:00": (("один ноль ноль",), "clock times are said as two numbers as well"),
    "02:00": (("два ноль ноль",), "clock times are said as two numbers as well"),
    "05:45": (("пять сорок пять",), "clock times are said as two numbers as well"),
    "09:59": (("девять пятьдесят девять",), "clock times are said as two numbers as well"),
    "12:00": (("двенадцать ноль ноль",), "clock times are said as two numbers as well"),
    "08:07": (("восемь ноль семь",), "clock times are said as two numbers as well"),
}  # fmt: skip


@dataclass(frozen=True)
class NemoCase:
    kind: str  # the file's class: "cardinal", "date", "measure", ...
    text: str
    references: tuple[str, ...]  # NeMo's own accepted readings
    also_accepted: tuple[str, ...]  # ours, from ALSO_ACCEPTED


class NemoCasesMissing(RuntimeError):
    """The shared NeMo cases are not beside the repository."""


def comparable(text: str) -> str:
    """The README's exact match: lower case, ё as е, punctuation and hyphens as spaces."""
    text = text.lower().replace("ё", "е")
    return " ".join(re.sub(r"[^\w\s]|_", " ", text).split())


def _is_fair(file_name: str, text: str) -> bool:
    if text in DEFECTIVE_INPUTS:
        return False
    # A bare number among the ordinals: no sentence decides its case.
    return not (file_name == "test_cases_ordinal.txt" and re.fullmatch(r"\d+", text))


def load_cases(directory: Path = NEMO_DIR, fair_only: bool = True) -> list[NemoCase]:
    """Every input of NeMo's Russian test files with its accepted readings, file by file."""
    if not directory.is_dir():
        raise NemoCasesMissing(
            f"NeMo's Russian cases are missing: expected {directory} (the shared folder "
            "`shared/benchmarks/nemo-ru-tn/` beside the repository clone)"
        )
    cases: list[NemoCase] = []
    for path in sorted(directory.glob("test_cases_*.txt")):
        if path.name in UNUSED_FILES:
            continue
        references: dict[str, list[str]] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            expected, tilde, text = line.partition("~")
            if tilde and (_is_fair(path.name, text) or not fair_only):
                references.setdefault(text, []).append(expected)
        kind = path.stem.removeprefix("test_cases_")
        for text, readings in references.items():
            also = ALSO_ACCEPTED.get(text, ((), ""))[0]
            cases.append(NemoCase(kind, text, tuple(readings), also))
    return cases


def reads_right(output: str, case: NemoCase, with_also_accepted: bool = True) -> bool:
    accepted = case.references + (case.also_accepted if with_also_accepted else ())
    return comparable(output) in {comparable(reading) for reading in accepted}
