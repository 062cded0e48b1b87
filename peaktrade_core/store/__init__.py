"""The state store's repositories: the SQL of each subsystem, one module per subsystem."""
