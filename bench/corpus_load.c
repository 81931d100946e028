/* corpus_load — loads a corpus the way training does and prints its size, tokens and load time as
 * one JSON line; bench/big_inputs.py measures the peak memory this takes against the file size.
 *   corpus_load PATH [--byte-mode | --ref-format] */
#include <stdio.h>
#include <string.h>

#include "corpus.h"

int
main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: corpus_load PATH [--byte-mode | --ref-format]\n");
    return 2;
  }
  SpnCorpusOptions opts = {argc > 2 && strcmp(argv[2], "--byte-mode") == 0,
                           argc > 2 && strcmp(argv[2], "--ref-format") == 0};
  GError *error = NULL;
  gint64 t0 = g_get_monotonic_time();
  SpnCorpus *corpus = spn_corpus_load(argv[1], &opts, &error);
  double seconds = (g_get_monotonic_time() - t0) / 1e6;
  if (corpus == NULL) {
    fprintf(stderr, "corpus_load: %s\n", error->message);
    g_error_free(error);
    return 1;
  }
  gsize n = corpus->n_tokens[0] + corpus->n_tokens[1] + corpus->n_tokens[2];
  printf("{\"tokens\": %zu, \"vocab\": %d, \"seconds\": %.3f}\n", (size_t)n, corpus->vocab->size,
         seconds);
  spn_corpus_free(corpus);
  return 0;
}
