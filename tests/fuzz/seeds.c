/* seeds.c — writes the named seeds of the safetensors, checkpoint, corpus and json fuzz targets:
 * valid inputs of every kind, and the inputs that crashed or misbehaved before issue 13 was fixed
 * (regression-*), so `meson test` replays them. Run once after a format change:
 *   build/tests/fuzz-seeds tests/fuzz/corpus
 * (the fuzzers' own findings are merged beside them; see README.md). */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "../fixtures.h"
#include "checkpoint.h"
#include "parallel.h"
#include "safetensors.h"
#include "trainer.h"

static const char *root;

static void
write_seed(const char *target, const char *name, const void *data, gsize len)
{
  g_autofree char *dir = g_build_filename(root, target, NULL);
  g_mkdir_with_parents(dir, 0755);
  g_autofree char *path = g_build_filename(dir, name, NULL);
  GError *error = NULL;
  if (!g_file_set_contents(path, data, (gssize)len, &error))
    g_error("%s", error->message);
}

/* a seed for the targets whose first byte picks the parser or format */
static void
write_mode_seed(const char *target, const char *name, guint8 mode, const char *body, gssize len)
{
  gsize n = len < 0 ? strlen(body) : (gsize)len;
  g_autofree guint8 *data = g_malloc(n + 1);
  data[0] = mode;
  memcpy(data + 1, body, n);
  write_seed(target, name, data, n + 1);
}

static void
tiny_config(SpnConfig *c)
{
  spn_config_init_desktop(c);
  c->nlayers = 1, c->hid_sz = 4, c->nheads = 2, c->inner_hid_sz = 8, c->attn_span = 8;
  c->adapt_span_ramp = 2, c->block_sz = 4, c->batch_sz = 2, c->lr_warmup = 2, c->threads = 1;
  c->adapt_span_init = 0.25;
}

static const char text[] = "abcab cabba \xc3\xa9 bac\nabc cab\n";

/* A trained tiny checkpoint in memory (the contents of the file). */
static GBytes *
tiny_checkpoint(const SpnConfig *c, gboolean byte_mode, gboolean model_only)
{
  g_autofree char *tmp = g_dir_make_tmp("fuzz-seeds-XXXXXX", NULL);
  g_autofree char *path = g_build_filename(tmp, "ck.safetensors", NULL);
  GString *long_text = g_string_new(NULL);
  for (int i = 0; i < 20; i++)
    g_string_append(long_text, text);
  SpnCorpusOptions opts = {.byte_mode = byte_mode};
  GError *error = NULL;
  SpnCorpus *corpus = spn_corpus_from_text("seed", long_text->str, long_text->len, &opts, &error);
  SpnTrainer *t = spn_trainer_new(c, corpus, &error);
  if (t == NULL)
    g_error("%s", error->message);
  for (int s = 0; s < 3; s++)
    if (!spn_trainer_step(t, NULL, &error))
      g_error("%s", error->message);
  gboolean ok;
  if (model_only) {
    SpnCheckpoint ck = {.model = spn_trainer_model(t), .vocab = spn_trainer_corpus(t)->vocab};
    ok = spn_checkpoint_save(&ck, path, &error);
  } else {
    ok = spn_trainer_save(t, path, &error);
  }
  if (!ok)
    g_error("%s", error->message);
  spn_trainer_free(t);
  g_string_free(long_text, TRUE);
  char *contents;
  gsize len;
  g_assert(g_file_get_contents(path, &contents, &len, NULL));
  g_unlink(path);
  g_rmdir(tmp);
  return g_bytes_new_take(contents, len);
}

/* The checkpoint with metadata `key` replaced (NULL value: removed) or element `index` of
 * `tensor` set to x; written as regression seed `name`. */
static void
variant(GBytes *good, const char *name, const char *key, const char *value, const char *tensor,
        gsize index, float x)
{
  GError *error = NULL;
  SpnSafetensors *st = spn_safetensors_read_bytes(good, "seed", &error);
  g_assert(st != NULL);
  g_autofree char *tmp = g_dir_make_tmp("fuzz-seeds-XXXXXX", NULL);
  g_autofree char *path = g_build_filename(tmp, "v.safetensors", NULL);
  spn_test_write_variant(st, path, key, value, tensor, index, x);
  char *contents;
  gsize len;
  g_assert(g_file_get_contents(path, &contents, &len, NULL));
  write_seed("checkpoint", name, contents, len);
  g_free(contents);
  g_unlink(path);
  g_rmdir(tmp);
  spn_safetensors_free(st);
}

static char *
nested(int depth)
{
  GString *s = g_string_new(NULL);
  for (int i = 0; i < depth; i++)
    g_string_append_c(s, '[');
  for (int i = 0; i < depth; i++)
    g_string_append_c(s, ']');
  return g_string_free(s, FALSE);
}

