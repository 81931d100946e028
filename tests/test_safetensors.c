/* test_safetensors.c — round trips, exact layout, atomic writes and corrupt files. */
#include "safetensors.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static char *
make_tmp_dir(void)
{
  GError *error = NULL;
  char *dir = g_dir_make_tmp("spanscope-st-XXXXXX", &error);
  g_assert_no_error(error);
  return dir;
}

static void
remove_tree(const char *path)
{
  GDir *dir = g_dir_open(path, 0, NULL);
  if (dir != NULL) {
    const char *name;
    while ((name = g_dir_read_name(dir)) != NULL) {
      char *child = g_build_filename(path, name, NULL);
      remove_tree(child);
      g_free(child);
    }
    g_dir_close(dir);
    g_rmdir(path);
  } else {
    g_unlink(path);
  }
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted, comma-separated names in dir: shows stray temporary files in assertion messages. */
static char *
list_dir(const char *path)
{
  GDir *dir = g_dir_open(path, 0, NULL);
  g_assert_nonnull(dir);
  GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
  const char *name;
  while ((name = g_dir_read_name(dir)) != NULL)
    g_ptr_array_add(names, g_strdup(name));
  g_dir_close(dir);
  g_ptr_array_sort(names, compare_names);
  g_ptr_array_add(names, NULL);
  char *joined = g_strjoinv(",", (char **)names->pdata);
  g_ptr_array_free(names, TRUE);
  return joined;
}

static void
write_bytes(const char *path, const void *data, gsize len)
{
  GError *error = NULL;
  g_file_set_contents(path, data, (gssize)len, &error);
  g_assert_no_error(error);
}

static guint8 *
read_bytes(const char *path, gsize *len)
{
  GError *error = NULL;
  char *contents;
  g_file_get_contents(path, &contents, len, &error);
  g_assert_no_error(error);
  return (guint8 *)contents;
}

/* A file as another tool might write it: given header JSON (optionally padded to 8 bytes, as
 * the reference writer does) and data section. */
static char *
write_raw_st(const char *dir, const char *name, const char *header, gboolean pad, const void *data,
             gsize data_len)
{
  gsize n = strlen(header);
  gsize padded = pad ? (n + 7) / 8 * 8 : n;
  GByteArray *buf = g_byte_array_new();
  guint64 len_le = GUINT64_TO_LE((guint64)padded);
  g_byte_array_append(buf, (const guint8 *)&len_le, 8);
  g_byte_array_append(buf, (const guint8 *)header, (guint)n);
  for (gsize i = n; i < padded; i++)
    g_byte_array_append(buf, (const guint8 *)" ", 1);
  if (data_len > 0)
    g_byte_array_append(buf, data, (guint)data_len);
  char *path = g_build_filename(dir, name, NULL);
  write_bytes(path, buf->data, buf->len);
  g_byte_array_unref(buf);
  return path;
}

static void
check_message(const GError *error, const char *path, const char *fragment)
{
  g_autofree char *prefix = g_strconcat(path, ": ", NULL);
  if (!g_str_has_prefix(error->message, prefix) || strstr(error->message, fragment) == NULL)
    g_error("error message \"%s\" lacks prefix \"%s\" or fragment \"%s\"", error->message, prefix,
            fragment);
}

static void
expect_read_error(const char *path, SpnStError code, const char *fragment)
{
  GError *error = NULL;
  SpnSafetensors *st = spn_safetensors_read(path, &error);
  if (st != NULL)
    g_error("%s was accepted; expected an error containing \"%s\"", path, fragment);
  g_assert_error(error, SPN_ST_ERROR, (gint)code);
  check_message(error, path, fragment);
  g_error_free(error);
}

/* The full message, for the cases whose wording the header documents. */
static void
expect_read_message(const char *path, const char *message_after_path)
{
  GError *error = NULL;
  SpnSafetensors *st = spn_safetensors_read(path, &error);
  g_assert_null(st);
  g_assert_nonnull(error);
  g_autofree char *expected = g_strconcat(path, ": ", message_after_path, NULL);
  g_assert_cmpstr(error->message, ==, expected);
  g_error_free(error);
}

static SpnSafetensors *
read_ok(const char *path)
{
  GError *error = NULL;
  SpnSafetensors *st = spn_safetensors_read(path, &error);
  g_assert_no_error(error);
  g_assert_nonnull(st);
  return st;
}

static gsize
dtype_size(SpnDtype dtype)
{
  return dtype == SPN_DTYPE_I64 ? 8 : 4;
}

static void
check_tensor(const SpnSafetensors *st, const char *name, SpnDtype dtype, int ndim,
             const gint64 *shape, const void *data)
{
  const SpnStTensor *t = spn_safetensors_get(st, name);
  g_assert_nonnull(t);
  g_assert_cmpstr(t->name, ==, name);
  g_assert_cmpint(t->dtype, ==, dtype);
  g_assert_cmpint(t->ndim, ==, ndim);
  gsize n = 1;
  for (int i = 0; i < ndim; i++) {
    g_assert_cmpint(t->shape[i], ==, shape[i]);
    n *= (gsize)shape[i];
  }
  g_assert_cmpuint(t->n_elements, ==, n);
  g_assert_nonnull(t->data);
  g_assert_cmpuint((uintptr_t)t->data % dtype_size(dtype), ==, 0);
  if (n > 0)
    g_assert_cmpmem(t->data, n * dtype_size(dtype), data, n * dtype_size(dtype));
}

static void
write_ok(SpnStWriter *w, const char *path)
{
  GError *error = NULL;
  gboolean ok = spn_st_writer_write(w, path, &error);
  g_assert_no_error(error);
  g_assert_true(ok);
}

static void
assert_no_tmp_files(const char *dir)
{
  g_autofree char *names = list_dir(dir);
  if (strstr(names, ".goutputstream-") != NULL || strstr(names, ".tmp-") != NULL)
    g_error("stray temporary files in %s: %s", dir, names);
}

/* A reference file used by the corruption tests: several tensors, the last one non-empty so
 * that any truncation of the data section cuts into a tensor. */
static char *
write_reference_file(const char *dir, const char *name)
{
  static const float w[6] = {1.5f, -2.0f, 3.25f, 0.0f, 1e-3f, 42.0f};
  static const gint32 ids[3] = {7, -1, 1 << 30};
  static const gint64 big[2] = {G_MAXINT64, G_MININT64};
  static const gint64 w_shape[2] = {2, 3}, ids_shape[1] = {3}, big_shape[1] = {2};
  SpnStWriter *wr = spn_st_writer_new();
  spn_st_writer_set_metadata(wr, "model", "tiny");
  spn_st_writer_add(wr, "w", SPN_DTYPE_F32, 2, w_shape, w);
  spn_st_writer_add(wr, "ids", SPN_DTYPE_I32, 1, ids_shape, ids);
  spn_st_writer_add(wr, "big", SPN_DTYPE_I64, 1, big_shape, big);
  char *path = g_build_filename(dir, name, NULL);
  write_ok(wr, path);
  spn_st_writer_free(wr);
  return path;
}

static guint64
header_length_of(const guint8 *contents)
{
  guint64 n;
  memcpy(&n, contents, 8);
  return GUINT64_FROM_LE(n);
}

/* ------------------------------------------------------------------------------------------ */
/* Round trips                                                                                 */
/* ------------------------------------------------------------------------------------------ */

static void
test_roundtrip(void)
{
  g_autofree char *dir = make_tmp_dir();
  g_autofree char *path = g_build_filename(dir, "model.safetensors", NULL);

  float emb[4 * 5];
  for (int i = 0; i < 4 * 5; i++)
    emb[i] = (float)i * 0.25f - 2.0f;
  float bias[7] = {0.0f, -0.0f, 1.0f, -1.0f, 3.4e38f, -3.4e38f, 1.17549435e-38f};
  float cube[2 * 3 * 4];
  for (int i = 0; i < 2 * 3 * 4; i++)
    cube[i] = 1.0f / (float)(i + 1);
  gint32 tokens[2 * 8];
  for (int i = 0; i < 2 * 8; i++)
    tokens[i] = i * 1000 - 7000;
  gint32 one_i32[1] = {G_MININT32};
  gint64 steps[3] = {0, 1234567890123LL, -5};
  gint64 grid[2 * 2 * 2] = {1, 2, 3, 4, 5, 6, 7, G_MAXINT64};
  static const gint64 emb_shape[2] = {4, 5}, bias_shape[1] = {7}, cube_shape[3] = {2, 3, 4},
                      tok_shape[2] = {2, 8}, one_shape[1] = {1}, steps_shape[1] = {3},
                      grid_shape[3] = {2, 2, 2};

  SpnStWriter *w = spn_st_writer_new();
  spn_st_writer_add(w, "embedding", SPN_DTYPE_F32, 2, emb_shape, emb);
  spn_st_writer_add(w, "layers.0.bias", SPN_DTYPE_F32, 1, bias_shape, bias);
  spn_st_writer_add(w, "cube", SPN_DTYPE_F32, 3, cube_shape, cube);
  spn_st_writer_add(w, "tokens", SPN_DTYPE_I32, 2, tok_shape, tokens);
  spn_st_writer_add(w, "one", SPN_DTYPE_I32, 1, one_shape, one_i32);
  spn_st_writer_add(w, "steps", SPN_DTYPE_I64, 1, steps_shape, steps);
  spn_st_writer_add(w, "grid", SPN_DTYPE_I64, 3, grid_shape, grid);
  write_ok(w, path);
  spn_st_writer_free(w);

  SpnSafetensors *st = read_ok(path);
  g_assert_cmpstr(spn_safetensors_path(st), ==, path);
  g_assert_cmpuint(spn_safetensors_n_tensors(st), ==, 7);
  static const char *const order[] = {"embedding", "layers.0.bias", "cube", "tokens",
                                      "one",       "steps",         "grid"};
  for (guint i = 0; i < G_N_ELEMENTS(order); i++)
    g_assert_cmpstr(spn_safetensors_nth(st, i)->name, ==, order[i]);
  check_tensor(st, "embedding", SPN_DTYPE_F32, 2, emb_shape, emb);
  check_tensor(st, "layers.0.bias", SPN_DTYPE_F32, 1, bias_shape, bias);
  check_tensor(st, "cube", SPN_DTYPE_F32, 3, cube_shape, cube);
  check_tensor(st, "tokens", SPN_DTYPE_I32, 2, tok_shape, tokens);
  check_tensor(st, "one", SPN_DTYPE_I32, 1, one_shape, one_i32);
  check_tensor(st, "steps", SPN_DTYPE_I64, 1, steps_shape, steps);
  check_tensor(st, "grid", SPN_DTYPE_I64, 3, grid_shape, grid);
  g_assert_null(spn_safetensors_get(st, "absent"));
  g_assert_null(spn_safetensors_metadata(st, "absent"));
  spn_safetensors_free(st);

  assert_no_tmp_files(dir);
  remove_tree(dir);
}

/* An odd number of 4-byte elements before an I64 puts the I64 at an offset that is not a
 * multiple of 8; the reader must still hand out an 8-byte-aligned pointer. */
static void
test_roundtrip_misaligned(void)
{
  g_autofree char *dir = make_tmp_dir();
  g_autofree char *path = g_build_filename(dir, "m.safetensors", NULL);
  gint32 three[3] = {1, 2, 3};
  gint64 wide[2] = {-1, 1LL << 40};
  float tail[1] = {9.5f};
  static const gint64 s3[1] = {3}, s2[1] = {2}, s1[1] = {1};

  SpnStWriter *w = spn_st_writer_new();
  spn_st_writer_add(w, "three", SPN_DTYPE_I32, 1, s3, three);
  spn_st_writer_add(w, "wide", SPN_DTYPE_I64, 1, s2, wide);
  spn_st_writer_add(w, "tail", SPN_DTYPE_F32, 1, s1, tail);
  write_ok(w, path);
  spn_st_writer_free(w);

  SpnSafetensors *st = read_ok(path);
  check_tensor(st, "three", SPN_DTYPE_I32, 1, s3, three);
  check_tensor(st, "wide", SPN_DTYPE_I64, 1, s2, wide);
  check_tensor(st, "tail", SPN_DTYPE_F32, 1, s1, tail);
  spn_safetensors_free(st);

  remove_tree(dir);
}

static void
test_scalar_and_empty(void)
{
  g_autofree char *dir = make_tmp_dir();
  g_autofree char *path = g_build_filename(dir, "s.safetensors", NULL);
  float scalar = 2.5f;
  gint64 counter = 77;
  static const gint64 empty_shape[2] = {0, 16}, zero_shape[1] = {0};

  SpnStWriter *w = spn_st_writer_new();
  spn_st_writer_add(w, "scalar", SPN_DTYPE_F32, 0, NULL, &scalar);
  spn_st_writer_add(w, "empty", SPN_DTYPE_F32, 2, empty_shape, NULL);
  spn_st_writer_add(w, "counter", SPN_DTYPE_I64, 0, NULL, &counter);
  spn_st_writer_add(w, "zero", SPN_DTYPE_I32, 1, zero_shape, NULL);
  write_ok(w, path);
  spn_st_writer_free(w);

  SpnSafetensors *st = read_ok(path);
  g_assert_cmpuint(spn_safetensors_n_tensors(st), ==, 4);
  check_tensor(st, "scalar", SPN_DTYPE_F32, 0, NULL, &scalar);
  check_tensor(st, "empty", SPN_DTYPE_F32, 2, empty_shape, NULL);
  check_tensor(st, "counter", SPN_DTYPE_I64, 0, NULL, &counter);
  check_tensor(st, "zero", SPN_DTYPE_I32, 1, zero_shape, NULL);
  GError *error = NULL;
  const void *p = spn_safetensors_expect(st, "empty", SPN_DTYPE_F32, 2, empty_shape, &error);
  g_assert_no_error(error);
  g_assert_nonnull(p);
  spn_safetensors_free(st);

  /* No tensors at all is still a valid file. */
  w = spn_st_writer_new();
  write_ok(w, path);
  spn_st_writer_free(w);
  st = read_ok(path);
  g_assert_cmpuint(spn_safetensors_n_tensors(st), ==, 0);
  g_assert_nonnull(spn_safetensors_metadata(st, "spanscope.sha256"));
  spn_safetensors_free(st);

  remove_tree(dir);
}

static void
test_metadata(void)
{
  g_autofree char *dir = make_tmp_dir();
  g_autofree char *path = g_build_filename(dir, "meta.safetensors", NULL);
  float x[2] = {1.0f, 2.0f};
  static const gint64 shape[1] = {2};

  SpnStWriter *w = spn_st_writer_new();
  spn_st_writer_set_metadata(w, "format", "pt");
  spn_st_writer_set_metadata(w, "config", "{\"d_model\": 512, \"note\": \"quotes \\\" and \\\\\"}");
  spn_st_writer_set_metadata(w, "unicode", "Grüße, 世界 \xF0\x9F\x98\x80");
  spn_st_writer_set_metadata(w, "control", "tab\tnewline\ncr\r");
  spn_st_writer_set_metadata(w, "empty", "");
  spn_st_writer_set_metadata(w, "format", "pt2");             /* replaced, position kept */
  spn_st_writer_set_metadata(w, "spanscope.sha256", "bogus"); /* the writer's value wins */
  spn_st_writer_add(w, "x", SPN_DTYPE_F32, 1, shape, x);
  write_ok(w, path);
  spn_st_writer_free(w);

  SpnSafetensors *st = read_ok(path);
  g_assert_cmpstr(spn_safetensors_metadata(st, "format"), ==, "pt2");
  g_assert_cmpstr(spn_safetensors_metadata(st, "config"), ==,
                  "{\"d_model\": 512, \"note\": \"quotes \\\" and \\\\\"}");
  g_assert_cmpstr(spn_safetensors_metadata(st, "unicode"), ==, "Grüße, 世界 \xF0\x9F\x98\x80");
  g_assert_cmpstr(spn_safetensors_metadata(st, "control"), ==, "tab\tnewline\ncr\r");
  g_assert_cmpstr(spn_safetensors_metadata(st, "empty"), ==, "");
  const char *sum = spn_safetensors_metadata(st, "spanscope.sha256");
  g_assert_nonnull(sum);
  g_assert_cmpuint(strlen(sum), ==, 64);
  g_autofree char *expected =
      g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)x, sizeof x);
  g_assert_cmpstr(sum, ==, expected);
  spn_safetensors_free(st);

  /* Key order in the header: insertion order, checksum last. */
  gsize len;
  g_autofree guint8 *contents = read_bytes(path, &len);
  const char *header = (const char *)contents + 8;
  const char *keys[] = {"\"format\"",  "\"config\"", "\"unicode\"",
                        "\"control\"", "\"empty\"",  "\"spanscope.sha256\""};
  const char *prev = header;
  for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
    const char *at = g_strstr_len(prev, (gssize)(len - (gsize)(prev - (char *)contents)), keys[i]);
    g_assert_nonnull(at);
    prev = at;
  }

  remove_tree(dir);
}

