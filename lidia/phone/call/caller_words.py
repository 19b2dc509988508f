"""What a caller's short fragment over Лидия means: a backchannel, a stop, or words.

The words come from a fast, rough recognition of the fragment (`/stt` with `fragment`);
they count only when the recogniser was sure of them (`BARGE_IN_MIN_CONFIDENCE`): a word it
could not read is treated as a sound, and a sound does not stop her.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Short acknowledgements that do not take the turn (normalised: lower case, ё→е, no dashes).
BACKCHANNELS = frozenset(
    {"угу", "ага", "да", "так", "хорошо", "понятно", "ясно", "м", "мм", "ммм", "хм", "ну"}
    | {"ок", "окей", "ладно", "конечно", "верно", "точно", "угум"}
)
MAX_BACKCHANNEL_WORDS = 3
# Words that mean "stop talking": whole words, and word beginnings («подождите», «погоди»).
STOP_WORDS = frozenset({"нет", "стоп", "стой", "алло", "хватит", "стоять"})
STOP_WORD_STARTS = ("подожд", "погод", "постой", "извин", "прост", "минут", "секунд", "перестан")


@dataclass(frozen=True)
class HeardWords:
    """A fragment's first words as recognised, and how sure the recogniser was (0-1)."""

    text: str
    confidence: float


def words_of(text: str) -> list[str]:
    return re.sub(r"[^\w\s]|_", " ", text.lower().replace("ё", "е")).split()


def is_backchannel(text: str) -> bool:
    """True for «Угу.», «Да-да», «Хорошо, понятно»; also for nothing at all (noise)."""
    words = words_of(text)
    return len(words) <= MAX_BACKCHANNEL_WORDS and all(map(_backchannel_word, words))


def _backchannel_word(word: str) -> bool:
    """«да», also as recognisers write it repeated («дада», «угуугу») or cut to a letter."""
    if word in BACKCHANNELS or len(word) == 1:
        return True
    return any(len(word) % len(b) == 0 and word == b * (len(word) // len(b)) for b in BACKCHANNELS)


def says_stop(heard: HeardWords | None, min_confidence: float) -> bool:
    """The caller is surely telling her to stop («Нет», «Подождите», «Извините»)."""
    if heard is None or heard.confidence < min_confidence:
        return False
    words = words_of(heard.text)
    return any(word in STOP_WORDS or word.startswith(STOP_WORD_STARTS) for word in words)


def interrupts(heard: HeardWords | None, min_confidence: float) -> bool:
    """A finished short fragment takes the turn: sure words that are not a backchannel."""
    if heard is None or heard.confidence < min_confidence:
        return False  # unheard or unsure: a sound, she goes on
    return not is_backchannel(heard.text)
