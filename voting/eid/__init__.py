"""Sign-in with Swedish eID (BankID, Freja eID) through OpenID Connect, for voters and staff.

``oidc`` talks to the provider (Authlib), ``services`` maps the identity onto the register and
the staff accounts, ``views`` is the blueprint. SECURITY.md, "Swedish eID", says what it changes.
"""
