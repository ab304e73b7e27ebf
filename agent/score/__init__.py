"""Scoring a window: the ring window, the scorer (scaling, reconstruction error, reduction), the alert rule
and the immutable snapshot the exporter reads.  Pure computation.

Owns: ``window`` (the ring of the last W rows), ``scoring`` (score spec, scorer, window score), ``alerts``
(the shipped HostAnomaly rule and its alert-level figures), ``snapshot`` (what one cycle publishes).
May import: nothing else of the agent (the bottom layer).
"""
