"""Shopify: token-exchange auth, webhooks, GraphQL Admin API client, bulk backfill (issue 3)."""
