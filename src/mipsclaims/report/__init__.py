"""What a practice sees: terminal tables, CSV/JSON rows, the HTML report, gaps, checks and
score reports.

Every module here renders a result it is given (``engine.EngineResult``,
``scoring.ScoreReport``, ``report.remit.RemitReport``), reading its year and level from it;
none of them counts.
"""
