"""Event source mappings: the SQS and DynamoDB stream pollers (:mod:`.pollers`) and their filters."""
