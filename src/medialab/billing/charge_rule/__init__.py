"""The charge rule, and every implementation of it, side by side.

The rule: charging user U for an operation of type T at T's price P, in one transaction,
1. bumps `users.version` first (taking U's row lock: a user's changes commit one at a time, in
   version order), whatever the answer;
2. answers an operation id charged before with that first charge again, and changes nothing else;
3. admits an unbilled type (add_text) at price 0: an operation row `charged`, no money, no free
   operation, no ledger entry;
4. else takes a free operation if one is left: operation row `free` at price 0, no ledger entry;
5. else takes P from the balance only if it stays at or above 0 (the guard is in the UPDATE's
   WHERE): operation row `charged` at P, ledger entry `charge` of -P under `charge:<operation>`;
6. else refuses, InsufficientFunds(balance, P): only the version moved.

Three implementations, each needed (the fast two are measured in the README, Performance):
- `orm.py`, the whole rule as an ORM transaction: the path without Redis, and the one that
  decides whenever a fast path cannot (an unbilled type, SQL disagreeing with the cache);
- for a charge the Redis cache already admitted as free or paid (steps 1, 4-6 with the cache's
  choice; 'disagrees', changing nothing, when SQL has other free operations; step 2 raises
  OperationExists), in one round trip: `sqlite.py` (one synchronous sqlite3 call) and
  PostgreSQL's function `medialab_charge_as_cached` (`medialab_charge_as_cached.0005.sql`,
  created by migration 0005), both called through `as_cached.py`.

tests/test_billing_properties.py holds every implementation (and the billing service on top of
them, with and without Redis) to the same answers on the same random sequences of charges,
refunds and credits.
"""
