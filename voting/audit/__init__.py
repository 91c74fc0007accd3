"""The audit log tables and the one append function every state change calls."""
