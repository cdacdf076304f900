"""What a practice sees: terminal tables, CSV/JSON rows, the HTML report, gaps and checks.

Every module here renders engine results (``engine.EngineResult``); none of them counts.
"""
