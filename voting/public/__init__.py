"""Public pages: the list of elections and each election's page."""
