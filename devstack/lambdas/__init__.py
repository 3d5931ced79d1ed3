"""Lambda: a pool of warm workers per function (:mod:`.pool`), each one process (:mod:`.process`) speaking a line
protocol to its runtime loop (:mod:`.worker`)."""
