#include "train/sched.h"

#include <math.h>

double dv_sched_lr(const dv_sched *s, long step)
{
    if (step < 0)
        step = 0;
    /* (step + 1): the first step already moves the weights */
    if (step < s->warmup)
        return s->lr * (double)(step + 1) / (double)s->warmup;
    long span = s->total - s->warmup - 1;
    if (span <= 0)
        return s->lr;
    double t = (double)(step - s->warmup) / (double)span;
    if (t > 1.0)
        t = 1.0;
    return s->min_lr + 0.5 * (s->lr - s->min_lr) * (1.0 + cos(M_PI * t));
}
