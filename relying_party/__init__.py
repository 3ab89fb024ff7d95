"""Accept Kunci access tokens: a JWKS cache, a token verifier and a DRF authentication class.

Imports nothing from the issuer (`keys`, `idp`): copy this package into any Django project.
"""
