/* torchfile_sample.c — see torchfile_sample.h. */
#include "torchfile_sample.h"

static const struct {
  const char *name;
  int ndim;
  gint64 shape[3];
} params[] = {
  {"key_pe", 3, {1, 2, 3}},
  {"in_emb.weight", 2, {5, 4}},
  {"layers.0.current_val", 3, {2, 1, 1}},
  {"layers.0.proj_query.weight", 2, {4, 4}},
  {"layers.0.norm1.weight", 1, {4}},
  {"layers.0.norm1.bias", 1, {4}},
  {"layers.1.current_val", 3, {2, 1, 1}},
  {"layers.1.proj_query.weight", 2, {4, 4}},
  {"layers.1.norm1.weight", 1, {4}},
  {"layers.1.norm1.bias", 1, {4}},
  {"out_emb.weight", 2, {5, 4}},
  {"out_emb.bias", 1, {5}},
};

double
spn_test_sample_value(guint64 i)
{
  return (double) (i % 7) * 0.25 - 1.0;
}

guint
spn_test_sample_n_params(void)
{
  return G_N_ELEMENTS(params);
}

const char *
spn_test_sample_param(guint i, int *ndim, const gint64 **shape)
{
  g_return_val_if_fail(i < G_N_ELEMENTS(params), NULL);
  *ndim = params[i].ndim;
  *shape = params[i].shape;
  return params[i].name;
}

static SpnPtObj *
sample_tensor(SpnPtTree *tree, guint i, double add)
{
  guint64 n = 1;
  for (int d = 0; d < params[i].ndim; d++)
    n *= (guint64) params[i].shape[d];
  float *v = g_new(float, n);
  for (guint64 k = 0; k < n; k++)
    v[k] = (float) (add + spn_test_sample_value(k));
  SpnPtObj *t = spn_pt_new_tensor(tree, SPN_PT_F32, params[i].ndim, params[i].shape, v);
  g_free(v);
  return t;
}

static SpnPtObj *
int_list(SpnPtTree *tree, const gint64 *v, guint n)
{
  SpnPtObj *list = spn_pt_new_list(tree);
  for (guint i = 0; i < n; i++)
    spn_pt_append(list, spn_pt_new_int(tree, v[i]));
  return list;
}

static SpnPtObj *
float_list(SpnPtTree *tree, const double *v, guint n)
{
  SpnPtObj *list = spn_pt_new_list(tree);
  for (guint i = 0; i < n; i++)
    spn_pt_append(list, spn_pt_new_float(tree, v[i]));
  return list;
}

/* torch.optim.Adagrad's state_dict, with the reference's grad_clip in its param group. */
static SpnPtObj *
sample_optimizer(SpnPtTree *tree)
{
  SpnPtObj *state = spn_pt_new_dict(tree, FALSE), *ids = spn_pt_new_list(tree);
  float step = 5000;
  for (guint i = 0; i < G_N_ELEMENTS(params); i++) {
    SpnPtObj *s = spn_pt_new_dict(tree, FALSE);
    spn_pt_dict_set_str(s, "step", spn_pt_new_tensor(tree, SPN_PT_F32, 0, NULL, &step));
    spn_pt_dict_set_str(s, "sum", sample_tensor(tree, i, 0.5));
    spn_pt_dict_set_int(state, i, s);
    spn_pt_append(ids, spn_pt_new_int(tree, i));
  }
  SpnPtObj *group = spn_pt_new_dict(tree, FALSE);
  spn_pt_dict_set_str(group, "lr", spn_pt_new_float(tree, 0.07));
  spn_pt_dict_set_str(group, "lr_decay", spn_pt_new_int(tree, 0));
  spn_pt_dict_set_str(group, "eps", spn_pt_new_float(tree, 1e-10));
  spn_pt_dict_set_str(group, "weight_decay", spn_pt_new_int(tree, 0));
  spn_pt_dict_set_str(group, "initial_accumulator_value", spn_pt_new_int(tree, 0));
  spn_pt_dict_set_str(group, "foreach", spn_pt_new_none(tree));
  spn_pt_dict_set_str(group, "maximize", spn_pt_new_bool(tree, FALSE));
  spn_pt_dict_set_str(group, "grad_clip", spn_pt_new_float(tree, 0.03));
  spn_pt_dict_set_str(group, "params", ids);
  SpnPtObj *groups = spn_pt_new_list(tree);
  spn_pt_append(groups, group);
  SpnPtObj *opt = spn_pt_new_dict(tree, FALSE);
  spn_pt_dict_set_str(opt, "state", state);
  spn_pt_dict_set_str(opt, "param_groups", groups);
  return opt;
}

SpnPtTree *
spn_test_sample_checkpoint(void)
{
  SpnPtTree *tree = spn_pt_tree_new();
  SpnPtObj *model = spn_pt_new_dict(tree, TRUE);
  for (guint i = 0; i < G_N_ELEMENTS(params); i++) {
    char *key = g_strconcat("module.", params[i].name, NULL);
    spn_pt_dict_set_str(model, key, sample_tensor(tree, i, 0));
    g_free(key);
  }
  static const gint64 steps[] = {1000, 2000};
  static const double train[] = {2.5, 2.0}, val[] = {2.625, 2.125};
  SpnPtObj *logger = spn_pt_new_dict(tree, FALSE);
  spn_pt_dict_set_str(logger, "step", int_list(tree, steps, 2));
  spn_pt_dict_set_str(logger, "train_bpc", float_list(tree, train, 2));
  spn_pt_dict_set_str(logger, "val_bpc", float_list(tree, val, 2));
  SpnPtObj *root = spn_pt_new_dict(tree, FALSE);
  spn_pt_dict_set_str(root, "iter_no", spn_pt_new_int(tree, 4999));
  spn_pt_dict_set_str(root, "model", model);
  spn_pt_dict_set_str(root, "optimizer", sample_optimizer(tree));
  spn_pt_dict_set_str(root, "logger", logger);
  spn_pt_dict_set_str(root, "scheduler_iter", spn_pt_new_int(tree, 5000));
  spn_pt_tree_set_root(tree, root);
  return tree;
}
