/* docvl-train: trains DeepSeek-VL models (the three stages of
 * docs/training.md), evaluates them by multiple-choice perplexity, and plots a
 * training log. Exit 0 ok, 1 error, 2 usage. */
#include <errno.h>
#include <getopt.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/ctx.h"
#include "cli/blas_reexec.h"
#include "text/tokenizer.h"
#include "train/average.h"
#include "train/evalmc.h"
#include "train/grow.h"
#include "train/trainer.h"
#include "train/trainlog.h"

#define EXIT_USAGE 2

static void usage(FILE *f)
{
    fputs("usage: docvl-train train (--model DIR | --init CONFIG.json|DIR [--tokenizer DIR])\n"
          "                        [--from DIR]\n"
          "                        --stage 1|2|3 --data MANIFEST.jsonl [--text CORPUS.txt]\n"
          "                        [--objective next-token|ctc]\n"
          "                        [--mix 7:3] --out DIR [--steps N] [--lr X] [--min-lr X]\n"
          "                        [--warmup N] [--batch N] [--accum N] [--clip X] [--wd X]\n"
          "                        [--seed N] [--train PART=on|off]\n"
          "                        [--resume DIR] [--stop-after N] [--save-every N]\n"
          "                        [--max-tokens N] [--threads N] [-q]\n"
          "       docvl-train eval-mc --model DIR --data MC.jsonl [--threads N] [-v]\n"
          "       docvl-train plot LOG.tsv OUT.png\n"
          "       docvl-train export MODEL_DIR OUT_DIR [f16|bf16|f32]\n"
          "       docvl-train grow MODEL_DIR OUT_DIR --config NEW_CONFIG.json [--seed N]\n"
          "       docvl-train average MODEL_DIR MODEL_DIR... OUT_DIR\n"
          "\n"
          "train: stage 1 trains the aligner; stage 2 the LLM and aligner (language-only\n"
          "  samples from --text mixed with multimodal ones from --data, --mix LANG:MM);\n"
          "  stage 3 the LLM, aligner, SigLIP and SAM's neck, on answer tokens only.\n"
          "  --train PART=on|off overrides a component (sam_body, sam_neck, sam, siglip,\n"
          "  vision, aligner, llm). AdamW (betas 0.9/0.95, decay only on matrices), global\n"
          "  gradient-norm clipping (--clip, 0 off), linear warm-up then cosine to --min-lr,\n"
          "  --batch samples x --accum micro-steps per step. DIR receives the checkpoint\n"
          "  (loads in docvl), optimizer.bin, train.tsv and train.png. --resume DIR continues\n"
          "  a run exactly; --stop-after N stops early (the schedule still spans --steps).\n"
          "  Defaults: steps 100, lr 1e-4, min-lr 0, warmup 0, batch 1, accum 1, clip 1,\n"
          "  wd 0, seed 42, mix 7:3. --init DIR: a model directory's configuration (config,\n"
          "  processor and preprocessor files, tokenizer) at random. --from DIR: DIR's\n"
          "  tensors of the same name and shape replace the model's (a warm start, e.g. a\n"
          "  decoder trained on text alone).\n"
          "  --objective ctc: the reading warm-up of a line reader (SigLIP-only, one image\n"
          "  per sample): each answer is read off the image's columns (the aligner's rows\n"
          "  averaged down each column, through the decoder's final norm and output layer)\n"
          "  with the CTC loss, the image token as blank; the decoder's layers do not run.\n"
          "eval-mc: JSONL of {image, question, options[], answer}; prints the accuracy of\n"
          "  picking the option of lowest perplexity.\n"
          "plot: draws a train.tsv as a PNG (loss and learning rate).\n"
          "export: writes the model again with 16-bit weights (default f16), to ship.\n"
          "grow: writes MODEL_DIR grown to NEW_CONFIG.json's sizes (more tower layers, a\n"
          "  wider tower MLP, more decoder layers, a wider decoder MLP, a wider decoder of\n"
          "  the same head_dim), computing the same function: new layers are identities\n"
          "  spread between the old ones, new parts start as --init makes them (seed\n"
          "  default 42) but for zero output projections. Any other change is refused.\n"
          "average: writes the element-wise mean of the models' weights (F32), e.g. of\n"
          "  phases continued from one another; OUT_DIR gets the first model's\n"
          "  configuration and tokenizer. Models of different tensors are refused.\n",
          f);
}

static int parse_long(const char *s, const char *flag, long lo, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo) {
        fprintf(stderr, "docvl-train: %s \"%s\": expected an integer >= %ld\n", flag, s, lo);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_double(const char *s, const char *flag, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0)) {
        fprintf(stderr, "docvl-train: %s \"%s\": expected a number >= 0\n", flag, s);
        return -1;
    }
    *out = v;
    return 0;
}

