"""Spiders: ``listing`` (any HTML listing source) and ``api_json`` (any JSON API source)."""
