"""Fake remote services served over real HTTP on 127.0.0.1 for the provider tests.

- `tests.fakes.google_server.FakeGoogle`: Calendar v3, Gmail v1 and Google's OAuth endpoints.
"""
