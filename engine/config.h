/* config.h — every model and optimizer setting, its defaults and its validation. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

typedef enum { SPN_OPTIM_ADAGRAD = 0, SPN_OPTIM_ADAM = 1 } SpnOptimKind;

typedef struct {
  /* model (names follow the reference's command line) */
  int nlayers;
  int hid_sz;          /* d */
  int inner_hid_sz;    /* F, unused when pers_mem_size > 0 */
  int nheads;          /* K, d % K == 0 */
  int attn_span;       /* S */
  int pers_mem_size;   /* N; > 0 replaces the FF sublayer by persistent memory */
  gboolean adapt_span;
  double adapt_span_loss;   /* λ */
  int adapt_span_ramp;      /* R */
  double adapt_span_init;   /* initial z */
  gboolean adapt_span_cache;
  double dropout;
  int vocab_size;           /* V; set from the corpus */
  /* data */
  int block_sz;        /* M */
  int batch_sz;        /* B */
  /* optimizer */
  SpnOptimKind optim;
  double lr;
  int lr_warmup;
  double grad_clip;
  /* run */
  guint64 seed;
  int threads;
} SpnConfig;

/* The "desktop" model: learns visibly within minutes on two cores. */
void spn_config_init_desktop(SpnConfig *cfg);
/* The reference's small enwik8 setting (8 layers, width 256, FF 1024, 4 heads, S 1024,
 * block 256, batch 64). */
void spn_config_init_reference_small(SpnConfig *cfg);

/* The all-attention model: the desktop model with N = 256 persistent vectors per head and no FF
 * sublayer. */
void spn_config_init_all_attention(SpnConfig *cfg);
/* For the generated "demo" corpus (demo.h): the desktop model with spans starting at 0.75·S,
 * a strong span loss (λ 5e-4) and Adam (lr 0.002, no clipping), so within minutes most heads
 * shrink to a few characters while one head that copies the planted passages keeps a span
 * reaching the planted distance. */
void spn_config_init_span_demo(SpnConfig *cfg);

/* Refuses absurd or inconsistent settings with a reason naming the option. */
gboolean spn_config_validate(const SpnConfig *cfg, GError **error);

static inline int spn_config_head_dim(const SpnConfig *cfg) { return cfg->hid_sz / cfg->nheads; }

char *spn_config_to_json(const SpnConfig *cfg);
/* Missing keys keep the values already in *cfg; unknown keys are ignored. */
gboolean spn_config_from_json(SpnConfig *cfg, const char *json, GError **error);

const char *spn_optim_name(SpnOptimKind kind);

#define SPN_CONFIG_ERROR (spn_config_error_quark())
GQuark spn_config_error_quark(void);
typedef enum {
  SPN_CONFIG_ERROR_RANGE,          /* a setting outside what is sensible (or fits in memory) */
  SPN_CONFIG_ERROR_INCONSISTENT,   /* settings that contradict each other */
  SPN_CONFIG_ERROR_PARSE,          /* a value that is not of the setting's type */
} SpnConfigError;

G_END_DECLS
