"""Pure rules of the business: money, operation types, states. No framework imports here."""
