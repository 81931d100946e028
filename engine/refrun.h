/* refrun.h — runs of the reference code (facebookresearch/adaptive-span, PyTorch, GPU only):
 * reading the checkpoints its main.py writes into spanscope's model, optimizer and history,
 * writing a spanscope run back in its layout so main.py resumes it, and the command line that
 * trains a configuration there.
 *
 * A main.py checkpoint is torch.save of {"iter_no": last finished iteration, "model": the
 * state dict of the model wrapped in DataParallel or DistributedDataParallel (every key starts
 * with "module."), "optimizer": the optimizer's state dict (Adagrad: per parameter "step" and
 * "sum"; one param group with "lr", "initial_lr" under a warm-up, "grad_clip"), "logger": lists
 * "step", "train_bpc", "val_bpc" (or *_ppl), "span_avg", "span_max", one entry per iteration of
 * --nbatches steps, "scheduler_iter": optimizer steps taken (only with a warm-up)}.
 *
 * The state dict holds the model's shape (layers, width, heads through key_pe's head width, S,
 * FF size, persistent vectors, vocabulary size, whether spans are adaptive) and, besides the
 * parameters, the buffers `…adaptive_span._mask.mask_template` and, with persistent memory, the
 * adaptive span a second time under `…persistent_memory.adaptive_span` (the module is shared).
 * Parameter order, which numbers the optimizer's state: key_pe, in_emb, out_emb (weight, bias),
 * then per layer z, persistent key and val, proj_query, proj_out, proj_val, proj_key, norm1,
 * fc1, fc2, norm2. Everything else (ramp R, λ, dropout, block, batch, warm-up, adaptive cache)
 * is a flag of main.py, taken here from the same flags with main.py's defaults.
 */
#pragma once
#include <glib.h>

#include "checkpoint.h"
#include "history.h"
#include "ptobj.h"

G_BEGIN_DECLS

/* The flags a reference run was started with, as far as the checkpoint does not tell. */
typedef struct {
  /* main.py's defaults (spn_config_init_reference_defaults). The shape settings (nlayers,
   * hid_sz, nheads, inner_hid_sz, attn_span, pers_mem_size, adapt_span) are -1 until given: the
   * checkpoint's tensors decide them, and a given one must agree. lr and grad_clip are NaN until
   * given: the optimizer's param group decides them when it holds them. */
  SpnConfig cfg;
  int nbatches;   /* --nbatches: optimizer steps per logged iteration (main.py: 1000) */
} SpnRefFlags;

void spn_ref_flags_init(SpnRefFlags *flags);
/* The flags above as rows of command-line options (main.py's names, each value checked against
 * its row's range as it is read) writing into *flags, which must outlive parsing; *defaults is
 * filled with main.py's defaults, which --help names. Returns the number of sets (2). */
guint spn_ref_option_rows(SpnRefFlags *flags, SpnRefFlags *defaults, SpnOptionRows rows[2]);
/* The same as one option group. */
GOptionGroup *spn_ref_option_group(SpnRefFlags *flags);
/* Sets flags from a command line of main.py's options ("python3 main.py --data data/enwik8
 * --adapt-span-ramp 64 ..."); main.py's other options (--checkpoint, --distributed, ...) are
 * accepted and ignored. data (may be NULL) receives --data's value, NULL when absent. Errors
 * name the option. */
gboolean spn_ref_flags_parse(SpnRefFlags *flags, const char *command_line, char **data,
                             GError **error);

/* TRUE when the file starts like a torch.save file (a zip archive or the legacy pickle) rather
 * than a safetensors checkpoint; FALSE for anything but a regular file, whose bytes are never
 * read (a FIFO never waited for: the window asks this on its own thread). */
gboolean spn_ref_is_torch_file(const char *path);

/* A main.py checkpoint (the object tree torch.load gives) as a spanscope checkpoint: the model,
 * the vocabulary (a copy of `vocab`, the reference's --data folder read with --ref-format; NULL
 * for a model without one, its size then from the tensors), the optimizer state (a fresh Adagrad
 * for SGD, which spanscope does not have, or none: a note says so), the logger as the history (a row per logged
 * iteration with its train bpc, its validation as a measurement, span_avg and span_max as the
 * history's logged span statistics; per-head spans only in the row of the checkpoint's own
 * step, from the model: the logger keeps their mean and maximum only) and a
 * trainer state that starts reading at the beginning of the streams with empty caches, as
 * main.py does when it resumes, on `corpus` (may be NULL). `name` is used in messages. Notes
 * for the user (char *) are appended to notes (may be NULL). The model computes the reference's
 * attention window (--attn-window reference, what main.py computes; head is refused). A missing
 * or misshapen part, a flag or vocabulary that contradicts the tensors, or a non-finite
 * parameter is an error. */
SpnCheckpoint *spn_ref_import(SpnPtObj *root, const char *name, const SpnRefFlags *flags,
                              const SpnVocab *vocab, const char *corpus, GPtrArray *notes,
                              GError **error);
/* spn_torch_load + spn_ref_import. */
SpnCheckpoint *spn_ref_load(const char *path, const SpnRefFlags *flags, const SpnVocab *vocab,
                            const char *corpus, GPtrArray *notes, GError **error);

/* The main.py checkpoint of a spanscope run (model, optimizer state — a fresh Adagrad when
 * NULL —, history), as an object tree for spn_torch_save: iter_no = step / nbatches − 1, the
 * logger (one entry per whole iteration: mean train bpc of its steps, the last validation in
 * it, span_avg and span_max as main.py logged them when the history kept them — an imported
 * run —, else computed as main.py does from the spans of the iteration's last step),
 * scheduler_iter with a warm-up. Needs the
 * vocabulary of a --ref-format corpus (the only one main.py reads, with the same token ids).
 * What main.py will do differently is appended to notes. */
SpnPtTree *spn_ref_export(const SpnModel *m, const SpnOptim *optim, const SpnHistory *history,
                          const SpnVocab *vocab, int nbatches, GPtrArray *notes, GError **error);

/* The command that trains this configuration with main.py ("python3 main.py --data DATA
 * --nlayers 4 ..."), or on `gpus` GPUs with --distributed through torch.distributed.launch
 * (gpus ≤ 0: a single process). checkpoint may be NULL. */
char *spn_ref_command(const SpnConfig *cfg, const char *data, const char *checkpoint,
                      int nbatches, gint64 steps, int gpus);

#define SPN_REF_ERROR (spn_ref_error_quark())
GQuark spn_ref_error_quark(void);
typedef enum {
  SPN_REF_ERROR_FORMAT,      /* not a main.py checkpoint: a part is missing or of another kind */
  SPN_REF_ERROR_MISMATCH,    /* a flag or the vocabulary contradicts the tensors */
  SPN_REF_ERROR_UNSUPPORTED, /* a reference feature spanscope does not have (--adapt-io) */
} SpnRefError;

G_END_DECLS
