"""The auditor's side: the log and checkpoint pages, the election record and its API."""