/* Names of every length mod 8 move the unpadded header end through all residues. */
static void
test_header_alignment(void)
{
  g_autofree char *dir = make_tmp_dir();
  g_autofree char *path = g_build_filename(dir, "align.safetensors", NULL);
  gint64 v[1] = {5};
  static const gint64 shape[1] = {1};
  for (int name_len = 1; name_len <= 24; name_len++) {
    char *name = g_strnfill((gsize)name_len, 'n');
    SpnStWriter *w = spn_st_writer_new();
    spn_st_writer_add(w, name, SPN_DTYPE_I64, 1, shape, v);
    write_ok(w, path);
    spn_st_writer_free(w);

    gsize len;
    guint8 *contents = read_bytes(path, &len);
    guint64 n = header_length_of(contents);
    g_assert_cmpuint((8 + n) % 8, ==, 0);
    g_assert_cmpuint(len, ==, 8 + n + 8);
    g_assert_cmpint(contents[8], ==, '{');
    /* Padding is spaces after the closing brace, nothing else. */
    gsize end = 8 + (gsize)n;
    gsize json_end = end;
    while (json_end > 8 && contents[json_end - 1] == ' ')
      json_end--;
    g_assert_cmpint(contents[json_end - 1], ==, '}');
    g_assert_cmpuint(end - json_end, <, 8);
    g_free(contents);

    SpnSafetensors *st = read_ok(path);
    check_tensor(st, name, SPN_DTYPE_I64, 1, shape, v);
    spn_safetensors_free(st);
    g_free(name);
  }
  remove_tree(dir);
}

