#include <string.h>

#include "weights/model_info.h"

#include "model/arch.h"

/* Storage dtype of the tensors the forward pass reads ("mixed" if several). */
static const char *stored_dtype(const dv_schema *s, const dv_checkpoint *ck)
{
    int seen = -1;
    for (int i = 0; i < s->n; i++) {
        const dv_tensor *t = s->items[i].used ? dv_checkpoint_find(ck, s->items[i].name) : NULL;
        if (!t)
            continue;
        if (seen >= 0 && seen != (int)t->dtype)
            return "mixed";
        seen = (int)t->dtype;
    }
    return seen < 0 ? "?" : dv_dtype_name((dv_dtype)seen);
}

static size_t file_bytes(const dv_checkpoint *ck)
{
    size_t n = 0;
    for (int s = 0; s < ck->n_shards; s++)
        for (int i = 0; i < ck->shards[s]->n; i++)
            n += ck->shards[s]->tensors[i].nbytes;
    return n;
}

int dv_model_info_get(const dv_config *cfg, const dv_checkpoint *ck, dv_model_info *out,
                      dv_err *e)
{
    memset(out, 0, sizeof *out);
    dv_schema s;
    int rc = dv_model_schema(cfg, &s, e);
    if (rc)
        return rc;
    out->family = cfg->family;
    out->family_name = dv_family_of(cfg)->info_name;
    for (int i = 0; i < s.n; i++) {
        const dv_schema_entry *t = &s.items[i];
        int64_t n = dv_schema_numel(t);
        out->params[t->tower] += n;
        out->params_total += n;
        if (!t->used)
            continue;
        out->params_used += n;
        const dv_tensor *w = ck ? dv_checkpoint_find(ck, t->name) : NULL;
        out->bytes_resident += w ? w->nbytes : (size_t)n * 4;
        out->bytes_widened += (size_t)n * 4;
    }
    out->dtype = ck ? stored_dtype(&s, ck) : "?";
    out->bytes_files = ck ? file_bytes(ck) : out->bytes_resident;
    out->image_h = cfg->pre.image_h;
    out->image_w = cfg->pre.image_w;
    out->image_size = out->image_w;
    out->image_tokens = dv_config_image_tokens(cfg);
    out->vocab = cfg->lm.vocab;
    out->context = cfg->lm.max_pos;
    out->hf_layout = cfg->hf_layout || (ck && ck->hf_layout);
    dv_schema_free(&s);
    return DOCVL_OK;
}

void dv_model_info_print(const dv_model_info *m, FILE *f)
{
    static const char *names[DV_TOWER_COUNT] = { "SAM-B", "SigLIP", "aligner", "LLM",
                                                "unused norms" };
    fprintf(f, "family: %s\n", m->family_name);
    fprintf(f, "layout: %s\n", m->hf_layout ? "transformers (HF-converted)" : "original");
    for (int p = 0; p < DV_TOWER_COUNT; p++)
        if (m->params[p])
            fprintf(f, "params %s: %lld\n", names[p], (long long)m->params[p]);
    fprintf(f, "params total: %lld (%lld used by the forward pass)\n",
            (long long)m->params_total, (long long)m->params_used);
    fprintf(f, "storage dtype: %s\n", m->dtype);
    fprintf(f, "weights resident: %.2f GiB as stored (%.2f GiB widened to f32)\n",
            (double)m->bytes_resident / (1 << 30), (double)m->bytes_widened / (1 << 30));
    if (m->image_h == m->image_w)
        fprintf(f, "image size: %d\n", m->image_size);
    else
        fprintf(f, "image size: %dx%d (height x width)\n", m->image_h, m->image_w);
    fprintf(f, "image tokens: %d\n", m->image_tokens);
    fprintf(f, "vocab: %d\n", m->vocab);
    fprintf(f, "context length: %d\n", m->context);
}
