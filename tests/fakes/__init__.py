"""Strict local fakes of the hosted providers' HTTP APIs (127.0.0.1 only) and helpers for their tests."""
