"""GraphQL Admin API documents. Every operation is named (``Xsell...``): the name shows in
Shopify's logs, and the loopback fake in the tests answers by it.

Product, customer and order fields are shared by the bulk queries (nested connections as
``edges { node }``, flattened by Shopify into JSONL lines with ``__parentId``), the incremental
pages and single-object fetches, so every path maps the same shape (``mappers.py``).
"""

from __future__ import annotations

NESTED_PAGE = 100  # nested connection page size in paged queries; the rest is fetched after

VARIANT_FIELDS = """
  id title sku price compareAtPrice position inventoryQuantity inventoryPolicy
  inventoryItem { id tracked unitCost { amount } }
"""
COLLECTION_FIELDS = "id title handle"
PRODUCT_FIELDS = """
  id title handle vendor productType tags status description onlineStoreUrl
  createdAt updatedAt
  featuredMedia { preview { image { url } } }
"""
LINE_ITEM_FIELDS = """
  id title quantity sku
  originalUnitPriceSet { shopMoney { amount } }
  totalDiscountSet { shopMoney { amount } }
  product { id } variant { id }
"""
ORDER_FIELDS = """
  id name email createdAt processedAt updatedAt cancelledAt currencyCode
  displayFinancialStatus displayFulfillmentStatus sourceName discountCodes
  customer { id }
  subtotalPriceSet { shopMoney { amount } }
  totalPriceSet { shopMoney { amount } }
  totalDiscountsSet { shopMoney { amount } }
  totalShippingPriceSet { shopMoney { amount } }
  totalTaxSet { shopMoney { amount } }
  refunds { id createdAt note totalRefundedSet { shopMoney { amount } } }
"""
CUSTOMER_FIELDS = """
  id firstName lastName tags createdAt updatedAt
  defaultEmailAddress { emailAddress marketingState marketingOptInLevel marketingUpdatedAt }
"""

SHOP = """
query XsellShop {
  shop { name currencyCode ianaTimezone myshopifyDomain }
}
"""

# --- bulk operations --------------------------------------------------------------------------
BULK_PRODUCTS = f"""
{{
  products {{
    edges {{ node {{
      {PRODUCT_FIELDS}
      variants {{ edges {{ node {{ {VARIANT_FIELDS} }} }} }}
      collections {{ edges {{ node {{ {COLLECTION_FIELDS} }} }} }}
    }} }}
  }}
}}
"""
BULK_CUSTOMERS = f"""
{{
  customers {{ edges {{ node {{ {CUSTOMER_FIELDS} }} }} }}
}}
"""
BULK_ORDERS = f"""
{{
  orders {{
    edges {{ node {{
      {ORDER_FIELDS}
      lineItems {{ edges {{ node {{ {LINE_ITEM_FIELDS} }} }} }}
    }} }}
  }}
}}
"""
BULK_RUN = """
mutation XsellBulkRun($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}
"""
BULK_POLL = """
query XsellBulkPoll($id: ID!) {
  node(id: $id) {
    ... on BulkOperation { id status errorCode objectCount url partialDataUrl }
  }
}
"""

# --- pages (reconciliation) and single objects -----------------------------------------------
PRODUCT_NODE = f"""
  {PRODUCT_FIELDS}
  variants(first: {NESTED_PAGE}) {{
      pageInfo {{ hasNextPage endCursor }} nodes {{ {VARIANT_FIELDS} }}
    }}
  collections(first: {NESTED_PAGE}) {{
      pageInfo {{ hasNextPage endCursor }} nodes {{ {COLLECTION_FIELDS} }}
    }}
"""
ORDER_NODE = f"""
  {ORDER_FIELDS}
  lineItems(first: {NESTED_PAGE}) {{
      pageInfo {{ hasNextPage endCursor }} nodes {{ {LINE_ITEM_FIELDS} }}
    }}
"""

