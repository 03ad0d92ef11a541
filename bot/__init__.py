"""Harbour's shared core: used by the Rasa action server and the Flask webhook alike."""
