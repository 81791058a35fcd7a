"""Surfaces at run time: compiled mappings joined to the mixer and a transport
(`surface.Surface` and the input, routing, feedback and navigation pieces it is
made of), and the native OSC namespace that needs no mapping file."""
