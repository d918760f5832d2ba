"""Routing: queue policy, assignment, acknowledgements, estimates, business hours and SLA timers.

Pure policy over the model, driven by the pipeline's events; no channel names, no storage.
"""
