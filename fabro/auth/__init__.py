"""Authentication: a chain of authenticators (JWT, mutual TLS) yielding a Principal."""