enum {
    O_MODEL = 256, O_INIT, O_TOK, O_FROM, O_STAGE, O_DATA, O_TEXT, O_MIX, O_STEPS, O_LR, O_MINLR,
    O_WARMUP, O_BATCH, O_ACCUM, O_CLIP, O_WD, O_SEED, O_OUT, O_RESUME, O_STOP, O_SAVE,
    O_TRAIN, O_MAXTOK, O_THREADS, O_OBJECTIVE,
};

static const struct option TRAIN_OPTS[] = {
    { "model", 1, 0, O_MODEL }, { "init", 1, 0, O_INIT }, { "tokenizer", 1, 0, O_TOK },
    { "from", 1, 0, O_FROM },
    { "stage", 1, 0, O_STAGE }, { "data", 1, 0, O_DATA }, { "text", 1, 0, O_TEXT },
    { "mix", 1, 0, O_MIX }, { "steps", 1, 0, O_STEPS }, { "lr", 1, 0, O_LR },
    { "min-lr", 1, 0, O_MINLR }, { "warmup", 1, 0, O_WARMUP }, { "batch", 1, 0, O_BATCH },
    { "accum", 1, 0, O_ACCUM }, { "clip", 1, 0, O_CLIP }, { "wd", 1, 0, O_WD },
    { "seed", 1, 0, O_SEED }, { "out", 1, 0, O_OUT }, { "resume", 1, 0, O_RESUME },
    { "stop-after", 1, 0, O_STOP }, { "save-every", 1, 0, O_SAVE }, { "train", 1, 0, O_TRAIN },
    { "max-tokens", 1, 0, O_MAXTOK }, { "threads", 1, 0, O_THREADS },
    { "objective", 1, 0, O_OBJECTIVE }, { "quiet", 0, 0, 'q' },
    { "verbose", 0, 0, 'v' }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
};

typedef struct args {
    dv_train_opts t;
    long threads;
    int quiet, verbose;
} args;

/* An int option within [lo, hi]. */
static int parse_int(const char *s, const char *flag, long lo, long hi, int *out)
{
    long x;
    if (parse_long(s, flag, lo, &x))
        return -1;
    if (x > hi) {
        fprintf(stderr, "docvl-train: %s %ld: at most %ld\n", flag, x, hi);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static int set_long_opt(args *a, int c, const char *v)
{
    long x;
    switch (c) {
    case O_STAGE: return parse_int(v, "--stage", 1, 1 << 20, &a->t.stage);
    case O_STEPS: return parse_long(v, "--steps", 1, &a->t.steps);
    case O_WARMUP: return parse_long(v, "--warmup", 0, &a->t.warmup);
    case O_BATCH: return parse_int(v, "--batch", 1, 1 << 20, &a->t.batch);
    case O_ACCUM: return parse_int(v, "--accum", 1, 1 << 20, &a->t.accum);
    case O_SEED:
        if (parse_long(v, "--seed", 0, &x))
            return -1;
        a->t.seed = (uint64_t)x;
        return 0;
    case O_STOP: return parse_long(v, "--stop-after", 1, &a->t.stop_after);
    case O_SAVE: return parse_long(v, "--save-every", 1, &a->t.save_every);
    case O_MAXTOK: return parse_int(v, "--max-tokens", 2, 1 << 24, &a->t.max_tokens);
    case O_THREADS: return parse_long(v, "--threads", 1, &a->threads);
    case O_LR: return parse_double(v, "--lr", &a->t.lr);
    case O_MINLR: return parse_double(v, "--min-lr", &a->t.min_lr);
    case O_CLIP: return parse_double(v, "--clip", &a->t.clip);
    case O_WD: return parse_double(v, "--wd", &a->t.weight_decay);
    default: return 1;   /* not a number option */
    }
}

static int set_opt(args *a, int c, const char *v)
{
    int r = set_long_opt(a, c, v);
    if (r <= 0)
        return r;
    dv_err e = {0};
    switch (c) {
    case O_MODEL: a->t.model_dir = v; return 0;
    case O_INIT: a->t.init_config = v; return 0;
    case O_TOK: a->t.tokenizer_dir = v; return 0;
    case O_FROM: a->t.from_dir = v; return 0;
    case O_DATA: a->t.data = v; return 0;
    case O_TEXT: a->t.text = v; return 0;
    case O_OUT: a->t.out_dir = v; return 0;
    case O_RESUME: a->t.resume_dir = v; return 0;
    case O_OBJECTIVE:
        if (strcmp(v, "next-token") && strcmp(v, "ctc")) {
            fprintf(stderr, "docvl-train: --objective \"%s\": expected next-token or ctc\n", v);
            return -1;
        }
        a->t.ctc = !strcmp(v, "ctc");
        return 0;
    case 'q': a->quiet = 1; return 0;
    case 'v': a->verbose = 1; return 0;
    case O_MIX:
        if (!dv_mix_parse(v, &a->t.mix, &e))
            return 0;
        fprintf(stderr, "docvl-train: %s\n", e.msg);
        return -1;
    case O_TRAIN:
        if (a->t.n_overrides < DV_TRAIN_MAX_OVERRIDES) {
            a->t.overrides[a->t.n_overrides++] = v;
            return 0;
        }
        fprintf(stderr, "docvl-train: at most %d --train flags\n", DV_TRAIN_MAX_OVERRIDES);
        return -1;
    default:
        return -1;
    }
}

/* 0 ok, 1 --help shown, -1 usage error. */
static int parse_args(int argc, char **argv, args *a)
{
    dv_train_opts_default(&a->t);
    a->threads = dv_cpu_count();
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "qvh", TRAIN_OPTS, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 1;
        }
        if (c == '?' || set_opt(a, c, optarg))
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "docvl-train: unexpected argument \"%s\"\n", argv[optind]);
        return -1;
    }
    return 0;
}

