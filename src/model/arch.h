/* A model family as one table, the llm.c way: each module (a tower, the
 * aligner, the decoder) is a list of rows (name pattern, kind, shape from
 * the config, init, flags), and a family places its modules under their
 * checkpoint prefixes. The schema, the validator, the random-model writer,
 * the inference binders and the trainer's binder all iterate over these
 * tables; only the tables (arch_deepseek_vl.c) spell tensor names. Binders
 * map a row's slot (the enums below) to a field of their own structs. */
#ifndef DV_ARCH_H
#define DV_ARCH_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "kernels/tensor.h"
#include "weights/config.h"

/* Which tower a tensor belongs to: --info counts parameters per tower. */
typedef enum dv_tower {
    DV_TOWER_SAM,
    DV_TOWER_SIGLIP,
    DV_TOWER_ALIGNER,
    DV_TOWER_LLM,
    DV_TOWER_OTHER,    /* vision_model.{high,low}_layer_norm */
    DV_TOWER_COUNT
} dv_tower;

/* How a random-weight writer should draw a tensor so activations stay sane. */
typedef enum dv_init {
    DV_INIT_MATRIX,   /* normal * 1/sqrt(fan_in) */
    DV_INIT_ONES,     /* norm weights */
    DV_INIT_ZEROS,    /* biases */
    DV_INIT_SMALL,    /* embeddings, positions, rel-pos tables: normal * 0.02 */
    DV_INIT_SCALAR,   /* hd_alpha_downsamples: a fixed modest mixing weight */
} dv_init;

/* What a row holds. LINEAR: <name>.weight [d0, d1]; CONV: <name>.weight
 * [d0, d1, d2, d2]; NORM: <name>.weight [d0] (ones); each with <name>.bias
 * [d0] (zeros) under DV_ROW_BIAS. TENSOR: <name> itself, shape d0.., drawn
 * as `init` says. */
typedef enum dv_kind { DV_KIND_TENSOR, DV_KIND_NORM, DV_KIND_LINEAR, DV_KIND_CONV } dv_kind;

enum {
    DV_ROW_BIAS = 1,      /* LINEAR / CONV / NORM rows also store <name>.bias */
    DV_ROW_UNUSED = 2,    /* stored in the released checkpoints, never read */
    DV_ROW_NODECAY = 4,   /* position tables: no weight decay although 2-D+ */
    DV_ROW_SAM_NECK = 8,  /* SAM's neck side: trained apart from its body */
    DV_ROW_HF_SQUEEZE = 16, /* the HF layout stores it without the leading 1 */
};

/* Dimension symbols: > 0 are the module's config lookups (its dim
 * function), < 0 literal sizes (-3: 3), 0 ends the list. */
#define DV_ARCH_MAX_DIMS 4

typedef struct dv_row {
    int slot;             /* the module's slot enum below */
    const char *name;     /* under the module's prefix; "%d": the repetition's index */
    dv_kind kind;
    int rep;              /* 0: once; else a count symbol (blocks, a condition's 0/1) */
    int dims[DV_ARCH_MAX_DIMS];
    dv_init init;         /* TENSOR rows */
    unsigned flags;
    int stride, pad;      /* CONV rows: stride symbol, padding */
    /* Its name in the HF-converted layout (NULL: the converter drops it):
     * '#' is the repetition's number (the module's index function, if any,
     * numbers the original; the HF name then counts from 1), '*' the q, k
     * or v third of a fused qkv stored split. */
    const char *hf;
} dv_row;

typedef struct dv_module {
    const char *what;                 /* for messages: "SAM", "SigLIP", ... */
    dv_tower tower;
    const dv_row *rows;
    int n_rows;
    /* size of dimension or count symbol sym; i: the repetition (-1 outside) */
    int64_t (*dim)(const dv_config *c, int sym, int i);
    /* the number a repetition's name carries (NULL: i itself) */
    int (*index)(const dv_config *c, int rep, int i);
} dv_module;

/* A module at its place in the family's checkpoint. */
typedef struct dv_placed {
    const dv_module *mod;
    const char *prefix;   /* ends in '.', or "" */
} dv_placed;

#define DV_ARCH_MAX_MODULES 8

/* A family as the loaders, the writers, the trainer and --info see it: its
 * names in both checkpoint layouts and its vision towers. One per family,
 * beside its tables (arch_<family>.c); code asks a family for a name or a
 * tower instead of testing which family it is. */
