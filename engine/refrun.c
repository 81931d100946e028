/* refrun.c — see refrun.h. */
#include "refrun.h"

#include "readfile.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rng.h"
#include "torchfile.h"

/* clang-format off */
G_DEFINE_QUARK(spn-ref-error-quark, spn_ref_error)
/* clang-format on */

#define PREFIX "module."

/* ---- flags ---- */

void
spn_ref_flags_init(SpnRefFlags *f)
{
  spn_config_init_reference_defaults(&f->cfg);
  f->cfg.nlayers = f->cfg.hid_sz = f->cfg.nheads = f->cfg.inner_hid_sz = -1;
  f->cfg.attn_span = f->cfg.pers_mem_size = -1;
  f->cfg.adapt_span = -1;
  f->cfg.lr = f->cfg.grad_clip = NAN;
  f->nbatches = 1000;
}

static const SpnConfigField ref_rows[] = {
  {.name = "nbatches", .offset = G_STRUCT_OFFSET(SpnRefFlags, nbatches), .type = SPN_FIELD_INT,
   .min = 1, .max = 1e9, .help = "Optimizer steps per logged iteration, main.py's --nbatches",
   .arg = "N"},
};

guint
spn_ref_option_rows(SpnRefFlags *f, SpnRefFlags *defaults, SpnOptionRows rows[2])
{
  spn_config_init_reference_defaults(&defaults->cfg);
  defaults->nbatches = 1000;
  guint n_fields;
  const SpnConfigField *fields = spn_config_fields(&n_fields);
  rows[0] = (SpnOptionRows){fields, n_fields, &f->cfg, &defaults->cfg};
  rows[1] = (SpnOptionRows){ref_rows, G_N_ELEMENTS(ref_rows), f, defaults};
  return 2;
}

GOptionGroup *
spn_ref_option_group(SpnRefFlags *f)
{
  SpnRefFlags defaults;
  SpnOptionRows rows[2];
  return spn_option_group_new(rows, spn_ref_option_rows(f, &defaults, rows), NULL);
}

