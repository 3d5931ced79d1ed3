"""The orders service: API handlers, stream publisher and payment-event consumer."""
