/* The learning-rate schedule: linear warm-up from 0 to the peak, then a
 * cosine decay to min_lr at the last step. A pure function of the step, so a
 * resumed run continues the same curve. */
#ifndef DV_SCHED_H
#define DV_SCHED_H

typedef struct dv_sched {
    double lr;        /* peak */
    double min_lr;    /* reached at step total - 1 */
    long warmup;      /* steps of linear warm-up (0: none) */
    long total;       /* steps of the whole run */
} dv_sched;

/* Learning rate for 0-based step. */
double dv_sched_lr(const dv_sched *s, long step);

#endif
