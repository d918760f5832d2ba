"""The core of the support bridge: model, ports, pipeline, outbox and lifecycle.

It knows no protocol, no database and no web framework; adapters and storage plug into the
ports in :mod:`bridge.ports`, and one composition root (:mod:`runtime`) wires them.
"""
