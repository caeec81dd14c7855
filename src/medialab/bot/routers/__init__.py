"""One router per feature; bot/dispatcher.py joins them in the order they must be tried."""
