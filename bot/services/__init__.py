"""Domain services: what the bot does, independent of Telegram."""
