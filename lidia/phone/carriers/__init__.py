"""The carriers a call can arrive by, side by side: each turns its wire into the carrier-neutral
`call.line.CallLine` the conversation (`call.conversation`) talks to.

- `twilio/`: Twilio Media Streams (`WS /twilio/media`), transfers through Twilio's REST API.
- `asterisk/`: Asterisk chan_websocket (`WS /asterisk/media`) and AudioSocket (a TCP port),
  for any SIP trunk an Asterisk/FreePBX reaches; the dialplan asks `GET /asterisk/calls/{call}/next`
  what to do once Лидия's leg ends.
"""
