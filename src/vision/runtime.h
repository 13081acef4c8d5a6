/*
 * runtime.h — ONNX Runtime behind a small C contract: one shared
 * environment, one session per model file created once and reused by every
 * worker, float tensors in and out.
 *
 * The ONNX Runtime library and headers are installed by scripts/setup into
 * deps/ (docs/vision.md); the models are fetched there too. The server
 * loads them once at start; a missing model is a clear start-up error, not
 * a crash at the first request.
 *
 * Thread-safety: vx_run may be called from many threads at once on one
 * session (ONNX Runtime sessions are thread-safe for Run). Open/close are
 * not concurrent with anything.
 */
#ifndef SHIMING_VISION_RUNTIME_H
#define SHIMING_VISION_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vx_runtime vx_runtime;
typedef struct vx_session vx_session;

typedef struct {
    unsigned intra_threads;   /* per Run; 0 = number of cores */
} vx_runtime_options;

/* NULL with a message in err on failure (library missing, …). */
vx_runtime *vx_runtime_open(const vx_runtime_options *opt, char *err, size_t errlen);
void vx_runtime_close(vx_runtime *rt); /* after every session is closed */

vx_session *vx_session_load(vx_runtime *rt, const char *model_path, char *err, size_t errlen);
void vx_session_close(vx_session *s);

#define VX_MAX_DIMS 6

/* A float32 tensor. `data` owned by whoever filled it: inputs by the
 * caller; outputs of vx_run are malloc'ed (free with vx_tensor_free). */
typedef struct {
    float *data;
    int64_t shape[VX_MAX_DIMS];
    size_t ndim;
} vx_tensor;

size_t vx_tensor_count(const vx_tensor *t); /* product of the shape */
void vx_tensor_free(vx_tensor *t);

/* Run the session on one input (its first input) and return its first
 * output. false with a message on failure. */
bool vx_run(vx_session *s, const vx_tensor *input, vx_tensor *output, char *err, size_t errlen);

/* Run the session on one input (its first input) and return the `n`
 * outputs named in `names`, in that order (a model with several outputs,
 * e.g. a detector's scores and boxes). On failure every output is empty
 * (nothing to free) and err says why, including an unknown output name. */
bool vx_run_outputs(vx_session *s, const vx_tensor *input, const char *const *names, size_t n,
                    vx_tensor *outputs, char *err, size_t errlen);

#endif
