"""Harnesses that drive the local stack: the soak, chaos (fault injection through the engine's hooks), the
soak under chaos, and the invariants checked afterwards. The engine (``devstack``) imports nothing from here."""
