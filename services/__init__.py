"""Domain operations and adapters to the outside world (payments, auth, mail, storage)."""