gboolean
spn_ref_flags_parse(SpnRefFlags *f, const char *command_line, char **data, GError **error)
{
  g_auto(GStrv) argv = NULL;
  int argc = 0;
  if (data)
    *data = NULL;
  g_autofree char *stripped = command_line ? g_strstrip(g_strdup(command_line)) : NULL;
  if (stripped == NULL || *stripped == '\0')
    return TRUE;
  if (!g_shell_parse_argv(command_line, &argc, &argv, error))
    return FALSE;
  /* the program name goes first; unknown options and words stay where they are */
  g_autofree char **args = g_new0(char *, argc + 2);
  args[0] = (char *)"main.py";
  memcpy(args + 1, argv, sizeof(char *) * argc);
  int n = argc + 1;
  char **parse = args;
  g_autofree char *data_value = NULL;
  GOptionEntry entries[] = {
    {"data", 0, 0, G_OPTION_ARG_FILENAME, &data_value, NULL, NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
  g_option_context_set_help_enabled(ctx, FALSE);
  g_option_context_set_ignore_unknown_options(ctx, TRUE);
  g_option_context_set_main_group(ctx, spn_ref_option_group(f));
  g_option_context_add_main_entries(ctx, entries, NULL);
  if (!g_option_context_parse(ctx, &n, &parse, error))
    return FALSE;
  if (data)
    *data = g_steal_pointer(&data_value);
  return TRUE;
}

gboolean
spn_ref_is_torch_file(const char *path)
{
  guint8 head[4] = {0};
  /* only a regular file is read, a FIFO not waited for (this runs on the window's thread) */
  struct stat sb;
  int fd = spn_open_regular(path, &sb);
  if (fd < 0)
    return FALSE;
  gsize n = 0;
  gboolean ok = spn_read_all(fd, head, sizeof head, &n);
  close(fd);
  if (!ok || n != sizeof head)
    return FALSE;
  /* a zip archive's local header, or a pickle of protocol 2 or later (the legacy magic number) */
  return (head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) ||
         (head[0] == 0x80 && head[1] >= 2 && head[1] <= 5);
}

/* ---- the reference's tensors, in state-dict order ---- */

typedef enum {
  ENTRY_PARAM,     /* a parameter: ours under the same name */
  ENTRY_TEMPLATE,  /* the mask_template buffer: 1 − S … 0 */
  ENTRY_ALIAS,     /* the shared adaptive span seen again: the same values as `of` */
} EntryKind;

typedef struct {
  char *name;   /* without the module. prefix */
  EntryKind kind;
  int param;    /* index in our layout (PARAM, ALIAS) */
} Entry;

static void
entry_clear(gpointer p)
{
  g_free(((Entry *)p)->name);
}

static void
add_entry(GArray *a, const SpnLayout *layout, EntryKind kind, const char *name, const char *param)
{
  Entry e = {g_strdup(name), kind, param ? spn_layout_find(layout, param) : -1};
  g_assert(param == NULL || e.param >= 0);
  g_array_append_val(a, e);
}

/* The reference model's state dict, key by key, in its order (registration order: the model's
 * own key_pe first, then in_emb, out_emb and the layers; in a layer the attention core before
 * the projections, which come as query, out, val, key). */
static GArray *
reference_entries(const SpnConfig *c, const SpnLayout *layout)
{
  GArray *a = g_array_new(FALSE, FALSE, sizeof(Entry));
  g_array_set_clear_func(a, entry_clear);
  const char *top[] = {"key_pe", "in_emb.weight", "out_emb.weight", "out_emb.bias"};
  for (guint i = 0; i < G_N_ELEMENTS(top); i++)
    add_entry(a, layout, ENTRY_PARAM, top[i], top[i]);
  for (int l = 0; l < c->nlayers; l++) {
    char name[160], z[160];
    g_snprintf(z, sizeof z, "layers.%d.attn.attn.adaptive_span._mask.current_val", l);
    if (c->adapt_span) {
      add_entry(a, layout, ENTRY_PARAM, z, z);
      g_snprintf(name, sizeof name, "layers.%d.attn.attn.adaptive_span._mask.mask_template", l);
      add_entry(a, layout, ENTRY_TEMPLATE, name, NULL);
    }
    if (c->pers_mem_size > 0) {
      for (int k = 0; k < 2; k++) {
        g_snprintf(name, sizeof name, "layers.%d.attn.attn.persistent_memory.%s", l,
                   k ? "val" : "key");
        add_entry(a, layout, ENTRY_PARAM, name, name);
      }
      if (c->adapt_span) {
        g_snprintf(name, sizeof name,
                   "layers.%d.attn.attn.persistent_memory.adaptive_span._mask.current_val", l);
        add_entry(a, layout, ENTRY_ALIAS, name, z);
        g_snprintf(name, sizeof name,
                   "layers.%d.attn.attn.persistent_memory.adaptive_span._mask.mask_template", l);
        add_entry(a, layout, ENTRY_TEMPLATE, name, NULL);
      }
    }
    const char *proj[] = {"query", "out", "val", "key"};
    for (guint i = 0; i < G_N_ELEMENTS(proj); i++) {
      g_snprintf(name, sizeof name, "layers.%d.attn.proj_%s.weight", l, proj[i]);
      add_entry(a, layout, ENTRY_PARAM, name, name);
    }
    const char *rest[] = {"norm1.weight", "norm1.bias",   "ff.fc1.weight", "ff.fc1.bias",
                          "ff.fc2.weight", "ff.fc2.bias", "norm2.weight",  "norm2.bias"};
    for (guint i = 0; i < (c->pers_mem_size > 0 ? 2 : G_N_ELEMENTS(rest)); i++) {
      g_snprintf(name, sizeof name, "layers.%d.%s", l, rest[i]);
      add_entry(a, layout, ENTRY_PARAM, name, name);
    }
  }
  return a;
}

/* ---- reading: the model's shape ---- */

static SpnPtObj *
find(SpnPtObj *dict, const char *prefix, const char *name)
{
  g_autofree char *key = g_strconcat(prefix, name, NULL);
  return spn_pt_dict_get(dict, key);
}

/* A tensor of the state dict with ndim dimensions, or NULL with an error. */
static SpnPtObj *
need_tensor(SpnPtObj *dict, const char *prefix, const char *name, int ndim, GError **error)
{
  SpnPtObj *t = find(dict, prefix, name);
  if (t == NULL || spn_pt_kind(t) != SPN_PT_TENSOR || spn_pt_tensor_ndim(t) != ndim) {
    g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT,
                "'model' has no %d-dimensional tensor '%s%s'%s", ndim, prefix, name,
                t == NULL && g_str_has_prefix(name, "in_emb")
                    ? " (adaptive input and output, main.py's --adapt-io, is not supported)"
                    : "");
    return NULL;
  }
  return t;
}

static gboolean
shape_fits(gint64 v)
{
  return v >= 0 && v <= G_MAXINT;
}

/* The shape settings the tensors hold; the others stay as given. */
static gboolean
read_shape(SpnPtObj *model, const char *prefix, SpnConfig *c, GError **error)
{
  SpnPtObj *emb = need_tensor(model, prefix, "in_emb.weight", 2, error);
  SpnPtObj *pe = emb ? need_tensor(model, prefix, "key_pe", 3, error) : NULL;
  if (pe == NULL)
    return FALSE;
  const gint64 *es = spn_pt_tensor_shape(emb), *ps = spn_pt_tensor_shape(pe);
  if (!shape_fits(es[0]) || !shape_fits(es[1]) || !shape_fits(ps[1]) || !shape_fits(ps[2]) ||
      ps[0] != 1 || ps[1] < 1 || es[1] % ps[1] != 0) {
    g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT,
                "'model': key_pe has shape [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                ", %" G_GINT64_FORMAT "], expected [1, head width, S] with a head width that "
                "divides the width %" G_GINT64_FORMAT " of in_emb.weight",
                ps[0], ps[1], ps[2], es[1]);
    return FALSE;
  }
  c->vocab_size = (int)es[0];
  c->hid_sz = (int)es[1];
  c->nheads = (int)(es[1] / ps[1]);
  c->attn_span = (int)ps[2];
  c->nlayers = 0;
  char name[96];
  for (;; c->nlayers++) {
    g_snprintf(name, sizeof name, "layers.%d.norm1.weight", c->nlayers);
    if (find(model, prefix, name) == NULL)
      break;
  }
  c->adapt_span = find(model, prefix, "layers.0.attn.attn.adaptive_span._mask.current_val") != NULL;
  SpnPtObj *pk = find(model, prefix, "layers.0.attn.attn.persistent_memory.key");
  c->pers_mem_size = 0;
  if (pk != NULL) {
    if (spn_pt_kind(pk) != SPN_PT_TENSOR || spn_pt_tensor_ndim(pk) != 3 ||
        !shape_fits(spn_pt_tensor_shape(pk)[2])) {
      g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT,
                  "'model': %slayers.0.attn.attn.persistent_memory.key is not a tensor of "
                  "3 dimensions", prefix);
      return FALSE;
    }
    c->pers_mem_size = (int)spn_pt_tensor_shape(pk)[2];
    c->inner_hid_sz = 0;
  } else if (c->nlayers > 0) {
    SpnPtObj *fc1 = need_tensor(model, prefix, "layers.0.ff.fc1.weight", 2, error);
    if (fc1 == NULL || !shape_fits(spn_pt_tensor_shape(fc1)[0]))
      return fc1 == NULL ? FALSE
                         : (g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT,
                                        "'model': layers.0.ff.fc1.weight is too large"),
                            FALSE);
    c->inner_hid_sz = (int)spn_pt_tensor_shape(fc1)[0];
  }
  if (c->nlayers == 0) {
    g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT,
                "'model' has no layers (no tensor '%slayers.0.norm1.weight')", prefix);
    return FALSE;
  }
  return TRUE;
}

/* A shape flag that was given must be what the tensors say. */
static gboolean
agree(const char *option, int given, int found, const char *where, GError **error)
{
  if (given < 0 || given == found)
    return TRUE;
  g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_MISMATCH,
              "--%s %d was given, but the checkpoint's model has %d (%s)", option, given, found,
              where);
  return FALSE;
}

static gboolean
check_shape_flags(const SpnConfig *given, const SpnConfig *found, GError **error)
{
  if (given->adapt_span >= 0 && (given->adapt_span != 0) != (found->adapt_span != 0)) {
    g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_MISMATCH,
                "--%s was given, but the checkpoint's model %s", given->adapt_span ? "adapt-span"
                                                                              : "no-adapt-span",
                found->adapt_span ? "has adaptive spans (…adaptive_span._mask.current_val)"
                                  : "has no adaptive span parameters");
    return FALSE;
  }
  return agree("nlayers", given->nlayers, found->nlayers, "layers.N.… tensors", error) &&
         agree("hid-sz", given->hid_sz, found->hid_sz, "width of in_emb.weight", error) &&
         agree("nheads", given->nheads, found->nheads, "width / key_pe's head width", error) &&
         agree("attn-span", given->attn_span, found->attn_span, "last dimension of key_pe",
               error) &&
         agree("pers-mem-size", given->pers_mem_size, found->pers_mem_size,
               "persistent_memory.key", error) &&
         (found->pers_mem_size > 0 ||
          agree("inner-hid-sz", given->inner_hid_sz, found->inner_hid_sz, "ff.fc1.weight",
                error));
}

