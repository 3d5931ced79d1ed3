"""Lambda: one warm worker process per function (:mod:`.pool`) speaking a line protocol (:mod:`.worker`)."""
