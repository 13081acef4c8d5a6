/*
 * runtime.c — ONNX Runtime through its C API (see runtime.h): one OrtEnv with
 * one global intra-op thread pool shared by every session, sessions created
 * once per model, float32 tensors in and out.
 *
 * The headers (Debian trixie's libonnxruntime-dev) and the library (npm
 * onnxruntime-node) are both 1.21; the API table is requested at version 21
 * exactly, so that newer headers still work with the pinned library (an
 * OrtApi of version N is a prefix of every later one). docs/vision.md.
 *
 * Must never: let an OrtStatus escape (every one is turned into text and
 * released), keep a pointer into an OrtValue after releasing it, or start a
 * thread pool per session (threads = the configured count, once).
 */
#include "vision/runtime.h"

#include <onnxruntime_c_api.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

/* The API version the pinned 1.21 library serves. */
#define VX_ORT_API_VERSION 21
_Static_assert(ORT_API_VERSION >= VX_ORT_API_VERSION,
               "ONNX Runtime headers older than the 1.21 API");

struct vx_runtime {
    const OrtApi *api;
    OrtEnv *env;
    OrtMemoryInfo *cpu;
    unsigned threads;
};

struct vx_session {
    vx_runtime *rt;
    OrtSession *sess;
    char *in_name, *out_name;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Turn a non-NULL status into "what: message", release it; true if it was
 * an error. */
static bool failed(const OrtApi *api, OrtStatus *st, char *err, size_t errlen, const char *what)
{
    if (!st)
        return false;
    set_err(err, errlen, "%s: %s", what, api->GetErrorMessage(st));
    api->ReleaseStatus(st);
    return true;
}

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (unsigned)n;
}

vx_runtime *vx_runtime_open(const vx_runtime_options *opt, char *err, size_t errlen)
{
    const OrtApiBase *base = OrtGetApiBase();
    const OrtApi *api = base ? base->GetApi(VX_ORT_API_VERSION) : NULL;
    if (!api) {
        set_err(err, errlen, "ONNX Runtime %s does not serve C API version %d",
                base ? base->GetVersionString() : "?", VX_ORT_API_VERSION);
        return NULL;
    }
    vx_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    rt->api = api;
    rt->threads = opt && opt->intra_threads ? opt->intra_threads : online_cpus();

    OrtThreadingOptions *to = NULL;
    if (failed(api, api->CreateThreadingOptions(&to), err, errlen, "ONNX Runtime threading options"))
        goto fail;
    OrtStatus *st = api->SetGlobalIntraOpNumThreads(to, (int)rt->threads);
    if (!st)
        st = api->SetGlobalInterOpNumThreads(to, 1);
    /* No busy-waiting between operators: the machine is shared with the
     * HTTP threads, and spinning workers would only steal their CPU. */
    if (!st)
        st = api->SetGlobalSpinControl(to, 0);
    /* Denormal floats as zero in the pool's threads (and, in vx_run_outputs,
     * on the calling thread, which does the work of a one-thread pool): some
     * models (the face feature model) produce denormals inside, and x86 runs
     * each of them through microcode: 58 ms instead of 5 ms per embedding
     * (docs/face.md). The outputs differ by less than a denormal. */
    if (!st)
        st = api->SetGlobalDenormalAsZero(to);
    if (!st)
        st = api->CreateEnvWithGlobalThreadPools(ORT_LOGGING_LEVEL_ERROR, "shiming", to, &rt->env);
    api->ReleaseThreadingOptions(to);
    if (failed(api, st, err, errlen, "ONNX Runtime environment"))
        goto fail;
    if (failed(api, api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &rt->cpu),
               err, errlen, "ONNX Runtime memory info"))
        goto fail;
    /* One CPU arena for every session (each session uses it:
     * "session.use_env_allocators"), growing by what is asked
     * (kSameAsRequested) instead of the next power of two. Per-session
     * arenas each kept their own high-water mark, doubled, for every input
     * size they had seen; shared, the detector's and the recogniser's
     * activations reuse the same chunks. Measured with the server (2 workers,
     * 4 ID cards in flight, 60 cards): peak RSS 191–198 MB instead of
     * 230–247 MB, the same CPU per card (docs/vision.md). */
    {
        const char *keys[] = {"arena_extend_strategy", "max_dead_bytes_per_chunk"};
        const size_t vals[] = {1 /* kSameAsRequested */, (size_t)1 << 20};
        OrtArenaCfg *cfg = NULL;
        OrtStatus *as = api->CreateArenaCfgV2(keys, vals, 2, &cfg);
        if (!as)
            as = api->CreateAndRegisterAllocator(rt->env, rt->cpu, cfg);
        if (cfg)
            api->ReleaseArenaCfg(cfg);
        if (failed(api, as, err, errlen, "ONNX Runtime arena"))
            goto fail;
    }
    return rt;
