"""The state store's repositories: every SQL statement of a subsystem lives in its module here."""
