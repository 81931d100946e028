/* cli_export.h — `spanscope-cli export`: a checkpoint's figures to PNG, SVG or PDF without a
 * display. */
#pragma once

/* argv[0] is the command's program name ("spanscope-cli export"). Returns the exit status. */
int spn_cli_export(int argc, char **argv);
