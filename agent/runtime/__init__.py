"""Running the agent: the one cycle runner (sample -> window -> calibrate -> score -> snapshot), where its
rows come from, the host state it keeps, and the two drivers of it: the daemon (clock, scheduler, HTTP,
signals) and ``backtest`` (recorded rows at a simulated clock).

Owns: ``cycle`` (``Agent``, the cycle), ``swap`` (its reload, probation and automatic rollback),
``hoststate`` (calibration and history of a host), ``sources`` (live sampler or replayed rows),
``scheduler``, ``daemon``, ``backtest``.
May import: every other subpackage; imported only by ``agent.cli``.  ``backtest`` never imports ``daemon``.
"""
