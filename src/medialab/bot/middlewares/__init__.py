"""Dispatcher middlewares: the update's log context and the user's language (outer), the billing
flag (inner)."""