fail:
    vx_runtime_close(rt);
    return NULL;
}

void vx_runtime_close(vx_runtime *rt)
{
    if (!rt)
        return;
    if (rt->cpu)
        rt->api->ReleaseMemoryInfo(rt->cpu);
    if (rt->env)
        rt->api->ReleaseEnv(rt->env);
    free(rt);
}

/* The name of input/output 0, copied into malloc'ed memory. */
static char *io_name(vx_session *s, bool input, char *err, size_t errlen)
{
    const OrtApi *api = s->rt->api;
    OrtAllocator *alloc = NULL;
    if (failed(api, api->GetAllocatorWithDefaultOptions(&alloc), err, errlen, "allocator"))
        return NULL;
    char *name = NULL;
    OrtStatus *st = input ? api->SessionGetInputName(s->sess, 0, alloc, &name)
                          : api->SessionGetOutputName(s->sess, 0, alloc, &name);
    if (failed(api, st, err, errlen, input ? "model input" : "model output"))
        return NULL;
    char *copy = strdup(name);
    OrtStatus *fs = api->AllocatorFree(alloc, name);
    if (fs)
        api->ReleaseStatus(fs);
    if (!copy)
        set_err(err, errlen, "out of memory");
    return copy;
}

vx_session *vx_session_load(vx_runtime *rt, const char *model_path, char *err, size_t errlen)
{
    const OrtApi *api = rt->api;
    if (access(model_path, R_OK) != 0) {
        set_err(err, errlen, "model %s: cannot be read (run scripts/setup, which installs "
                "the models into deps/models)", model_path);
        return NULL;
    }
    vx_session *s = calloc(1, sizeof *s);
    if (!s) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    s->rt = rt;
    OrtSessionOptions *so = NULL;
    if (failed(api, api->CreateSessionOptions(&so), err, errlen, "session options"))
        goto fail;
    OrtStatus *st = api->DisablePerSessionThreads(so); /* the env's global pool */
    if (!st)
        st = api->SetSessionGraphOptimizationLevel(so, ORT_ENABLE_ALL);
    if (!st)
        st = api->SetSessionExecutionMode(so, ORT_SEQUENTIAL);
    /* Input sizes change with every image: memory patterns (planned for
     * one shape) would be recomputed each time and only cost memory. */
    if (!st)
        st = api->DisableMemPattern(so);
    if (!st) /* the env's shared arena (vx_runtime_open) */
        st = api->AddSessionConfigEntry(so, "session.use_env_allocators", "1");
    if (!st)
        st = api->CreateSession(rt->env, model_path, so, &s->sess);
    api->ReleaseSessionOptions(so);
    const char *base = strrchr(model_path, '/') ? strrchr(model_path, '/') + 1 : model_path;
    char where[96];
    snprintf(where, sizeof where, "model %.80s", base);
    if (failed(api, st, err, errlen, where))
        goto fail;
    if (!(s->in_name = io_name(s, true, err, errlen)) || !(s->out_name = io_name(s, false, err, errlen)))
        goto fail;
    return s;
fail:
    vx_session_close(s);
    return NULL;
}

void vx_session_close(vx_session *s)
{
    if (!s)
        return;
    if (s->sess)
        s->rt->api->ReleaseSession(s->sess);
    free(s->in_name);
    free(s->out_name);
    free(s);
}

size_t vx_tensor_count(const vx_tensor *t)
{
    size_t n = t->ndim ? 1 : 0;
    for (size_t i = 0; i < t->ndim; i++)
        n *= t->shape[i] > 0 ? (size_t)t->shape[i] : 0;
    return n;
}

