/* torchfile_sample.h — the checkpoint that `spanscope-cli export-reference` is meant to write,
 * built through the public tree API for the small model of tools/oracle/torch_checkpoints.py
 * (TinyModel): used by test-torchfile and by torchfile-tool for the torch round trip. */
#pragma once
#include "ptobj.h"

/* Value i of every sample tensor (exact in float32); Adagrad sums are 0.5 + this. */
double spn_test_sample_value(guint64 i);

/* {'iter_no': 4999, 'model': OrderedDict('module.<name>': tensor), 'optimizer': {'state': {i:
 * {'step': tensor(5000.), 'sum': tensor}}, 'param_groups': [{..., 'grad_clip': 0.03, 'params':
 * [0..n-1]}]}, 'logger': {...}, 'scheduler_iter': 5000} as its root. */
SpnPtTree *spn_test_sample_checkpoint(void);

/* Number of parameters and the name and shape of parameter i (torch's named_parameters order). */
guint spn_test_sample_n_params(void);
const char *spn_test_sample_param(guint i, int *ndim, const gint64 **shape);
