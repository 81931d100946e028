/* The engine against the PyTorch oracle (tools/oracle/, written from docs/MODEL.md alone).
 *
 * For each fixture: block 0 from zero caches and block 1 with the cache left by block 0 must
 * give the oracle's loss to 1e-5 relative, every gradient to 1e-4 of that tensor's largest
 * magnitude, the log-probabilities and attention weights to 1e-5; the cache entering block 1
 * must equal the oracle's; three Adagrad steps must give the oracle's losses to 1e-5 relative
 * and parameters to 2e-4 absolute (Adagrad divides by the root of the squared gradient, so an
 * element whose gradient is round-off moves by round-off-sized amounts of either sign).
 *
 * The fixtures carry their attention window (docs/MODEL.md): the small ones head mode, the
 * attention window ones (S = 130, trimmed, most of them with starved spans, computed in
 * float64) both modes; on those the first Adagrad step is checked element by element. */
#include <math.h>
#include <string.h>

#include "runner.h"
#include "optim.h"
#include "parallel.h"
#include "safetensors.h"
#include "fixtures.h"

typedef struct {
  SpnSafetensors *st;
  SpnConfig cfg;
  const gint32 *data;
  int T;
} Fixture;

static Fixture
fixture_open(const char *name)
{
  const char *dir = g_getenv("SPANSCOPE_FIXTURES");
  g_autofree char *path = g_build_filename(dir ? dir : "tests/fixtures", name, NULL);
  g_autoptr(GError) error = NULL;
  Fixture f = {0};
  f.st = spn_safetensors_read(path, &error);
  g_assert_no_error(error);
  spn_config_init_desktop(&f.cfg);
  g_assert_true(spn_config_from_json(&f.cfg, spn_safetensors_metadata(f.st, "config"), &error));
  g_assert_no_error(error);
  f.cfg.threads = spn_test_threads(2);
  g_assert_true(spn_config_validate(&f.cfg, &error));
  const SpnStTensor *data = spn_safetensors_get(f.st, "data");
  g_assert_nonnull(data);
  g_assert_cmpint(data->dtype, ==, SPN_DTYPE_I32);
  g_assert_cmpint(data->shape[0], ==, f.cfg.batch_sz);
  f.data = data->data;
  f.T = (int)data->shape[1];
  return f;
}

static const float *
tensor(const Fixture *f, const char *prefix, const char *name, gsize numel)
{
  g_autofree char *full = g_strconcat(prefix, name, NULL);
  const SpnStTensor *t = spn_safetensors_get(f->st, full);
  if (t == NULL)
    g_error("fixture has no tensor %s", full);
  g_assert_cmpuint(t->n_elements, ==, numel);
  return t->data;
}

static SpnModel *
model_from_fixture(const Fixture *f)
{
  SpnModel *m = spn_model_new(&f->cfg);
  for (int i = 0; i < m->layout->n_tensors; i++) {
    const SpnTensorSpec *s = &m->layout->tensors[i];
    memcpy(m->params + s->offset, tensor(f, "", s->name, s->numel), sizeof(float) * s->numel);
  }
  return m;
}

static void
block(const Fixture *f, int j, gint32 *x, gint32 *y)
{
  int B = f->cfg.batch_sz, M = f->cfg.block_sz;
  for (int b = 0; b < B; b++)
    for (int i = 0; i < M; i++) {
      x[b * M + i] = f->data[b * f->T + j * M + i];
      y[b * M + i] = f->data[b * f->T + j * M + i + 1];
    }
}

static void
assert_close_rel(const char *what, double got, double want, double rtol)
{
  if (fabs(got - want) > rtol * fabs(want))
    g_error("%s: %.9g, oracle %.9g (relative tolerance %g)", what, got, want, rtol);
}

