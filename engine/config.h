/* config.h — every model and optimizer setting: its defaults, presets, validation, JSON and
 * command-line options, all driven by one table. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

typedef enum { SPN_OPTIM_ADAGRAD = 0, SPN_OPTIM_ADAM = 1 } SpnOptimKind;

/* Over which distances a head's softmax normaliser runs (docs/MODEL.md, "Attention window"):
 * its layer's trimmed window, as the reference (its numbers exactly), or the head's own window
 * (per-head cost throughout; differs from the reference through the renormalisation's
 * epsilon). Checkpoints written before the option existed were trained in head mode. */
typedef enum { SPN_ATTN_WINDOW_REFERENCE = 0, SPN_ATTN_WINDOW_HEAD = 1 } SpnAttnWindow;

/* How training measures validation bpc: the first --eval-tokens tokens of the split from empty
 * caches (prefix), or as the reference does during training (docs/MODEL.md, "Evaluation"). */
typedef enum { SPN_EVAL_PREFIX = 0, SPN_EVAL_REFERENCE = 1 } SpnEvalMode;

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
  SpnAttnWindow attn_window;
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
  SpnEvalMode eval_mode;
  /* run */
  guint64 seed;
  int threads;
} SpnConfig;

/* ---- every setting, once ----
 *
 * One row per setting drives validation, JSON, the command line's options (GOptionEntry) and the
 * setup dialog's rows: adding a setting is one row in config.c. */

typedef enum {
  SPN_FIELD_INT,      /* int */
  SPN_FIELD_DOUBLE,   /* double */
  SPN_FIELD_BOOL,     /* gboolean; the command line has --name and --no-name */
  SPN_FIELD_SEED,     /* guint64, a string in JSON (numbers there cannot carry every seed) */
  SPN_FIELD_CHOICE,   /* an enum (int-sized) named by the field's choices */
} SpnFieldType;

typedef enum {
  SPN_FIELD_GROUP_MODEL,
  SPN_FIELD_GROUP_SPAN,
  SPN_FIELD_GROUP_TRAINING,
  SPN_FIELD_GROUP_RUN,
  SPN_FIELD_GROUP_COUNT
} SpnFieldGroup;

typedef enum {
  SPN_FIELD_SPAN_ONLY = 1 << 0,   /* means something only with the adaptive span */
  SPN_FIELD_FF_ONLY = 1 << 1,     /* means something (is checked) only without persistent memory */
  SPN_FIELD_INTERNAL = 1 << 2,    /* set by the program (the vocabulary size): JSON only */
  SPN_FIELD_RESUMABLE = 1 << 3,   /* may change when a run resumes: it shapes neither the model,
                                     nor the optimizer's state, nor the reading of the data */
} SpnFieldFlags;

/* One value of a CHOICE field: its name (JSON, command line) and the setup dialog's label. The
 * enum value is the index in the field's list, which ends with {NULL, NULL}. */
typedef struct {
  const char *name, *title;
} SpnChoice;

typedef struct {
  const char *name;    /* the reference's option name: --name on the command line, in reasons */
  const char *key;     /* JSON key */
  const char *title;   /* the setup dialog's row */
  gsize offset;        /* into SpnConfig */
  SpnFieldType type;
  double min, max;     /* what validation accepts (INT and DOUBLE) */
  const char *help;    /* one sentence: --help and the dialog's tooltip */
  const char *arg;     /* --help's placeholder for the value */
  SpnFieldGroup group;
  guint flags;         /* SpnFieldFlags */
  const SpnChoice *choices; /* CHOICE only */
} SpnConfigField;

const SpnConfigField *spn_config_fields(guint *n_fields);
const char *spn_config_group_title(SpnFieldGroup group);   /* "Model", "Attention span", ... */

/* Refuses absurd or inconsistent settings with a reason naming the option. */
gboolean spn_config_validate(const SpnConfig *cfg, GError **error);

static inline int
spn_config_head_dim(const SpnConfig *cfg)
{
  return cfg->hid_sz / cfg->nheads;
}

char *spn_config_to_json(const SpnConfig *cfg);
/* Missing keys keep the values already in *cfg; unknown keys are ignored. */
gboolean spn_config_from_json(SpnConfig *cfg, const char *json, GError **error);

/* The row of the table named `name` (its option without "--"), or NULL. */
const SpnConfigField *spn_config_field(const char *name);
/* One setting of two configurations compared, copied, or written as the command line takes it
 * ("4", "0.07", "on", "adam"; g_free it). */
gboolean spn_config_field_equal(const SpnConfig *a, const SpnConfig *b, const SpnConfigField *f);
void spn_config_field_copy(SpnConfig *dst, const SpnConfig *src, const SpnConfigField *f);
char *spn_config_field_format(const SpnConfig *cfg, const SpnConfigField *f);

/* ---- command-line options from rows ----
 *
 * The table's rows, or a program's own rows (offsets into its own struct, key and title unused),
 * become command-line options. */
