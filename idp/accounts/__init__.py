"""The issuer's pages and API for people: sign in and out, register and activate, reset and change a password, the account page."""
