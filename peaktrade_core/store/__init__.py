"""The state store's repositories: one module per subsystem, the only place that holds SQL."""
