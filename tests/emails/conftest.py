from tests.emails.helpers import _email_settings, customer, mailbox, other_shop, shop, smtp_server

__all__ = ["_email_settings", "customer", "mailbox", "other_shop", "shop", "smtp_server"]