/* ---- reading: tensors ---- */

static gboolean
all_finite(const float *v, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (!isfinite(v[i]))
      return FALSE;
  return TRUE;
}

static gboolean
read_param(SpnPtObj *dict, const char *key, const char *where, const SpnTensorSpec *s, float *dest,
           GError **error)
{
  SpnPtObj *t = spn_pt_expect_tensor(dict, key, s->ndim, s->shape, error);
  if (t == NULL || !spn_pt_tensor_to_f32(t, dest, s->numel, error)) {
    g_prefix_error(error, "'%s': ", where);
    return FALSE;
  }
  if (!all_finite(dest, s->numel)) {
    g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT,
                "'%s/%s' holds values that are not finite (did the run diverge?)", where, key);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_template(SpnPtObj *dict, const char *key, int S, GError **error)
{
  gint64 shape[1] = {S};
  SpnPtObj *t = spn_pt_expect_tensor(dict, key, 1, shape, error);
  if (t == NULL) {
    g_prefix_error(error, "'model': ");
    return FALSE;
  }
  return TRUE;
}

/* The alias of a shared adaptive span must hold the same values as the span itself. */
static gboolean
check_alias(SpnPtObj *dict, const char *key, const SpnTensorSpec *s, const float *values,
            GError **error)
{
  g_autofree float *v = g_new(float, s->numel);
  if (!read_param(dict, key, "model", s, v, error))
    return FALSE;
  if (memcmp(v, values, sizeof(float) * s->numel) != 0) {
    g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT,
                "'model/%s' differs from the adaptive span it shares", key);
    return FALSE;
  }
  return TRUE;
}

/* Before anything is allocated for them: every parameter is there with its shape, and holds
 * data of its own in the file (no repeated elements, no storage shared with another parameter;
 * main.py never writes either), so what the model allocates is bounded by the file's size. */
static gboolean
check_params(SpnPtObj *dict, const char *prefix, const SpnLayout *layout, const GArray *entries,
             GError **error)
{
  g_autoptr(GHashTable) storages = g_hash_table_new(NULL, NULL);
  for (guint i = 0; i < entries->len; i++) {
    const Entry *e = &g_array_index(entries, Entry, i);
    if (e->kind != ENTRY_PARAM)
      continue;
    const SpnTensorSpec *s = &layout->tensors[e->param];
    g_autofree char *key = g_strconcat(prefix, e->name, NULL);
    SpnPtObj *t = spn_pt_expect_tensor(dict, key, s->ndim, s->shape, error);
    if (t == NULL) {
      g_prefix_error(error, "'model': ");
      return FALSE;
    }
    SpnPtObj *storage = spn_pt_tensor_storage(t);
    if (spn_pt_tensor_numel(t) > spn_pt_storage_numel(storage) ||
        !g_hash_table_add(storages, storage)) {
      g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT,
                  "'model/%s' repeats elements or shares its storage with another parameter, "
                  "which main.py never writes", key);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
read_model(SpnPtObj *dict, const char *prefix, SpnModel *m, const GArray *entries, GError **error)
{
  const SpnConfig *c = &m->cfg;
  GHashTable *known = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  gboolean ok = TRUE;
  for (guint i = 0; ok && i < entries->len; i++) {
    const Entry *e = &g_array_index(entries, Entry, i);
    char *key = g_strconcat(prefix, e->name, NULL);
    g_hash_table_add(known, key);
    const SpnTensorSpec *s = e->param >= 0 ? &m->layout->tensors[e->param] : NULL;
    if (e->kind == ENTRY_PARAM)
      ok = read_param(dict, key, "model", s, m->params + s->offset, error);
    else if (e->kind == ENTRY_TEMPLATE)
      ok = check_template(dict, key, c->attn_span, error);
    else
      ok = check_alias(dict, key, s, m->params + s->offset, error);
  }
  /* like load_state_dict(strict=True): a tensor this configuration does not have is an error */
  for (guint i = 0; ok && i < spn_pt_len(dict); i++) {
    const char *key = spn_pt_get_str(spn_pt_dict_key(dict, i), NULL);
    if (key == NULL || !g_hash_table_contains(known, key)) {
      g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT,
                  "'model' holds '%s', which the model its other tensors describe does not "
                  "have", key ? key : "(a key that is not a string)");
      ok = FALSE;
    }
  }
  g_hash_table_unref(known);
  if (ok && c->adapt_span)
    for (int l = 0; l < c->nlayers; l++)
      for (int h = 0; h < c->nheads; h++)
        if (!(m->w.layers[l].z[h] >= 0.0f && m->w.layers[l].z[h] <= 1.0f)) {
          g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT,
                      "'model': the span fraction of layer %d head %d is %g, outside [0, 1]", l,
                      h, m->w.layers[l].z[h]);
          return FALSE;
        }
  return ok;
}

/* The "module." every key has under DataParallel and DistributedDataParallel, or none. */
static const char *
key_prefix(SpnPtObj *dict, GError **error)
{
  guint n = spn_pt_len(dict), with = 0;
  for (guint i = 0; i < n; i++) {
    const char *key = spn_pt_get_str(spn_pt_dict_key(dict, i), NULL);
    with += key != NULL && g_str_has_prefix(key, PREFIX);
  }
  if (with != 0 && with != n) {
    g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT,
                "'model': %u of its %u keys start with \"" PREFIX "\" and the others do not", with,
                n);
    return NULL;
  }
  return with ? PREFIX : "";
}

/* ---- reading: optimizer ---- */

/* A number, or a tensor of one element (torch ≥ 1.12 keeps Adagrad's step as a tensor). */
static gboolean
get_scalar(SpnPtObj *obj, double *out)
{
  if (spn_pt_get_number(obj, out))
    return TRUE;
  return obj && spn_pt_kind(obj) == SPN_PT_TENSOR && spn_pt_tensor_numel(obj) == 1 &&
         spn_pt_tensor_to_f64(obj, out, 1, NULL);
}

static gboolean
whole_step(double v, gint64 *out)
{
  if (!(v >= 0 && v <= 1e15 && v == floor(v)))
    return FALSE;
  *out = (gint64)v;
  return TRUE;
}

/* Which optimizer the state is of: the moments its parameters carry. */
static gboolean
state_kind(SpnPtObj *state, SpnOptimKind *kind)
{
  for (guint i = 0; i < spn_pt_len(state); i++) {
    SpnPtObj *st = spn_pt_dict_value(state, i);
    if (spn_pt_dict_get(st, "sum")) {
      *kind = SPN_OPTIM_ADAGRAD;
      return TRUE;
    }
    if (spn_pt_dict_get(st, "exp_avg")) {
      *kind = SPN_OPTIM_ADAM;
      return TRUE;
    }
  }
  return FALSE;
}

