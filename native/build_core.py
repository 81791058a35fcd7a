"""cffi build script for the native core (API mode, out-of-line).

setup.py names this file in `cffi_modules`, so `pip install .` compiles the
core into `surfaced._native`. Only the public API is declared here.
"""

from __future__ import annotations

import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = [
    "core.c", "overs.c", "strip.c", "kern_avx2.c", "kern_avx512.c", "dsp.c", "stream.c",
    "loudness.c", "truepeak.c", "ramp.c", "chanmeter.c", "gateblocks.c", "reference.c", "jack.c",
    "jack_audio.c", "jack_midi.c",
]
HEADERS = ["sf_core.h", "sf_internal.h", "lanes.h", "kern_body.h", "loudness.h", "kweight.h", "truepeak.h", "jack_internal.h"]

def public_cdef(header: str) -> str:
    """The cdef for cffi, read from the public header so the two never drift.

    Comments and preprocessor lines go, except integer `#define`s, which cffi
    understands; array sizes written with those names become numbers, since
    cffi's parser does not expand macros.
    """
    text = re.sub(r"/\*.*?\*/", "", header, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    consts: dict[str, str] = {}
    lines = []
    for line in text.splitlines():
        m = re.match(r"\s*#\s*define\s+(\w+)\s+(-?\d+)\s*$", line)
        if m:
            consts[m.group(1)] = m.group(2)
            lines.append(f"#define {m.group(1)} {m.group(2)}")
        elif not line.lstrip().startswith("#"):
            lines.append(line)
    out = "\n".join(lines)
    for name, value in consts.items():
        out = re.sub(rf"\[{name}\]", f"[{value}]", out)
    return out


with open(os.path.join(HERE, "sf_core.h"), encoding="utf-8") as f:
    CDEF = public_cdef(f.read())


# -O3 lets gcc vectorise the gain/sum loops; no -ffast-math: the core relies
# on IEEE semantics to detect NaN/Inf. -fno-math-errno lets sqrtf/fabsf
# inline without touching errno in the audio thread.
CFLAGS = ["-std=c11", "-O3", "-fno-math-errno", "-fno-trapping-math", "-Wall", "-Wextra"]

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "surfaced._native",
    '#include "sf_core.h"',
    sources=[os.path.relpath(os.path.join(HERE, s)) for s in SOURCES],
    include_dirs=[os.path.relpath(HERE)],
    # Headers too: kern_body.h is compiled through strip.c and kern_avx*.c,
    # and a rebuild must notice when only it changed.
    depends=[os.path.relpath(os.path.join(HERE, h)) for h in HEADERS],
    extra_compile_args=CFLAGS,
    libraries=["m", "pthread", "dl"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
