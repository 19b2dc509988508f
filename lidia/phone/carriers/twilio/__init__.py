"""Twilio Media Streams: the wire format (`wire`) and the live call over it (`line`)."""
