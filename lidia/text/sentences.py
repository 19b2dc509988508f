"""Russian sentence splitting and TTS chunking, for whole texts and for LLM token streams.

XTTS rejects Russian chunks above 182 characters and its own splitter needs spaCy, so we
split here. `split_sentences` and `SentenceStream` share one boundary finder, which is
why a stream fed in any piece sizes yields exactly the sentences of the whole text.
Pure Python, no I/O: safe to call on the event loop.
"""

from __future__ import annotations

import re

__all__ = ["SentenceStream", "chunk_for_tts", "split_long_sentence", "split_sentences"]

DEFAULT_MAX_CHARS = 180


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Abbreviations that are always followed by more of the same sentence (a name, a number):
# a dot after them never ends a sentence, whatever comes next.
_NEVER_FINAL = _words(
    """ул им проф акад доц кв корп стр тел просп пр-т пл пер наб обл гр тов св ст напр см
    рис табл гл каб оф мкр пос ген г-н г-жа д-р зам зав ред изд англ лат рус нем бул ш
    т.е т.к т.н т.ч т.о в.т.ч"""
)
# After these (or after a unit that follows a number) a digit continues the sentence:
# "5 руб. 50 коп.", "с 10 мин. 30 сек.".
_UNIT_LIKE = _words("т.д т.п др пр руб коп тыс млн млрд мин сек ч долл гг вв шт кг км г р")
_TERMINATOR = re.compile(r"[.!?…]+[»\"'”’)\]]*")
_SPACE = re.compile(r"\s+")
# The end of a clause inside a sentence: a comma, semicolon or colon, or a dash between
# words, followed by whitespace (so "12,5" and "из-за" never count).
_CLAUSE_END = re.compile(r"[,;:](?=\s)|\s[—–-](?=\s)")
_CLAUSE_MARKS = (";", ":", ",")