static gboolean
read_moment(SpnPtObj *st, const char *path, const char *moment, const SpnTensorSpec *s,
            float *dest, GError **error)
{
  g_autofree char *where = g_strdup_printf("optimizer/state/%s", path);
  return read_param(st, moment, where, s, dest, error);
}

/* The learning rate and clip the param group holds; a flag given must agree. */
static gboolean
group_setting(SpnPtObj *group, const char *key, const char *option, double *setting,
              GError **error)
{
  double v;
  if (!spn_pt_get_number(spn_pt_dict_get(group, key), &v))
    return TRUE;
  if (!isnan(*setting) && fabs(*setting - v) > 1e-12 * MAX(1.0, fabs(v))) {
    g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_MISMATCH,
                "--%s %g was given, but the optimizer's param group says %s = %g", option,
                *setting, key, v);
    return FALSE;
  }
  *setting = v;
  return TRUE;
}

static SpnPtObj *
the_group(SpnPtObj *opt, GError **error)
{
  SpnPtObj *groups = spn_pt_lookup(opt, "param_groups", error);
  if (groups == NULL)
    return NULL;
  if (spn_pt_len(groups) != 1 || spn_pt_kind(spn_pt_item(groups, 0)) != SPN_PT_DICT) {
    g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT,
                "'optimizer/param_groups' holds %u groups, expected the one main.py makes",
                spn_pt_len(groups));
    return NULL;
  }
  return spn_pt_item(groups, 0);
}

/* lr (initial_lr under main.py's warm-up, which rewrites lr every step) and grad_clip. */
static gboolean
read_group_settings(SpnPtObj *opt, SpnConfig *c, GError **error)
{
  SpnPtObj *group = the_group(opt, error);
  if (group == NULL)
    return FALSE;
  const char *lr_key = spn_pt_dict_get(group, "initial_lr") ? "initial_lr" : "lr";
  return group_setting(group, lr_key, "lr", &c->lr, error) &&
         group_setting(group, "grad_clip", "grad-clip", &c->grad_clip, error);
}

static SpnOptim *
read_optimizer(SpnPtObj *opt, const SpnModel *m, const GArray *entries, GPtrArray *notes,
               GError **error)
{
  SpnPtObj *group = the_group(opt, error);
  SpnPtObj *ids = group ? spn_pt_dict_get(group, "params") : NULL;
  SpnPtObj *state = group ? spn_pt_expect(opt, "state", SPN_PT_DICT, error) : NULL;
  if (state == NULL)
    return NULL;
  guint n_params = 0;
  for (guint i = 0; i < entries->len; i++)
    n_params += g_array_index(entries, Entry, i).kind == ENTRY_PARAM;
  if (spn_pt_kind(ids) != SPN_PT_LIST || spn_pt_len(ids) != n_params) {
    g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT,
                "'optimizer/param_groups/0/params' lists %u parameters, the model has %u",
                spn_pt_len(ids), n_params);
    return NULL;
  }
  SpnOptimKind kind;
  if (!state_kind(state, &kind)) {
    if (notes)
      g_ptr_array_add(notes, g_strdup("the optimizer's state holds neither Adagrad's sums nor "
                                      "Adam's moments (main.py's SGD?): it is not carried over, "
                                      "and training here starts a fresh optimizer"));
    return NULL;
  }
  SpnModel probe = *m;
  probe.cfg.optim = kind;
  SpnOptim *o = spn_optim_new(&probe);
  guint p = 0;
  gboolean have_step = FALSE;
  for (guint i = 0; i < entries->len; i++) {
    const Entry *e = &g_array_index(entries, Entry, i);
    if (e->kind != ENTRY_PARAM)
      continue;
    gint64 id;
    SpnPtObj *st = spn_pt_get_int(spn_pt_item(ids, p), &id) ? spn_pt_dict_get_int(state, id) : NULL;
    g_autofree char *path = g_strdup_printf("%" G_GINT64_FORMAT, id);
    const SpnTensorSpec *s = &m->layout->tensors[e->param];
    double step_value;
    gint64 step;
    gboolean ok = st != NULL && spn_pt_kind(st) == SPN_PT_DICT;
    if (!ok)
      g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT,
                  "'optimizer/state' has no state for parameter %u (%s)", p, e->name);
    else if (kind == SPN_OPTIM_ADAGRAD)
      ok = read_moment(st, path, "sum", s, o->m1 + s->offset, error);
    else
      ok = read_moment(st, path, "exp_avg", s, o->m1 + s->offset, error) &&
           read_moment(st, path, "exp_avg_sq", s, o->m2 + s->offset, error);
    if (ok && !(get_scalar(spn_pt_dict_get(st, "step"), &step_value) &&
                whole_step(step_value, &step))) {
      g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT,
                  "'optimizer/state/%s/step' is missing or not a whole number of steps", path);
      ok = FALSE;
    }
    if (!ok) {
      spn_optim_free(o);
      return NULL;
    }
    if (!have_step || step > o->step)
      o->step = step;
    have_step = TRUE;
    p++;
  }
  return o;
}

/* ---- reading: logger ---- */

typedef struct {
  guint n;
  SpnPtObj *step, *train, *val, *span_avg, *span_max;
  gboolean ppl;
} Logger;

static gboolean
logger_list(SpnPtObj *logger, const char *key, guint *n, SpnPtObj **out, GError **error)
{
  SpnPtObj *list = spn_pt_dict_get(logger, key);
  if (list == NULL)
    return TRUE;
  if (spn_pt_kind(list) != SPN_PT_LIST || (*n != G_MAXUINT && spn_pt_len(list) != *n)) {
    g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT,
                "'logger/%s' is not a list of one entry per logged iteration", key);
    return FALSE;
  }
  *n = spn_pt_len(list);
  *out = list;
  return TRUE;
}

