"""Staff accounts (committee, auditors, admins): read by every feature that names who acted."""
