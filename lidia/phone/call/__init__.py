"""One live call's conversation, whatever carrier carries it: the line it talks to (`line`),
turn-taking, playback bookkeeping, barge-in, DTMF, the two-sided recording, apology and
message mode, and the call's record (`conversation.CallConversation`). The carriers' wires are
in `phone.carriers` (Twilio Media Streams, Asterisk chan_websocket and AudioSocket)."""
