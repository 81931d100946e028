/* params.h — where every named tensor lives in one flat arena, and views of it.
 *
 * Parameters, gradients and optimizer state share one layout, so "the gradient of tensor i"
 * is the same offset in another arena. Names and shapes are the reference's state-dict ones
 * (see docs/MODEL.md); proj_key and proj_val are adjacent so keys and values come from one sgemm.
 */
#pragma once
#include <glib.h>

#include "config.h"
#include "rng.h"

G_BEGIN_DECLS

typedef struct {
  char *name;
  int ndim;
  gint64 shape[3];
  gsize offset;
  gsize numel;
} SpnTensorSpec;

typedef struct {
  SpnTensorSpec *tensors;
  int n_tensors;
  gsize total;
} SpnLayout;

SpnLayout *spn_layout_new(const SpnConfig *cfg);
void spn_layout_free(SpnLayout *layout);
/* Index of the tensor called name, or -1. */
int spn_layout_find(const SpnLayout *layout, const char *name);

typedef struct {
  float *wq, *wk, *wv, *wo;    /* d×d, out×in; wk and wv adjacent */
  float *z;                    /* K (NULL without adaptive span) */
  float *pk, *pv;              /* K×D×N, K×N×D (NULL without persistent memory) */
  float *ln1_g, *ln1_b;
  float *fc1_w, *fc1_b, *fc2_w, *fc2_b; /* F×d, F, d×F, d (NULL with persistent memory) */
  float *ln2_g, *ln2_b;
} SpnLayerWeights;

typedef struct {
  float *base;
  float *in_emb;               /* V×d */
  float *key_pe;               /* D×S: column j is distance S − j */
  SpnLayerWeights *layers;
  float *out_w, *out_b;        /* V×d, V */
  int nlayers;
} SpnWeights;

/* Points every field of w into the arena base laid out by layout. */
void spn_weights_bind(SpnWeights *w, const SpnConfig *cfg, const SpnLayout *layout, float *base);
void spn_weights_unbind(SpnWeights *w);
/* The initialisation of docs/MODEL.md, drawn in layout order from rng. */
void spn_weights_init(SpnWeights *w, const SpnConfig *cfg, const SpnLayout *layout, SpnRng *rng);

/* An immutable copy of a parameter arena with its configuration, reference counted
 * (g_atomic_rc_box): how the training thread hands its weights to the reading thread, which
 * reads them in place, without either waiting on the other. */
typedef struct {
  SpnConfig cfg;
  gsize total;          /* floats in params */
  float params[];       /* laid out by spn_layout_new(&cfg) */
} SpnParamBlob;

/* A copy of the total floats of params (an arena of cfg laid out by layout). */
SpnParamBlob *spn_param_blob_new(const SpnConfig *cfg, const SpnLayout *layout,
                                 const float *params);
SpnParamBlob *spn_param_blob_ref(SpnParamBlob *b);
void spn_param_blob_unref(SpnParamBlob *b);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(SpnParamBlob, spn_param_blob_unref)

G_END_DECLS
