"""The payments service: API handlers, card sandbox, stream publisher and order-event consumer."""
