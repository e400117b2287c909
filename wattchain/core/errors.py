"""Error types of the core layer."""


class DecodeError(ValueError):
    """Raised for any malformed serialized input.

    Decoders of untrusted bytes raise only this (truncation, trailing bytes, non-canonical
    integers, sizes over limits), so callers such as the P2P layer can catch one type and
    penalise the sender without ever seeing an IndexError or struct.error.
    """