/* The whole file for one tiny tensor, computed by hand: the compact JSON that the reference
 * implementation writes, padded with spaces from 157 to 160 bytes. */
static void
test_exact_layout(void)
{
  g_autofree char *dir = make_tmp_dir();
  g_autofree char *path = g_build_filename(dir, "tiny.safetensors", NULL);
  float a[2] = {1.0f, -2.0f};
  static const gint64 shape[1] = {2};
  SpnStWriter *w = spn_st_writer_new();
  spn_st_writer_add(w, "a", SPN_DTYPE_F32, 1, shape, a);
  write_ok(w, path);
  spn_st_writer_free(w);

  static const char json[] =
      "{\"__metadata__\":{\"spanscope.sha256\":"
      "\"ee4ac73c2bd27756ab82780f27c73a7bc4d3f0bb6acb37e008bc27eccd7e588b\"},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  G_STATIC_ASSERT(sizeof json - 1 == 157);
  static const guint8 length_field[8] = {160, 0, 0, 0, 0, 0, 0, 0};
  static const guint8 data[8] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0};
  guint8 expected[8 + 160 + 8];
  memcpy(expected, length_field, 8);
  memcpy(expected + 8, json, 157);
  memset(expected + 8 + 157, ' ', 3);
  memcpy(expected + 8 + 160, data, 8);

  gsize len;
  g_autofree guint8 *contents = read_bytes(path, &len);
  g_assert_cmpuint(header_length_of(contents), ==, 160);
  g_assert_cmpmem(contents, len, expected, sizeof expected);

  /* The header also parses back to the expected structure. */
  JsonParser *parser = json_parser_new();
  GError *error = NULL;
  json_parser_load_from_data(parser, (const char *)contents + 8, 160, &error);
  g_assert_no_error(error);
  JsonObject *root = json_node_get_object(json_parser_get_root(parser));
  g_assert_cmpuint(json_object_get_size(root), ==, 2);
  JsonObject *meta = json_object_get_object_member(root, "__metadata__");
  g_assert_cmpstr(json_object_get_string_member(meta, "spanscope.sha256"), ==,
                  "ee4ac73c2bd27756ab82780f27c73a7bc4d3f0bb6acb37e008bc27eccd7e588b");
  JsonObject *entry = json_object_get_object_member(root, "a");
  g_assert_cmpuint(json_object_get_size(entry), ==, 3);
  g_assert_cmpstr(json_object_get_string_member(entry, "dtype"), ==, "F32");
  JsonArray *sh = json_object_get_array_member(entry, "shape");
  g_assert_cmpuint(json_array_get_length(sh), ==, 1);
  g_assert_cmpint(json_array_get_int_element(sh, 0), ==, 2);
  JsonArray *off = json_object_get_array_member(entry, "data_offsets");
  g_assert_cmpuint(json_array_get_length(off), ==, 2);
  g_assert_cmpint(json_array_get_int_element(off, 0), ==, 0);
  g_assert_cmpint(json_array_get_int_element(off, 1), ==, 8);
  g_object_unref(parser);

  remove_tree(dir);
}

/* Big enough that the data goes through many write(2) and read(2) calls. */
static void
test_large(void)
{
  g_autofree char *dir = make_tmp_dir();
  g_autofree char *path = g_build_filename(dir, "large.safetensors", NULL);
  const gsize n = 3u << 20;
  g_autofree float *big = g_new(float, n);
  for (gsize i = 0; i < n; i++)
    big[i] = (float)(i % 9973) - 4000.0f;
  const gint64 shape[3] = {3, 1024, 1024};
  SpnStWriter *w = spn_st_writer_new();
  spn_st_writer_add(w, "big", SPN_DTYPE_F32, 3, shape, big);
  write_ok(w, path);
  spn_st_writer_free(w);

  SpnSafetensors *st = read_ok(path);
  check_tensor(st, "big", SPN_DTYPE_F32, 3, shape, big);
  spn_safetensors_free(st);
  remove_tree(dir);
}

/* ------------------------------------------------------------------------------------------ */
/* Atomic writes                                                                               */
/* ------------------------------------------------------------------------------------------ */