static gboolean
read_logger(SpnPtObj *root, Logger *lg, GError **error)
{
  memset(lg, 0, sizeof *lg);
  SpnPtObj *logger = spn_pt_dict_get(root, "logger");
  if (logger == NULL)
    return TRUE;
  if (spn_pt_kind(logger) != SPN_PT_DICT) {
    g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT, "'logger' is a %s, expected a dict",
                spn_pt_kind_name(spn_pt_kind(logger)));
    return FALSE;
  }
  guint n = G_MAXUINT;
  lg->ppl = spn_pt_dict_get(logger, "train_bpc") == NULL &&
            spn_pt_dict_get(logger, "train_ppl") != NULL;
  if (!logger_list(logger, "step", &n, &lg->step, error) ||
      !logger_list(logger, lg->ppl ? "train_ppl" : "train_bpc", &n, &lg->train, error) ||
      !logger_list(logger, lg->ppl ? "val_ppl" : "val_bpc", &n, &lg->val, error) ||
      !logger_list(logger, "span_avg", &n, &lg->span_avg, error) ||
      !logger_list(logger, "span_max", &n, &lg->span_max, error))
    return FALSE;
  if (lg->step == NULL)
    return TRUE;
  lg->n = n;
  gint64 prev = -1;
  for (guint i = 0; i < n; i++) {
    gint64 s;
    double v;
    if (!spn_pt_get_int(spn_pt_item(lg->step, i), &s) || s < prev || s < 0) {
      g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT,
                  "'logger/step/%u' is not a step after the one before it", i);
      return FALSE;
    }
    prev = s;
    SpnPtObj *lists[4] = {lg->train, lg->val, lg->span_avg, lg->span_max};
    const char *names[4] = {lg->ppl ? "train_ppl" : "train_bpc", lg->ppl ? "val_ppl" : "val_bpc",
                            "span_avg", "span_max"};
    for (int k = 0; k < 4; k++)
      if (lists[k] && !spn_pt_get_number(spn_pt_item(lists[k], i), &v)) {
        g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT, "'logger/%s/%u' is not a number",
                    names[k], i);
        return FALSE;
      }
  }
  return TRUE;
}

/* The history keeps every head's span per row: a logger of absurd length is refused before it
 * sizes one. */
#define MAX_HISTORY_SPANS (1 << 24)

static gboolean
check_history_size(const Logger *lg, const SpnConfig *c, GError **error)
{
  if ((double)(lg->n + 1) * c->nlayers * c->nheads <= MAX_HISTORY_SPANS)
    return TRUE;
  g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT,
              "'logger' has %u entries, more than a history of %d×%d heads keeps", lg->n,
              c->nlayers, c->nheads);
  return FALSE;
}

static double
logged_number(SpnPtObj *list, guint i)
{
  double v = NAN;
  if (list == NULL || !spn_pt_get_number(spn_pt_item(list, i), &v))
    return NAN;
  return v;
}

static double
logged_bpc(SpnPtObj *list, guint i, gboolean ppl)
{
  double v = logged_number(list, i);
  return ppl ? log2(v) : v;
}

/* The logger's iterations as history rows (the model's own spans at its step, the others
 * unknown: the logger keeps their mean and maximum, which become the logged statistics), its
 * validations as measurements. The rows' cost and persistent shares are unknown: a step's cost
 * needs every head's span at its start (in reference mode each layer's longest), which neither
 * the logger's mean and maximum nor the spans after the last step give. The history has the
 * trainer's shape (persistent or not), so that a followed version continues it. */
static SpnHistory *
history_of(const Logger *lg, const SpnModel *m, gint64 step)
{
  const SpnConfig *c = &m->cfg;
  int n_spans = c->nlayers * c->nheads;
  SpnHistory *h = spn_history_new_full(c->nlayers, c->nheads, c->pers_mem_size > 0);
  g_autofree float *unknown = g_new(float, n_spans), *now = g_new(float, n_spans);
  for (int i = 0; i < n_spans; i++)
    unknown[i] = NAN;
  spn_model_spans(m, now);
  gboolean placed = FALSE;
  for (guint i = 0; i < lg->n; i++) {
    gint64 s = 0;
    spn_pt_get_int(spn_pt_item(lg->step, i), &s);
    gboolean here = s == step && i + 1 == lg->n;
    spn_history_append(h, s, logged_bpc(lg->train, i, lg->ppl), NAN, here ? now : unknown);
    double val = logged_bpc(lg->val, i, lg->ppl);
    if (!isnan(val))
      spn_history_add_valid(h, s, val);
    if (lg->span_avg || lg->span_max)
      spn_history_add_logged_spans(h, s, logged_number(lg->span_avg, i),
                                   logged_number(lg->span_max, i));
    placed |= here;
  }
  if (!placed && (h->n == 0 || spn_history_step(h, h->n - 1) < step))
    spn_history_append(h, step, NAN, NAN, now);
  return h;
}

/* ---- reading: the whole checkpoint ---- */

static char *
fresh_trainer_json(const SpnConfig *c, const char *corpus)
{
  SpnRng rng;
  spn_rng_seed(&rng, c->seed ^ 0x5eed5eed5eed5eedull);
  GString *s = g_string_new("{\"pos\":0,\"rng\":[");
  for (int k = 0; k < 4; k++)
    g_string_append_printf(s, "%s\"%016" G_GINT64_MODIFIER "x\"", k ? "," : "", rng.s[k]);
  g_string_append(s, "],\"cache_valid\":[");
  for (int l = 0; l < c->nlayers; l++)
    g_string_append_printf(s, "%s0", l ? "," : "");
  g_string_append(s, "]");
  if (corpus) {
    g_autofree char *quoted = g_strescape(corpus, NULL);
    g_string_append_printf(s, ",\"corpus\":\"%s\"", quoted);
  }
  g_string_append(s, "}");
  return g_string_free(s, FALSE);
}

/* The configuration: the shape from the tensors, the rest from the flags and the optimizer. */
static gboolean
import_config(SpnPtObj *root, SpnPtObj *model, const char *prefix, const SpnRefFlags *flags,
              const SpnVocab *vocab, SpnConfig *c, GError **error)
{
  *c = flags->cfg;
  if (!read_shape(model, prefix, c, error) || !check_shape_flags(&flags->cfg, c, error))
    return FALSE;
  if (c->attn_window != SPN_ATTN_WINDOW_REFERENCE) {
    g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_MISMATCH,
                "--attn-window %s was given, but main.py computes the reference's window: its "
                "runs are imported in reference mode", spn_attn_window_name(c->attn_window));
    return FALSE;
  }
  if (vocab && vocab->size != c->vocab_size) {
    g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_MISMATCH,
                "the corpus has %d tokens in its vocabulary, but the model's in_emb.weight has "
                "%d rows: give the --data folder the run was trained on", vocab->size,
                c->vocab_size);
    return FALSE;
  }
  SpnPtObj *opt = spn_pt_dict_get(root, "optimizer");
  SpnOptimKind kind;
  if (opt && spn_pt_kind(opt) == SPN_PT_DICT) {
    if (!read_group_settings(opt, c, error))
      return FALSE;
    SpnPtObj *state = spn_pt_dict_get(opt, "state");
    if (state && state_kind(state, &kind))
      c->optim = kind;
  }
  SpnConfig defaults;
  spn_config_init_reference_defaults(&defaults);
  if (isnan(c->lr))
    c->lr = defaults.lr;
  if (isnan(c->grad_clip))
    c->grad_clip = defaults.grad_clip;
  if (!spn_config_validate(c, error)) {
    g_prefix_error(error, "the run's settings: ");
    return FALSE;
  }
  return TRUE;
}

