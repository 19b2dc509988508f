"""float ↔ int16: one scaling (×32768, rounded, clipped), the inverse of every decoder's /32768."""

from __future__ import annotations

import numpy as np

from lidia.audio.codecs import as_float32_mono, float_to_int16, mulaw_to_pcm, pcm_to_mulaw

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)


def test_int16_round_trip_is_exact_for_every_value() -> None:
    np.testing.assert_array_equal(float_to_int16(as_float32_mono(ALL_INT16)), ALL_INT16)


def test_out_of_range_floats_clip_instead_of_wrapping() -> None:
    values = np.array([1.0, 1.5, -1.0, -7.0, 0.99999], dtype=np.float32)
    assert float_to_int16(values).tolist() == [32767, 32767, -32768, -32768, 32767]


def test_mulaw_levels_survive_the_float_scaling() -> None:
    decoded = mulaw_to_pcm(bytes(range(256)))  # every μ-law level (0x7f, "-0", reads as 0)
    again = mulaw_to_pcm(pcm_to_mulaw(float_to_int16(decoded)))
    np.testing.assert_array_equal(again, decoded)
