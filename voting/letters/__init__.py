"""Voting letters: a printed letter with a personal voting code, for members without email."""
