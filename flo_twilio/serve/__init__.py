"""Serving triggers: receive their webhooks (or poll), keep each event, run its flow."""
