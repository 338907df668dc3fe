"""Sign-in with identity providers (OpenID Connect, and OAuth 2.0 providers such as GitHub):
the flow, ID-token verification, linked identities, provider-initiated logout."""