def _collapse(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def _token_before(text: str, end: int, lo: int) -> str:
    """The word (with inner dots and hyphens, e.g. "т.е") ending just before `end`."""
    m = re.search(r"[\w.\-]*\w$", text[max(lo, end - 30) : end])
    return m.group() if m else ""


def _dot_never_splits(text: str, dot: int, start: int) -> bool:
    """True when the '.' at `dot` belongs to an initial, an abbreviation or a list number.

    Only text[start:dot] (the current sentence) is looked at, so a stream that has already
    released the previous sentences decides the same way as the whole text does.
    """
    token = _token_before(text, dot, start)
    if not token:
        return False
    last = token.rsplit(".", 1)[-1]
    lower = token.lower()
    before_token = text[max(start, dot - len(token) - 12) : dot - len(token)]
    after_number = bool(re.search(r"\d\s*$", before_token))
    if len(last) == 1 and last.isalpha():
        if last.isupper():
            return True  # an initial: "А. С. Пушкин", "Пушкин А.С."
        # "т. е." / "т. к." never end a sentence; "т. д." and "2025 г." may.
        if "." in token or re.search(r"(?:^|\W)т\.\s$", before_token.lower()):
            return last in "ек"
        return not after_number  # "г. Москва", "д. 5"; but "2025 г." may end a sentence
    if lower in _NEVER_FINAL and not after_number:
        return True
    # "1. Первое": a number that is all of the sentence so far is a list marker.
    return token.isdigit() and text[start:dot].strip() == token


def _dot_needs_letter_after(text: str, dot: int, start: int) -> bool:
    """After a unit-like abbreviation ("5 руб. 50 коп.") a digit continues the sentence."""
    token = _token_before(text, dot, start).lower()
    spaced = re.search(r"(?:^|\W)т\.\s?[дп]$", text[max(start, dot - 6) : dot].lower())
    return token in _UNIT_LIKE or bool(spaced)


def _find_boundaries(text: str, *, final: bool, scan_from: int = 0) -> list[int]:
    """Indices just after each sentence end in `text`.

    With final=False only boundaries that later text cannot change are returned, which is
    what a stream needs; with final=True the text is complete. text[:scan_from] is
    context only: the already released start of a sentence that a stream cut for length.
    """
    boundaries: list[int] = []
    start = 0
    pos = scan_from
    while True:
        term = _TERMINATOR.search(text, pos)
        newline = text.find("\n", pos)
        if newline != -1 and (term is None or newline < term.start()):
            boundaries.append(newline)
            start = pos = newline + 1
            continue
        if term is None:
            return boundaries
        pos = term.end()
        after = text[term.end() :]
        stripped = after.lstrip()
        if term.end() == len(text) or not stripped:
            # The terminator run (or the whitespace after it) reaches the end of the text.
            if final:
                boundaries.append(term.end())
            return boundaries
        if stripped is after:
            continue  # no space after it: "12.5", "А.С.", "example.com"
        if not _is_boundary(text, term, stripped[0], start):
            continue
        boundaries.append(term.end())
        start = term.end()


def _is_boundary(text: str, term: re.Match[str], next_char: str, start: int) -> bool:
    """Decide one terminator followed by whitespace and then `next_char`."""
    if next_char.islower() or next_char in ",;:":
        return False  # "т.е. так", "Ну... может"
    marks = term.group().rstrip("»\"'”’)]")
    if marks != ".":
        return True
    dot = term.start()
    if _dot_never_splits(text, dot, start):
        return False
    return not (next_char.isdigit() and _dot_needs_letter_after(text, dot, start))


def _segments(text: str, boundaries: list[int]) -> list[str]:
    pieces, start = [], 0
    for end in boundaries:
        pieces.append(_collapse(text[start:end]))
        start = end
    return [p for p in pieces if p]


def split_sentences(text: str) -> list[str]:
    """Split Russian text into sentences (whitespace inside each collapsed, none empty).

    Ends at . ! ? … and their combinations, and at line breaks; not after abbreviations
    ("т.е.", "ул.", "проф."), initials ("А. С. Пушкин"), decimals, dates or list numbers.
    Closing quotes and brackets stay with their sentence.
    """
    boundaries = _find_boundaries(text, final=True)
    return _segments(text, [*boundaries, len(text)])


def _best_cut(text: str, max_chars: int) -> int:
    """Where to cut `text` (longer than max_chars) so the left part fits: the last clause
    mark (; then : then , then a dash), else the last space, else max_chars (one huge word).

    Only text[: max_chars + 1] is looked at, so a stream can decide before the rest arrives.
    """
    window = text[: max_chars + 1]
    shortest = max_chars // 3  # don't leave a tiny piece just to cut at a comma
    for mark in _CLAUSE_MARKS:
        cut = max((m.end() for m in re.finditer(re.escape(mark) + r"(?= )", window)), default=0)
        if cut >= shortest:
            return cut
    dash = max((m.start() for m in re.finditer(r" [—–-](?= )", window)), default=0)
    if dash >= shortest:
        return dash
    space = window.rfind(" ")
    return space if space > 0 else max_chars


def split_long_sentence(sentence: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """Cut one sentence into pieces of at most max_chars at the best clause boundaries."""
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    pieces: list[str] = []
    rest = _collapse(sentence)
    while len(rest) > max_chars:
        cut = _best_cut(rest, max_chars)
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def chunk_for_tts(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """Pack the sentences of `text` into chunks of at most max_chars characters.

    Sentences are joined with single spaces while they fit; a sentence longer than the limit
    is split at clause boundaries (never mid-word unless one word exceeds the limit). No chunk
    is empty, and " ".join(chunks) has the same words as the text.
    """
    chunks: list[str] = []
    for sentence in split_sentences(text):
        for piece in split_long_sentence(sentence, max_chars):
            if chunks and len(chunks[-1]) + 1 + len(piece) <= max_chars:
                chunks[-1] = f"{chunks[-1]} {piece}"
            else:
                chunks.append(piece)
    return chunks


class SentenceStream:
    """Incremental sentence splitter for LLM token streams (not thread-safe: one per stream).

    `feed` returns the sentences whose end is certain; `flush` returns the rest at the end
    of the stream. A sentence running past max_chars is released early in pieces cut by
    `split_long_sentence`, so with min_chars=0 the stream yields exactly
    `[p for s in split_sentences(text) for p in split_long_sentence(s, max_chars)]`
    however the text is cut into pieces. With min_chars > 0, shorter sentences are held
    and joined to the next ones (very short TTS inputs sound bad), up to max_chars.
    """

    # How much of a sentence already released for length is kept to decide the next dot
    # (the longest look-back of the boundary rules is well under this).
    _CONTEXT_CHARS = 64

    def __init__(
        self, max_chars: int = DEFAULT_MAX_CHARS, min_chars: int = 0, first_clause_chars: int = 0
    ) -> None:
        if max_chars < 1:
            raise ValueError("max_chars must be positive")
        if min_chars < 0 or min_chars > max_chars:
            raise ValueError("min_chars must be between 0 and max_chars")
        if first_clause_chars < 0:
            raise ValueError("first_clause_chars must not be negative")
        self.max_chars = max_chars
        self.min_chars = min_chars
        self.first_clause_chars = first_clause_chars
        self._buffer = ""
        self._context = ""  # tail of the current sentence already released for length
        self._held = ""
        self._released_any = False

    def feed(self, piece: str) -> list[str]:
        """Add a piece of text; return the sentences (or long-sentence pieces) now complete.

        With `first_clause_chars` > 0, the very first piece released may be a clause of at
        least that many characters ("Здравствуйте,"), cut at a comma, semicolon, colon or
        dash as soon as the next word begins: a caller then hears the start of the answer
        while the rest of its first sentence is still being written.
        """
        self._buffer += piece
        ready = self._release_sentences(final=False)
        if not ready and not self._released_any:
            ready = self._release_first_clause()
        ready.extend(self._release_run_on())
        released = self._hold_short(ready)
        self._released_any = self._released_any or bool(released)
        return released

    def flush(self) -> list[str]:
        """End of stream: return everything still buffered. The stream is reset."""
        self._buffer += "\n"  # a line break ends whatever sentence is pending
        released = self._hold_short(self._release_sentences(final=True))
        if self._held:
            released.append(self._held)
        self._buffer, self._context, self._held = "", "", ""
        self._released_any = False
        return released

    def _release_sentences(self, *, final: bool) -> list[str]:
        """Take every sentence whose end is known off the buffer."""
        text = self._context + self._buffer
        offset = len(self._context)
        boundaries = [
            b - offset for b in _find_boundaries(text, final=final, scan_from=offset) if b > offset
        ]
        if not boundaries:
            return []
        done, self._buffer = self._buffer[: boundaries[-1]], self._buffer[boundaries[-1] :]
        self._context = ""
        ready: list[str] = []
        for sentence in _segments(done, boundaries):
            ready.extend(split_long_sentence(sentence, self.max_chars))
        return ready

    def _release_first_clause(self) -> list[str]:
        if self.first_clause_chars == 0:
            return []
        pending = _SPACE.sub(" ", self._buffer).lstrip()
        match = _CLAUSE_END.search(pending, max(0, self.first_clause_chars - 1))
        if match is None:
            return []
        rest = pending[match.end() :].lstrip()
        self._context = (self._context + pending[: len(pending) - len(rest)])[
            -self._CONTEXT_CHARS :
        ]
        self._buffer = rest
        return [pending[: match.end()].strip()]

    def _release_run_on(self) -> list[str]:
        """Cut pieces off a pending sentence that is already longer than max_chars."""
        pieces: list[str] = []
        # Whitespace runs collapse but a trailing space must survive: the next piece may
        # start a new word.
        pending = _SPACE.sub(" ", self._buffer).lstrip()
        while len(pending.rstrip()) > self.max_chars:
            cut = _best_cut(pending, self.max_chars)
            pieces.append(pending[:cut].rstrip())
            rest = pending[cut:].lstrip()
            self._context = (self._context + pending[: len(pending) - len(rest)])[
                -self._CONTEXT_CHARS :
            ]
            pending = rest
        if pieces:
            self._buffer = pending
        return pieces

    def _hold_short(self, sentences: list[str]) -> list[str]:
        """Join sentences shorter than min_chars to the following ones."""
        if self.min_chars == 0:
            return sentences
        released: list[str] = []
        for sentence in sentences:
            if self._held and len(self._held) + 1 + len(sentence) > self.max_chars:
                released.append(self._held)
                self._held = ""
            self._held = f"{self._held} {sentence}" if self._held else sentence
            if len(self._held) >= self.min_chars:
                released.append(self._held)
                self._held = ""
        return released
