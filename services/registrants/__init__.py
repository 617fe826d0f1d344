"""A race's registrants for its organizers, a module a job: `query` (the one race-scoped query, search,
filters, sort and page cursors), `listing` (one page of the list, by keyset), `edits` (corrections and the
audit trail), `bibs`, `checkin`, `desk_waiver` (the waiver signed at check-in) and `export` (the CSV files).

Import the module you need (`from services.registrants import bibs`); nothing is re-exported here.
"""