PRODUCTS_PAGE = f"""
query XsellProductsPage($first: Int!, $after: String, $query: String) {{
  products(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ {PRODUCT_NODE} }}
  }}
}}
"""
CUSTOMERS_PAGE = f"""
query XsellCustomersPage($first: Int!, $after: String, $query: String) {{
  customers(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ {CUSTOMER_FIELDS} }}
  }}
}}
"""
ORDERS_PAGE = f"""
query XsellOrdersPage($first: Int!, $after: String, $query: String) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ {ORDER_NODE} }}
  }}
}}
"""
PRODUCT = f"""
query XsellProduct($id: ID!) {{
  product(id: $id) {{ {PRODUCT_NODE} }}
}}
"""
ORDER = f"""
query XsellOrder($id: ID!) {{
  order(id: $id) {{ {ORDER_NODE} }}
}}
"""
# The rest of a nested connection that did not fit in NESTED_PAGE.
PRODUCT_VARIANTS = f"""
query XsellProductVariants($id: ID!, $after: String) {{
  product(id: $id) {{
    variants(first: 250, after: $after) {{
      pageInfo {{ hasNextPage endCursor }} nodes {{ {VARIANT_FIELDS} }}
    }}
  }}
}}
"""
PRODUCT_COLLECTIONS = f"""
query XsellProductCollections($id: ID!, $after: String) {{
  product(id: $id) {{
    collections(first: 250, after: $after) {{
      pageInfo {{ hasNextPage endCursor }} nodes {{ {COLLECTION_FIELDS} }}
    }}
  }}
}}
"""
ORDER_LINE_ITEMS = f"""
query XsellOrderLineItems($id: ID!, $after: String) {{
  order(id: $id) {{
    lineItems(first: 250, after: $after) {{
      pageInfo {{ hasNextPage endCursor }} nodes {{ {LINE_ITEM_FIELDS} }}
    }}
  }}
}}
"""
INVENTORY_ITEM = """
query XsellInventoryItem($id: ID!) {
  inventoryItem(id: $id) { id tracked variant { id inventoryQuantity inventoryPolicy } }
}
"""
CUSTOMER_BY_EMAIL = """
query XsellCustomerByEmail($query: String!) {
  customers(first: 1, query: $query) { nodes { id } }
}
"""

# --- webhooks, discounts, consent -------------------------------------------------------------
WEBHOOKS = """
query XsellWebhooks($after: String) {
  webhookSubscriptions(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id topic uri }
  }
}
"""
WEBHOOK_CREATE = """
mutation XsellWebhookCreate($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}
"""
WEBHOOK_UPDATE = """
mutation XsellWebhookUpdate($id: ID!, $sub: WebhookSubscriptionInput!) {
  webhookSubscriptionUpdate(id: $id, webhookSubscription: $sub) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}
"""
_DISCOUNT_RESULT = """
    codeDiscountNode {
      id
      codeDiscount {
        ... on DiscountCodeBasic { endsAt codes(first: 1) { nodes { code } } }
        ... on DiscountCodeBxgy { endsAt codes(first: 1) { nodes { code } } }
      }
    }
    userErrors { field message code }
"""
DISCOUNT_BASIC_CREATE = f"""
mutation XsellDiscountBasicCreate($input: DiscountCodeBasicInput!) {{
  discountCodeBasicCreate(basicCodeDiscount: $input) {{ {_DISCOUNT_RESULT} }}
}}
"""
DISCOUNT_BXGY_CREATE = f"""
mutation XsellDiscountBxgyCreate($input: DiscountCodeBxgyInput!) {{
  discountCodeBxgyCreate(bxgyCodeDiscount: $input) {{ {_DISCOUNT_RESULT} }}
}}
"""
DISCOUNT_FREE_SHIPPING_CREATE = f"""
mutation XsellDiscountFreeShippingCreate($input: DiscountCodeFreeShippingInput!) {{
  discountCodeFreeShippingCreate(freeShippingCodeDiscount: $input) {{ {_DISCOUNT_RESULT} }}
}}
"""
CONSENT_UPDATE = """
mutation XsellConsentUpdate($input: CustomerEmailMarketingConsentUpdateInput!) {
  customerEmailMarketingConsentUpdate(input: $input) {
    customer { id }
    userErrors { field message code }
  }
}
"""
