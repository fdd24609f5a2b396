"""How much a subject or body template may do: every limit in one place (docs/templates.md).

Sized for the largest booking the contract accepts (1,050 attendees, a 500,000-character body) with
room to spare, and far below what hurts a worker: without them 570 bytes of kwargs rendered a
9,000,000-character body in 19.8 s and wrote it to Exchange.
"""

from __future__ import annotations

__all__ = [
    "BLOCK_NESTING_LIMIT",
    "BODY_OUTPUT_LIMIT_BYTES",
    "CONTEXT_DEPTH_LIMIT",
    "LOCAL_NAMESPACE_LIMIT_BYTES",
    "LOOP_ITERATION_BUDGET",
    "LOOP_ITERATION_LIMIT",
    "SUBJECT_MAX_LENGTH",
    "SUBJECT_OUTPUT_LIMIT_BYTES",
]

# python-liquid's own limits (Environment class attributes).
# Iterations of nested loops, multiplied out, checked before a loop starts: the whole attendee list
# (at most 1,050) inside a loop of up to 9 items fits; 20 items nested four deep (160,000) does not.
LOOP_ITERATION_LIMIT = 10_000
# UTF-8 bytes a body render may write: any body the contract accepts (500,000 characters, at most
# 4 bytes each) fits even with no Liquid in it, so the limit only ever stops expansion.
BODY_OUTPUT_LIMIT_BYTES = 2 * 1024 * 1024
# A subject is at most 255 characters once rendered; this only stops a runaway render early.
SUBJECT_OUTPUT_LIMIT_BYTES = 16 * 1024
# Nested scopes (loops, captures); there is no loader, so no include or render can recurse.
CONTEXT_DEPTH_LIMIT = 10
# Bytes (sys.getsizeof) of what `assign` and `capture` keep: stops `assign s = s | append: s`.
LOCAL_NAMESPACE_LIMIT_BYTES = 2 * 1024 * 1024
# Blocks nested inside blocks, checked when the template is parsed.
BLOCK_NESTING_LIMIT = 20

# Ours: iterations of all the loops of one render, added up. python-liquid checks each nest of
# loops on its own, so without this a 500,000-character body of 13,500 loops of 10,000 empty
# iterations each ran for 206 s.
LOOP_ITERATION_BUDGET = 50_000

# Exchange's (and exchangelib's) longest subject, in characters.
SUBJECT_MAX_LENGTH = 255
