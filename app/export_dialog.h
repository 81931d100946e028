/* export_dialog.h — "Export figure…": which panels (one, or several side by side), format,
 * size and PNG scale, then the file. The window draws the file with spn_figure_export. */
#pragma once
#include <adwaita.h>

#include "figures.h"

G_BEGIN_DECLS

typedef enum { SPN_EXPORT_PNG, SPN_EXPORT_SVG, SPN_EXPORT_PDF, SPN_EXPORT_COUNT } SpnExportFormat;

const char *spn_export_format_extension(SpnExportFormat f);   /* "png", "svg", "pdf" */
/* The format named by the file's extension (any case); FALSE when it names none of them. */
gboolean spn_export_format_from_path(const char *path, SpnExportFormat *f);

#define SPN_TYPE_EXPORT_DIALOG (spn_export_dialog_get_type())
G_DECLARE_FINAL_TYPE(SpnExportDialog, spn_export_dialog, SPN, EXPORT_DIALOG, AdwWindow)

/* Modal over parent with the figures in `selected` ticked (all when none is).
 * Signal "export" (const gchar *path): the user chose where to write; the path ends in the
 * format's extension. Read the figures and size with the getters; the dialog then closes. */
SpnExportDialog *spn_export_dialog_new(GtkWindow *parent,
                                       const gboolean selected[SPN_FIGURE_COUNT]);

/* The ticked figures in display order; returns how many. */
int spn_export_dialog_get_kinds(SpnExportDialog *d, SpnFigureKind kinds[SPN_FIGURE_COUNT]);
/* Size in user units (PNG pixels at scale 1, points for SVG and PDF) and the PNG scale. */
void spn_export_dialog_get_size(SpnExportDialog *d, double *width, double *height,
                                double *scale);

G_END_DECLS