static gboolean
write_one(const char *path, float value, GError **error)
{
  static const gint64 shape[1] = {1};
  SpnStWriter *w = spn_st_writer_new();
  spn_st_writer_add(w, "v", SPN_DTYPE_F32, 1, shape, &value);
  gboolean ok = spn_st_writer_write(w, path, error);
  spn_st_writer_free(w);
  return ok;
}

static float
read_one(const char *path)
{
  SpnSafetensors *st = read_ok(path);
  float v = *(const float *)spn_safetensors_get(st, "v")->data;
  spn_safetensors_free(st);
  return v;
}

static void
test_atomic_missing_dir(void)
{
  g_autofree char *dir = make_tmp_dir();
  g_autofree char *path = g_build_filename(dir, "no-such-dir", "ckpt.safetensors", NULL);
  GError *error = NULL;
  g_assert_false(write_one(path, 1.0f, &error));
  g_assert_error(error, SPN_ST_ERROR, SPN_ST_ERROR_IO);
  check_message(error, path, g_strerror(ENOENT));
  g_error_free(error);
  g_autofree char *names = list_dir(dir);
  g_assert_cmpstr(names, ==, "");
  remove_tree(dir);
}

static void
test_atomic_replace(void)
{
  g_autofree char *dir = make_tmp_dir();
  g_autofree char *path = g_build_filename(dir, "ckpt.safetensors", NULL);
  GError *error = NULL;
  g_assert_true(write_one(path, 1.0f, &error));
  g_assert_no_error(error);
  g_assert_cmpfloat(read_one(path), ==, 1.0f);
  g_assert_true(write_one(path, 2.0f, &error));
  g_assert_no_error(error);
  g_assert_cmpfloat(read_one(path), ==, 2.0f);
  g_autofree char *names = list_dir(dir);
  g_assert_cmpstr(names, ==, "ckpt.safetensors");

  /* The file gets ordinary permissions (umask), not mkstemp's 0600. */
  mode_t mask = umask(022);
  umask(mask);
  GStatBuf sb;
  g_assert_cmpint(g_stat(path, &sb), ==, 0);
  g_assert_cmpint(sb.st_mode & 0777, ==, 0666 & ~mask);

  remove_tree(dir);
}

static void
test_atomic_target_is_dir(void)
{
  g_autofree char *dir = make_tmp_dir();
  g_autofree char *path = g_build_filename(dir, "ckpt.safetensors", NULL);
  g_assert_cmpint(g_mkdir(path, 0755), ==, 0);
  g_autofree char *inside = g_build_filename(path, "keep", NULL);
  write_bytes(inside, "x", 1);

  GError *error = NULL;
  g_assert_false(write_one(path, 1.0f, &error));
  g_assert_error(error, SPN_ST_ERROR, SPN_ST_ERROR_IO);
  check_message(error, path, g_strerror(EISDIR));
  g_error_free(error);
  g_assert_true(g_file_test(inside, G_FILE_TEST_IS_REGULAR));
  g_autofree char *names = list_dir(dir);
  g_assert_cmpstr(names, ==, "ckpt.safetensors");

  expect_read_error(path, SPN_ST_ERROR_IO, "not a regular file");
  remove_tree(dir);
}

static void
test_atomic_readonly_dir(void)
{
  if (geteuid() == 0) {
    g_test_skip("root ignores directory permissions");
    return;
  }
  g_autofree char *dir = make_tmp_dir();
  g_autofree char *path = g_build_filename(dir, "ckpt.safetensors", NULL);
  GError *error = NULL;
  g_assert_true(write_one(path, 3.0f, &error));
  g_assert_cmpint(g_chmod(dir, 0555), ==, 0);
  g_assert_false(write_one(path, 4.0f, &error));
  g_assert_error(error, SPN_ST_ERROR, SPN_ST_ERROR_IO);
  check_message(error, path, g_strerror(EACCES));
  g_error_free(error);
  g_assert_cmpfloat(read_one(path), ==, 3.0f);
  g_autofree char *names = list_dir(dir);
  g_assert_cmpstr(names, ==, "ckpt.safetensors");
  g_chmod(dir, 0755);
  remove_tree(dir);
}

/* Writes a 1 MB tensor to path under a file size limit of 100 kB: write(2) first writes
 * partially, then fails with EFBIG, the closest thing to a disk filling up in the middle of a
 * checkpoint. */
static gboolean
write_big_limited(const char *path, GError **error)
{
  const gsize n = 1 << 18;
  g_autofree float *big = g_new0(float, n);
  const gint64 shape[1] = {(gint64)n};
  SpnStWriter *w = spn_st_writer_new();
  spn_st_writer_add(w, "v", SPN_DTYPE_F32, 1, shape, big);

  struct rlimit saved, limited;
  g_assert_cmpint(getrlimit(RLIMIT_FSIZE, &saved), ==, 0);
  limited = saved;
  limited.rlim_cur = 100000;
  void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &limited), ==, 0);
  gboolean ok = spn_st_writer_write(w, path, error);
  g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &saved), ==, 0);
  signal(SIGXFSZ, old_handler);
  spn_st_writer_free(w);
  return ok;
}

/* A failed write keeps the file that was there. */
static void
test_atomic_write_fails(void)
{
  g_autofree char *dir = make_tmp_dir();
  g_autofree char *path = g_build_filename(dir, "ckpt.safetensors", NULL);
  GError *error = NULL;
  g_assert_true(write_one(path, 5.0f, &error));

  g_assert_false(write_big_limited(path, &error));
  g_assert_error(error, SPN_ST_ERROR, SPN_ST_ERROR_IO);
  check_message(error, path, g_strerror(EFBIG));
  g_clear_error(&error);
  g_assert_cmpfloat(read_one(path), ==, 5.0f);
  g_autofree char *names = list_dir(dir);
  g_assert_cmpstr(names, ==, "ckpt.safetensors");

  remove_tree(dir);
}

/* A failed first write leaves no file behind. */
static void
test_atomic_new_file_fails(void)
{
  g_autofree char *dir = make_tmp_dir();
  g_autofree char *path = g_build_filename(dir, "ckpt.safetensors", NULL);
  GError *error = NULL;
  g_assert_false(write_big_limited(path, &error));
  g_assert_error(error, SPN_ST_ERROR, SPN_ST_ERROR_IO);
  check_message(error, path, g_strerror(EFBIG));
  g_clear_error(&error);
  g_autofree char *names = list_dir(dir);
  g_assert_cmpstr(names, ==, "");
  remove_tree(dir);
}

static void
expect_writer_error(SpnStWriter *w, const char *path, const char *fragment)
{
  GError *error = NULL;
  g_assert_false(spn_st_writer_write(w, path, &error));
  g_assert_error(error, SPN_ST_ERROR, SPN_ST_ERROR_FORMAT);
  check_message(error, path, fragment);
  g_error_free(error);
  g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
  spn_st_writer_free(w);
}