static void
checkpoint_seeds(void)
{
  SpnConfig c;
  tiny_config(&c);
  g_autoptr(GBytes) good = tiny_checkpoint(&c, FALSE, FALSE);
  write_seed("checkpoint", "tiny-adagrad", g_bytes_get_data(good, NULL), g_bytes_get_size(good));
  write_seed("safetensors", "tiny-checkpoint", g_bytes_get_data(good, NULL),
             g_bytes_get_size(good));
  SpnConfig a = c;
  a.optim = SPN_OPTIM_ADAM, a.lr = 0.01, a.pers_mem_size = 2;
  g_autoptr(GBytes) adam = tiny_checkpoint(&a, FALSE, FALSE);
  write_seed("checkpoint", "tiny-adam-persistent", g_bytes_get_data(adam, NULL),
             g_bytes_get_size(adam));
  g_autoptr(GBytes) bytes = tiny_checkpoint(&c, TRUE, FALSE);
  write_seed("checkpoint", "tiny-bytes", g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
  g_autoptr(GBytes) model = tiny_checkpoint(&c, FALSE, TRUE);
  write_seed("checkpoint", "tiny-model-only", g_bytes_get_data(model, NULL),
             g_bytes_get_size(model));

  /* issue 13's crashes and issue 14's odd inputs, each now a clear error */
  variant(good, "regression-rng-numbers", "trainer",
          "{\"pos\":0,\"rng\":[1,2,3,4],\"cache_valid\":[0],\"corpus\":\"seed\"}", NULL, 0, 0);
  variant(good, "regression-pos-negative", "trainer",
          "{\"pos\":-10,\"rng\":[\"0000000000000001\",\"0000000000000002\",\"0000000000000003\","
          "\"0000000000000004\"],\"cache_valid\":[0],\"corpus\":\"seed\"}",
          NULL, 0, 0);
  g_autofree char *deep = nested(20000);
  const char *json_keys[] = {"config", "vocab", "history", "optimizer", "trainer"};
  for (gsize k = 0; k < G_N_ELEMENTS(json_keys); k++) {
    g_autofree char *name = g_strdup_printf("regression-nested-%s", json_keys[k]);
    variant(good, name, json_keys[k], deep, NULL, 0, 0);
  }
  variant(good, "regression-optimizer-step-negative", "optimizer",
          "{\"kind\":\"adagrad\",\"step\":-3}", NULL, 0, 0);
  variant(good, "regression-vocab-surrogate", "vocab",
          "{\"kind\":\"chars\",\"tokens\":[\"<unk>\",\" \",\"\\ud800x\",\"a\",\"b\",\"c\","
          "\"\\u00e9\"]}",
          NULL, 0, 0);
  variant(good, "regression-history-shape", "history",
          "{\"nlayers\":3,\"nheads\":1,\"step\":[1],\"train_bpc\":[2],\"val_bpc\":[null],"
          "\"tokens_per_s\":[1],\"spans\":[1,2,3]}",
          NULL, 0, 0);
  GString *h = g_string_new("{\"nlayers\":4096,\"nheads\":4096");
  const char *columns[] = {"step", "train_bpc", "val_bpc", "tokens_per_s"};
  for (gsize k = 0; k < G_N_ELEMENTS(columns); k++) {
    g_string_append_printf(h, ",\"%s\":[1", columns[k]);
    for (int i = 1; i < 256; i++)
      g_string_append(h, ",1");
    g_string_append(h, "]");
  }
  g_string_append(h, ",\"spans\":[]}");
  variant(good, "regression-history-32-bit-wrap", "history", h->str, NULL, 0, 0);
  g_string_free(h, TRUE);
  SpnConfig huge = c;
  huge.vocab_size = 7, huge.hid_sz = 8192, huge.nheads = 2, huge.inner_hid_sz = 65536;
  huge.nlayers = 64;
  g_autofree char *huge_json = spn_config_to_json(&huge);
  variant(good, "regression-config-huge", "config", huge_json, NULL, 0, 0);
  SpnConfig bigger = c;
  bigger.vocab_size = 7, bigger.inner_hid_sz = 60000;
  g_autofree char *bigger_json = spn_config_to_json(&bigger);
  variant(good, "regression-config-beyond-file", "config", bigger_json, NULL, 0, 0);
  variant(good, "regression-nan-weight", NULL, NULL, "in_emb.weight", 3, NAN);
  variant(good, "regression-inf-weight", NULL, NULL, "out_emb.bias", 0, INFINITY);
  variant(good, "regression-span-huge", NULL, NULL,
          "layers.0.attn.attn.adaptive_span._mask.current_val", 1, 1e30f);
  variant(good, "regression-cache-nan", NULL, NULL, "trainer.cache.0", 2, NAN);
}

/* A safetensors file: length, header padded to 8 bytes, data. */
static void
safetensors_seed(const char *name, const char *header, const void *data, gsize len)
{
  gsize n = strlen(header), padded = (n + 7) / 8 * 8;
  guint64 n_le = GUINT64_TO_LE((guint64)padded);
  GByteArray *b = g_byte_array_new();
  g_byte_array_append(b, (const guint8 *)&n_le, 8);
  g_byte_array_append(b, (const guint8 *)header, (guint)n);
  for (gsize i = n; i < padded; i++)
    g_byte_array_append(b, (const guint8 *)" ", 1);
  g_byte_array_append(b, data, (guint)len);
  write_seed("safetensors", name, b->data, b->len);
  g_byte_array_unref(b);
}

static void
safetensors_seeds(void)
{
  safetensors_seed("empty-header", "{}", NULL, 0);
  float one = 1.0f;
  safetensors_seed("scalar", "{\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}",
                   &one, sizeof one);
  /* an I64 after three bytes of padding-free data: misaligned, copied by the reader */
  guint8 data[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  safetensors_seed("misaligned",
                   "{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"I32\",\"shape\":[1],"
                   "\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"I64\",\"shape\":[1,1],"
                   "\"data_offsets\":[4,12]}}",
                   data, sizeof data);
  g_autofree char *deep = nested(20000);
  g_autofree char *header = g_strdup_printf("{\"a\":%s}", deep);
  safetensors_seed("regression-nested-header", header, NULL, 0);
}

static void
corpus_seeds(void)
{
  write_mode_seed("corpus", "chars", 0, text, -1);
  write_mode_seed("corpus", "bytes", 1, "\x00\x01\xff\xfe binary\n\x80", 15);
  /* gzip of "hello\n" */
  static const char gz[] = "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xcb\x48\xcd\xc9\xc9\xe7"
                           "\x02\x00\x20\x30\x3a\x36\x06\x00\x00\x00";
  write_mode_seed("corpus", "gzip", 2, gz, sizeof gz - 1);
  write_mode_seed("corpus", "folder", 3, "train text\n\xffvalid\n\xfftest \xc3\xa9\n", -1);
  write_mode_seed("corpus", "reference", 4, "72 105\n105 33\n\xff" "33  72\xff\n \t \n105\n", -1);
  write_mode_seed("corpus", "text", 5, "some text in memory, split 90/5/5 by position", -1);
  write_mode_seed("corpus", "text-bytes", 6, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a", 10);
  write_mode_seed("corpus", "regression-invalid-utf8", 0, "abc\n\xe2\x82", 6);
  write_mode_seed("corpus", "regression-ref-unknown", 4, "72 105\n\xff" "300\n\xff" "72\n", -1);
}

static void
json_seeds(void)
{
  SpnConfig c;
  spn_config_init_desktop(&c);
  c.vocab_size = 65;
  g_autofree char *config = spn_config_to_json(&c);
  write_mode_seed("json", "config", 0, config, -1);
  write_mode_seed("json", "vocab-chars", 1, "{\"kind\":\"chars\",\"tokens\":[\"<unk>\",\"a\",\"\\u00e9\"]}",
                  -1);
  write_mode_seed("json", "vocab-ref", 1, "{\"kind\":\"ref\",\"tokens\":[\"72\",\"<eos>\",\"105\"]}",
                  -1);
  write_mode_seed("json", "regression-vocab-surrogate", 1,
                  "{\"kind\":\"chars\",\"tokens\":[\"<unk>\",\"\\ud800x\"]}", -1);
  write_mode_seed("json", "history", 2,
                  "{\"nlayers\":1,\"nheads\":2,\"step\":[1,2],\"train_bpc\":[3.5,3.25],"
                  "\"val_bpc\":[null,3.0],\"tokens_per_s\":[100,null],\"spans\":[0,1,2.5,3]}",
                  -1);
  write_mode_seed("json", "regression-history-shape", 2,
                  "{\"nlayers\":4096,\"nheads\":4096,\"step\":[1],\"train_bpc\":[1],"
                  "\"val_bpc\":[1],\"tokens_per_s\":[1],\"spans\":[]}",
                  -1);
  /* json-glib's typed getter was asked for a number that is an array: a CRITICAL, not an error */
  write_mode_seed("json", "regression-history-nlayers-array", 2,
                  "{\"nlayers\":[1],\"nheads\":{},\"step\":[1],\"train_bpc\":[1],"
                  "\"val_bpc\":[1],\"tokens_per_s\":[1],\"spans\":[1,2]}",
                  -1);
  g_autofree char *deep = nested(20000);
  write_mode_seed("json", "regression-nested", 3, deep, -1);
}

int
main(int argc, char **argv)
{
  if (argc != 2) {
    g_printerr("usage: fuzz-seeds DIR   (e.g. tests/fuzz/corpus)\n");
    return 2;
  }
  root = argv[1];
  spn_threads_init(1);
  checkpoint_seeds();
  safetensors_seeds();
  corpus_seeds();
  json_seeds();
  return 0;
}
