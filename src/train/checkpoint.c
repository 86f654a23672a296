#include "core/err.h"
#include "train/trainer_internal.h"

/* Placeholder until model_io (branch gguf) lands on main. */
int trainer_save_checkpoint(const struct trainer *t, const char *path, int step) {
    (void)t, (void)step;
    return disr_fail(DISR_E_UNSUPPORTED, "checkpoint %s: model files are not available yet", path);
}

int trainer_resume(struct trainer *t, const char *path, int *step) {
    (void)t, (void)step;
    return disr_fail(DISR_E_UNSUPPORTED, "checkpoint %s: model files are not available yet", path);
}
