"""The mixing assistant: gain staging, prep, rough-mix matching and taste (docs/assistant.md).

Its decisions live in a layer beneath the engineer's controls (ch/N/assist/*),
so faders keep their meaning and the engineer mixes on top.
"""
