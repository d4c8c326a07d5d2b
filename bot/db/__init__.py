"""Database layer: models, engine, migrations and small query functions (no Telegram)."""