static SpnCheckpoint *
import_checkpoint(SpnPtObj *root, const SpnRefFlags *flags, const SpnVocab *vocab,
                  const char *corpus, GPtrArray *notes, GError **error)
{
  if (spn_pt_kind(root) != SPN_PT_DICT) {
    g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT,
                "not a checkpoint of the reference's main.py: it holds a %s, expected a dict with "
                "'model', 'optimizer', 'logger' and 'iter_no'", spn_pt_kind_name(spn_pt_kind(root)));
    return NULL;
  }
  SpnPtObj *model = spn_pt_expect(root, "model", SPN_PT_DICT, error);
  const char *prefix = model ? key_prefix(model, error) : NULL;
  SpnConfig c;
  Logger lg;
  if (prefix == NULL || !import_config(root, model, prefix, flags, vocab, &c, error) ||
      !read_logger(root, &lg, error))
    return NULL;
  SpnLayout *layout = spn_layout_new(&c);
  GArray *entries = reference_entries(&c, layout);
  gboolean fits = check_params(model, prefix, layout, entries, error) &&
                  check_history_size(&lg, &c, error);
  spn_layout_free(layout);
  g_array_unref(entries);
  if (!fits)
    return NULL;
  SpnCheckpoint *ck = g_new0(SpnCheckpoint, 1);
  ck->model = spn_model_new(&c);
  entries = reference_entries(&c, ck->model->layout);
  gboolean ok = read_model(model, prefix, ck->model, entries, error);
  SpnPtObj *opt = spn_pt_dict_get(root, "optimizer");
  if (ok && opt) {
    ck->optim = read_optimizer(opt, ck->model, entries, notes, error);
    ok = ck->optim != NULL || (error == NULL || *error == NULL);
  } else if (ok && notes)
    g_ptr_array_add(notes, g_strdup("the checkpoint holds no optimizer state: training here "
                                    "starts a fresh one"));
  g_array_unref(entries);
  gint64 iter_no = -1, step = 0, scheduler_iter = -1;
  double v;
  if (ok && (!spn_pt_get_int(spn_pt_dict_get(root, "iter_no"), &iter_no) || iter_no < -1 ||
             iter_no > G_MAXINT32)) {
    g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT,
                "'iter_no' is missing or not an iteration number");
    ok = FALSE;
  }
  if (ok && spn_pt_get_number(spn_pt_dict_get(root, "scheduler_iter"), &v) &&
      !whole_step(v, &scheduler_iter)) {
    g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_FORMAT,
                "'scheduler_iter' is not a whole number of steps");
    ok = FALSE;
  }
  if (!ok) {
    spn_checkpoint_free(ck);
    return NULL;
  }
  /* steps taken: the scheduler counts them, Adagrad's state too; else whole iterations */
  step = scheduler_iter >= 0 ? scheduler_iter
         : ck->optim ? ck->optim->step
                     : (iter_no + 1) * (gint64)MAX(flags->nbatches, 1);
  if (ck->optim == NULL) {
    ck->optim = spn_optim_new(ck->model);
    ck->optim->step = step;
  } else if (ck->optim->step != step && notes)
    g_ptr_array_add(notes, g_strdup_printf("the optimizer's state counts %" G_GINT64_FORMAT
                                           " steps, the scheduler %" G_GINT64_FORMAT
                                           "; the run continues at step %" G_GINT64_FORMAT,
                                           ck->optim->step, step, step));
  ck->optim->step = step;
  ck->vocab = vocab ? spn_vocab_copy(vocab) : NULL;
  ck->history = history_of(&lg, ck->model, step);
  ck->trainer_json = fresh_trainer_json(&c, corpus);
  return ck;
}

SpnCheckpoint *
spn_ref_import(SpnPtObj *root, const char *name, const SpnRefFlags *flags, const SpnVocab *vocab,
               const char *corpus, GPtrArray *notes, GError **error)
{
  SpnCheckpoint *ck = import_checkpoint(root, flags, vocab, corpus, notes, error);
  if (ck == NULL)
    g_prefix_error(error, "%s: ", name);
  return ck;
}

SpnCheckpoint *
spn_ref_load(const char *path, const SpnRefFlags *flags, const SpnVocab *vocab,
             const char *corpus, GPtrArray *notes, GError **error)
{
  SpnPtTree *tree = spn_torch_load(path, NULL, error);
  if (tree == NULL)
    return NULL;
  SpnCheckpoint *ck = spn_ref_import(spn_pt_tree_root(tree), path, flags, vocab, corpus, notes,
                                     error);
  spn_pt_tree_free(tree);
  return ck;
}

/* ---- writing ---- */

static SpnPtObj *
f32_tensor(SpnPtTree *tree, const SpnTensorSpec *s, const float *base)
{
  return spn_pt_new_tensor(tree, SPN_PT_F32, s->ndim, s->shape, base + s->offset);
}

static SpnPtObj *
export_model(SpnPtTree *tree, const SpnModel *m, const GArray *entries)
{
  SpnPtObj *dict = spn_pt_new_dict(tree, TRUE);
  SpnPtObj **made = g_new0(SpnPtObj *, m->layout->n_tensors);
  int S = m->cfg.attn_span;
  g_autofree float *template = g_new(float, S);
  for (int j = 0; j < S; j++)
    template[j] = (float)(1 - S + j);   /* torch.linspace(1 − S, 0, S): whole numbers */
  gint64 tshape[1] = {S};
  for (guint i = 0; i < entries->len; i++) {
    const Entry *e = &g_array_index(entries, Entry, i);
    SpnPtObj *t;
    if (e->kind == ENTRY_TEMPLATE)
      t = spn_pt_new_tensor(tree, SPN_PT_F32, 1, tshape, template);
    else if (e->kind == ENTRY_ALIAS)
      t = made[e->param];   /* the shared module's tensor, as torch saves it: one storage */
    else
      t = made[e->param] = f32_tensor(tree, &m->layout->tensors[e->param], m->params);
    g_autofree char *key = g_strconcat(PREFIX, e->name, NULL);
    spn_pt_dict_set_str(dict, key, t);
  }
  g_free(made);
  return dict;
}

static SpnPtObj *
step_tensor(SpnPtTree *tree, gint64 step)
{
  float v = (float)step;
  return spn_pt_new_tensor(tree, SPN_PT_F32, 0, NULL, &v);
}

