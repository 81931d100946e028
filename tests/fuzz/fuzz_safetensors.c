/* fuzz_safetensors.c — libFuzzer target for the safetensors reader (engine/safetensors_reader.c):
 * any bytes must either be read, every tensor's data lying inside the input and matching its
 * shape, or be refused with a message naming the file. Build: see tests/fuzz/README.md. */
#include "safetensors.h"

#include <string.h>

#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  GBytes *bytes = g_bytes_new_static(data, size);
  GError *error = NULL;
  SpnSafetensors *st = spn_safetensors_read_bytes(bytes, "fuzz.safetensors", &error);
  if (st == NULL) {
    g_assert(error != NULL && g_str_has_prefix(error->message, "fuzz.safetensors: "));
    g_error_free(error);
  } else {
    static const gsize sizes[] = {4, 4, 8}; /* F32, I32, I64 */
    for (guint i = 0; i < spn_safetensors_n_tensors(st); i++) {
      const SpnStTensor *t = spn_safetensors_nth(st, i);
      gsize n = 1;
      for (int d = 0; d < t->ndim; d++)
        n *= (gsize)t->shape[d];
      g_assert(n == t->n_elements && t->data != NULL);
      /* every byte is readable (ASan checks the reads) */
      guint8 sum = 0;
      const guint8 *p = t->data;
      for (gsize b = 0; b < n * sizes[t->dtype]; b++)
        sum ^= p[b];
      (void)sum;
      g_assert(spn_safetensors_get(st, t->name) != NULL);
    }
    gint64 shape[2] = {2, 3};
    if (spn_safetensors_expect(st, "in_emb.weight", SPN_DTYPE_F32, 2, shape, &error) == NULL)
      g_clear_error(&error);
    spn_safetensors_metadata(st, "format");
    spn_safetensors_free(st);
  }
  g_bytes_unref(bytes);
  return 0;
}
