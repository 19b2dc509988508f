"""Telling the owner about a call: what to say (`notice`), and where (`channels`).

A call's notice goes to every configured channel (Telegram, e-mail, a signed JSON webhook).
Channels raise `DeliveryError`; whoever delivers decides when to try again.
"""
