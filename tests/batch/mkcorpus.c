/* docvl-mkcorpus DIR N: writes the batch tests' generated corpus (corpus.h)
 * for the shell recipes' tests (GNU parallel, Slurm). */
#include <stdlib.h>

#include "corpus.h"

int main(int argc, char **argv)
{
    if (argc != 3 || atoi(argv[2]) < 1) {
        fprintf(stderr, "usage: docvl-mkcorpus DIR N\n");
        return 2;
    }
    corpus_write(argv[1], atoi(argv[2]));
    return 0;
}
