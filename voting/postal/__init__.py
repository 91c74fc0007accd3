"""Postal ballots: envelope-in-envelope, registered with four eyes, entered twice."""
