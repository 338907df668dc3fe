"""Decode-policy attacks: hostile access tokens sent to the real HTTP app, one file per class."""
