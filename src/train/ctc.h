/* Connectionist temporal classification (Graves et al. 2006): the loss of a
 * target sequence read off a row of frames with no alignment given, each
 * frame a distribution over the vocabulary plus a blank. docvl-train uses it
 * for the reading warm-up of a line reader's tower (--objective ctc): the
 * image's columns are the frames, so the tower learns which glyph stands
 * where before the decoder has to learn where to look. */
#ifndef DV_CTC_H
#define DV_CTC_H

#include <stdint.h>

/* Frames T whose logits [T, V] give -log p(target | frames), summed over the
 * alignments the blank `blank` allows. When dlogits is non-NULL (it may
 * alias logits) it receives the gradient of that NLL times scale. A target
 * the frames cannot hold (fewer frames than tokens plus repeated pairs), an
 * empty frame row, or a token outside [0, V) or equal to blank gives
 * INFINITY and a zero gradient: the caller skips the sample. NAN: out of
 * memory. */
double tg_ctc_loss(float *logits, int T, int V, const int32_t *target, int L, int blank,
                   float scale, float *dlogits);

#endif
