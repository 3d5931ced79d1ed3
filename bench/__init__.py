"""`make bench`: cold start, latency, throughput, event chain, scale and cost of the platform (``python -m bench``)."""
