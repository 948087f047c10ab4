"""Running a plan: the executor, the journal, runs (start, drive, status), events and views,
gates, hints, signals.
"""
