"""Sentence splitting, TTS chunking and the streaming splitter."""

from __future__ import annotations

import random
import re

import pytest

from lidia.text.sentences import SentenceStream, chunk_for_tts, split_long_sentence, split_sentences

SPLIT_CASES: list[tuple[str, list[str]]] = [
    ("Привет. Как дела? Отлично!", ["Привет.", "Как дела?", "Отлично!"]),
    ("Что?! Правда... Да.", ["Что?!", "Правда...", "Да."]),
    ("Ну… может быть. Посмотрим…", ["Ну… может быть.", "Посмотрим…"]),
    ("Это т.е. пример. Да.", ["Это т.е. пример.", "Да."]),
    ("Опоздал, т. к. Иван задержал. Бывает.", ["Опоздал, т. к. Иван задержал.", "Бывает."]),
    ("Яблоки, груши и т.д. Потом овощи.", ["Яблоки, груши и т.д.", "Потом овощи."]),
    ("И т. д. Далее.", ["И т. д.", "Далее."]),
    ("Иванов, Петров и др. Они пришли.", ["Иванов, Петров и др.", "Они пришли."]),
    ("Офис на ул. Ленина, д. 5. Ждём.", ["Офис на ул. Ленина, д. 5.", "Ждём."]),
    ("Живу в г. Москва. Давно.", ["Живу в г. Москва.", "Давно."]),
    ("Основана в 1999 г. Работаем.", ["Основана в 1999 г.", "Работаем."]),
    ("Музей им. Пушкина. Открыт.", ["Музей им. Пушкина.", "Открыт."]),
    ("Приём ведёт проф. Иванов. Запишитесь.", ["Приём ведёт проф. Иванов.", "Запишитесь."]),
    ("Цена 12.5 руб. Это много.", ["Цена 12.5 руб.", "Это много."]),
    ("Стоит 5 руб. 50 коп. Дорого.", ["Стоит 5 руб. 50 коп.", "Дорого."]),
    ("Число 3,14 это пи. Да.", ["Число 3,14 это пи.", "Да."]),
    ("А. С. Пушкин родился в Москве. Он поэт.", ["А. С. Пушкин родился в Москве.", "Он поэт."]),
    ("Автор Пушкин А.С. написал это. Да.", ["Автор Пушкин А.С. написал это.", "Да."]),
    ("Встреча 24.11.2026 в 15:30. Приходите!", ["Встреча 24.11.2026 в 15:30.", "Приходите!"]),
    ("1. Первое. 2. Второе.", ["1. Первое.", "2. Второе."]),
    ("Он сказал: «Привет!» Потом ушёл.", ["Он сказал: «Привет!»", "Потом ушёл."]),
    ("(Это в скобках.) Дальше.", ["(Это в скобках.)", "Дальше."]),
    ("Сайт example.com. Пишите.", ["Сайт example.com.", "Пишите."]),
    ("Строка один\nстрока два", ["Строка один", "строка два"]),
    ("Без точки в конце", ["Без точки в конце"]),
    ("  Лишние   пробелы.   Тут. ", ["Лишние пробелы.", "Тут."]),
    ("Звоните по тел. 123-45-67. Ждём.", ["Звоните по тел. 123-45-67.", "Ждём."]),
    ("Hello world. How are you?", ["Hello world.", "How are you?"]),
    ("", []),
    ("...", ["..."]),
]


@pytest.mark.parametrize(("text", "expected"), SPLIT_CASES)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


# A corpus of realistic secretary replies; all their sentences are shorter than 180 chars.
CORPUS = [text for text, _ in SPLIT_CASES] + [
    "Здравствуйте! Компания «Ромашка», меня зовут Лидия. Чем могу помочь?",
    "Наш офис работает пн–пт с 9:00 до 18:00, т.е. в субботу мы закрыты. Приходите!",
    "Стоимость услуги — 1 500 ₽, т.к. это срочный заказ. Оплата картой или наличными.",
    "Записала вас на 24.11.2026 в 15:30. Врач — проф. Иванов А. П., каб. 12. До встречи!",
    "Адрес: г. Москва, ул. Ленина, д. 5, кв. 12. Ориентир — музей им. Пушкина. Ждём вас.",
    "Скидка 12.5%... Это много?! Да, и т. д. Потом обсудим.",
    "1. Паспорт. 2. Полис. 3. Направление. Возьмите всё это с собой.",
    "Он сказал: «Перезвоню в 14:00!» А потом пропал… Странно, правда?",
    "Цена 5 руб. 50 коп. за штуку. В 2025 г. цены выросли. Такие дела.",
]


