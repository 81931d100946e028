/* safetensors.h — reading (safetensors_reader.c) and writing (safetensors_writer.c) the
 * safetensors format.
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON header
 * {"__metadata__": {"key": "string", ...}, "name": {"dtype": "F32", "shape": [..],
 *  "data_offsets": [begin, end]}, ...}, then the raw little-endian data (offsets relative to the
 * end of the header). The header is padded with spaces to a multiple of 8 bytes.
 *
 * The writer adds the metadata key "spanscope.sha256" (hex SHA-256 of the whole data section);
 * the reader verifies it when present, so a flipped byte is reported instead of trained on.
 */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

typedef enum { SPN_DTYPE_F32 = 0, SPN_DTYPE_I32 = 1, SPN_DTYPE_I64 = 2 } SpnDtype;

#define SPN_ST_MAX_DIMS 8

typedef struct {
  const char *name;
  SpnDtype dtype;
  int ndim;
  gint64 shape[SPN_ST_MAX_DIMS];
  gsize n_elements;
  const void *data;          /* points into the file's contents, suitably aligned copy;
                                never NULL, even for zero elements */
} SpnStTensor;

typedef struct _SpnSafetensors SpnSafetensors;

/* Errors (SPN_ST_ERROR) name the path and what is wrong: "ckpt.safetensors: file is 100 bytes,
 * too short for a safetensors header", "...: header length 9999999 exceeds the file size",
 * "...: header is not valid JSON at line 1 column 40: ...", "...: tensor 'x' data offsets
 * [0, 400] exceed the data section (256 bytes)", "...: tensor 'x' shape [3, 4] needs 48 bytes but
 * its offsets span 40", "...: unsupported dtype 'BF16' of tensor 'x' (expected F32, I32 or I64)",
 * "...: checksum mismatch: the file is corrupt". */
SpnSafetensors *spn_safetensors_read(const char *path, GError **error);
/* The same over bytes already in memory (kept referenced); `name` stands for the path. */
SpnSafetensors *spn_safetensors_read_bytes(GBytes *bytes, const char *name, GError **error);
void spn_safetensors_free(SpnSafetensors *st);
const char *spn_safetensors_path(const SpnSafetensors *st);
/* Bytes of tensor data in the file (what the header's offsets may address). */
gsize spn_safetensors_data_size(const SpnSafetensors *st);
/* Tensors are numbered in data-offset order (insertion order for files spanscope wrote). */
guint spn_safetensors_n_tensors(const SpnSafetensors *st);
const SpnStTensor *spn_safetensors_nth(const SpnSafetensors *st, guint i);
/* NULL if there is no such tensor. */
const SpnStTensor *spn_safetensors_get(const SpnSafetensors *st, const char *name);
/* NULL if there is no such key. */
const char *spn_safetensors_metadata(const SpnSafetensors *st, const char *key);

/* Looks a tensor up and checks dtype and shape; error names path, tensor, expected and found
 * shape ("ckpt: tensor 'key_pe' has shape [1, 32, 512], expected [1, 32, 1024]") or that it is
 * missing. Returns the data, or NULL with error set. */
const void *spn_safetensors_expect(const SpnSafetensors *st, const char *name, SpnDtype dtype,
                                   int ndim, const gint64 *shape, GError **error);

typedef struct _SpnStWriter SpnStWriter;
SpnStWriter *spn_st_writer_new(void);
/* data is borrowed: it must stay valid until spn_st_writer_write() returns. Tensors are written
 * in the order they were added. An invalid tensor (duplicate or reserved name, bad shape, NULL
 * data with elements) makes spn_st_writer_write() fail with SPN_ST_ERROR_FORMAT. The format
 * allows no gaps between tensors, so an I64 tensor added after an odd number of 4-byte elements
 * lands at an offset that is not a multiple of 8; our reader copies it, but other readers (the
 * Python package writes 8-byte dtypes first) may expect aligned offsets: add I64 tensors first. */
void spn_st_writer_add(SpnStWriter *w, const char *name, SpnDtype dtype, int ndim,
                       const gint64 *shape, const void *data);
/* The same with the data in pieces (borrowed likewise), written one after the other: a tensor
 * that lives in several arrays needs no copy. Their sizes must add up to the tensor's. */
typedef struct {
  const void *data;
  gsize n_bytes;
} SpnStPiece;
void spn_st_writer_add_pieces(SpnStWriter *w, const char *name, SpnDtype dtype, int ndim,
                              const gint64 *shape, const SpnStPiece *pieces, guint n_pieces);
/* Setting a key again replaces its value; "spanscope.sha256" is always computed by the writer. */
void spn_st_writer_set_metadata(SpnStWriter *w, const char *key, const char *value);
/* A header larger than readers accept (100 MB: large metadata) fails with SPN_ST_ERROR_FORMAT
 * before anything is written. Writes through spn_save_file (savefile.h): a finished, synced
 * temporary file renamed over the target, so it is never left half-written; a write that fails
 * (full disk, no room for the temporary file) leaves what was there before, and no file where
 * there was none. */
gboolean spn_st_writer_write(SpnStWriter *w, const char *path, GError **error);
void spn_st_writer_free(SpnStWriter *w);

#define SPN_ST_ERROR (spn_st_error_quark())
GQuark spn_st_error_quark(void);
typedef enum { SPN_ST_ERROR_IO, SPN_ST_ERROR_FORMAT, SPN_ST_ERROR_MISMATCH } SpnStError;

G_END_DECLS