static void
test_writer_rejects(void)
{
  g_autofree char *dir = make_tmp_dir();
  g_autofree char *path = g_build_filename(dir, "bad.safetensors", NULL);
  float x[4] = {0};
  static const gint64 s1[1] = {1}, neg[2] = {2, -3}, many[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1},
                      huge[3] = {G_MAXINT64, G_MAXINT64, 2};

  SpnStWriter *w = spn_st_writer_new();
  spn_st_writer_add(w, "x", SPN_DTYPE_F32, 1, s1, x);
  spn_st_writer_add(w, "x", SPN_DTYPE_F32, 1, s1, x);
  expect_writer_error(w, path, "tensor 'x' was added twice");

  w = spn_st_writer_new();
  spn_st_writer_add(w, "__metadata__", SPN_DTYPE_F32, 1, s1, x);
  expect_writer_error(w, path, "tensor '__metadata__' has a reserved name");

  w = spn_st_writer_new();
  spn_st_writer_add(w, "n", SPN_DTYPE_F32, 2, neg, x);
  expect_writer_error(w, path, "tensor 'n' has an invalid shape [2, -3]");

  w = spn_st_writer_new();
  spn_st_writer_add(w, "h", SPN_DTYPE_I64, 3, huge, x);
  expect_writer_error(w, path, "tensor 'h' has an invalid shape");

  w = spn_st_writer_new();
  spn_st_writer_add(w, "m", SPN_DTYPE_F32, 9, many, x);
  expect_writer_error(w, path, "tensor 'm' has an invalid dtype (0) or dimension count (9)");

  w = spn_st_writer_new();
  spn_st_writer_add(w, "d", SPN_DTYPE_F32, 1, s1, NULL);
  expect_writer_error(w, path, "tensor 'd' has no data");

  w = spn_st_writer_new();
  spn_st_writer_add(w, "bad\xff", SPN_DTYPE_F32, 1, s1, x);
  expect_writer_error(w, path, "not valid UTF-8");

  g_autofree char *names = list_dir(dir);
  g_assert_cmpstr(names, ==, "");
  remove_tree(dir);
}

/* ------------------------------------------------------------------------------------------ */
/* Reading files from other tools                                                              */
/* ------------------------------------------------------------------------------------------ */

/* No checksum, an unpadded header (so the data section is misaligned in memory), tensors listed
 * out of physical order, an unknown entry field and plain metadata. */
static void
test_foreign_file(void)
{
  g_autofree char *dir = make_tmp_dir();
  guint8 data[4 + 16 + 8];
  gint32 i32 = -42;
  gint64 i64[2] = {1LL << 50, -3};
  float f32[2] = {0.5f, -0.25f};
  memcpy(data, &i32, 4);
  memcpy(data + 4, i64, 16);
  memcpy(data + 20, f32, 8);
  const char *header =
      "{\"f\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[20,28]},"
      "\"__metadata__\":{\"format\":\"pt\"},"
      "\"l\":{\"dtype\":\"I64\",\"shape\":[2,1],\"data_offsets\":[4,20],\"extra\":[1,2]},"
      "\"i\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[0,4]}}";
  g_assert_cmpuint(strlen(header) % 8, !=, 0);
  g_autofree char *path =
      write_raw_st(dir, "foreign.safetensors", header, FALSE, data, sizeof data);

  SpnSafetensors *st = read_ok(path);
  g_assert_cmpstr(spn_safetensors_metadata(st, "format"), ==, "pt");
  g_assert_null(spn_safetensors_metadata(st, "spanscope.sha256"));
  g_assert_cmpuint(spn_safetensors_n_tensors(st), ==, 3);
  g_assert_cmpstr(spn_safetensors_nth(st, 0)->name, ==, "i");
  g_assert_cmpstr(spn_safetensors_nth(st, 1)->name, ==, "l");
  g_assert_cmpstr(spn_safetensors_nth(st, 2)->name, ==, "f");
  static const gint64 l_shape[2] = {2, 1}, f_shape[1] = {2};
  check_tensor(st, "i", SPN_DTYPE_I32, 0, NULL, &i32);
  check_tensor(st, "l", SPN_DTYPE_I64, 2, l_shape, i64);
  check_tensor(st, "f", SPN_DTYPE_F32, 1, f_shape, f32);
  spn_safetensors_free(st);

  /* Same content padded like the reference writer, with a leading space. */
  g_autofree char *spaced = g_strconcat(" ", header, NULL);
  g_autofree char *path2 = write_raw_st(dir, "padded.safetensors", spaced, TRUE, data, sizeof data);
  st = read_ok(path2);
  check_tensor(st, "l", SPN_DTYPE_I64, 2, l_shape, i64);
  spn_safetensors_free(st);

  remove_tree(dir);
}

static void
test_read_errors(void)
{
  g_autofree char *dir = make_tmp_dir();
  g_autofree char *missing = g_build_filename(dir, "missing.safetensors", NULL);
  expect_read_message(missing, "cannot open: No such file or directory");
  expect_read_error(dir, SPN_ST_ERROR_IO, "not a regular file");
  remove_tree(dir);
}

/* ------------------------------------------------------------------------------------------ */
/* Corruption                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static void
test_corrupt_truncated(void)
{
  g_autofree char *dir = make_tmp_dir();
  g_autofree char *ref = write_reference_file(dir, "ref.safetensors");
  gsize len;
  g_autofree guint8 *contents = read_bytes(ref, &len);
  gsize header_end = 8 + (gsize)header_length_of(contents);
  g_assert_cmpuint(header_end, >, 64);
  g_assert_cmpuint(len, >, header_end);
  g_autofree char *path = g_build_filename(dir, "cut.safetensors", NULL);

  for (gsize cut = 0; cut < len; cut++) {
    write_bytes(path, contents, cut);
    if (cut < 8) {
      char *msg = g_strdup_printf("file is %" G_GSIZE_FORMAT " bytes, too short for a "
                                  "safetensors header (at least 8 bytes)",
                                  cut);
      expect_read_message(path, msg);
      g_free(msg);
    } else if (cut < header_end) {
      char *msg = g_strdup_printf("header length %" G_GSIZE_FORMAT
                                  " exceeds the file size (%" G_GSIZE_FORMAT
                                  " bytes); the file is truncated",
                                  header_end - 8, cut);
      expect_read_message(path, msg);
      g_free(msg);
    } else {
      expect_read_error(path, SPN_ST_ERROR_FORMAT, "exceed the data section");
    }
  }
  /* One extra byte is not a truncation, but the checksum no longer matches. */
  g_autofree guint8 *longer = g_malloc(len + 1);
  memcpy(longer, contents, len);
  longer[len] = 0;
  write_bytes(path, longer, len + 1);
  expect_read_error(path, SPN_ST_ERROR_FORMAT, "checksum mismatch");

  remove_tree(dir);
}

static void
write_with_length(const char *path, guint64 n, const char *rest)
{
  GByteArray *buf = g_byte_array_new();
  guint64 le = GUINT64_TO_LE(n);
  g_byte_array_append(buf, (const guint8 *)&le, 8);
  g_byte_array_append(buf, (const guint8 *)rest, (guint)strlen(rest));
  write_bytes(path, buf->data, buf->len);
  g_byte_array_unref(buf);
}

static void
test_corrupt_header_length(void)
{
  g_autofree char *dir = make_tmp_dir();
  g_autofree char *path = g_build_filename(dir, "len.safetensors", NULL);

  write_with_length(path, 9999999, "{}");
  expect_read_message(path, "header length 9999999 exceeds the file size (10 bytes); the file "
                            "is truncated");
  write_with_length(path, 100000001, "{}");
  expect_read_message(path, "header length 100000001 is absurd (at most 100000000 bytes); this "
                            "is not a safetensors file");
  write_with_length(path, G_MAXUINT64, "{}");
  expect_read_error(path, SPN_ST_ERROR_FORMAT, "header length 18446744073709551615 is absurd");
  write_with_length(path, G_MAXUINT64 - 7, "{}");
  expect_read_error(path, SPN_ST_ERROR_FORMAT, "is absurd");
  write_with_length(path, 3, "{}");
  expect_read_error(path, SPN_ST_ERROR_FORMAT, "exceeds the file size");
  write_with_length(path, 0, "");
  expect_read_message(path, "header is empty");
  write_with_length(path, 0, "{}");
  expect_read_message(path, "header is empty");
  /* A JSON file handed over by mistake: its first 8 bytes read as a huge length. */
  g_autofree char *json_path = g_build_filename(dir, "config.json", NULL);
  write_bytes(json_path, "{\"d_model\": 512, \"n_layers\": 4}", 32);
  expect_read_error(json_path, SPN_ST_ERROR_FORMAT, "this is not a safetensors file");

  remove_tree(dir);
}

