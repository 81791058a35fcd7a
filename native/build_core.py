"""cffi build script for the native core (API mode, out-of-line).

setup.py names this file in `cffi_modules`, so `pip install .` compiles the
core into `surfaced._native`. Only the public API is declared here.
"""

from __future__ import annotations

import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = [
    "core.c", "strip.c", "kern_avx2.c", "kern_avx512.c", "dsp.c", "stream.c",
    "loudness.c", "truepeak.c",
]
HEADERS = ["sf_core.h", "sf_internal.h", "lanes.h", "kern_body.h", "loudness.h", "truepeak.h"]

CDEF = """
#define SF_MAX_CHANNELS 1024
#define SF_MAX_BUSES 16
#define SF_EQ_BANDS 4
#define SF_MAX_BLOCK 4096
#define SF_TIMING_BINS 2048
#define SF_OK 0
#define SF_EINVAL -1
#define SF_EQUEUE_FULL -2
#define SF_ENOMEM -3
#define SF_EBUSY -4
#define SF_ERANGE -5

enum sf_scope { SF_SCOPE_CH = 0, SF_SCOPE_BUS = 1, SF_SCOPE_MASTER = 2 };
enum sf_param {
    SF_P_TRIM = 0, SF_P_PHASE, SF_P_HPF_ON, SF_P_HPF_FREQ, SF_P_EQ_ON, SF_P_EQ_FREQ,
    SF_P_EQ_GAIN, SF_P_EQ_Q, SF_P_COMP_ON, SF_P_COMP_THRESHOLD, SF_P_COMP_RATIO,
    SF_P_COMP_KNEE, SF_P_COMP_ATTACK, SF_P_COMP_RELEASE, SF_P_COMP_MAKEUP, SF_P_COMP_KEY,
    SF_P_FADER, SF_P_PAN, SF_P_MUTE, SF_P_SOLO, SF_P_SEND, SF_P_SEND_PRE, SF_P_COUNT
};

typedef struct sf_engine sf_engine;

typedef struct sf_master_meters {
    float peak[2];
    float rms[2];
    float true_peak[2];
    float true_peak_max[2];
    float momentary_lufs;
    float short_term_lufs;
    float integrated_lufs;
    float bus_peak[16];
    float bus_rms[16];
    uint64_t clip_count;
    uint64_t nonfinite_count;
    uint64_t state_resets;
    uint64_t xruns;
    uint64_t frames;
    uint64_t dropped_params;
} sf_master_meters;

sf_engine *sf_engine_new(int n_channels, int n_buses, double sample_rate, int max_block);
void sf_engine_free(sf_engine *e);
int sf_engine_channels(const sf_engine *e);
int sf_engine_buses(const sf_engine *e);
double sf_engine_rate(const sf_engine *e);
int sf_push_param(sf_engine *e, int scope, int index, int param, int sub, float value);
int sf_push_source_buffer(sf_engine *e, int ch, const float *data, uint32_t frames,
                          int n_src_channels);
int sf_push_source_input(sf_engine *e, int ch, int first_input, int stereo);
int sf_push_source_none(sf_engine *e, int ch);
int sf_push_rewind(sf_engine *e);
int sf_push_capture(sf_engine *e, float *buf, uint32_t frames);
int sf_push_reset_meters(sf_engine *e);
int sf_push_probe(sf_engine *e, uint32_t id);
uint32_t sf_probe_read(sf_engine *e, uint64_t *applied_ns);
void sf_settle(sf_engine *e);
int sf_process(sf_engine *e, const float *in, int in_channels, float *out, int out_channels,
               int nframes);
int sf_read_meters(sf_engine *e, float *ch_peak, float *ch_rms, sf_master_meters *m);
uint32_t sf_capture_frames(sf_engine *e);
void sf_count_xrun(sf_engine *e);
uint32_t sf_queue_capacity(const sf_engine *e);
const char *sf_strerror(int code);

typedef struct sf_pa_time_info {
    double inputBufferAdcTime;
    double currentTime;
    double outputBufferDacTime;
} sf_pa_time_info;

typedef struct sf_stream_ctx {
    sf_engine *engine;
    int in_channels;
    int out_channels;
    int measure;
    uint64_t timing_hist[2048];
    uint64_t timing_count;
    uint64_t timing_max_ns;
    uint64_t callbacks;
} sf_stream_ctx;

int sf_pa_callback(const void *input, void *output, unsigned long frames,
                   const sf_pa_time_info *time_info, unsigned long status_flags, void *userdata);

typedef struct sf_clock sf_clock;
sf_clock *sf_clock_start(sf_stream_ctx *ctx, int block, double sample_rate);
void sf_clock_stop(sf_clock *c);
uint64_t sf_clock_late(const sf_clock *c);
"""

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
    libraries=["m", "pthread"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
