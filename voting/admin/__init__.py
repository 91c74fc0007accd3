"""Staff: the election committee, admins and auditors."""
