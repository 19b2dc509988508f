"""Twilio Media Streams: the wire format, playback bookkeeping, and one call's session."""
