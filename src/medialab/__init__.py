"""medialab: billing and payments backend of a Telegram media-generation bot."""

__version__ = "0.1.0"
