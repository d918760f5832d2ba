"""Channel adapters, one folder each with the same files: adapter.py, convert.py, settings.py.

A channel never imports another channel, storage, routing or the web layer: it receives the
core's ports from the composition root.
"""
