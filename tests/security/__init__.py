"""Security tests: each holds one hole shut (see the README's Reliability section)."""