static void
assert_tensor_close(const char *what, const float *got, const float *want, gsize n, double tol,
                    gboolean relative_to_max)
{
  double mx = 0.0;
  for (gsize i = 0; i < n; i++)
    mx = MAX(mx, fabs(want[i]));
  double bound = relative_to_max ? tol * mx : tol;
  for (gsize i = 0; i < n; i++)
    if (fabs(got[i] - want[i]) > bound)
      g_error("%s[%zu]: %.9g, oracle %.9g (tolerance %.3g)", what, (size_t)i, got[i], want[i], bound);
}

static void
check_grads(SpnModel *m, const Fixture *f, const char *prefix)
{
  for (int i = 0; i < m->layout->n_tensors; i++) {
    const SpnTensorSpec *s = &m->layout->tensors[i];
    g_autofree char *what = g_strconcat(prefix, s->name, NULL);
    assert_tensor_close(what, m->grads + s->offset, tensor(f, prefix, s->name, s->numel), s->numel,
                        1e-4, TRUE);
  }
}

static void
check_attention(SpnRunner *r, const Fixture *f)
{
  const SpnConfig *c = &f->cfg;
  int B = c->batch_sz, K = c->nheads, M = c->block_sz, S = c->attn_span, N = c->pers_mem_size;
  float *ctx = g_new(float, S), *pers = g_new(float, MAX(N, 1));
  for (int l = 0; l < c->nlayers; l++) {
    g_autofree char *name = g_strdup_printf("block0.attn.layers.%d", l);
    g_autofree char *pname = g_strdup_printf("block0.attn_pers.layers.%d", l);
    const float *want = tensor(f, "", name, (gsize)B * K * M * S);
    const float *want_p = N ? tensor(f, "", pname, (gsize)B * K * M * N) : NULL;
    for (int b = 0; b < B; b++)
      for (int h = 0; h < K; h++)
        for (int i = 0; i < M; i++) {
          spn_runner_attention(r, l, b, h, i, ctx, N ? pers : NULL);
          const float *w = want + (((gsize)b * K + h) * M + i) * S;
          for (int delta = 1; delta <= S; delta++)
            if (fabsf(ctx[delta - 1] - w[S - delta]) > 1e-5f)
              g_error("%s b%d h%d i%d distance %d: %.7g, oracle %.7g", name, b, h, i, delta,
                      ctx[delta - 1], w[S - delta]);
          if (N)
            assert_tensor_close(pname, pers, want_p + (((gsize)b * K + h) * M + i) * N, N, 1e-5, FALSE);
        }
  }
  g_free(ctx);
  g_free(pers);
}

static void
check_cache(SpnRunner *r, const Fixture *f)
{
  const SpnConfig *c = &f->cfg;
  for (int l = 0; l < c->nlayers; l++) {
    g_autofree char *name = g_strdup_printf("cache1.layers.%d", l);
    gsize n = (gsize)c->batch_sz * c->attn_span * c->hid_sz;
    assert_tensor_close(name, spn_runner_cache(r, l), tensor(f, "", name, n), n, 1e-5, FALSE);
  }
}

static void
test_blocks(gconstpointer data)
{
  Fixture f = fixture_open(data);
  const SpnConfig *c = &f.cfg;
  int n = c->batch_sz * c->block_sz;
  gint32 *x = g_new(gint32, n), *y = g_new(gint32, n);
  SpnModel *m = model_from_fixture(&f);
  SpnRunner *r = spn_runner_new(m, c->batch_sz, c->block_sz, TRUE);
  for (int j = 0; j < 2; j++) {
    g_autofree char *loss_name = g_strdup_printf("block%d.loss", j);
    g_autofree char *obj_name = g_strdup_printf("block%d.objective", j);
    g_autofree char *grad_prefix = g_strdup_printf("grad.block%d.", j);
    if (j == 1)
      check_cache(r, &f);
    block(&f, j, x, y);
    spn_model_zero_grad(m);
    double nll = spn_runner_forward(r, x, y, c->block_sz, TRUE, NULL);
    assert_close_rel(loss_name, nll, *tensor(&f, "", loss_name, 1), 1e-5);
    assert_close_rel(obj_name, nll + spn_model_span_loss(m), *tensor(&f, "", obj_name, 1), 1e-5);
    if (j == 0) {
      assert_tensor_close("block0.logprobs", spn_runner_logprobs(r),
                          tensor(&f, "", "block0.logprobs", (gsize)n * c->vocab_size),
                          (gsize)n * c->vocab_size, 1e-5, FALSE);
      check_attention(r, &f);
    }
    spn_runner_backward(r);
    spn_model_span_loss_backward(m);
    check_grads(m, &f, grad_prefix);
  }
  spn_runner_free(r);
  spn_model_free(m);
  g_free(x);
  g_free(y);
  spn_safetensors_free(f.st);
}

