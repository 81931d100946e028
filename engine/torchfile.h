/* torchfile.h — PyTorch `.pt` files (torch.save / torch.load) without Python.
 *
 * Two containers hold the same pickled object (see pickle.h for what it may contain):
 *
 *  - zip (torch >= 1.6): a zip archive whose entries share one folder name (the file's stem for
 *    torch 1.x, "archive" for newer torch): `data.pkl` (the object), `data/<key>` (one stored
 *    entry per storage, raw little-endian elements, padded by an "FB" extra field so that the data
 *    starts at a multiple of 64), `version`, optionally `byteorder` ("little"/"big") and
 *    `.data/...`. Read with libzip.
 *  - legacy (torch < 1.6, `_use_new_zipfile_serialization=False`): five consecutive pickles —
 *    the magic number 0x1950a86a20f9469cfc6c, the protocol version 1001, a sys-info dict, the
 *    object, the list of storage keys — then, for each key in that order, the element count
 *    (int64 little-endian) and the raw elements.
 *
 * Storage locations ("cuda:0" for a checkpoint saved from a GPU) are kept but ignored: the data
 * is always read into memory. Errors (SPN_PT_ERROR) start with the file name and say where:
 * "run.pt: archive/data.pkl: pickle byte 122: forbidden global 'posix.system': ...",
 * "run.pt: storage '3' needs 4096 bytes but its zip entry has 100", "run.pt: not a PyTorch
 * checkpoint (neither a zip archive nor the legacy magic number)".
 */
#pragma once
#include "ptobj.h"

G_BEGIN_DECLS

typedef enum { SPN_TORCH_ZIP, SPN_TORCH_LEGACY } SpnTorchFormat;

/* Reads a checkpoint; the tree's root is the object torch.save was given. format (may be NULL)
 * receives the container it was in. A file that is being rewritten fails with
 * SPN_PT_ERROR_FORMAT (or _IO), never crashes: a caller that follows a file retries. */
SpnPtTree *spn_torch_load(const char *path, SpnTorchFormat *format, GError **error);
/* The same from memory; name is used in messages. The tree keeps a reference to bytes. */
SpnPtTree *spn_torch_load_bytes(GBytes *bytes, const char *name, SpnTorchFormat *format,
                                GError **error);

/* Writes root (and everything it reaches) so that torch.load reads it back: dicts (str, int, ...
 * keys), OrderedDicts (with their attributes), lists, tuples, numbers, strings, bools, None,
 * tensors of any dtype (views keep their storage, offset and strides; tensors that share a
 * storage share it in the file). Written through spn_save_file (savefile.h): a synced temporary
 * file renamed over path, so an existing file is never left half-written. */
gboolean spn_torch_save(SpnPtTree *tree, SpnPtObj *root, const char *path, SpnTorchFormat format,
                        GError **error);

G_END_DECLS
