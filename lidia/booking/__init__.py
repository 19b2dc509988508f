"""Appointments in the owner's CalDAV calendar (issue 21): which times are free, booking one
slot atomically, cancelling, and how dates are resolved and spoken. The secretary offers
these as LLM tools (`lidia.secretary.booking_tools`); nothing here knows about the LLM."""
