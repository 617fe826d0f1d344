"""Transactional email, by job: the outbox (outbox), MIME messages (message), transports, the worker.

No email is lost: `outbox.queue_email` only adds an OutboxMessage to the caller's session, so the
mail is committed with the change that causes it (or rolled back with it). The worker
(`worker.send_due`) delivers what is due, retries temporary failures with backoff and gives up
on permanent ones. What an email says is written in services/notifications.py and templates/emails/.
"""
