"""The Docker path: the Lambda base image (:mod:`.image`) and SAM CLI's start-api/start-lambda (:mod:`.samlocal`)."""