/* torch.optim's state dict of main.py's optimizer: state by parameter number, one group. */
static SpnPtObj *
export_optimizer(SpnPtTree *tree, const SpnModel *m, const SpnOptim *o, const GArray *entries)
{
  const SpnConfig *c = &m->cfg;
  SpnPtObj *state = spn_pt_new_dict(tree, FALSE), *ids = spn_pt_new_list(tree);
  gint64 p = 0;
  for (guint i = 0; i < entries->len; i++) {
    const Entry *e = &g_array_index(entries, Entry, i);
    if (e->kind != ENTRY_PARAM)
      continue;
    const SpnTensorSpec *s = &m->layout->tensors[e->param];
    SpnPtObj *st = spn_pt_new_dict(tree, FALSE);
    spn_pt_dict_set_str(st, "step", step_tensor(tree, o->step));
    if (o->kind == SPN_OPTIM_ADAM) {
      spn_pt_dict_set_str(st, "exp_avg", f32_tensor(tree, s, o->m1));
      spn_pt_dict_set_str(st, "exp_avg_sq", f32_tensor(tree, s, o->m2));
    } else
      spn_pt_dict_set_str(st, "sum", f32_tensor(tree, s, o->m1));
    spn_pt_dict_set_int(state, p, st);
    spn_pt_append(ids, spn_pt_new_int(tree, p++));
  }
  SpnPtObj *g = spn_pt_new_dict(tree, FALSE);
  spn_pt_dict_set_str(g, "lr", spn_pt_new_float(tree, spn_optim_lr(o, o->step)));
  if (o->kind == SPN_OPTIM_ADAM) {
    SpnPtObj *betas = spn_pt_new_tuple(tree);
    spn_pt_append(betas, spn_pt_new_float(tree, 0.9));
    spn_pt_append(betas, spn_pt_new_float(tree, 0.999));
    spn_pt_dict_set_str(g, "betas", betas);
    spn_pt_dict_set_str(g, "eps", spn_pt_new_float(tree, 1e-8));
    spn_pt_dict_set_str(g, "weight_decay", spn_pt_new_int(tree, 0));
    spn_pt_dict_set_str(g, "amsgrad", spn_pt_new_bool(tree, FALSE));
  } else {
    spn_pt_dict_set_str(g, "lr_decay", spn_pt_new_int(tree, 0));
    spn_pt_dict_set_str(g, "weight_decay", spn_pt_new_int(tree, 0));
    spn_pt_dict_set_str(g, "initial_accumulator_value", spn_pt_new_int(tree, 0));
    spn_pt_dict_set_str(g, "eps", spn_pt_new_float(tree, 1e-10));
    spn_pt_dict_set_str(g, "grad_clip", spn_pt_new_float(tree, c->grad_clip));
  }
  if (c->lr_warmup > 0)
    spn_pt_dict_set_str(g, "initial_lr", spn_pt_new_float(tree, c->lr));
  spn_pt_dict_set_str(g, "params", ids);
  SpnPtObj *groups = spn_pt_new_list(tree);
  spn_pt_append(groups, g);
  SpnPtObj *opt = spn_pt_new_dict(tree, FALSE);
  spn_pt_dict_set_str(opt, "state", state);
  spn_pt_dict_set_str(opt, "param_groups", groups);
  return opt;
}

/* main.py's span statistics: per layer ceil(z·S) of the heads' mean (or maximum) plus the ramp,
 * within [0, S]; the mean of the layers' means and the largest maximum. */
static void
logged_spans(const SpnConfig *c, const float *spans, double *avg, double *max)
{
  double sum = 0, mx = 0;
  for (int l = 0; l < c->nlayers; l++) {
    double mean = 0, top = 0;
    for (int h = 0; h < c->nheads; h++) {
      mean += spans[l * c->nheads + h] / c->nheads;
      top = MAX(top, spans[l * c->nheads + h]);
    }
    sum += CLAMP(ceil(mean) + c->adapt_span_ramp, 0, c->attn_span);
    mx = MAX(mx, CLAMP(ceil(top) + c->adapt_span_ramp, 0, c->attn_span));
  }
  *avg = sum / c->nlayers;
  *max = mx;
}

typedef struct {
  SpnPtObj *step, *train, *val, *span_avg, *span_max;
} LoggerLists;

/* The span statistics of the iteration ending at row `last`: what main.py logged there when
 * the history kept it (an imported run), else main.py's computation over the row's spans. */
static void
iteration_spans(const SpnConfig *c, const SpnHistory *h, int last, double *avg, double *mx)
{
  int g = spn_history_logged_at(h, spn_history_step(h, last));
  if (g >= 0) {
    *avg = spn_history_logged_span_avg(h, g);
    *mx = spn_history_logged_span_max(h, g);
  } else
    logged_spans(c, spn_history_row_spans(h, last), avg, mx);
}

/* One logger entry per whole iteration of nbatches steps that the history has rows in. */
static SpnPtObj *
export_logger(SpnPtTree *tree, const SpnConfig *c, const SpnHistory *h, int nbatches)
{
  LoggerLists L = {spn_pt_new_list(tree), spn_pt_new_list(tree), spn_pt_new_list(tree),
                   spn_pt_new_list(tree), spn_pt_new_list(tree)};
  int i = 0, v = 0;
  while (i < h->n) {
    gint64 iter = (spn_history_step(h, i) - 1) / nbatches, end = (iter + 1) * nbatches;
    double sum = 0, val = NAN;
    int n = 0, last = i;
    for (; i < h->n && spn_history_step(h, i) <= end; i++) {
      double train = spn_history_train_bpc(h, i);
      if (isfinite(train)) {
        sum += train;
        n++;
      }
      last = i;
    }
    /* the iteration's last validation (a later one at the same step supersedes) */
    for (; v < h->n_valid && spn_history_valid_step(h, v) <= end; v++)
      if (spn_history_valid_step(h, v) > end - nbatches && spn_history_valid_current(h, v) &&
          !isnan(spn_history_valid_bpc(h, v)))
        val = spn_history_valid_bpc(h, v);
    if (spn_history_step(h, last) != end)
      break;   /* an iteration not finished: main.py has not logged it either */
    spn_pt_append(L.step, spn_pt_new_int(tree, end));
    spn_pt_append(L.train, spn_pt_new_float(tree, n ? sum / n : NAN));
    spn_pt_append(L.val, spn_pt_new_float(tree, val));
    double avg, mx;
    iteration_spans(c, h, last, &avg, &mx);
    spn_pt_append(L.span_avg, spn_pt_new_float(tree, avg));
    spn_pt_append(L.span_max, spn_pt_new_float(tree, mx));
  }
  SpnPtObj *logger = spn_pt_new_dict(tree, FALSE);
  spn_pt_dict_set_str(logger, "step", L.step);
  spn_pt_dict_set_str(logger, "train_bpc", L.train);
  spn_pt_dict_set_str(logger, "val_bpc", L.val);
  if (c->adapt_span) {
    spn_pt_dict_set_str(logger, "span_avg", L.span_avg);
    spn_pt_dict_set_str(logger, "span_max", L.span_max);
  }
  return logger;
}

