"""Transfers and distance changes: a paid ticket moving to another runner or another distance.

rules.py says whether a change may be made (one wording on every path), apply.py makes it under
the ticket type locks (also when its payment arrives, from services/fulfillment.py), start.py is
the use case the pages call (free changes at once, others through Checkout), links.py the runner's
emailed link and the emails.
"""