static void
test_training(gconstpointer data)
{
  Fixture f = fixture_open(data);
  const SpnConfig *c = &f.cfg;
  int n = c->batch_sz * c->block_sz;
  gint32 *x = g_new(gint32, n), *y = g_new(gint32, n);
  SpnModel *m = model_from_fixture(&f);
  SpnOptim *o = spn_optim_new(m);
  SpnRunner *r = spn_runner_new(m, c->batch_sz, c->block_sz, TRUE);
  const float *want = tensor(&f, "", "train.loss", 3);
  for (int j = 0; j < 3; j++) {
    block(&f, j, x, y);
    spn_model_zero_grad(m);
    double nll = spn_runner_forward(r, x, y, c->block_sz, TRUE, NULL);
    spn_runner_backward(r);
    spn_model_span_loss_backward(m);
    spn_optim_step(o, m);
    g_autofree char *what = g_strdup_printf("train.loss[%d]", j);
    assert_close_rel(what, nll, want[j], 1e-5);
  }
  for (int i = 0; i < m->layout->n_tensors; i++) {
    const SpnTensorSpec *s = &m->layout->tensors[i];
    g_autofree char *what = g_strconcat("final.", s->name, NULL);
    assert_tensor_close(what, m->params + s->offset, tensor(&f, "final.", s->name, s->numel),
                        s->numel, 2e-4, FALSE);
  }
  spn_runner_free(r);
  spn_optim_free(o);
  spn_model_free(m);
  g_free(x);
  g_free(y);
  spn_safetensors_free(f.st);
}

/* The first Adagrad step from the initial weights on block 0 (the attention window fixtures,
 * computed in float64). Adagrad's first step is rate·g/(|g| + 1e-10): ±rate wherever
 * |g| ≫ 1e-10, proportional to g below, so an element's step is as exact as its gradient. In
 * float32 a gradient carries round-off of about 1e-6 of its tensor's largest (G): an element
 * agrees when |ours − oracle| ≤ 1 % of its step + 1e-4 of the step-1 rate + the change of the
 * step under that round-off, rate·1e-10·1e-6·G / (|g| + 1e-10)². The last term is large only
 * for gradients below ~1e-7·G, such as the keys of heads the starved columns saturate.
 *
 * key_pe's columns outside every span are held to the first two terms alone: in reference mode
 * their whole gradient is the renormalisation epsilon's share, ~1e-12 without starved spans
 * (oracle_ref_plain), which the engine computes exactly rather than as round-off; it moves
 * them by ~1 % of the rate. Head mode never scores them: they must not move. */
