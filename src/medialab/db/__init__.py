"""SQL system of record: models, engine and sessions, schema migrations."""
