"""The web chat widget's channel: visitor sessions, a websocket per browser tab."""