static void
test_first_step(gconstpointer data)
{
  Fixture f = fixture_open(data);
  const SpnConfig *c = &f.cfg;
  int n = c->batch_sz * c->block_sz, S = c->attn_span;
  gint32 *x = g_new(gint32, n), *y = g_new(gint32, n);
  SpnModel *m = model_from_fixture(&f);
  float *before = g_memdup2(m->params, sizeof(float) * m->layout->total);
  /* the distances no head of any layer can weigh */
  int reach = 0;
  for (int l = 0; l < c->nlayers; l++)
    for (int h = 0; h < c->nheads; h++)
      reach = MAX(reach, spn_attention_window(m->w.layers[l].z[h], S, c->adapt_span_ramp, TRUE));
  SpnOptim *o = spn_optim_new(m);
  SpnRunner *r = spn_runner_new(m, c->batch_sz, c->block_sz, TRUE);
  block(&f, 0, x, y);
  spn_model_zero_grad(m);
  spn_runner_forward(r, x, y, c->block_sz, TRUE, NULL);
  spn_runner_backward(r);
  spn_model_span_loss_backward(m);
  spn_optim_step(o, m);
  double floor = 1e-4 * spn_optim_lr(o, 1);
  int outside = 0, moved = 0;
  for (int i = 0; i < m->layout->n_tensors; i++) {
    const SpnTensorSpec *s = &m->layout->tensors[i];
    const float *want = tensor(&f, "step1.", s->name, s->numel);
    const float *grad = tensor(&f, "grad.block0.", s->name, s->numel);
    const float *got = m->params + s->offset, *was = before + s->offset;
    gboolean pe = g_str_equal(s->name, "key_pe");
    double rate = 0.0, G = 0.0, worst = 0.0;
    for (gsize k = 0; k < s->numel; k++) {
      rate = MAX(rate, fabs((double)want[k] - was[k]));
      G = MAX(G, fabs(grad[k]));
    }
    for (gsize k = 0; k < s->numel; k++) {
      double step = (double)want[k] - was[k], diff = fabs((double)got[k] - want[k]);
      gboolean out = pe && S - (int)(k % S) > reach;
      double g = fabs(grad[k]), noise = rate * 1e-10 * 1e-6 * G / ((g + 1e-10) * (g + 1e-10));
      double tol = 1e-2 * fabs(step) + floor + (out ? 0.0 : MIN(noise, 2 * rate));
      if (diff > tol)
        g_error("step1.%s[%zu]: %.9g (step %.4g), oracle %.9g (step %.4g, gradient %.3g)",
                s->name, (size_t)k, got[k], got[k] - was[k], want[k], step, grad[k]);
      worst = MAX(worst, diff / tol);
      if (out) {
        outside++;
        moved += got[k] != was[k] && want[k] != was[k];
      }
    }
    g_test_message("%s: worst difference %.2g of the tolerance", s->name, worst);
  }
  g_test_message("key_pe entries outside every span: %d, moved by both: %d", outside, moved);
  g_assert_cmpint(outside, >, 0);
  if (c->attn_window == SPN_ATTN_WINDOW_REFERENCE)
    g_assert_cmpint(moved, ==, outside);
  else
    g_assert_cmpint(moved, ==, 0);
  spn_runner_free(r);
  spn_optim_free(o);
  spn_model_free(m);
  g_free(before);
  g_free(x);
  g_free(y);
  spn_safetensors_free(f.st);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  spn_threads_init(spn_test_threads(2));
  const char *fixtures[] = {"oracle_ff.safetensors",     "oracle_pers.safetensors",
                            "oracle_nospan.safetensors", "oracle_ref_ff.safetensors",
                            "oracle_ref_pers.safetensors", "oracle_head_ff.safetensors",
                            "oracle_ref_plain.safetensors"};
  for (gsize k = 0; k < G_N_ELEMENTS(fixtures); k++) {
    g_autofree char *blocks = g_strdup_printf("/oracle/%s/blocks", fixtures[k]);
    g_autofree char *train = g_strdup_printf("/oracle/%s/adagrad", fixtures[k]);
    g_test_add_data_func(blocks, fixtures[k], test_blocks);
    g_test_add_data_func(train, fixtures[k], test_training);
    if (k >= 3) {
      g_autofree char *first = g_strdup_printf("/oracle/%s/first-step", fixtures[k]);
      g_test_add_data_func(first, fixtures[k], test_first_step);
    }
  }
  return g_test_run();
}
