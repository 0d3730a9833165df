"""WooCommerce: key-granting auth, webhooks, REST v3 client, coupons (issue 4)."""
