"""API Gateway (REST, Lambda proxy): the app with its TOKEN authorizer and gateway responses (:mod:`.app`), route
matching and policies (:mod:`.routes`), and the proxy integration's request and response (:mod:`.proxy`)."""