typedef struct dv_family_desc {
    dv_family id;
    const char *info_name;          /* --info */
    const char *vision_cls;         /* original config.json vision_config.cls */
    const char *hf_model_type;      /* HF config.json model_type */
    const char *hf_marker;          /* an HF config.json key only this family has (or NULL) */
    const char *hf_tensor_marks[2]; /* parts of HF tensor names only this family has */
    const char *hf_architecture;    /* HF config.json architectures[0] */
    const char *hf_image_processor; /* HF preprocessor_config.json image_processor_type */
    const char *hf_processor;       /* processor_config.json processor_class */
    dv_projector hf_aligner;        /* the aligner in the HF converter's layout */
    dv_tower input_tower;           /* the tower that reads the full-size image */
    int train_one_sample;           /* the trainer steps one sample at a time (activations
                                     * too large for one per thread) */
    const dv_placed *towers;        /* vision modules under their checkpoint prefixes */
    int n_towers;
    /* every module (towers, aligner, decoder) in cfg's layout; returns how many */
    int (*modules)(const dv_config *cfg, dv_placed out[DV_ARCH_MAX_MODULES]);
} dv_family_desc;

/* A family file's descriptors (arch_<family>.c); arch.c lists these. */
const dv_family_desc *dv_deepseek_vl_families(int *n);

/* Every family in turn (i = 0, 1, ...; NULL past the last); the first is the
 * default where a file does not say. */
const dv_family_desc *dv_family_at(int i);
/* cfg's family (never NULL for a parsed config). */
const dv_family_desc *dv_family_of(const dv_config *cfg);
/* The family whose original-layout vision_config.cls is cls (NULL: none). */
const dv_family_desc *dv_family_by_cls(const char *cls);
/* Whether cfg's family has tower t. */
int dv_config_has_tower(const dv_config *cfg, dv_tower t);
/* The image the family's input tower reads, in pixels (a square but for
 * docvl's non-square SigLIP-only models). */
void dv_config_input_dims(const dv_config *cfg, int *h, int *w);

/* The family's modules in cfg's layout; returns how many. */
int dv_arch_modules(const dv_config *cfg, dv_placed out[DV_ARCH_MAX_MODULES]);
/* The placed module of a tower (NULL when the family has none). */
const dv_placed *dv_arch_find(const dv_placed *mods, int n, dv_tower tower);

/* How many times row r repeats (0: absent for this config). */
int dv_row_count(const dv_config *cfg, const dv_module *mod, const dv_row *r);

/* One concrete tensor of a row. */
typedef struct dv_tref {
    char name[128];
    int ndim;
    int64_t shape[DV_ARCH_MAX_DIMS];
    int64_t stride;       /* CONV rows: resolved stride */
} dv_tref;

/* Row r, repetition i, its weight (bias = 0) or bias (1) tensor. Fails only
 * on a name too long for dv_tref. */
int dv_row_tensor(const dv_config *cfg, const dv_placed *p, const dv_row *r, int i, int bias,
                  dv_tref *out, dv_err *e);

/* The row of a slot in a module (NULL if it has none). */
const dv_row *dv_module_row(const dv_module *mod, int slot);

/* Every row, repetition and tensor of the family, in table order: fn gets
 * each (bias: 0 weight, 1 bias). A non-zero return stops the walk. */
typedef int (*dv_arch_visit)(void *user, const dv_placed *p, const dv_row *r, int i, int bias,
                             const dv_tref *t, dv_err *e);
int dv_arch_walk(const dv_config *cfg, dv_arch_visit fn, void *user, dv_err *e);

/* The same over one placed module only. */
int dv_arch_walk_module(const dv_config *cfg, const dv_placed *p, dv_arch_visit fn, void *user,
                        dv_err *e);

/* Slots: what a binder maps to its struct fields. The pre-norm ViT block
 * rows are shared by SAM and SigLIP (binders bind both alike). */
enum dv_vit_slot {
    DV_VIT_NORM1 = 1, DV_VIT_QKV, DV_VIT_PROJ, DV_VIT_REL_H, DV_VIT_REL_W, DV_VIT_NORM2,
    DV_VIT_FC1, DV_VIT_FC2,
    DV_VIT_PATCH, DV_VIT_POS, DV_VIT_NORM,                   /* SigLIP head and tail */
    DV_SIGLIP_POOL,                                           /* attn_pool.*: never bound */
    DV_SAM_NECK_C1, DV_SAM_NECK_LN1, DV_SAM_NECK_C3, DV_SAM_NECK_LN2,
    DV_SAM_HD_C1, DV_SAM_HD_LN1, DV_SAM_HD_C3, DV_SAM_HD_LN2,
    DV_SAM_DOWN0, DV_SAM_DOWN1, DV_SAM_ALPHA,
};

enum dv_aligner_slot { DV_AL_HIGH = 1, DV_AL_LOW, DV_AL_LAYER };

enum dv_llm_slot {
    DV_LM_EMBED = 1, DV_LM_ATTN_NORM, DV_LM_Q, DV_LM_K, DV_LM_V, DV_LM_O, DV_LM_MLP_NORM,
    DV_LM_GATE, DV_LM_UP, DV_LM_DOWN, DV_LM_NORM, DV_LM_HEAD,
};

enum { DV_OTHER_NORM = 1 };

/* The symbol of a module's per-block rows (SAM/SigLIP blocks, decoder
 * layers, aligner layers): binders allocate that many. */
#define DV_REP_BLOCKS 1

#endif