static void
note(GPtrArray *notes, char *text)
{
  if (notes)
    g_ptr_array_add(notes, text);
  else
    g_free(text);
}

SpnPtTree *
spn_ref_export(const SpnModel *m, const SpnOptim *optim, const SpnHistory *history,
               const SpnVocab *vocab, int nbatches, GPtrArray *notes, GError **error)
{
  const SpnConfig *c = &m->cfg;
  if (vocab == NULL || vocab->kind != SPN_VOCAB_REF) {
    g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_UNSUPPORTED,
                "this run's vocabulary is %s; main.py numbers tokens by their first appearance "
                "in its --data folder (space-separated tokens per line), so only a run trained "
                "on such a folder with --ref-format keeps its token ids there",
                vocab == NULL                    ? "unknown"
                : vocab->kind == SPN_VOCAB_BYTES ? "bytes (--byte-mode)"
                                                 : "characters of a text");
    return NULL;
  }
  if (nbatches < 1) {
    g_set_error(error, SPN_REF_ERROR, SPN_REF_ERROR_MISMATCH, "--nbatches must be at least 1");
    return NULL;
  }
  SpnOptim *fresh = NULL;
  if (optim == NULL) {
    optim = fresh = spn_optim_new(m);
    note(notes, g_strdup("the run holds no optimizer state: main.py starts a fresh Adagrad"));
  }
  gint64 step = optim->step;
  if (step % nbatches != 0)
    note(notes, g_strdup_printf("step %" G_GINT64_FORMAT " is not a multiple of --nbatches %d: "
                                "main.py resumes at iteration %" G_GINT64_FORMAT
                                ", and its logged steps will read %" G_GINT64_FORMAT
                                " less than the steps taken",
                                step, nbatches, step / nbatches, step % nbatches));
  if (c->optim == SPN_OPTIM_ADAM && c->grad_clip > 0)
    note(notes, g_strdup("with Adam main.py clips the norm of all gradients together, spanscope "
                         "each tensor's: the runs will differ"));
  if (c->lr_warmup == 0 && step > 0)
    note(notes, g_strdup("without a warm-up main.py keeps no scheduler, so the file has no "
                         "scheduler_iter"));
  SpnPtTree *tree = spn_pt_tree_new();
  GArray *entries = reference_entries(c, m->layout);
  SpnPtObj *root = spn_pt_new_dict(tree, FALSE);
  spn_pt_dict_set_str(root, "iter_no", spn_pt_new_int(tree, step / nbatches - 1));
  spn_pt_dict_set_str(root, "model", export_model(tree, m, entries));
  spn_pt_dict_set_str(root, "logger", export_logger(tree, c, history, nbatches));
  spn_pt_dict_set_str(root, "optimizer", export_optimizer(tree, m, optim, entries));
  if (c->lr_warmup > 0)
    spn_pt_dict_set_str(root, "scheduler_iter", spn_pt_new_int(tree, step));
  spn_pt_tree_set_root(tree, root);
  g_array_unref(entries);
  spn_optim_free(fresh);
  return tree;
}

/* ---- the command line ---- */

static void
flag(GString *s, const char *name, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static void
flag(GString *s, const char *name, const char *fmt, ...)
{
  g_string_append_printf(s, " --%s", name);
  if (fmt == NULL)
    return;
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *v = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  /* quoted only when the shell would split or expand it */
  gboolean plain = *v != '\0' && strspn(v, "0123456789abcdefghijklmnopqrstuvwxyz"
                                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ.,_+-=/:@%") == strlen(v);
  g_autofree char *quoted = plain ? g_strdup(v) : g_shell_quote(v);
  g_string_append_printf(s, " %s", quoted);
}

/* A number as Python reads it, whatever the locale. */
static const char *
num(char *buf, double v)
{
  return g_ascii_formatd(buf, G_ASCII_DTOSTR_BUF_SIZE, "%.10g", v);
}

char *
spn_ref_command(const SpnConfig *c, const char *data, const char *checkpoint, int nbatches,
                gint64 steps, int gpus)
{
  char b[G_ASCII_DTOSTR_BUF_SIZE];
  GString *s = g_string_new(gpus > 0 ? "" : "python3 main.py");
  if (gpus > 0)
    g_string_append_printf(s, "python3 -m torch.distributed.launch --nproc_per_node=%d main.py "
                              "--distributed", gpus);
  flag(s, "data", "%s", data ? data : "data/enwik8");
  flag(s, "nlayers", "%d", c->nlayers);
  flag(s, "hid-sz", "%d", c->hid_sz);
  if (c->pers_mem_size == 0)
    flag(s, "inner-hid-sz", "%d", c->inner_hid_sz);
  flag(s, "nheads", "%d", c->nheads);
  flag(s, "attn-span", "%d", c->attn_span);
  flag(s, "block-sz", "%d", c->block_sz);
  flag(s, "batch-sz", "%d", c->batch_sz);
  flag(s, "nbatches", "%d", nbatches);
  if (steps > 0)
    flag(s, "niter", "%" G_GINT64_FORMAT, (steps + nbatches - 1) / nbatches);
  flag(s, "dropout", "%s", num(b, c->dropout));
  flag(s, "optim", "%s", spn_optim_name(c->optim));
  flag(s, "lr", "%s", num(b, c->lr));
  flag(s, "lr-warmup", "%d", c->lr_warmup);
  flag(s, "grad-clip", "%s", num(b, c->grad_clip));
  if (c->adapt_span) {
    flag(s, "adapt-span", NULL);
    flag(s, "adapt-span-loss", "%s", num(b, c->adapt_span_loss));
    flag(s, "adapt-span-ramp", "%d", c->adapt_span_ramp);
    flag(s, "adapt-span-init", "%s", num(b, c->adapt_span_init));
    if (c->adapt_span_cache)
      flag(s, "adapt-span-cache", NULL);
  }
  if (c->pers_mem_size > 0)
    flag(s, "pers-mem-size", "%d", c->pers_mem_size);
  if (checkpoint)
    flag(s, "checkpoint", "%s", checkpoint);
  return g_string_free(s, FALSE);
}
