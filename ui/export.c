/* export.c — figures to PNG, SVG and PDF files: one figure, or several in a grid on one page.
 * Written to a temporary file beside the target and renamed, so a failed export never leaves a
 * truncated file under the name asked for. */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cairo-pdf.h>
#include <cairo-svg.h>

#include "figures.h"
#include "plot.h"

typedef enum { FORMAT_PNG, FORMAT_SVG, FORMAT_PDF } Format;

typedef struct {
  FILE *f;
  int err;   /* errno of the first failed write, 0 while all is well */
} Sink;

static cairo_status_t
sink_write(void *closure, const unsigned char *data, unsigned int length)
{
  Sink *sink = closure;
  if (sink->err == 0 && fwrite(data, 1, length, sink->f) != length)
    sink->err = errno ? errno : EIO;
  return sink->err ? CAIRO_STATUS_WRITE_ERROR : CAIRO_STATUS_SUCCESS;
}

static gboolean
format_of(const char *path, Format *format, GError **error)
{
  g_autofree char *lower = g_ascii_strdown(path, -1);
  if (g_str_has_suffix(lower, ".png"))
    *format = FORMAT_PNG;
  else if (g_str_has_suffix(lower, ".svg"))
    *format = FORMAT_SVG;
  else if (g_str_has_suffix(lower, ".pdf"))
    *format = FORMAT_PDF;
  else {
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s: cannot tell the file type from the extension \"%s\"; use .png, .svg or .pdf",
                path, dot && (!slash || dot > slash) ? dot : "");
    return FALSE;
  }
  return TRUE;
}

/* the panels of a grid: as many columns as rows, or one more */
static void
draw_grid(cairo_t *cr, const SpnFigureKind *kinds, int n, double width, double height,
          const SpnSnapshot *s, const SpnFigureOptions *o)
{
  SpnPlot p;
  spn_plot_init(&p, cr, o);
  spn_plot_fill_background(&p, width, height);
  spn_plot_clear(&p);
  int cols = (int)ceil(sqrt((double)n)), rows = (n + cols - 1) / cols;
  double pw = width / cols, ph = height / rows;
  for (int i = 0; i < n; i++) {
    cairo_save(cr);
    cairo_translate(cr, (i % cols) * pw, (i / cols) * ph);
    spn_figure_draw(kinds[i], cr, pw, ph, s, o);
    cairo_restore(cr);
  }
}

static cairo_status_t
render(Format format, Sink *sink, const SpnFigureKind *kinds, int n, double width, double height,
       double scale, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  cairo_surface_t *surface;
  if (format == FORMAT_PNG)
    surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, (int)ceil(width * scale),
                                         (int)ceil(height * scale));
  else if (format == FORMAT_SVG)
    surface = cairo_svg_surface_create_for_stream(sink_write, sink, width, height);
  else
    surface = cairo_pdf_surface_create_for_stream(sink_write, sink, width, height);
  cairo_t *cr = cairo_create(surface);
  if (format == FORMAT_PNG)
    cairo_scale(cr, scale, scale);
  draw_grid(cr, kinds, n, width, height, s, o);
  cairo_status_t status = cairo_status(cr);
  cairo_destroy(cr);
  if (status == CAIRO_STATUS_SUCCESS && format == FORMAT_PNG)
    status = cairo_surface_write_to_png_stream(surface, sink_write, sink);
  /* vector surfaces write their last pages when finished */
  cairo_surface_finish(surface);
  if (status == CAIRO_STATUS_SUCCESS)
    status = cairo_surface_status(surface);
  cairo_surface_destroy(surface);
  return status;
}

gboolean
spn_figure_export(const char *path, const SpnFigureKind *kinds, int n, double width,
                  double height, double scale, const SpnSnapshot *s, const SpnFigureOptions *o,
                  GError **error)
{
  Format format;
  if (!format_of(path, &format, error))
    return FALSE;
  if (n < 1 || !(width >= 1 && height >= 1 && width <= 100000 && height <= 100000) ||
      (format == FORMAT_PNG && !(scale > 0 && width * scale <= 32767 && height * scale <= 32767))) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s: nothing to export: %d figures of %g × %g at scale %g (PNG sides are at most "
                "32767 pixels)",
                path, n, width, height, scale);
    return FALSE;
  }
  for (int i = 0; i < n; i++)
    if (kinds[i] < 0 || kinds[i] >= SPN_FIGURE_COUNT) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: unknown figure kind %d", path,
                  (int)kinds[i]);
      return FALSE;
    }
  g_autofree char *tmp = g_strdup_printf("%s.XXXXXX", path);
  int fd = g_mkstemp_full(tmp, O_RDWR, 0666);
  if (fd < 0) {
    int e = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "cannot write %s: %s", path,
                g_strerror(e));
    return FALSE;
  }
  Sink sink = {fdopen(fd, "wb"), 0};
  if (sink.f == NULL) {
    sink.err = errno;
    close(fd);
  } else {
    cairo_status_t st = render(format, &sink, kinds, n, width, height, scale, s, o);
    if (st != CAIRO_STATUS_SUCCESS && sink.err == 0)
      sink.err = st == CAIRO_STATUS_NO_MEMORY ? ENOMEM : EIO;
    if (fclose(sink.f) != 0 && sink.err == 0)
      sink.err = errno;
  }
  if (sink.err == 0 && g_rename(tmp, path) != 0)
    sink.err = errno;
  if (sink.err != 0) {
    g_unlink(tmp);
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(sink.err), "cannot write %s: %s",
                path, g_strerror(sink.err));
    return FALSE;
  }
  return TRUE;
}
