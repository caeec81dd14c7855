"""Operators' commands (docs/contract.md §7): look at an account, grant money, refund an operation.

The same service answers the CLI (`medialab admin …`) and the operators' commands in the chat
(bot/routers/admin.py):
`arguments` turns typed text into values or a one-line refusal, `service` does the work through
BillingService (every change a ledger entry with its actor and reason), `report` renders text.
"""
