"""Security tests: each holds one hole shut (see docs/reliability.md)."""