static int cmd_train(args *a)
{
    if (a->t.stage > 3) {
        fprintf(stderr, "docvl-train: --stage must be 1, 2 or 3\n");
        return EXIT_USAGE;
    }
    if (!a->t.out_dir || (!a->t.data && !a->t.text) ||
        (!a->t.resume_dir && !!a->t.model_dir == !!a->t.init_config)) {
        fprintf(stderr, "docvl-train: train needs --out, --data and/or --text, and one of "
                        "--model, --init or --resume (see --help)\n");
        return EXIT_USAGE;
    }
    a->t.progress = a->quiet ? NULL : stderr;
    dv_ctx ctx = { .n_threads = (int)a->threads };
    dv_train_report rep;
    dv_err e = {0};
    if (dv_train_run(&a->t, &rep, &ctx, &e)) {
        fprintf(stderr, "docvl-train: %s\n", e.msg);
        return 1;
    }
    printf("trained %ld steps, last loss %.4f, %.0f tokens/s; checkpoint in %s\n",
           rep.steps_done, rep.last_loss, rep.tokens_per_s, a->t.out_dir);
    return 0;
}

static int run_eval(args *a, dv_tmodel *m, dv_err *e)
{
    char *tj = g_build_filename(a->t.tokenizer_dir ? a->t.tokenizer_dir : a->t.model_dir,
                                "tokenizer.json", NULL);
    dv_tokenizer *tok = NULL;
    int rc = dv_tokenizer_open(tj, &tok, e);
    g_free(tj);
    dv_mc_set set = {0};
    if (!rc)
        rc = dv_mc_load(a->t.data, &set, e);
    if (!rc) {
        const dv_config *c = &m->cfg;
        dv_seq_opts so = { .tok = tok, .image_tag = c->proc.image_tag,
                           .image_id = dv_tokenizer_token_id(tok, c->proc.image_tag),
                           .n_img_tokens = dv_config_image_tokens(c), .add_bos = c->proc.add_bos,
                           .system = c->proc.system_prompt,
                           .max_tokens = c->lm.max_pos };
        dv_tmodel_set_image_token(m, so.image_id);
        dv_ctx ctx = { .n_threads = (int)a->threads };
        dv_mc_result r;
        rc = dv_evalmc(m, &so, &set, &r, a->verbose ? stdout : NULL, &ctx, e);
        if (!rc)
            printf("accuracy %.4f (%ld of %ld)\n", r.accuracy, r.correct, r.n);
    }
    dv_mc_free(&set);
    dv_tokenizer_free(tok);
    return rc;
}

static int cmd_eval(args *a)
{
    if (!a->t.model_dir || !a->t.data) {
        fprintf(stderr, "docvl-train: eval-mc needs --model DIR and --data MC.jsonl\n");
        return EXIT_USAGE;
    }
    dv_err e = {0};
    dv_tmodel *m = NULL;
    int rc = dv_tmodel_load(a->t.model_dir, &m, &e);
    if (!rc)
        rc = run_eval(a, m, &e);
    if (m)
        dv_tmodel_free(m);
    if (rc)
        fprintf(stderr, "docvl-train: %s\n", e.msg);
    return rc ? 1 : 0;
}

static int cmd_plot(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "docvl-train: plot needs LOG.tsv OUT.png\n");
        return EXIT_USAGE;
    }
    dv_err e = {0};
    if (dv_plot_trainlog(argv[1], argv[2], &e)) {
        fprintf(stderr, "docvl-train: %s\n", e.msg);
        return 1;
    }
    return 0;
}

