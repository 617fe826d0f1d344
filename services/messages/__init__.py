"""Messages to runners, by job: who gets one (audience), the email itself (emails), sending and the sent list
(sending), and unsubscribing (unsubscribe).

A message is one RaceMessage row and one outbox row per recipient, queued in one transaction and sent by
the outbox worker with its retries (services/mail/). Non-essential messages carry an unsubscribe link and
skip the addresses that used one; an essential message (race-day changes, safety) reaches everyone.
"""
