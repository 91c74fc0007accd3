"""The outbox: every email is queued in the transaction that causes it, then delivered."""