/* export DIR OUT [f16|bf16|f32]: the checkpoint with 16-bit weights (default
 * f16: 10 mantissa bits, and trained weights stay far inside its range). */
static int cmd_export(int argc, char **argv)
{
    const char *names[] = { "f16", "bf16", "f32" };
    const dv_dtype types[] = { DV_F16, DV_BF16, DV_F32 };
    int k = argc == 3 ? 0 : -1;
    for (int i = 0; argc == 4 && i < 3; i++)
        if (strcmp(argv[3], names[i]) == 0)
            k = i;
    if (k < 0) {
        fprintf(stderr, "docvl-train: export needs MODEL_DIR OUT_DIR [f16|bf16|f32]\n");
        return EXIT_USAGE;
    }
    dv_err e = {0};
    dv_tmodel *m = NULL;
    int rc = dv_tmodel_load(argv[1], &m, &e);
    if (!rc)
        rc = dv_tmodel_save_as(m, argv[2], NULL, types[k], &e);
    dv_tmodel_free(m);
    if (rc) {
        fprintf(stderr, "docvl-train: %s\n", e.msg);
        return 1;
    }
    return 0;
}

/* average MODEL_DIR MODEL_DIR... OUT_DIR */
static int cmd_average(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "docvl-train: average needs two or more MODEL_DIRs and an OUT_DIR\n");
        return EXIT_USAGE;
    }
    dv_err e = {0};
    if (dv_average_dirs((const char *const *)argv + 1, argc - 2, argv[argc - 1], &e)) {
        fprintf(stderr, "docvl-train: %s\n", e.msg);
        return 1;
    }
    printf("averaged %d models into %s\n", argc - 2, argv[argc - 1]);
    return 0;
}

/* grow MODEL_DIR OUT_DIR --config NEW.json [--seed N] */
static int cmd_grow(int argc, char **argv)
{
    static const struct option opts[] = { { "config", 1, 0, 'c' }, { "seed", 1, 0, 's' },
                                          { 0, 0, 0, 0 } };
    const char *config = NULL;
    long seed = 42;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'c')
            config = optarg;
        else if (c != 's' || parse_long(optarg, "--seed", 0, &seed))
            return EXIT_USAGE;
    }
    if (!config || argc - optind != 2) {
        fprintf(stderr, "docvl-train: grow needs MODEL_DIR OUT_DIR --config NEW_CONFIG.json\n");
        return EXIT_USAGE;
    }
    const char *dir = argv[optind], *out = argv[optind + 1];
    dv_grow_info in;
    dv_err e = {0};
    if (dv_grow_dir(dir, config, out, (uint64_t)seed, &in, &e)) {
        fprintf(stderr, "docvl-train: %s\n", e.msg);
        return 1;
    }
    printf("grew %s to %s: %zu -> %zu parameters; tower layers %d -> %d, tower MLP %d -> %d; "
           "decoder layers %d -> %d, hidden %d -> %d, intermediate %d -> %d, rms_norm_eps %g -> "
           "%g\n", dir, out, in.params_old, in.params_new, in.tower_layers[0], in.tower_layers[1],
           in.tower_mlp[0], in.tower_mlp[1], in.lm_layers[0], in.lm_layers[1], in.lm_hidden[0],
           in.lm_hidden[1], in.lm_ffn[0], in.lm_ffn[1], (double)in.rms_eps[0],
           (double)in.rms_eps[1]);
    return 0;
}

int main(int argc, char **argv)
{
    cli_blas_reexec("docvl-train", argv);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "plot") == 0)
        return cmd_plot(argc - 1, argv + 1);
    if (strcmp(cmd, "export") == 0)
        return cmd_export(argc - 1, argv + 1);
    if (strcmp(cmd, "grow") == 0)
        return cmd_grow(argc - 1, argv + 1);
    if (strcmp(cmd, "average") == 0)
        return cmd_average(argc - 1, argv + 1);
    int is_train = strcmp(cmd, "train") == 0, is_eval = strcmp(cmd, "eval-mc") == 0;
    if (!is_train && !is_eval) {
        fprintf(stderr, "docvl-train: unknown command \"%s\" (train, eval-mc, plot, export, grow, average)\n", cmd);
        return EXIT_USAGE;
    }
    args a;
    memset(&a, 0, sizeof a);
    int p = parse_args(argc - 1, argv + 1, &a);
    if (p)
        return p > 0 ? 0 : EXIT_USAGE;
    if (a.verbose)
        cli_blas_report("docvl-train");
    return is_train ? cmd_train(&a) : cmd_eval(&a);
}
