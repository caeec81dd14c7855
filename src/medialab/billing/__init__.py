"""The service that owns the money: users' balances and free operations, and the ledger."""
