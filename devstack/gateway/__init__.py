"""API Gateway: the REST API's routes, the TOKEN authorizer and its cache, proxy events and gateway responses."""
