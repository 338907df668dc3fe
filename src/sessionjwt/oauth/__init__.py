"""For resource servers: registered clients, RFC 7662 introspection, RFC 7009 revocation."""
