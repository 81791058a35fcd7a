"""surfbox: the box protocol in MicroPython for the Raspberry Pi Pico.

The same wire and addresses as the C core (firmware/PROTOCOL.md). Pure
Python with no `machine` import outside hw_pico.py, so the logic runs and is
tested on CPython too. Written for MicroPython: no __future__ imports, no
typing module, no dataclasses; annotations use builtins only (MicroPython
ignores them).
"""

VERSION = "0.1.0"
