"""API tokens: creation (shown once), HMAC-hashed storage, authentication, revocation."""
