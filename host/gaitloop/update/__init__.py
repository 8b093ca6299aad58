"""Signed, chunked A/B-slot updates over the live link (docs/update.md).

`keys` holds the master key and derives per-device keys, `image` builds and checks what is
pushed (manifest + payload), `client` speaks the update commands over any `Link`.
"""