def _stream(text: str, pieces: list[int], **kwargs: int) -> list[str]:
    stream = SentenceStream(**kwargs)
    out: list[str] = []
    pos = 0
    for size in pieces:
        out.extend(stream.feed(text[pos : pos + size]))
        pos += size
    out.extend(stream.feed(text[pos:]))
    return out + stream.flush()


def _random_pieces(rng: random.Random, length: int) -> list[int]:
    sizes, total = [], 0
    while total < length:
        sizes.append(rng.randint(1, 12))
        total += sizes[-1]
    return sizes


@pytest.mark.parametrize("text", CORPUS)
def test_stream_char_by_char_matches_whole_text(text: str) -> None:
    assert _stream(text, [1] * len(text)) == split_sentences(text)


def test_stream_in_random_pieces_matches_whole_text() -> None:
    rng = random.Random(42)
    for seed_round in range(40):
        texts = rng.sample(CORPUS, k=4)
        text = rng.choice([" ", "\n", "  "]).join(texts)
        expected = split_sentences(text)
        assert _stream(text, _random_pieces(rng, len(text))) == expected, seed_round


def test_stream_releases_a_sentence_only_when_its_end_is_certain() -> None:
    stream = SentenceStream()
    assert stream.feed("Цена 12.") == []
    assert stream.feed("5 руб") == []
    assert stream.feed(". Это") == ["Цена 12.5 руб."]
    assert stream.feed(" т.") == []
    assert stream.feed("е. пример. ") == []
    assert stream.flush() == ["Это т.е. пример."]


def test_stream_handles_an_abbreviation_split_across_pieces() -> None:
    stream = SentenceStream()
    released = stream.feed("Приём ведёт пр") + stream.feed("оф") + stream.feed(". Иванов")
    assert released == []
    assert stream.feed(". Ждём") == ["Приём ведёт проф. Иванов."]
    assert stream.flush() == ["Ждём"]


LONG_SENTENCE = (
    "Мы принимаем заявки на ремонт квартир, офисов и загородных домов; выезжаем на замер "
    "в тот же день: мастер оценит объём работ, подберёт материалы, согласует смету с вами "
    "и назовёт точные сроки — обычно от двух до шести недель в зависимости от сложности, "
    "площади помещения и выбранных отделочных материалов без каких-либо скрытых доплат"
)


def test_split_long_sentence_respects_the_limit_and_prefers_clause_marks() -> None:
    pieces = split_long_sentence(LONG_SENTENCE, 120)
    assert all(len(p) <= 120 for p in pieces)
    assert " ".join(pieces).split() == LONG_SENTENCE.split()
    assert pieces[0].endswith(";")


def test_split_long_sentence_cuts_a_giant_word_only_when_it_must() -> None:
    word = "а" * 50
    assert split_long_sentence(f"слово {word} конец", 20) == [
        "слово", "а" * 20, "а" * 20, "а" * 10 + " конец",
    ]  # fmt: skip


@pytest.mark.parametrize("max_chars", [40, 80, 180])
def test_stream_releases_run_ons_early_and_consistently(max_chars: int) -> None:
    text = f"{LONG_SENTENCE}. Спасибо! {LONG_SENTENCE}, конец."
    expected = [p for s in split_sentences(text) for p in split_long_sentence(s, max_chars)]
    rng = random.Random(max_chars)
    assert _stream(text, [1] * len(text), max_chars=max_chars) == expected
    for _ in range(10):
        pieces = _random_pieces(rng, len(text))
        assert _stream(text, pieces, max_chars=max_chars) == expected


def test_stream_starts_speaking_before_a_run_on_ends() -> None:
    stream = SentenceStream(max_chars=100)
    released = stream.feed(LONG_SENTENCE[:150])
    assert released and all(len(p) <= 100 for p in released)


def test_stream_min_chars_joins_short_sentences() -> None:
    text = "Да. Нет. Хорошо. Это предложение подлиннее остальных. Ок."
    out = _stream(text, [3] * 30, max_chars=180, min_chars=20)
    assert out == ["Да. Нет. Хорошо. Это предложение подлиннее остальных.", "Ок."]


