"""The append-only, hash-chained audit log: its tables, appends, signing key and checkpoints."""
