#include "train/loop.h"

#include <unistd.h>

#include "core/err.h"
#include "core/log.h"

static int loop_start(const struct train_loop *l) {
    return l->checkpoint && l->resume && access(l->checkpoint, F_OK) == 0;
}

/* The step count at which this call ends, from where it started. */
static int loop_end(const struct train_loop *l, int start) {
    int end = l->steps;
    if (l->stop_after > 0 && start + l->stop_after < end) end = start + l->stop_after;
    if (l->stop_at > start && l->stop_at < end) end = l->stop_at;
    return end;
}

static void loop_checkpoint_periodic(const struct train_loop *l, int done, int end) {
    if (!l->checkpoint || l->checkpoint_every <= 0 || done % l->checkpoint_every || done >= end)
        return;
    if (trainer_save_checkpoint(l->trainer, l->checkpoint, done) < 0)
        log_warn("%s: checkpoint skipped: %s", l->label, disr_last_error());
}

int train_loop_run(const struct train_loop *l, void *ctx, struct train_loop_result *r) {
    *r = (struct train_loop_result){0};
    int start = 0;
    if (loop_start(l)) {
        DISR_TRY(trainer_resume(l->trainer, l->checkpoint, &start));
        log_info("%s: resumed from %s at step %d", l->label, l->checkpoint, start);
    }
    r->first_step = r->end_step = start;
    if (l->begin) DISR_TRY(l->begin(ctx, start));
    int end = loop_end(l, start);
    struct progress p;
    progress_init(&p, l->label, end - start);
    char text[256];
    for (int step = start; step < end; step++) {
        DISR_TRY(l->step(ctx, step));
        r->end_step = step + 1;
        r->steps_done++;
        loop_checkpoint_periodic(l, step + 1, end);
        l->describe(ctx, step, step + 1 == end, text, sizeof text);
        if (step + 1 < end) progress_update(&p, r->steps_done, text);
    }
    if (r->steps_done == 0) l->describe(ctx, start, true, text, sizeof text);
    progress_finish(&p, r->steps_done, text);
    if (l->checkpoint && r->steps_done > 0 && (end < l->steps || l->checkpoint_at_end))
        DISR_TRY(trainer_save_checkpoint(l->trainer, l->checkpoint, end));
    return DISR_OK;
}
