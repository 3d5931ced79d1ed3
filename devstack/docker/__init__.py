"""The Docker path: the Lambda base image (:mod:`.image`), SAM CLI (:mod:`.sam_cli`), API Gateway's answers in
front of start-api (:mod:`.front`), and the runtime that ties them to the stack (:mod:`.samlocal`)."""
