"""Sampling the host: one collector per /proc source, the sampler that turns readings into a feature row,
counter rates, and the SMD-38 feature catalog.

Owns: ``collectors/`` (cpu, loadavg, meminfo, diskstats, vmstat, netdev, sockstat, snmp, netstat), ``procfs``
(parsing /proc text), ``rates`` (counters to per-second rates), ``sampler`` (a row per interval, NaN plus an
error count for an unreadable source), ``features`` (names, order, kind and unit of every feature).
May import: the shared base modules (``agent.config``, ``agent.state``, ``agent.memory``) only; never
``score``, ``model``, ``calibrate``, ``history``, ``serve`` or ``runtime``.
"""
