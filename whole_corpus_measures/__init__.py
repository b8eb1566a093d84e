"""Whole-corpus measures: exact n-gram next-token entropy over a tokenized corpus (``njsl entropy``)."""