typedef struct {
  const SpnConfigField *rows;
  guint n_rows;
  gpointer base;           /* the struct the rows' offsets point into; must outlive parsing */
  gconstpointer defaults;  /* a struct of the same kind whose values --help names as the
                              defaults ("(default 4)"), or NULL when the help says it */
} SpnOptionRows;

/* One option group (for g_option_context_set_main_group) of the rows of every set, INTERNAL rows
 * left out. Each value is parsed and checked against its row's range as it is read, so a bad one
 * is refused with the option, the value and the range: "--steps -5: expected an integer in
 * [0, 1000000000]", "--temperature nan: expected a number in [0, 100]". BOOL rows are switches
 * with a --no- form. given (may be NULL, else a g_str_hash set that outlives parsing) receives the
 * row name of every option met. */
GOptionGroup *spn_option_group_new(const SpnOptionRows *sets, guint n_sets, GHashTable *given);
/* The settings table as options writing into *cfg (which must outlive the group), described with
 * the desktop defaults; a setting already given a value by a preset keeps it unless its option is
 * given. */
GOptionGroup *spn_config_option_group(SpnConfig *cfg);

const char *spn_optim_name(SpnOptimKind kind);
gboolean spn_optim_from_name(const char *name, SpnOptimKind *kind);
const char *spn_attn_window_name(SpnAttnWindow window);   /* "reference", "head" */
const char *spn_eval_mode_name(SpnEvalMode mode);         /* "prefix", "reference" */

/* Whether a model computes exactly the reference's numbers, for handing a model back to the
 * reference (the reference-interop export warns otherwise): FALSE with a sentence saying what
 * differs when it was trained in head mode with the adaptive span (without it both windows
 * are S). */
gboolean spn_config_reference_exact(const SpnConfig *cfg, char **why);

/* ---- presets: the named starting points of the command line and the setup dialog ---- */

typedef enum {
  SPN_PRESET_DESKTOP,           /* learns visibly within minutes on two cores */
  SPN_PRESET_REFERENCE_SMALL,   /* the reference's small enwik8 setting */
  SPN_PRESET_ALL_ATTENTION,     /* desktop with persistent memory instead of feed-forward */
  SPN_PRESET_SPAN_DEMO,         /* for the demonstration corpus (demo.h) */
  SPN_PRESET_LONG_SPAN,         /* S = 8192 for the long-span corpus (demo.h) */
  SPN_PRESET_COUNT
} SpnPreset;

const char *spn_preset_name(SpnPreset p);    /* "desktop", "small", "allattn", "demo", "long" */
const char *spn_preset_title(SpnPreset p);   /* "Desktop", "Reference small", ... */
const char *spn_preset_about(SpnPreset p);   /* what it is for, one phrase */
gboolean spn_preset_from_name(const char *name, SpnPreset *p);
/* "desktop, small, allattn or demo", for messages. */
char *spn_preset_names(void);
void spn_preset_init(SpnPreset p, SpnConfig *cfg);
/* The corpus a preset is made for ("demo" for the span demo), NULL when any will do. */
const char *spn_preset_corpus(SpnPreset p);

/* The presets' settings, also callable directly. Desktop: 4 layers, width 128, FF 512, 4 heads,
 * S 1024, block 128, batch 16, Adagrad lr 0.07 warm-up 100 clip 0.03, adaptive span λ 2e-6 with
 * the adaptive cache. Reference small: 8 layers, width 256, FF 1024, block 256, batch 64,
 * warm-up 32000. All-attention: desktop with N = 256 persistent vectors per head and no FF.
 * Span demo: desktop with spans starting at 0.75·S, λ 5e-4 and Adam (lr 0.002, no clipping), so
 * within minutes most heads shrink to a few characters while a head that copies the planted
 * passages keeps a span reaching the planted distance. */
void spn_config_init_desktop(SpnConfig *cfg);
void spn_config_init_reference_small(SpnConfig *cfg);
void spn_config_init_all_attention(SpnConfig *cfg);
void spn_config_init_span_demo(SpnConfig *cfg);
void spn_config_init_long_span(SpnConfig *cfg);
/* The defaults of the reference's main.py flags: 8 layers, width 256, FF 1024, 2 heads, S 32,
 * block 64, batch 64, dropout 0.2, lr 0.03 without warm-up or clipping, adaptive span off (λ 0,
 * R 32, z₀ 0, no adaptive cache), no persistent memory; and what main.py computes where
 * spanscope has a choice: the reference's attention window and validation procedure. */
void spn_config_init_reference_defaults(SpnConfig *cfg);

#define SPN_CONFIG_ERROR (spn_config_error_quark())
GQuark spn_config_error_quark(void);
typedef enum {
  SPN_CONFIG_ERROR_RANGE,          /* a setting outside what is sensible (or fits in memory) */
  SPN_CONFIG_ERROR_INCONSISTENT,   /* settings that contradict each other */
  SPN_CONFIG_ERROR_PARSE,          /* a value that is not of the setting's type */
} SpnConfigError;

G_END_DECLS
