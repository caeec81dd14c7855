"""Payments: the YooKassa API client and wire format, payment service, webhook handling, Stars."""
