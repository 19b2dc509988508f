"""Asterisk, and through it any SIP trunk (Zadarma, Novofon, Mango Office, MTS Exolve, ...).

- `websocket_line`: chan_websocket (Asterisk 20.16 / 21.11 / 22.6+): Asterisk dials
  `WebSocket/<conn>/c(slin)f(json)v(call=${UNIQUEID},from=…,to=…)` and connects to
  `WS /asterisk/media` with HTTP Basic auth; marks, flush and hang-up are JSON commands.
- `audiosocket`: AudioSocket (Asterisk 18+) on `ASTERISK_AUDIOSOCKET_PORT`: a TCP stream of
  typed frames; the app paces its audio and keeps the line alive with silence.
- `routes`: the WebSocket, and what the dialplan asks over HTTP (`CURL()`): registering an
  AudioSocket call, and what to do once Лидия's leg ends (`next`: `hangup` or `transfer:…`).
Neither protocol can set a channel variable, so the dialplan asks; the answer is kept per call.
"""
