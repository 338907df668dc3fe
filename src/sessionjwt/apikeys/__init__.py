"""Personal API keys: sessions of kind ``api_key`` (docs/api-keys.md)."""