static void
expect_header_error(const char *dir, const char *header, const char *fragment)
{
  guint8 data[64] = {0};
  g_autofree char *path = write_raw_st(dir, "h.safetensors", header, TRUE, data, sizeof data);
  expect_read_error(path, SPN_ST_ERROR_FORMAT, fragment);
}

static void
expect_header_message(const char *dir, const char *header, const char *message)
{
  guint8 data[64] = {0};
  g_autofree char *path = write_raw_st(dir, "h.safetensors", header, TRUE, data, sizeof data);
  expect_read_message(path, message);
}

static void
test_corrupt_json(void)
{
  g_autofree char *dir = make_tmp_dir();
  expect_header_error(dir, "{not json", "header is not valid JSON at line 1 column");
  expect_header_error(dir, "{\"a\" 1}", "header is not valid JSON at line 1 column");
  expect_header_error(dir, "{\"a\":{\"dtype\":\"F32\"", "header is not valid JSON");
  expect_header_error(dir, "{} trailing", "header is not valid JSON");
  expect_header_message(dir, "[1, 2, 3]", "header is not a JSON object");
  expect_header_message(dir, "\"string\"", "header is not a JSON object");
  expect_header_message(dir, "42", "header is not a JSON object");
  expect_header_message(dir, "        ", "header is empty");
  expect_header_error(dir, "{\"caf\xc3\":1}", "header is not valid UTF-8");
  expect_header_message(dir, "{\"a\":\xff}",
                        "header is not valid UTF-8 (bad byte at offset 5)");

  /* An embedded NUL byte, which strlen-based helpers cannot write. */
  static const char with_nul[] = "{\"a\":1\0}";
  char *path = g_build_filename(dir, "nul.safetensors", NULL);
  GByteArray *buf = g_byte_array_new();
  guint64 le = GUINT64_TO_LE(sizeof with_nul - 1);
  g_byte_array_append(buf, (const guint8 *)&le, 8);
  g_byte_array_append(buf, (const guint8 *)with_nul, sizeof with_nul - 1);
  write_bytes(path, buf->data, buf->len);
  g_byte_array_unref(buf);
  expect_read_error(path, SPN_ST_ERROR_FORMAT, "header is not valid UTF-8");
  g_free(path);

  /* Deep nesting would overflow json-glib's recursive parser. */
  GString *deep = g_string_new("{\"a\":");
  for (int i = 0; i < 200000; i++)
    g_string_append_c(deep, '[');
  for (int i = 0; i < 200000; i++)
    g_string_append_c(deep, ']');
  g_string_append_c(deep, '}');
  expect_header_error(dir, deep->str, "header nests JSON more than 16 levels deep");
  g_string_free(deep, TRUE);
  /* Brackets inside strings, escaped quotes included, do not count as nesting. */
  path =
      write_raw_st(dir, "brackets.safetensors",
                   "{\"__metadata__\":{\"[[[[[[[[[[[[[[[[[[[[\":\"[[[[[[[[[[[[[[[[[[[[\\\"[[[\"}}",
                   TRUE, NULL, 0);
  SpnSafetensors *st = read_ok(path);
  g_assert_cmpstr(spn_safetensors_metadata(st, "[[[[[[[[[[[[[[[[[[[["), ==,
                  "[[[[[[[[[[[[[[[[[[[[\"[[[");
  spn_safetensors_free(st);
  g_free(path);
  remove_tree(dir);
}

static void
test_corrupt_metadata(void)
{
  g_autofree char *dir = make_tmp_dir();
  expect_header_message(dir, "{\"__metadata__\":[1]}", "\"__metadata__\" is not a JSON object");
  expect_header_message(dir, "{\"__metadata__\":\"x\"}", "\"__metadata__\" is not a JSON object");
  expect_header_message(dir, "{\"__metadata__\":{\"epoch\":3}}",
                        "metadata value of 'epoch' is not a string");
  expect_header_message(dir, "{\"__metadata__\":{\"a\":\"b\",\"c\":null}}",
                        "metadata value of 'c' is not a string");
  expect_header_message(dir, "{\"__metadata__\":{\"o\":{}}}",
                        "metadata value of 'o' is not a string");
  remove_tree(dir);
}

static void
test_corrupt_entries(void)
{
  g_autofree char *dir = make_tmp_dir();
  expect_header_message(dir, "{\"x\":5}", "tensor 'x' entry is not a JSON object");
  expect_header_message(dir, "{\"x\":{\"shape\":[1],\"data_offsets\":[0,4]}}",
                        "tensor 'x' has no dtype");
  expect_header_message(dir, "{\"x\":{\"dtype\":1,\"shape\":[1],\"data_offsets\":[0,4]}}",
                        "tensor 'x' dtype is not a string");
  expect_header_message(dir, "{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}",
                        "tensor 'x' has no shape");
  expect_header_message(dir, "{\"x\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}",
                        "tensor 'x' shape is not an array");
  expect_header_message(dir, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}",
                        "tensor 'x' shape element 0 is not a non-negative integer");
  expect_header_message(dir, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,-2],\"data_offsets\":[0,4]}}",
                        "tensor 'x' shape element 1 is not a non-negative integer");
  expect_header_message(dir,
                        "{\"x\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],"
                        "\"data_offsets\":[0,4]}}",
                        "tensor 'x' shape element 0 is not a non-negative integer");
  expect_header_message(dir, "{\"x\":{\"dtype\":\"F32\",\"shape\":[true],\"data_offsets\":[0,4]}}",
                        "tensor 'x' shape element 0 is not a non-negative integer");
  expect_header_message(dir, "{\"x\":{\"dtype\":\"F32\",\"shape\":[[1]],\"data_offsets\":[0,4]}}",
                        "tensor 'x' shape element 0 is not a non-negative integer");
  expect_header_message(dir,
                        "{\"x\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                        "\"data_offsets\":[0,4]}}",
                        "tensor 'x' has 9 dimensions (at most 8 supported)");
  expect_header_message(dir, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}",
                        "tensor 'x' has no data_offsets");
  static const char *const bad_offsets[] = {"[0]",    "[0,4,8]", "[]",       "\"0,4\"", "[0,\"4\"]",
                                            "[-4,0]", "[0,4.5]", "[null,4]", "{}"};
  for (guint i = 0; i < G_N_ELEMENTS(bad_offsets); i++) {
    char *header = g_strdup_printf("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":%s}}",
                                   bad_offsets[i]);
    expect_header_message(dir, header,
                          "tensor 'x' data_offsets is not an array of two non-negative integers");
    g_free(header);
  }
  /* A later entry's error is reported even after valid ones. */
  expect_header_message(dir,
                        "{\"ok\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        "\"bad\":{\"dtype\":\"F32\"}}",
                        "tensor 'bad' has no shape");
  remove_tree(dir);
}

static void
test_corrupt_dtype(void)
{
  g_autofree char *dir = make_tmp_dir();
  static const char *const dtypes[] = {"BF16", "F16", "F64", "U8", "I8", "BOOL", "f32", "", "F32 "};
  for (guint i = 0; i < G_N_ELEMENTS(dtypes); i++) {
    char *header = g_strdup_printf(
        "{\"x\":{\"dtype\":\"%s\",\"shape\":[2],\"data_offsets\":[0,4]}}", dtypes[i]);
    char *msg = g_strdup_printf("unsupported dtype '%s' of tensor 'x' (expected F32, I32 or I64)",
                                dtypes[i]);
    expect_header_message(dir, header, msg);
    g_free(msg);
    g_free(header);
  }
  remove_tree(dir);
}

