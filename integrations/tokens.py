"""The one way a presented API token is turned into what is stored and looked up."""

import hashlib


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
