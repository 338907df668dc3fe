"""What the client holds: the access-token codec and claims, the refresh-token format."""
