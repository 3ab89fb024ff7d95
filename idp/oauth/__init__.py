"""OAuth 2.0 for the issuer: the client registry (and, built on it, the authorization server)."""
