/* runtime.c — placeholder until ONNX Runtime is wired in (see runtime.h). */
#include "vision/runtime.h"

#include <stdio.h>
#include <stdlib.h>

vx_runtime *vx_runtime_open(const vx_runtime_options *opt, char *err, size_t errlen)
{
    (void)opt;
    snprintf(err, errlen, "ONNX Runtime is not available in this build");
    return NULL;
}
void vx_runtime_close(vx_runtime *rt) { (void)rt; }
vx_session *vx_session_load(vx_runtime *rt, const char *model_path, char *err, size_t errlen)
{
    (void)rt;
    snprintf(err, errlen, "cannot load %s: no ONNX Runtime", model_path);
    return NULL;
}
void vx_session_close(vx_session *s) { (void)s; }
size_t vx_tensor_count(const vx_tensor *t)
{
    size_t n = t->ndim ? 1 : 0;
    for (size_t i = 0; i < t->ndim; i++)
        n *= (size_t)t->shape[i];
    return n;
}
void vx_tensor_free(vx_tensor *t) { free(t->data); t->data = NULL; }
bool vx_run(vx_session *s, const vx_tensor *in, vx_tensor *out, char *err, size_t errlen)
{
    (void)s; (void)in; (void)out;
    snprintf(err, errlen, "no ONNX Runtime");
    return false;
}
