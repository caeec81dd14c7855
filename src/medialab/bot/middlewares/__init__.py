"""Dispatcher middlewares: the user's language (outer) and the billing flag (inner)."""
