"""Django's PostgreSQL backend with a client-side deadline on every exchange with the server."""