/* The data section of these files is 64 bytes (see expect_header_message). */
static void
test_corrupt_offsets(void)
{
  g_autofree char *dir = make_tmp_dir();
  expect_header_message(dir, "{\"x\":{\"dtype\":\"F32\",\"shape\":[100],\"data_offsets\":[0,400]}}",
                        "tensor 'x' data offsets [0, 400] exceed the data section (64 bytes)");
  expect_header_message(dir, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[64,68]}}",
                        "tensor 'x' data offsets [64, 68] exceed the data section (64 bytes)");
  expect_header_message(dir,
                        "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],"
                        "\"data_offsets\":[9223372036854775800,9223372036854775804]}}",
                        "tensor 'x' data offsets [9223372036854775800, 9223372036854775804] "
                        "exceed the data section (64 bytes)");
  expect_header_message(dir, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}",
                        "tensor 'x' data offsets [8, 4] are reversed");
  expect_header_message(dir, "{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[65,65]}}",
                        "tensor 'x' data offsets [65, 65] exceed the data section (64 bytes)");
  /* Exactly at the end is fine. */
  guint8 data[64] = {0};
  char *path = write_raw_st(dir, "end.safetensors",
                            "{\"x\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[56,64]},"
                            "\"e\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[64,64]}}",
                            TRUE, data, sizeof data);
  SpnSafetensors *st = read_ok(path);
  g_assert_cmpuint(spn_safetensors_n_tensors(st), ==, 2);
  spn_safetensors_free(st);
  g_free(path);
  remove_tree(dir);
}

