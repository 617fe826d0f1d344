"""The domain and the outside world (payments, auth, mail, storage), one job a module.

How a service is written:

- It never reads the HTTP request (`flask.request`, `g`, `session`): pages, the API, the worker
  and the CLI call the same functions with plain values.
- **Transactions.** A use case (reserve spots, fulfill a Stripe event, refund, save an editor
  field group, check a runner in…) owns its transaction: it commits once, when it has done
  everything, and returns what the page needs. When it refuses (a `…Refused` exception with the
  problems in words for people), it first rolls back what it had written, so nothing is half-saved.
  The helpers it calls flush when they need ids and never commit. Blueprints never commit or roll
  back; the error handler rolls back after an unexpected exception.
- A use case that must talk to an outside service (Stripe, GoTrue, SMTP, Storage) commits what it
  decided *before* the call, holds no lock across the network, and records the answer in a second
  short transaction (see services/checkout.py and services/refunds.py).
- One rule, one function: "open for sign-up", "on sale", "spots left", "may manage this race"
  each exist once, and every path (page, cart, checkout, API, webhook) calls it.
"""
