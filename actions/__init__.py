"""Harbour's custom Rasa actions. Each module reads the database through `bot/`."""
