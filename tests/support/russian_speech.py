"""Russian caller speech for tests and the Russian benchmark: RHVoice voices it at run time.

Also the one text normalisation that every Russian check uses (key words and WER alike),
so a test and the benchmark can never disagree about what "heard right" means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from lidia.audio.codecs import mulaw_to_pcm, pcm_to_mulaw, resample, wav_bytes
from lidia.stt.faster_whisper import STT_SAMPLE_RATE
from lidia.tts.engines.rhvoice import RHVoiceEngine

PHONE_RATE = 8000  # Twilio Media Streams: G.711 μ-law, 8 kHz mono

# Key-word sentences for the tests, checked against Whisper base on RHVoice "anna" at 16 kHz
# and through μ-law. No commas where the phone hears them: a pause there ends the turn.
RESCHEDULE = "Можно перенести встречу на пятницу, на три часа дня?"
RESCHEDULE_WORDS = {"перенести", "встречу", "пятницу"}
CALL_BACK = "Перезвоните мне, пожалуйста, после обеда."  # long enough to detect as ru
CALL_BACK_WORDS = {"перезвоните", "пожалуйста", "обеда"}
# The phone VAD (Silero) splits "Я хочу записаться на | приём к врачу" in two on μ-law.
BOOKING = "Запишите меня к врачу на завтра."
BOOKING_WORDS = {"запишите", "врачу", "завтра"}


@dataclass(frozen=True)
class Phrase:
    spoken: str  # what RHVoice says (numbers in words, as a caller says them)
    reference: str  # how a careful transcriber writes it: numbers as digits, like Whisper


# What callers of a small business say: names, dates, times, numbers, addresses, requests.
CALLER_PHRASES: tuple[Phrase, ...] = (
    Phrase("Здравствуйте, меня зовут Иван Петров.", "Здравствуйте, меня зовут Иван Петров."),
    Phrase(
        "Я хочу записаться на приём к врачу на завтра.",
        "Я хочу записаться на приём к врачу на завтра.",
    ),
    Phrase(BOOKING, BOOKING),
    Phrase(RESCHEDULE, "Можно перенести встречу на пятницу, на 3 часа дня?"),
    Phrase(
        "Мой номер телефона восемь девятьсот шестнадцать сто двадцать три сорок пять "
        "шестьдесят семь.",
        "Мой номер телефона 8 916 123 45 67.",
    ),
    Phrase(CALL_BACK, CALL_BACK),
    Phrase("Я буду у вас пятнадцатого марта в десять утра.", "Я буду у вас 15 марта в 10 утра."),
    Phrase(
        "Наш адрес: улица Ленина, дом двенадцать, квартира пять.",
        "Наш адрес: улица Ленина, дом 12, квартира 5.",
    ),
    Phrase("Сколько стоит консультация?", "Сколько стоит консультация?"),
    Phrase(
        "Передайте директору, что звонила Анна Смирнова.",
        "Передайте директору, что звонила Анна Смирнова.",
    ),
    Phrase(
        "Мне нужно отменить заказ номер триста сорок два.", "Мне нужно отменить заказ номер 342."
    ),
    Phrase("Вы работаете в субботу?", "Вы работаете в субботу?"),
    Phrase(
        "Запишите меня, пожалуйста, на вторник в половине шестого.",
        "Запишите меня, пожалуйста, на вторник в половине шестого.",
    ),
    Phrase(
        "Меня зовут Сергей Кузнецов, я звоню по поводу доставки.",
        "Меня зовут Сергей Кузнецов, я звоню по поводу доставки.",
    ),
    Phrase(
        "Доставьте заказ на проспект Мира, дом сорок, подъезд два.",
        "Доставьте заказ на проспект Мира, дом 40, подъезд 2.",
    ),
    Phrase(
        "Я опоздаю минут на двадцать, начинайте без меня.",
        "Я опоздаю минут на 20, начинайте без меня.",
    ),
    Phrase(
        "У меня есть вопрос по счёту за прошлый месяц.",
        "У меня есть вопрос по счёту за прошлый месяц.",
    ),
    Phrase("Можно поговорить с Еленой Викторовной?", "Можно поговорить с Еленой Викторовной?"),
    Phrase("Встреча назначена на двадцать первое апреля.", "Встреча назначена на 21 апреля."),
    Phrase(
        "Оставьте сообщение, что я перезвоню в четыре часа.",
        "Оставьте сообщение, что я перезвоню в 4 часа.",
    ),
)


def normalise(text: str) -> str:
    """Text as compared: lower case, ё→е, punctuation and dashes dropped, and a run of
    digit groups ("8 916 123-45-67", "15:30") joined into one number token.

    Whisper writes numbers as digits with its own grouping; references are written with
    digits too, and joining the groups makes "816-123-45-67" and "816 12345 67" one word.
    """
    lowered = text.lower().replace("ё", "е")
    spaced = re.sub(r"[^\w\s]|_", " ", lowered)
    joined = re.sub(r"(?<=\d)\s+(?=\d)", "", spaced)
    return " ".join(joined.split())


def words_of(text: str) -> set[str]:
    return set(normalise(text).split())


def rhvoice_16k(engine: RHVoiceEngine, text: str) -> np.ndarray:
    """RHVoice's Russian default voice speaking `text`, as float32 mono at 16 kHz."""
    return resample(engine.synthesize(text, "ru"), engine.sample_rate, STT_SAMPLE_RATE)


def phone_line_8k(samples_16k: np.ndarray) -> np.ndarray:
    """The same speech after the phone network: 8 kHz G.711 μ-law and back to float32."""
    return mulaw_to_pcm(pcm_to_mulaw(resample(samples_16k, STT_SAMPLE_RATE, PHONE_RATE)))


def phone_wav(samples_16k: np.ndarray) -> bytes:
    """An 8 kHz WAV of μ-law-carried speech: what the phone service uploads for a turn."""
    return wav_bytes(phone_line_8k(samples_16k), PHONE_RATE)
