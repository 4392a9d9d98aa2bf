/* docvl-loadcheck: opens a model directory (config + memory-mapped weights),
 * validates every tensor the forward pass needs, prints the model info, the
 * load time and the peak resident memory. Computes nothing. */
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

#include "weights/checkpoint.h"
#include "weights/config.h"
#include "weights/model_info.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: docvl-loadcheck MODEL_DIR\n");
        return 2;
    }
    double t0 = now();
    dv_config c;
    dv_checkpoint *ck = NULL;
    dv_model_info info;
    dv_err e = { 0 };
    int rc = dv_config_load(argv[1], &c, &e);
    if (!rc)
        rc = dv_checkpoint_open(argv[1], &ck, &e);
    if (!rc)
        rc = dv_model_validate(&c, ck, &e);
    double t1 = now();
    if (!rc)
        rc = dv_model_info_get(&c, ck, &info, &e);
    if (rc) {
        fprintf(stderr, "docvl-loadcheck: %s\n", e.msg);
        dv_checkpoint_close(ck);
        return 1;
    }
    dv_model_info_print(&info, stdout);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("open + validate: %.3f s\npeak RSS: %.1f MiB\n", t1 - t0, ru.ru_maxrss / 1024.0);
    dv_checkpoint_close(ck);
    return 0;
}
