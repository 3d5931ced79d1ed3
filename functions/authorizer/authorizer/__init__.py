"""Lambda TOKEN authorizer: verifies the bearer JWT and answers with an IAM policy for the API."""