def test_stream_rejects_bad_limits() -> None:
    with pytest.raises(ValueError):
        SentenceStream(max_chars=0)
    with pytest.raises(ValueError):
        SentenceStream(max_chars=10, min_chars=11)


@pytest.mark.parametrize("max_chars", [30, 60, 120, 180])
def test_chunk_for_tts_respects_the_limit_and_loses_no_words(max_chars: int) -> None:
    text = " ".join([*CORPUS, LONG_SENTENCE, "Сверхдлинноесловобезпробелов" * 8 + "."])
    chunks = chunk_for_tts(text, max_chars)
    assert chunks and all(0 < len(c) <= max_chars for c in chunks)
    # The giant word must be cut, so compare the characters rather than the words.
    assert "".join("".join(chunks).split()) == "".join(text.split())


def test_chunk_for_tts_never_cuts_mid_word_when_words_fit() -> None:
    text = " ".join(CORPUS + [LONG_SENTENCE] * 3)
    chunks = chunk_for_tts(text, 100)
    assert " ".join(chunks).split() == text.split()
    assert all(len(c) <= 100 for c in chunks)


def test_chunk_for_tts_packs_short_sentences_together() -> None:
    assert chunk_for_tts("Да. Нет. Может быть.", 180) == ["Да. Нет. Может быть."]
    assert chunk_for_tts("Да. Нет. Может быть.", 8) == ["Да. Нет.", "Может", "быть."]


def test_chunk_for_tts_of_blank_text_is_empty() -> None:
    assert chunk_for_tts("   \n ") == []


_TOKENS = [
    "т.", "е.", "д.", "г.", "ул.", "А.", "С.", "12.5", "5", "руб.", "!", "?", "…", "...", ".",
    "»", "«", ")", "(", "\n", " ", "Да", "нет", "Иван", "1.", "2", "т. е.", "др.", ",", "—",
    "проф.", "2025", "3,14", "?!",
]  # fmt: skip


@pytest.mark.parametrize("max_chars", [10_000, 40])
def test_stream_matches_whole_text_on_random_punctuation_soup(max_chars: int) -> None:
    rng = random.Random(max_chars)
    for _ in range(400):
        words = [rng.choice(_TOKENS) + rng.choice(["", " "]) for _ in range(rng.randint(0, 40))]
        text = "".join(words)
        expected = [p for s in split_sentences(text) for p in split_long_sentence(s, max_chars)]
        assert _stream(text, _random_pieces(rng, len(text)), max_chars=max_chars) == expected
        assert _stream(text, [1] * len(text), max_chars=max_chars) == expected
        assert all(0 < len(p) <= max_chars for p in expected)


# --------------------------------------------------------------- the reply's first clause


def stream_in_tokens(text: str, **options: int) -> list[str]:
    stream = SentenceStream(**options)
    released = []
    for token in re.findall(r".{1,4}", text, flags=re.DOTALL):
        released.extend(stream.feed(token))
    return released + stream.flush()


def test_first_clause_is_released_before_its_sentence_ends() -> None:
    text = "Здравствуйте, вы позвонили в компанию Ромашка. Чем помочь, скажите?"
    stream = SentenceStream(first_clause_chars=12)
    assert stream.feed("Здравствуйте,") == []  # the next word has not begun yet
    assert stream.feed(" вы") == ["Здравствуйте,"]
    assert stream_in_tokens(text, first_clause_chars=12) == [
        "Здравствуйте,",
        "вы позвонили в компанию Ромашка.",
        "Чем помочь, скажите?",  # only the first clause of the reply is cut early
    ]


@pytest.mark.parametrize(
    ("text", "first_clause_chars"),
    [
        ("Да, конечно.", 12),  # the only clause is shorter than the minimum
        ("Цена 12,5 рубля за штуку.", 4),  # a decimal comma is no clause end
        ("Из-за погоды офис закрыт.", 2),  # a hyphen inside a word is no dash
    ],
)
def test_first_clause_needs_a_real_clause_of_the_minimum_length(
    text: str, first_clause_chars: int
) -> None:
    released = stream_in_tokens(text, first_clause_chars=first_clause_chars)
    assert released == split_sentences(text)


def test_first_clause_loses_no_words() -> None:
    text = "Добрый день, Иван Петрович: ваш заказ номер 42 готов. Заберите его до 18:00."
    released = stream_in_tokens(text, first_clause_chars=10)
    assert released[0] == "Добрый день,"
    assert " ".join(released).split() == text.split()
