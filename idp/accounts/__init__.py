"""The issuer's pages for people: sign in, sign out."""