void vx_tensor_free(vx_tensor *t)
{
    if (!t)
        return;
    free(t->data);
    t->data = NULL;
    t->ndim = 0;
}

/* Copy one output value into a malloc'ed tensor. */
static bool take_output(const OrtApi *api, OrtValue *ov, vx_tensor *out, char *err, size_t errlen)
{
    OrtTensorTypeAndShapeInfo *info = NULL;
    bool ok = false;
    memset(out, 0, sizeof *out);
    if (failed(api, api->GetTensorTypeAndShape(ov, &info), err, errlen, "output shape"))
        goto done;
    ONNXTensorElementDataType type;
    size_t nd = 0;
    if (failed(api, api->GetTensorElementType(info, &type), err, errlen, "output type") ||
        failed(api, api->GetDimensionsCount(info, &nd), err, errlen, "output shape"))
        goto done;
    if (type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || nd == 0 || nd > VX_MAX_DIMS) {
        set_err(err, errlen, "model output is not a float tensor of 1..%d dimensions", VX_MAX_DIMS);
        goto done;
    }
    if (failed(api, api->GetDimensions(info, out->shape, nd), err, errlen, "output shape"))
        goto done;
    out->ndim = nd;
    size_t m = vx_tensor_count(out);
    float *src = NULL;
    if (failed(api, api->GetTensorMutableData(ov, (void **)&src), err, errlen, "output data")) {
        out->ndim = 0;
        goto done;
    }
    out->data = malloc(m ? m * sizeof(float) : 1);
    if (!out->data) {
        set_err(err, errlen, "out of memory for the model's output");
        out->ndim = 0;
        goto done;
    }
    memcpy(out->data, src, m * sizeof(float));
    ok = true;
done:
    if (info)
        api->ReleaseTensorTypeAndShapeInfo(info);
    return ok;
}

#define VX_MAX_OUTPUTS 8

bool vx_run_outputs(vx_session *s, const vx_tensor *in, const char *const *names, size_t nout,
                    vx_tensor *outs, char *err, size_t errlen)
{
    const OrtApi *api = s->rt->api;
    for (size_t i = 0; i < nout; i++)
        memset(&outs[i], 0, sizeof outs[i]);
    if (nout == 0 || nout > VX_MAX_OUTPUTS) {
        set_err(err, errlen, "between 1 and %d outputs can be asked for", VX_MAX_OUTPUTS);
        return false;
    }
    size_t n = vx_tensor_count(in);
    if (!n || in->ndim > VX_MAX_DIMS) {
        set_err(err, errlen, "empty input tensor");
        return false;
    }
    OrtValue *iv = NULL, *ov[VX_MAX_OUTPUTS] = {0};
    bool ok = false;
    /* The input wraps the caller's buffer: no copy. */
    if (failed(api, api->CreateTensorWithDataAsOrtValue(s->rt->cpu, in->data, n * sizeof(float),
                                                        in->shape, in->ndim,
                                                        ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &iv),
               err, errlen, "input tensor"))
        goto done;
    const char *in_names[] = {s->in_name};
#if defined(__SSE__)
    unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040u); /* flush-to-zero (bit 15) and denormals-are-zero (bit 6) */
#endif
    OrtStatus *rs = api->Run(s->sess, NULL, in_names, (const OrtValue *const *)&iv, 1, names, nout, ov);
#if defined(__SSE__)
    _mm_setcsr(csr);
#endif
    if (failed(api, rs, err, errlen, "inference"))
        goto done;
    ok = true;
    for (size_t i = 0; ok && i < nout; i++)
        ok = take_output(api, ov[i], &outs[i], err, errlen);
    if (!ok)
        for (size_t i = 0; i < nout; i++)
            vx_tensor_free(&outs[i]);
done:
    for (size_t i = 0; i < nout; i++)
        if (ov[i])
            api->ReleaseValue(ov[i]);
    if (iv)
        api->ReleaseValue(iv);
    return ok;
}

bool vx_run(vx_session *s, const vx_tensor *in, vx_tensor *out, char *err, size_t errlen)
{
    const char *names[] = {s->out_name};
    return vx_run_outputs(s, in, names, 1, out, err, errlen);
}