static void
test_corrupt_size_mismatch(void)
{
  g_autofree char *dir = make_tmp_dir();
  expect_header_message(dir, "{\"x\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,40]}}",
                        "tensor 'x' shape [3, 4] needs 48 bytes but its offsets span 40");
  expect_header_message(dir, "{\"x\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                        "tensor 'x' shape [2] needs 16 bytes but its offsets span 8");
  expect_header_message(dir, "{\"x\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[0,8]}}",
                        "tensor 'x' shape [] needs 4 bytes but its offsets span 8");
  expect_header_message(dir, "{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,4]}}",
                        "tensor 'x' shape [0] needs 0 bytes but its offsets span 4");
  remove_tree(dir);
}

static void
test_corrupt_overflow(void)
{
  g_autofree char *dir = make_tmp_dir();
  /* The element count overflows 64 bits... */
  expect_header_message(dir,
                        "{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
                        "\"data_offsets\":[0,4]}}",
                        "tensor 'x' shape [4294967296, 4294967296, 16] has too many elements");
  /* ...or only the byte count does. */
  expect_header_message(dir,
                        "{\"x\":{\"dtype\":\"I64\",\"shape\":[4611686018427387904],"
                        "\"data_offsets\":[0,0]}}",
                        "tensor 'x' shape [4611686018427387904] has too many elements");
  /* Products that wrap to exactly the span must not pass: 2^62 * 4 wraps to 0. */
  expect_header_message(dir,
                        "{\"x\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],"
                        "\"data_offsets\":[0,0]}}",
                        "tensor 'x' shape [4611686018427387904] has too many elements");
  /* A zero dimension makes huge ones harmless. */
  guint8 data[8] = {0};
  char *path = write_raw_st(dir, "zero.safetensors",
                            "{\"x\":{\"dtype\":\"F32\",\"shape\":[0,9223372036854775807],"
                            "\"data_offsets\":[0,0]}}",
                            TRUE, data, 0);
  SpnSafetensors *st = read_ok(path);
  g_assert_cmpuint(spn_safetensors_get(st, "x")->n_elements, ==, 0);
  spn_safetensors_free(st);
  g_free(path);
  remove_tree(dir);
}

static void
test_corrupt_checksum(void)
{
  g_autofree char *dir = make_tmp_dir();
  g_autofree char *path = write_reference_file(dir, "ref.safetensors");
  gsize len;
  g_autofree guint8 *contents = read_bytes(path, &len);
  SpnSafetensors *st = read_ok(path);
  g_autofree char *sum = g_strdup(spn_safetensors_metadata(st, "spanscope.sha256"));
  spn_safetensors_free(st);

  gsize data_start = 8 + (gsize)header_length_of(contents);
  for (gsize pos = data_start; pos < len; pos++) {
    contents[pos] ^= 0x10;
    write_bytes(path, contents, len);
    char *found =
        g_compute_checksum_for_data(G_CHECKSUM_SHA256, contents + data_start, len - data_start);
    char *msg = g_strdup_printf("checksum mismatch: the file is corrupt (expected sha256 %s, "
                                "found %s)",
                                sum, found);
    expect_read_message(path, msg);
    g_free(msg);
    g_free(found);
    contents[pos] ^= 0x10;
  }
  /* Restored, it reads again. */
  write_bytes(path, contents, len);
  spn_safetensors_free(read_ok(path));

  remove_tree(dir);
}

/* Reads must never crash or read out of bounds (run under valgrind); whatever is accepted must
 * be internally consistent. */
static void
read_any(const char *path)
{
  GError *error = NULL;
  SpnSafetensors *st = spn_safetensors_read(path, &error);
  g_assert_true((st == NULL) != (error == NULL));
  if (st == NULL) {
    check_message(error, path, "");
    g_error_free(error);
    return;
  }
  for (guint i = 0; i < spn_safetensors_n_tensors(st); i++) {
    const SpnStTensor *t = spn_safetensors_nth(st, i);
    const guint8 *p = t->data;
    guint sum = 0;
    for (gsize b = 0; b < t->n_elements * dtype_size(t->dtype); b++)
      sum += p[b];
    (void)sum;
    g_assert_true(spn_safetensors_get(st, t->name) == t);
  }
  spn_safetensors_free(st);
}

static void
test_corrupt_fuzz(void)
{
  g_autofree char *dir = make_tmp_dir();
  g_autofree char *ref = write_reference_file(dir, "ref.safetensors");
  gsize len;
  g_autofree guint8 *contents = read_bytes(ref, &len);
  g_autofree char *path = g_build_filename(dir, "fuzz.safetensors", NULL);
  static const guint8 replacements[] = {0x00, 0xff, '"', '{', ']', '-', '9', '0', ' ', '\\'};

  for (gsize pos = 0; pos < len; pos++) {
    guint8 saved = contents[pos];
    for (guint r = 0; r < G_N_ELEMENTS(replacements); r++) {
      if (replacements[r] == saved)
        continue;
      contents[pos] = replacements[r];
      write_bytes(path, contents, len);
      read_any(path);
    }
    contents[pos] = saved;
  }
  /* Random bytes behind a plausible length field. */
  for (int round = 0; round < 200; round++) {
    gsize n = (gsize)g_test_rand_int_range(0, 300);
    guint8 *junk = g_malloc(n + 8);
    guint64 le = GUINT64_TO_LE((guint64)g_test_rand_int_range(0, (gint32)n + 2));
    memcpy(junk, &le, 8);
    for (gsize i = 0; i < n; i++)
      junk[8 + i] = (guint8)g_test_rand_int_range(0, 256);
    write_bytes(path, junk, n + 8);
    read_any(path);
    g_free(junk);
  }
  remove_tree(dir);
}

/* ------------------------------------------------------------------------------------------ */
/* spn_safetensors_expect                                                                      */
/* ------------------------------------------------------------------------------------------ */

static void
expect_mismatch(const SpnSafetensors *st, const char *name, SpnDtype dtype, int ndim,
                const gint64 *shape, const char *message_after_path)
{
  GError *error = NULL;
  g_assert_null(spn_safetensors_expect(st, name, dtype, ndim, shape, &error));
  g_assert_error(error, SPN_ST_ERROR, SPN_ST_ERROR_MISMATCH);
  g_autofree char *expected = g_strconcat(spn_safetensors_path(st), ": ", message_after_path, NULL);
  g_assert_cmpstr(error->message, ==, expected);
  g_error_free(error);
}

static void
test_expect(void)
{
  g_autofree char *dir = make_tmp_dir();
  g_autofree char *path = g_build_filename(dir, "ckpt.safetensors", NULL);
  g_autofree float *pe = g_new0(float, 32 * 512);
  gint32 ids[4] = {1, 2, 3, 4};
  static const gint64 pe_shape[3] = {1, 32, 512}, ids_shape[1] = {4};
  SpnStWriter *w = spn_st_writer_new();
  spn_st_writer_add(w, "key_pe", SPN_DTYPE_F32, 3, pe_shape, pe);
  spn_st_writer_add(w, "x", SPN_DTYPE_I32, 1, ids_shape, ids);
  write_ok(w, path);
  spn_st_writer_free(w);
  SpnSafetensors *st = read_ok(path);

  GError *error = NULL;
  const float *got = spn_safetensors_expect(st, "key_pe", SPN_DTYPE_F32, 3, pe_shape, &error);
  g_assert_no_error(error);
  g_assert_true(got == spn_safetensors_get(st, "key_pe")->data);
  const gint32 *got_ids = spn_safetensors_expect(st, "x", SPN_DTYPE_I32, 1, ids_shape, NULL);
  g_assert_nonnull(got_ids);
  g_assert_cmpint(got_ids[3], ==, 4);

  static const gint64 wider[3] = {1, 32, 1024}, flat[2] = {32, 512};
  static const gint64 more[4] = {1, 32, 512, 1};
  expect_mismatch(st, "key_pe", SPN_DTYPE_F32, 3, wider,
                  "tensor 'key_pe' has shape [1, 32, 512], expected [1, 32, 1024]");
  expect_mismatch(st, "key_pe", SPN_DTYPE_F32, 2, flat,
                  "tensor 'key_pe' has shape [1, 32, 512], expected [32, 512]");
  expect_mismatch(st, "key_pe", SPN_DTYPE_F32, 4, more,
                  "tensor 'key_pe' has shape [1, 32, 512], expected [1, 32, 512, 1]");
  expect_mismatch(st, "key_pe", SPN_DTYPE_F32, 0, NULL,
                  "tensor 'key_pe' has shape [1, 32, 512], expected []");
  expect_mismatch(st, "x", SPN_DTYPE_F32, 1, ids_shape, "tensor 'x' has dtype I32, expected F32");
  expect_mismatch(st, "x", SPN_DTYPE_I64, 1, ids_shape, "tensor 'x' has dtype I32, expected I64");
  expect_mismatch(st, "key_pe", SPN_DTYPE_I32, 3, pe_shape,
                  "tensor 'key_pe' has dtype F32, expected I32");
  expect_mismatch(st, "y", SPN_DTYPE_F32, 1, ids_shape, "tensor 'y' is missing");
  g_assert_null(spn_safetensors_expect(st, "y", SPN_DTYPE_F32, 1, ids_shape, NULL));

  spn_safetensors_free(st);
  remove_tree(dir);
}

/* ------------------------------------------------------------------------------------------ */
/* Interoperability with the Python safetensors package, when it is installed                 */
/* ------------------------------------------------------------------------------------------ */

static gboolean
run_python(const char *const *argv, char **out)
{
  int status = 0;
  GError *error = NULL;
  gboolean spawned =
      g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                   NULL, NULL, out, NULL, &status, &error);
  g_clear_error(&error);
  return spawned && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static const char python_check[] =
    "import sys\n"
    "from safetensors import deserialize\n"
    "names = {'float32': 'F32', 'int32': 'I32', 'int64': 'I64'}\n"
    "rows = []\n"
    "for name, info in deserialize(open(sys.argv[1], 'rb').read()):\n"
    "    dtype = str(info['dtype'])\n"
    "    shape = ','.join(str(d) for d in info['shape'])\n"
    "    rows.append('%s %s [%s] %s' % (name, names.get(dtype, dtype), shape,\n"
    "                                   bytes(info['data']).hex()))\n"
    "print('\\n'.join(sorted(rows)))\n";

static void
test_python_interop(void)
{
  const char *const probe[] = {"python3", "-c", "import safetensors", NULL};
  if (!run_python(probe, NULL)) {
    g_test_skip("the Python safetensors package is not installed");
    return;
  }
  g_autofree char *dir = make_tmp_dir();
  g_autofree char *path = write_reference_file(dir, "py.safetensors");
  const char *const argv[] = {"python3", "-c", python_check, path, NULL};
  g_autofree char *out = NULL;
  g_assert_true(run_python(argv, &out));
  g_strchomp(out);
  g_assert_cmpstr(out, ==,
                  "big I64 [2] ffffffffffffff7f0000000000000080\n"
                  "ids I32 [3] 07000000ffffffff00000040\n"
                  "w F32 [2,3] 0000c03f000000c000005040000000006f12833a00002842");
  remove_tree(dir);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/safetensors/roundtrip", test_roundtrip);
  g_test_add_func("/safetensors/roundtrip-misaligned", test_roundtrip_misaligned);
  g_test_add_func("/safetensors/scalar-and-empty", test_scalar_and_empty);
  g_test_add_func("/safetensors/metadata", test_metadata);
  g_test_add_func("/safetensors/header-alignment", test_header_alignment);
  g_test_add_func("/safetensors/exact-layout", test_exact_layout);
  g_test_add_func("/safetensors/large", test_large);
  g_test_add_func("/safetensors/atomic/missing-dir", test_atomic_missing_dir);
  g_test_add_func("/safetensors/atomic/replace", test_atomic_replace);
  g_test_add_func("/safetensors/atomic/target-is-dir", test_atomic_target_is_dir);
  g_test_add_func("/safetensors/atomic/readonly-dir", test_atomic_readonly_dir);
  g_test_add_func("/safetensors/atomic/write-fails", test_atomic_write_fails);
  g_test_add_func("/safetensors/atomic/new-file-fails", test_atomic_new_file_fails);
  g_test_add_func("/safetensors/writer-rejects", test_writer_rejects);
  g_test_add_func("/safetensors/foreign-file", test_foreign_file);
  g_test_add_func("/safetensors/read-errors", test_read_errors);
  g_test_add_func("/safetensors/corrupt/truncated", test_corrupt_truncated);
  g_test_add_func("/safetensors/corrupt/header-length", test_corrupt_header_length);
  g_test_add_func("/safetensors/corrupt/json", test_corrupt_json);
  g_test_add_func("/safetensors/corrupt/metadata", test_corrupt_metadata);
  g_test_add_func("/safetensors/corrupt/entries", test_corrupt_entries);
  g_test_add_func("/safetensors/corrupt/dtype", test_corrupt_dtype);
  g_test_add_func("/safetensors/corrupt/offsets", test_corrupt_offsets);
  g_test_add_func("/safetensors/corrupt/size-mismatch", test_corrupt_size_mismatch);
  g_test_add_func("/safetensors/corrupt/overflow", test_corrupt_overflow);
  g_test_add_func("/safetensors/corrupt/checksum", test_corrupt_checksum);
  g_test_add_func("/safetensors/corrupt/fuzz", test_corrupt_fuzz);
  g_test_add_func("/safetensors/expect", test_expect);
  g_test_add_func("/safetensors/python-interop", test_python_interop);
  return g_test_run();
}
