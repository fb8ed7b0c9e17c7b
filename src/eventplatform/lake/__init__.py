"""The data lake: refine streams from the event log into hourly Parquet tables, query them with DuckDB.

Layout (Wikimedia's, so queries port unchanged): ``<lake>/event/<table>/datacenter=<dc>/year=<Y>/month=<M>/
day=<D>/hour=<H>/part-*.parquet``; ``<lake>/_status.sqlite`` records what was refined; records that do not
fit the table go to ``<lake>/quarantine/<table>/…`` with their reason. See docs/lake.md.
"""
